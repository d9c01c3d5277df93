"""Is a wide group of calcifications denser than the rest of its breast? A Poisson test against the view's rate.

A regional or diffuse group spans centimetres, so single linkage over scattered false detections forms such
groups by chance (on real film a whole-breast "diffuse" group was the rule). A real regional group is denser
than the view's background of detections; scattered noise is not. The group's region is its convex hull
widened by a margin (area by Steiner's formula, ``A + P r + pi r^2``, at most the breast); the background rate
is the count of the view's other detections over the breast area outside the region, plus one (so an empty
background is not a rate of zero). The group is significant when the Poisson probability of at least its
count in its region at that rate is at most ``max_p``. A group whose region leaves less than
``min_outside_fraction`` of the breast outside has no background to be compared with: it is not a finding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .shapes import convex_hull, polygon_area


@dataclass(frozen=True, kw_only=True)
class DensityTest:
    """One group's density against its view's background (areas in mm^2)."""

    count: int
    region_mm2: float
    outside_count: int
    outside_mm2: float
    expected: float  #: the count expected in the region at the background rate
    p_value: float  #: Poisson P(X >= count | expected); 1.0 when there is no background to compare with

    def significant(self, max_p: float) -> bool:
        return self.p_value <= max_p


def poisson_tail(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean), summed over the upper tail in log space (small p stay exact)."""
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    log_term = -mean + count * math.log(mean) - math.lgamma(count + 1)
    total, k = 0.0, count
    while True:
        term = math.exp(log_term)
        total += term
        k += 1
        log_term += math.log(mean) - math.log(k)
        if term < 1e-17 * max(total, 1e-300) or k > count + 10_000:
            break
    return min(1.0, total)


def hull_perimeter(hull: np.ndarray) -> float:
    """Perimeter of a convex polygon (two points: twice their distance, a degenerate polygon)."""
    if len(hull) < 2:
        return 0.0
    return float(np.hypot(*(np.roll(hull, -1, axis=0) - hull).T).sum())


def density_test(points_mm: np.ndarray, members: np.ndarray, breast_area_mm2: float, *, margin_mm: float,
                 min_outside_fraction: float) -> DensityTest:
    """The group ``members`` (indices into ``points_mm``, every detection of the view) against the others."""
    pts = points_mm[members]
    hull = convex_hull(pts)
    region = min(breast_area_mm2, polygon_area(hull) + hull_perimeter(hull) * margin_mm + math.pi * margin_mm ** 2)
    outside = max(0.0, breast_area_mm2 - region)
    others = len(points_mm) - len(members)
    if breast_area_mm2 <= 0 or outside < min_outside_fraction * breast_area_mm2:
        return DensityTest(count=len(members), region_mm2=region, outside_count=others, outside_mm2=outside,
                           expected=float("nan"), p_value=1.0)
    expected = (others + 1) / outside * region
    return DensityTest(count=len(members), region_mm2=region, outside_count=others, outside_mm2=outside,
                       expected=expected, p_value=poisson_tail(len(members), expected))
