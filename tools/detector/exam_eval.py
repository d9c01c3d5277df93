"""Cluster-level FROC on full phantom views, through the runtime's own analysis (tiling, peaks, clusters).

Held-out exams (``make_exam`` with seeds far from training's) are analyzed by
``runtime.exam_files.analyze_study`` exactly as ``mammoedge analyze`` does. A
detected cluster matches a planted one of at least 5 calcifications in the
same view when its centroid lies within the planted cluster's half-extent
plus 5 mm; the cluster's suspicion score ranks it. "Suspicious" clusters are
planted clusters of a BI-RADS suspicious morphology.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from .froc import FP_RATES, ImageCase, bootstrap

MATCH_MARGIN_MM = 5.0
SUSPICIOUS = {"amorphous", "coarse_heterogeneous", "fine_pleomorphic", "fine_linear_branching"}


def _view_cases(result, views, truth: dict) -> dict[str, list[ImageCase]]:
    """Per view: cases for all planted clusters (>= 5 calcifications) and for the suspicious ones."""
    meta = {(lat, c["cluster_id"]): c for lat, cs in truth["clusters"].items() for c in cs}
    truth_views = {(v["laterality"], v["view"]): v for v in truth["views"]}
    out: dict[str, list[ImageCase]] = {"all": [], "suspicious": []}
    for analysis, view in zip(result.views, views):
        tv = truth_views[(view.laterality.value, view.view.value)]
        rows = {"all": [], "suspicious": []}
        for c in tv["clusters"]:
            info = meta[(view.laterality.value, c["cluster_id"])]
            if len(c["calcifications"]) < 5:
                continue
            pts = view.transform.from_original(np.array([[k["x"], k["y"]] for k in c["calcifications"]]))
            centre = pts.mean(axis=0) * view.spacing_mm
            half_extent = float(np.max(np.hypot(*(pts * view.spacing_mm - centre).T)))
            row = [centre[0], centre[1], half_extent + MATCH_MARGIN_MM]
            rows["all"].append(row)
            if info["morphology"] in SUSPICIOUS:
                rows["suspicious"].append(row)
        detections = np.array([[c.centroid_x_mm, c.centroid_y_mm, c.suspicion] for c in analysis.clusters]
                              ).reshape(-1, 3)
        for key in out:
            out[key].append(ImageCase(detections=detections, truths=np.array(rows[key]).reshape(-1, 3)))
    return out


def evaluate_exams(exams: int, seed: int = 2_000_000, bootstrap_samples: int = 300) -> dict:
    """Make ``exams`` held-out exams (all vendor profiles in turn), analyze them, FROC per cluster."""
    from mammoedge.runtime.config import load_config
    from mammoedge.runtime.dicom import read_mammogram
    from mammoedge.runtime.exam_files import cached_detector
    from mammoedge.runtime.preprocess import normalize
    from mammoedge.runtime.results.outputs import analyze_exam
    from mammoedge.tools.phantom import make_exam
    from mammoedge.tools.phantom.vendors import PROFILES
    from tqdm import tqdm

    config = load_config(None)
    detector = cached_detector(config)
    cases: dict[str, list[ImageCase]] = {"all": [], "suspicious": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in tqdm(range(exams), desc="held-out exams", unit="exam"):
            folder = Path(tmp) / f"exam{i}"
            make_exam(folder, seed=seed, index=i, profile=list(PROFILES)[i % len(PROFILES)], size="full",
                      normal_fraction=0.3)
            truth = json.loads((folder / "truth.json").read_text())
            views = [normalize(read_mammogram(folder / v["file"], config.reader), config.preprocess)
                     for v in truth["views"]]
            result = analyze_exam(views, detector, config.analysis, study_key="0" * 32)
            for key, more in _view_cases(result, views, truth).items():
                cases[key] += more
    report = {"exams": exams, "views": len(cases["all"]), "held_out_seed": seed,
              "unit": "false-positive clusters per view", "match": f"centroid within half-extent + {MATCH_MARGIN_MM} mm"}
    for key, group in cases.items():
        ci = bootstrap(group, FP_RATES, samples=bootstrap_samples)
        report[f"{key}_clusters"] = {"planted": int(sum(len(c.truths) for c in group)),
                                     "sensitivity_at_fp": {str(r): [round(v, 3) for v in ci[r]] for r in FP_RATES}}
    return report
