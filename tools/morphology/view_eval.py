"""Morphology and the triage flag on held-out full phantom exams, through the runtime's whole path.

Each exam goes through the runtime's exam pipeline (``ExamPipeline``: detector INT8, clustering and
morphology INT8, all on OpenVINO): each view read, normalized and analyzed, then the exam triaged as
the service does it. Truths are the exam's typed ``truth.json``. A detected cluster is matched to the
true cluster whose region it falls in (``tools/exams.py``: centroid within half the
true bounding-box diagonal + 5 mm); matched clusters give the morphology
accuracy on real detections, unmatched ones show what the model says about the
detector's false clusters. Exams with a suspicious planted cluster give the
flag's sensitivity, the others its specificity.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mammoedge.runtime.codes import MorphologyClass

from ..exams import cluster_regions, region_of
from ..phantom.truth import ExamTruth
from .evaluate import macro_f1
from .scores import score

REPORTED = tuple(MorphologyClass)
#: triage operating points (case score) the flag's sensitivity and specificity are also read at
OPERATING_POINTS = (0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6)


def evaluate_exams(exam_dirs: list[Path], config: Any, out_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Run every exam through the runtime's pipeline; write ``exam-evaluation.json`` and each exam's result
    (``results/<exam folder>.json``, so ``rescore`` can score them again at another operating point)."""
    from tqdm import tqdm

    from mammoedge.runtime.pipeline import ExamModels, ExamPipeline
    from mammoedge.runtime.results import to_json

    pipeline = ExamPipeline(ExamModels.load(config, backend="openvino", force=True), config)
    matched: list[tuple[int, int, bool]] = []  # (true class, predicted class, uncertain)
    false_clusters: list[tuple[int, bool, bool]] = []  # (predicted class, uncertain, counts toward the flag)
    exams: list[tuple[bool, bool, float]] = []  # (a suspicious cluster was planted, flagged, case score)
    scored: list[tuple[ExamTruth, Any]] = []
    (out_dir / "results").mkdir(parents=True, exist_ok=True)
    for folder in tqdm(exam_dirs, desc="exams", unit="exam", disable=not progress):
        truth = ExamTruth.read(folder / "truth.json")
        morph = truth.morphology_of()
        views = []
        for view in truth.views:
            normalized = pipeline.read(folder / view.file)
            analysis = pipeline.view(normalized)
            views.append(analysis)
            regions = cluster_regions(view, normalized)
            for cluster in analysis.clusters:
                if cluster.morphology is None:
                    continue
                predicted_class = REPORTED.index(cluster.morphology.morphology)
                region = region_of(regions, cluster.centroid_x, cluster.centroid_y, normalized.spacing_mm)
                if region is not None:
                    group = morph[region.cluster.cluster_id].group
                    matched.append((REPORTED.index(group), predicted_class, cluster.morphology.uncertain))
                else:
                    counts = cluster.morphology.birads.rank >= 3 or cluster.morphology.uncertain
                    false_clusters.append((predicted_class, cluster.morphology.uncertain, counts))
        planted = any(c.morphology.suspicious and c.n_calcifications >= 5
                      for side in truth.clusters.values() for c in side)
        result = pipeline.exam(views, study_key=folder.name)
        (out_dir / "results" / f"{folder.name}.json").write_text(to_json(result))
        scored.append((truth, result))
        triage = result.triage
        exams.append((planted, triage.flagged, triage.score))
    truth_cls = np.array([m[0] for m in matched], int)
    predicted = np.array([m[1] for m in matched], int)
    confusion = np.zeros((len(REPORTED), len(REPORTED)), int)
    np.add.at(confusion, (truth_cls, predicted), 1)
    present = sorted(set(truth_cls.tolist()))
    f1, per_class = macro_f1(truth_cls, predicted, len(REPORTED)) if len(matched) else (float("nan"), [])
    positive = [flag for planted, flag, _ in exams if planted]
    negative = [flag for planted, flag, _ in exams if not planted]
    by_operating_point = {}
    for point in OPERATING_POINTS:
        sens = [score >= point for planted, _, score in exams if planted]
        spec = [score < point for planted, _, score in exams if not planted]
        by_operating_point[str(point)] = {"sensitivity": [int(sum(sens)), len(sens)],
                                          "specificity": [int(sum(spec)), len(spec)]}
    report = {
        "exams": len(exam_dirs), "peak_threshold": config.analysis.peak_threshold,
        "triage_threshold": config.analysis.triage_threshold,
        "matched_clusters": len(matched),
        "matched_accuracy": round(float((truth_cls == predicted).mean()), 4) if len(matched) else None,
        "matched_macro_f1_present_classes": (round(float(np.mean([per_class[c] for c in present])), 4)
                                             if present else None),
        "matched_uncertain_share": round(float(np.mean([m[2] for m in matched])), 4) if matched else None,
        "confusion_classes": [c.value for c in REPORTED], "confusion": confusion.tolist(),
        "false_clusters": len(false_clusters),
        "false_clusters_uncertain_share": (round(float(np.mean([f[1] for f in false_clusters])), 4)
                                           if false_clusters else None),
        "false_clusters_counting_toward_flag": int(sum(f[2] for f in false_clusters)),
        "flag_sensitivity": [int(sum(positive)), len(positive)],
        "flag_specificity": [int(len(negative) - sum(negative)), len(negative)],
        "flag_by_operating_point": by_operating_point,
        "at_operating_point": score(scored, **operating_point_of(config)),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "exam-evaluation.json").write_text(json.dumps(report, indent=2))
    return report


def operating_point_of(config: Any) -> dict[str, Any]:
    a = config.analysis
    return {"operating_point": a.triage_threshold, "min_birads": a.flag_min_birads, "flag_uncertain": a.flag_uncertain}


def rescore(exam_dirs: list[Path], results_dir: Path, config: Any) -> dict[str, Any]:
    """``scores.score`` of results written by ``evaluate_exams`` (``results_dir``), at ``config``'s operating
    point."""
    from mammoedge.runtime.results import read_result

    pairs = [(ExamTruth.read(folder / "truth.json"), read_result(results_dir / f"{folder.name}.json"))
             for folder in exam_dirs]
    return score(pairs, **operating_point_of(config))
