"""Faint clusters from joint sub-threshold evidence: map peaks counted in cluster-sized windows against the view.

An amorphous cluster's members often score below the peak threshold one by one, yet they lie together. Every
local maximum of the map at or above a low threshold is a candidate (NMS'd in mm); the view's background rate is
the candidates' count over the breast area. Around each candidate, the others within a window radius are counted
and the Poisson probability of at least that many at the background rate is computed. Candidates whose window
is significant (``p <= max_p``, holding at least ``min_count``) are seeds; seeds closer than the radius are one
group, and the group's members are the candidates within the radius of its seeds. Candidates near a cluster
already found are not counted (that cluster is not found twice). The group's p is its best seed's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .density import poisson_tail
from .geometry import map_to_image
from .peaks import local_maxima, suppress
from .shapes import link_components

#: At most this many candidates per view (highest scores): bounds the pairwise counting.
MAX_CANDIDATES = 3000


@dataclass(frozen=True, kw_only=True)
class EvidenceGroup:
    """One group of candidates found by its windows' counts."""

    peaks: np.ndarray  #: (n, 2) map (row, col) of its members, highest score first
    count: int  #: members
    window_count: int  #: the most candidates in one seed's window (itself included)
    expected: float  #: candidates expected in one window at the view's background rate
    p_value: float  #: Poisson P(X >= window_count - 1 | expected), the best seed's


def window_p_values(points_mm: np.ndarray, rate_per_mm2: float, radius_mm: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Per point: the points within ``radius_mm`` (itself included), and the Poisson probability of at least
    that many others in a window at ``rate_per_mm2``; and the expected count per window."""
    expected = rate_per_mm2 * math.pi * radius_mm ** 2
    d2 = ((points_mm[:, None, :] - points_mm[None, :, :]) ** 2).sum(-1)
    counts = (d2 <= radius_mm ** 2).sum(axis=1)
    cache: dict[int, float] = {}
    p = np.array([cache.setdefault(int(n), poisson_tail(int(n) - 1, expected)) for n in counts])
    return counts, p, expected


def evidence_groups(prob: np.ndarray, stride: int, mask: np.ndarray, spacing_mm: float, *, low: float,
                    radius_mm: float, max_p: float, min_count: int, nms_distance_mm: float,
                    claimed_mm: np.ndarray | None = None,
                    allowed: Callable[[np.ndarray], np.ndarray] | None = None) -> list[EvidenceGroup]:
    """Groups of map peaks at or above ``low`` denser than the view's candidates (module docstring).

    ``claimed_mm``: (k, 2) positions (mm) of calcifications already in a cluster; candidates within
    ``radius_mm`` of one are left out. ``allowed``: image positions (n, 2) px -> which may be candidates
    (e.g. away from the skin).
    """
    breast_mm2 = float(mask.sum()) * spacing_mm ** 2
    peaks = local_maxima(prob, low)
    if len(peaks) < min_count or breast_mm2 <= 0:
        return []
    image_xy = map_to_image(peaks[:, ::-1].astype(float), stride)
    if allowed is not None:
        ok = allowed(image_xy)
        peaks, image_xy = peaks[ok], image_xy[ok]
    points = image_xy * spacing_mm
    kept = suppress(points, nms_distance_mm)[:MAX_CANDIDATES]
    peaks, points = peaks[kept], points[kept]
    if claimed_mm is not None and len(claimed_mm):
        near = ((points[:, None, :] - claimed_mm[None, :, :]) ** 2).sum(-1).min(axis=1) <= radius_mm ** 2
        peaks, points = peaks[~near], points[~near]
    if len(points) < min_count:
        return []
    counts, p, expected = window_p_values(points, len(points) / breast_mm2, radius_mm)
    seeds = np.nonzero((p <= max_p) & (counts >= min_count))[0]
    groups = []
    for component in link_components(points[seeds], radius_mm):
        own = seeds[component]
        d2 = ((points[:, None, :] - points[None, own, :]) ** 2).sum(-1)
        members = np.nonzero((d2 <= radius_mm ** 2).any(axis=1))[0]
        if len(members) < min_count:
            continue
        best = own[int(np.argmin(p[own]))]
        groups.append(EvidenceGroup(peaks=peaks[members], count=len(members), window_count=int(counts[best]),
                                    expected=expected, p_value=float(p[best])))
    return groups


def evidence_suspicion(p_value: float, full_log10: float) -> float:
    """Suspicion of an evidence group: ``-log10(p) / full_log10``, in [0, 1] (``full_log10``: the p exponent
    that gives 1)."""
    if p_value <= 0:
        return 1.0
    return float(min(1.0, max(0.0, -math.log10(p_value) / full_log10)))
