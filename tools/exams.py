"""Full phantom exams for evaluation, and where their typed truth lies in a view as the runtime sees it.

Every evaluation on full exams (detector, morphology, split levels) makes its exams here, from a split
(tools/splits.py), and maps the truth (stored DICOM pixels) into the normalized view with the view's own
transform.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .phantom.truth import ClusterInView, ViewTruth
from .splits import Split, check_seed

#: A detected cluster matches a true one when its centroid is within half the true cluster's bounding-box
#: diagonal plus this margin (mm).
CLUSTER_MARGIN_MM = 5.0
#: The vendor profiles of an exam set, in turn.
PROFILES = ("hologic", "ge", "siemens", "fuji")
#: Splits of full exams an evaluation may run on (never training data).
EXAM_SPLITS = (Split.TEST_EXAMS, Split.CONFIRMATION_EXAMS, Split.DEVELOPMENT_EXAMS, Split.TUNING_EXAMS,
               Split.HELDOUT_V2_EXAMS)


def make_exams(out_dir: Path, *, count: int, seed: int, profiles: Sequence[str] = PROFILES,
               workers: int = 2) -> list[Path]:
    """``count`` full-size phantom exams of exam seed ``seed`` (one of ``EXAM_SPLITS``; vendor profiles in turn)
    under ``out_dir``, ``workers`` processes at a time; reuses ones already made."""
    from concurrent.futures import ProcessPoolExecutor

    from .phantom.exam import make_exam

    check_seed(seed, *EXAM_SPLITS, what="exam seed")
    folders = [out_dir / f"exam-{seed}-{index:03d}" for index in range(count)]
    missing = [(folder, index) for index, folder in enumerate(folders) if not (folder / "truth.json").exists()]
    if missing:
        with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
            jobs = [pool.submit(make_exam, folder, seed=seed, index=index, profile=profiles[index % len(profiles)],
                                size="full") for folder, index in missing]
            for job in jobs:
                job.result()
    return folders


def parse_profiles(text: str) -> tuple[str, ...]:
    """``"hologic,ge"`` -> ``("hologic", "ge")``."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


@dataclass(frozen=True)
class Region:
    """Where one true cluster lies in a normalized view: centre (normalized px) and match radius (mm)."""

    cluster: ClusterInView
    centre: np.ndarray
    radius_mm: float


def cluster_regions(view: ViewTruth, normalized: Any) -> list[Region]:
    """Every true cluster of ``view`` in ``normalized``'s pixels, with its match radius: half the bounding-box
    diagonal plus ``CLUSTER_MARGIN_MM``. An isolated calcification is a cluster of one (distribution
    ``single``): a benign truth of the all-cluster FROC, ignored by the suspicious-cluster one."""
    out = []
    for cluster in view.clusters:
        x0, y0, x1, y1 = cluster.bbox_px
        corners = normalized.transform.from_original(np.array([[x0, y0], [x1, y1]], float))
        half_diagonal_mm = 0.5 * float(np.hypot(*(corners[1] - corners[0]))) * normalized.spacing_mm
        out.append(Region(cluster, corners.mean(axis=0), half_diagonal_mm + CLUSTER_MARGIN_MM))
    return out


def region_of(regions: Sequence[Region], x: float, y: float, spacing_mm: float) -> Region | None:
    """The nearest region whose match radius holds the point (x, y) (normalized px), if any."""
    hits = [(float(np.hypot(x - r.centre[0], y - r.centre[1])) * spacing_mm, i) for i, r in enumerate(regions)]
    inside = [(d, i) for d, i in hits if d <= regions[i].radius_mm]
    return regions[min(inside)[1]] if inside else None
