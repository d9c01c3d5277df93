"""Match calcifications between the +theta and -theta views with the epipolar constraint of the geometry.

Two detections can be one calcification only if their source rays pass within
``epipolar_tolerance_mm`` of each other (the epipolar constraint in 3-D), inside the compressed breast;
with a scout, the rays' closest point should also project onto a scout detection (a third view): a
pair the scout confirms costs less, and with ``require_scout_match`` it is the only kind kept.
Candidates are taken by increasing cost, one to one; a match is ambiguous when another candidate of
either detection costs within ``ambiguity_margin`` of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import BiopsyConfig
from .geometry import ViewGeometry

#: Depth slack beyond the support and the paddle for a candidate's closest point, mm.
DEPTH_SLACK_MM = 1.0
#: Normalized cost of a pair the scout does not confirm (when the scout is not required): worse than
#: any confirmed pair (whose cost is at most 2).
UNCONFIRMED_COST = 2.0


@dataclass(frozen=True, kw_only=True)
class Match:
    plus: int  #: index into the +theta detections
    minus: int
    scout: int | None  #: nearest scout detection, when a scout is given
    cost: float
    ambiguous: bool


def ray_pairs(plus: ViewGeometry, minus: ViewGeometry, plus_px: np.ndarray, minus_px: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """For every (plus, minus) pair: the rays' closest distance (N, K) and their closest approach's midpoint
    (N, K, 3)."""
    s1, s2 = plus.source, minus.source
    d1, d2 = plus.rays(plus_px), minus.rays(minus_px)  # (N, 3), (K, 3)
    w0 = s1 - s2
    b = d1 @ d2.T  # (N, K)
    d = (d1 @ w0)[:, None]
    e = (d2 @ w0)[None, :]
    denom = np.clip(1.0 - b * b, 1e-12, None)
    t = (b * e - d) / denom
    u = (e - b * d) / denom
    p1 = s1 + t[:, :, None] * d1[:, None, :]
    p2 = s2 + u[:, :, None] * d2[None, :, :]
    return np.linalg.norm(p1 - p2, axis=2), (p1 + p2) / 2


def match(plus: ViewGeometry, minus: ViewGeometry, plus_px: np.ndarray, minus_px: np.ndarray,
          thickness_mm: float, config: BiopsyConfig, scout: ViewGeometry | None = None,
          scout_px: np.ndarray | None = None) -> list[Match]:
    """One-to-one matches between the two stereo views' detections ((N, 2) and (K, 2) column, row)."""
    if len(plus_px) == 0 or len(minus_px) == 0:
        return []
    gap, mid = ray_pairs(plus, minus, np.asarray(plus_px, float), np.asarray(minus_px, float))
    z = mid[:, :, 2]
    feasible = (gap <= config.epipolar_tolerance_mm) & (z >= -DEPTH_SLACK_MM) & (z <= thickness_mm + DEPTH_SLACK_MM)
    cost = (gap / config.epipolar_tolerance_mm) ** 2
    nearest = np.full(gap.shape, -1)
    if scout is not None and scout_px is not None:
        if len(scout_px) == 0:
            return []
        ii, jj = np.nonzero(feasible)
        projected = scout.project(mid[ii, jj])  # (F, 2)
        pitch = np.array([scout.pitch_mm[1], scout.pitch_mm[0]])
        dist = np.linalg.norm((projected[:, None, :] - np.asarray(scout_px, float)[None]) * pitch, axis=2)
        best = np.argmin(dist, axis=1)
        best_mm = dist[np.arange(len(best)), best]
        ok = best_mm <= config.scout_tolerance_mm
        if config.require_scout_match:
            feasible[ii[~ok], jj[~ok]] = False
        cost[ii, jj] += np.where(ok, (best_mm / config.scout_tolerance_mm) ** 2, UNCONFIRMED_COST)
        nearest[ii[ok], jj[ok]] = best[ok]
    cost = np.where(feasible, cost, np.inf)
    order = np.argsort(cost, axis=None)
    used_plus: set[int] = set()
    used_minus: set[int] = set()
    matches = []
    for flat in order:
        i, j = divmod(int(flat), cost.shape[1])
        c = float(cost[i, j])
        if not np.isfinite(c):
            break
        if i in used_plus or j in used_minus:
            continue
        used_plus.add(i)
        used_minus.add(j)
        others = np.concatenate([np.delete(cost[i], j), np.delete(cost[:, j], i)])
        ambiguous = bool(others.size and np.min(others) - c <= config.ambiguity_margin)
        matches.append(Match(plus=i, minus=j, scout=None if nearest[i, j] < 0 else int(nearest[i, j]),
                             cost=c, ambiguous=ambiguous))
    return matches
