"""Calcification clusters in millimetres with BI-RADS (5th ed.) distribution descriptors.

Rule (configurable in ``[analysis]``, documented in docs/analysis.md):

1. Single linkage: calcifications closer than ``link_distance_mm`` are in one group.
2. A group of at least ``min_cluster_count`` is classified, in this order:
   diffuse  - its convex hull covers >= ``diffuse_min_breast_fraction`` of the breast;
   linear   - extent >= ``linear_min_extent_mm`` and either linearity >= ``linear_min_linearity``
              (a straight line) or, with >= 10 members, local linearity (within
              ``linear_neighbourhood_mm``) >= ``linear_min_linearity`` (a curved or branching line);
   grouped  - extent <= ``grouped_max_extent_mm`` and >= ``min_cluster_count`` within a
              circle of ``grouped_core_mm`` (BI-RADS: >= 5 within 1 cm, up to 2 cm);
   (a small group failing the core test is not a cluster: its members count as scattered);
   segmental - wider than ``grouped_max_extent_mm``, long axis within ``segmental_max_angle_deg``
              of the direction to the nipple, linearity >= ``segmental_min_linearity``;
   regional - any other group wider than ``grouped_max_extent_mm``.
   A regional or diffuse group is kept only when it is denser than the rest of the view (``density.py``);
   otherwise its members are scattered.
3. Calcifications in no cluster are linked again at ``regional_link_distance_mm``; each regional or diffuse
   group that forms (diffuse: at least ``diffuse_min_count``) and passes the density test is a cluster.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..codes import BiradsCategory, Distribution, View
from ..config import AnalysisConfig
from ..morphology import MorphologyAssessment
from .density import density_test
from .geometry import DepthThird, depth_third, side_in_view
from .peaks import Calcification
from .shapes import (
    convex_hull, extent, link_components, local_linearity, max_within_circle, minimum_spanning_tree, polygon_area,
    principal_axes,
)

#: Fewest members for the local-linearity (curved/branching line) test; small random groups pass it by chance.
LOCAL_LINEARITY_MIN_COUNT = 10
#: A point within this distance of the nipple line is "central" (mm).
CENTRAL_BAND_MM = 5.0
#: Detection suspicion weight per distribution: linear and segmental (ductal) highest; a regional or diffuse
#: group weighs as a grouped one, since what makes it benign or not is its morphology (runtime/morphology:
#: a suspicious morphology stays suspicious in every distribution) and a wide group must first be denser than
#: its view's background to be reported at all (density.py).
DISTRIBUTION_WEIGHT = {
    "diffuse": 0.85, "regional": 0.85, "grouped": 0.85, "linear": 1.0, "segmental": 1.0,
}
#: Wide distributions: kept only when denser than the rest of the view (density.py).
WIDE = frozenset({Distribution.REGIONAL, Distribution.DIFFUSE})


@dataclass(frozen=True, kw_only=True)
class Cluster:
    """One cluster in one view. Positions: normalized px (x, y) and mm in the same frame."""

    id: int
    distribution: Distribution
    count: int
    members: tuple[int, ...]
    centroid_x: float
    centroid_y: float
    centroid_x_mm: float
    centroid_y_mm: float
    outline: tuple[tuple[float, float], ...]
    extent_mm: float
    area_mm2: float
    max_count_in_core: int | None
    diameter_mean_mm: float
    diameter_sd_mm: float
    contrast_mean: float
    contrast_sd: float
    score_mean: float
    score_max: float
    linearity: float
    local_linearity: float
    axis_to_nipple_deg: float
    mst_length_mm: float
    mst_branch_points: int
    distance_to_nipple_mm: float
    distance_to_chest_wall_mm: float
    depth: DepthThird
    side: str
    suspicion: float
    centroid_original_x: float | None = None
    centroid_original_y: float | None = None
    outline_original: tuple[tuple[float, float], ...] | None = None
    morphology: MorphologyAssessment | None = None  #: None: not assessed (no morphology model)


def _axis_angle(axis: np.ndarray, centroid: np.ndarray, nipple: np.ndarray) -> float:
    """Angle (0-90 deg) between the long axis and the line from the centroid to the nipple."""
    toward = nipple - centroid
    norm = float(np.hypot(*toward))
    if norm == 0:
        return 0.0
    cosine = abs(float(np.dot(axis, toward)) / norm)
    return math.degrees(math.acos(min(1.0, cosine)))


def classify(points: np.ndarray, breast_area_mm2: float, nipple_mm: np.ndarray,
             config: AnalysisConfig) -> Distribution | None:
    """The distribution of one linked group (mm), or None if it is not a cluster."""
    if len(points) < config.min_cluster_count:
        return None
    hull_area = polygon_area(convex_hull(points))
    if breast_area_mm2 > 0 and hull_area >= config.diffuse_min_breast_fraction * breast_area_mm2:
        return Distribution.DIFFUSE
    linearity, axis = principal_axes(points)
    size = extent(points)
    if size >= config.linear_min_extent_mm and (
        linearity >= config.linear_min_linearity
        or (len(points) >= LOCAL_LINEARITY_MIN_COUNT
            and local_linearity(points, config.linear_neighbourhood_mm) >= config.linear_min_linearity)
    ):
        return Distribution.LINEAR
    if size <= config.grouped_max_extent_mm:
        core = max_within_circle(points, config.grouped_core_mm)
        return Distribution.GROUPED if core >= config.min_cluster_count else None
    angle = _axis_angle(axis, points.mean(axis=0), nipple_mm)
    if angle <= config.segmental_max_angle_deg and linearity >= config.segmental_min_linearity:
        return Distribution.SEGMENTAL
    return Distribution.REGIONAL


def find_clusters(
    calcifications: Sequence[Calcification],
    mask: np.ndarray,
    spacing_mm: float,
    view: View,
    config: AnalysisConfig,
    *,
    nipple: tuple[float, float],
    to_original: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[Cluster]:
    """Clusters of one view, most suspicious first, ids 1..n in that order."""
    if not calcifications:
        return []
    points = np.array([(c.x_mm, c.y_mm) for c in calcifications])
    nipple_mm = np.asarray(nipple, float) * spacing_mm
    breast_area = float(mask.sum()) * spacing_mm ** 2
    scores = np.array([c.score for c in calcifications])
    found: list[tuple[Distribution, np.ndarray]] = []
    scattered: list[int] = []
    for group in link_components(points, config.link_distance_mm):
        for kind, part in split_wide(group, points, scores, breast_area, nipple_mm, config):
            if kind is not None and (kind not in WIDE or dense_enough(points, part, breast_area, config)):
                found.append((kind, part))
            else:
                scattered.extend(part.tolist())
    found.extend(wide_groups(points, np.array(sorted(scattered), int), breast_area, nipple_mm, config))
    clusters = [describe(kind, group, calcifications, points, spacing_mm, view, config, nipple, to_original)
                for kind, group in found]
    clusters.sort(key=lambda c: (-c.suspicion, c.centroid_x, c.centroid_y))
    return [replace(c, id=i + 1) for i, c in enumerate(clusters)]


def dense_enough(points: np.ndarray, members: np.ndarray, breast_area_mm2: float, config: AnalysisConfig) -> bool:
    """Whether a wide group is denser than the view's other detections (``density.density_test``)."""
    test = density_test(points, members, breast_area_mm2, margin_mm=config.regional_link_distance_mm / 2,
                        min_outside_fraction=config.wide_group_min_outside_fraction)
    return test.significant(config.wide_group_max_p)


def wide_groups(points: np.ndarray, scattered: np.ndarray, breast_area_mm2: float, nipple_mm: np.ndarray,
                config: AnalysisConfig) -> list[tuple[Distribution, np.ndarray]]:
    """Regional and diffuse groups linked at ``regional_link_distance_mm`` from the calcifications in no cluster,
    kept when they hold ``diffuse_min_count`` if diffuse and are denser than the rest of the view
    (``dense_enough``)."""
    if len(scattered) < config.min_cluster_count or config.regional_link_distance_mm <= config.link_distance_mm:
        return []
    out = []
    for sub in link_components(points[scattered], config.regional_link_distance_mm):
        members = scattered[sub]
        kind = classify(points[members], breast_area_mm2, nipple_mm, config)
        if kind not in WIDE or (kind is Distribution.DIFFUSE and len(members) < config.diffuse_min_count):
            continue  # lines and small groups are linked at link_distance_mm only
        if dense_enough(points, members, breast_area_mm2, config):
            out.append((kind, members))
    return out


def split_wide(group: np.ndarray, points: np.ndarray, scores: np.ndarray, breast_area_mm2: float,
               nipple_mm: np.ndarray, config: AnalysisConfig,
               level: int = 0) -> list[tuple[Distribution | None, np.ndarray]]:
    """``group`` classified, or, if it is wide (diffuse, or wider than ``grouped_max_extent_mm``) and re-linking
    only its members scoring at least the next of ``split_levels`` yields a cluster, those parts (recursively);
    the members left out are scattered (kind None)."""
    kind = classify(points[group], breast_area_mm2, nipple_mm, config)
    wide = kind is Distribution.DIFFUSE or (kind is not None and extent(points[group]) > config.grouped_max_extent_mm)
    if not wide or level >= len(config.split_levels):
        return [(kind, group)]
    strong = group[scores[group] >= config.split_levels[level]]
    parts: list[tuple[Distribution | None, np.ndarray]] = []
    for sub in link_components(points[strong], config.link_distance_mm):
        parts.extend(split_wide(strong[sub], points, scores, breast_area_mm2, nipple_mm, config, level + 1))
    if not any(k is not None for k, _ in parts):
        return [(kind, group)]
    weak = np.setdiff1d(group, strong)
    return parts + ([(None, weak)] if weak.size else [])


def counts_toward_flag(cluster: Cluster, min_birads: BiradsCategory | str, flag_uncertain: bool) -> bool:
    """Whether a cluster's suspicion may raise the flag (triage.RULE)."""
    m = cluster.morphology
    return (m is None or m.birads.rank >= BiradsCategory(min_birads).rank
            or (flag_uncertain and m.uncertain))


def suspicion(scores: np.ndarray, distribution: Distribution) -> float:
    """Mean of the top-5 detector scores times the distribution's weight, in [0, 1]."""
    top = np.sort(scores)[::-1][:5]
    return float(np.clip(top.mean() * DISTRIBUTION_WEIGHT[distribution.value], 0.0, 1.0))


def describe(kind: Distribution, group: np.ndarray, calcifications: Sequence[Calcification], points_mm: np.ndarray,
             spacing_mm: float, view: View, config: AnalysisConfig, nipple: tuple[float, float],
             to_original: Callable[[np.ndarray], np.ndarray] | None) -> Cluster:
    members = [calcifications[i] for i in group]
    pts = points_mm[group]
    centroid = pts.mean(axis=0)
    centroid_px = centroid / spacing_mm
    hull_px = convex_hull(pts) / spacing_mm
    linearity, axis = principal_axes(pts)
    mst_length, degree = minimum_spanning_tree(pts)
    diameters = np.array([c.diameter_mm for c in members])
    contrasts = np.array([c.contrast for c in members])
    scores = np.array([c.score for c in members])
    nipple_mm = np.asarray(nipple, float) * spacing_mm
    original = original_outline = None
    if to_original is not None:
        original = to_original(centroid_px[None, :])[0]
        original_outline = tuple((float(x), float(y)) for x, y in to_original(hull_px))
    return Cluster(
        id=0,
        distribution=kind,
        count=len(members),
        members=tuple(int(i) for i in group),
        centroid_x=float(centroid_px[0]), centroid_y=float(centroid_px[1]),
        centroid_x_mm=float(centroid[0]), centroid_y_mm=float(centroid[1]),
        outline=tuple((float(x), float(y)) for x, y in hull_px),
        extent_mm=extent(pts),
        area_mm2=polygon_area(convex_hull(pts)),
        max_count_in_core=max_within_circle(pts, config.grouped_core_mm) if len(pts) <= 500 else None,
        diameter_mean_mm=float(diameters.mean()), diameter_sd_mm=float(diameters.std()),
        contrast_mean=float(contrasts.mean()), contrast_sd=float(contrasts.std()),
        score_mean=float(scores.mean()), score_max=float(scores.max()),
        linearity=linearity,
        local_linearity=local_linearity(pts, config.linear_neighbourhood_mm),
        axis_to_nipple_deg=_axis_angle(axis, centroid, nipple_mm),
        mst_length_mm=mst_length,
        mst_branch_points=int((degree >= 3).sum()),
        distance_to_nipple_mm=float(np.hypot(*(centroid - nipple_mm))),
        distance_to_chest_wall_mm=float(centroid[0]),
        depth=depth_third(float(centroid_px[0]), float(nipple[0])),
        side=side_in_view(view, float(centroid[1] - nipple_mm[1]), CENTRAL_BAND_MM),
        suspicion=suspicion(scores, kind),
        centroid_original_x=None if original is None else float(original[0]),
        centroid_original_y=None if original is None else float(original[1]),
        outline_original=original_outline,
    )
