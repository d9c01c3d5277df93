"""The biopsy stage: a stereo set -> the 3-D target of one cluster, its matches, uncertainty and warnings."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np
from pydicom.dataset import Dataset

from ..config import BiopsyConfig, Config
from .detect import ViewDetections
from .errors import NoTargetError
from .geometry import ViewGeometry
from .match import Match, match
from .result import SCHEMA_VERSION, BiopsyResult, ChoiceRule, MatchedCalcification, Target, TargetWarning
from .stereo_set import StereoRole, StereoSet, recognise
from .triangulate import point_covariance, reprojection_residuals, triangulate

log = logging.getLogger(__name__)

#: Floor of the localisation noise used for the uncertainty, px (residuals of a few matches can be ~0).
MIN_SIGMA_PX = 0.2

class Detector(Protocol):
    """Detection in one image; ``clusters``: also form the screening clusters (for the reference image)."""

    def __call__(self, ds: Dataset, *, clusters: bool) -> ViewDetections: ...


def _groups(points: np.ndarray, distance_mm: float) -> list[list[int]]:
    """Single-linkage groups of (N, 3) points."""
    n = len(points)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    close = np.linalg.norm(points[:, None] - points[None], axis=2) <= distance_mm
    for i, j in zip(*np.nonzero(np.triu(close, 1))):
        parent[find(int(i))] = find(int(j))
    out: dict[int, list[int]] = {}
    for i in range(n):
        out.setdefault(find(i), []).append(i)
    return list(out.values())


def _pixels(det: ViewDetections) -> np.ndarray:
    return np.array([(d.x, d.y) for d in det.detections], float).reshape(-1, 2)


def locate(stereo: StereoSet, detections: dict[StereoRole, ViewDetections], config: BiopsyConfig,
           at: tuple[float, float] | None = None) -> BiopsyResult:
    """Match, triangulate and choose the target; ``at`` is a (column, row) on the scout (the +view without one)."""
    started = time.perf_counter()
    plus_det, minus_det = detections[StereoRole.PLUS], detections[StereoRole.MINUS]
    scout_det = detections.get(StereoRole.SCOUT) if stereo.scout is not None else None
    scout_geo = stereo.scout.geometry if stereo.scout is not None else None
    plus_px, minus_px = _pixels(plus_det), _pixels(minus_det)
    scout_px = _pixels(scout_det) if scout_det is not None else None
    found = match(stereo.plus.geometry, stereo.minus.geometry, plus_px, minus_px, stereo.thickness_mm, config,
                  scout_geo, scout_px)
    if not found:
        raise NoTargetError(f"no calcification matched between the two stereo views ({len(plus_px)} and "
                            f"{len(minus_px)} detections); rule: rays within {config.epipolar_tolerance_mm:g} mm"
                            + (f", on a scout detection within {config.scout_tolerance_mm:g} mm" if scout_geo else ""))

    def views_and_pixels(m: Match) -> tuple[list[ViewGeometry], list[tuple[float, float]]]:
        views = [stereo.plus.geometry, stereo.minus.geometry]
        pixels = [(float(plus_px[m.plus][0]), float(plus_px[m.plus][1])),
                  (float(minus_px[m.minus][0]), float(minus_px[m.minus][1]))]
        if scout_geo is not None and scout_px is not None and m.scout is not None:
            views.append(scout_geo)
            pixels.append((float(scout_px[m.scout][0]), float(scout_px[m.scout][1])))
        return views, pixels

    points, gaps = [], []
    for m in found:
        point, gap = triangulate(*views_and_pixels(m))
        points.append(point)
        gaps.append(gap)
    xyz = np.array(points)
    groups = _groups(xyz, config.group_distance_mm)

    # the reference image: clusters and --at live there
    ref_geo = scout_geo if scout_geo is not None else stereo.plus.geometry
    ref_det = scout_det if scout_det is not None else plus_det

    def ref_index(m: Match) -> int | None:
        return m.scout if scout_det is not None else m.plus

    def evidence(k: int) -> float:
        m = found[k]
        score = (plus_det.detections[m.plus].score + minus_det.detections[m.minus].score) / 2
        return score if scout_det is None or m.scout is not None else score / 2

    def suspicion(group: list[int]) -> tuple[float, ...]:
        """Rank: the group's matched evidence (scores of matches, halved without the scout's confirmation),
        then the suspicion of the reference image's cluster it falls in."""
        members = {ref_index(found[k]) for k in group} - {None}
        best = max((c.suspicion for c in ref_det.clusters if members & set(c.members)), default=0.0)
        return sum(evidence(k) for k in group), best

    if at is not None:
        point = np.asarray(at, float)
        chosen = min(groups, key=lambda g: float(np.linalg.norm(ref_geo.project(xyz[g].mean(axis=0))[0] - point)))
        rule = ChoiceRule.NEAREST_POINT
    else:
        chosen = max(groups, key=suspicion)
        rule = ChoiceRule.MOST_SUSPICIOUS
    chosen = sorted(chosen)
    median = np.median(xyz[chosen], axis=0)  # a chance pair that linked on is far from the group's median
    chosen = [k for k in chosen if np.linalg.norm(xyz[k] - median) <= config.outlier_distance_mm] or chosen
    target = xyz[chosen].mean(axis=0)
    squared, dof = 0.0, 0
    for k in chosen:
        views, pixels = views_and_pixels(found[k])
        squared += float((reprojection_residuals(views, pixels, xyz[k]) ** 2).sum())
        dof += 2 * len(views) - 3
    sigma_px = max(MIN_SIGMA_PX, float(np.sqrt(squared / dof)) if dof > 0 else MIN_SIGMA_PX)
    # localisation noise of the mean of the matched points, plus the standard error of that mean as an
    # estimate of the cluster's centre (members are spread over millimetres; a missed one moves the centre)
    cov = sum(point_covariance(views_and_pixels(found[k])[0], xyz[k], sigma_px) for k in chosen) / len(chosen) ** 2
    spread = np.var(xyz[chosen], axis=0, ddof=1) / len(chosen) if len(chosen) > 1 else np.zeros(3)
    sigma = np.sqrt(np.diag(cov) + spread)

    warnings = []
    if target[2] < config.stroke_margin_mm:
        warnings.append(TargetWarning.NEAR_SUPPORT)
    if len(chosen) < config.min_matches:
        warnings.append(TargetWarning.FEW_MATCHES)
    if any(found[k].ambiguous for k in chosen):
        warnings.append(TargetWarning.AMBIGUOUS_MATCHES)
    if scout_geo is None:
        warnings.append(TargetWarning.NO_SCOUT)

    def px(geometry: ViewGeometry | None) -> tuple[float, float] | None:
        if geometry is None:
            return None
        p = geometry.project(target)[0]
        return float(p[0]), float(p[1])

    matches = []
    for k in chosen:
        m = found[k]
        scores = [plus_det.detections[m.plus].score, minus_det.detections[m.minus].score]
        scout_pixel = None
        if scout_px is not None and m.scout is not None:
            scout_pixel = (float(scout_px[m.scout][0]), float(scout_px[m.scout][1]))
        matches.append(MatchedCalcification(
            plus_px=(float(plus_px[m.plus][0]), float(plus_px[m.plus][1])),
            minus_px=(float(minus_px[m.minus][0]), float(minus_px[m.minus][1])), scout_px=scout_pixel,
            x_mm=float(xyz[k][0]), y_mm=float(xyz[k][1]), z_mm=float(xyz[k][2]), ray_gap_mm=float(gaps[k]),
            ambiguous=m.ambiguous, score=float(np.mean(scores))))
    plus_t, minus_t = px(stereo.plus.geometry), px(stereo.minus.geometry)
    assert plus_t is not None and minus_t is not None
    return BiopsyResult(
        schema_version=SCHEMA_VERSION, unit=stereo.unit, theta_deg=stereo.theta_deg, laterality=stereo.laterality,
        thickness_mm=stereo.thickness_mm, choice=rule,
        target=Target(x_mm=float(target[0]), y_mm=float(target[1]), z_mm=float(target[2]),
                      sigma_x_mm=float(sigma[0]), sigma_y_mm=float(sigma[1]), sigma_z_mm=float(sigma[2]),
                      n_matches=len(chosen), plus_px=plus_t, minus_px=minus_t, scout_px=px(scout_geo)),
        matches=tuple(matches), candidates=len(groups), sigma_px=sigma_px, warnings=tuple(warnings),
        seconds=time.perf_counter() - started)


def run_biopsy(datasets: Sequence[tuple[str, Dataset]], detect: Detector, config: Config,
               at: tuple[float, float] | None = None
               ) -> tuple[BiopsyResult, StereoSet, dict[StereoRole, ViewDetections]]:
    """Recognise the set, detect in each image with ``detect``, and locate the target.

    ``detect`` is ``functools.partial(detect_view, detector=..., config=...)`` (or the exam pipeline's own).
    """
    started = time.perf_counter()
    stereo = recognise(datasets, config.biopsy)
    reference = StereoRole.SCOUT if stereo.scout is not None else StereoRole.PLUS  # clusters are read there only
    detections = {image.role: detect(image.dataset, clusters=image.role is reference) for image in stereo.images}
    result = locate(stereo, detections, config.biopsy, at)
    log.info("biopsy target: %d matches, %d candidates, warnings %s", result.target.n_matches, result.candidates,
             [w.value for w in result.warnings])
    return replace(result, seconds=time.perf_counter() - started), stereo, detections
