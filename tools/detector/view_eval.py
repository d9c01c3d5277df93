"""Evaluate detectors on full phantom exams through the runtime's own path.

Each row is one runtime exam pipeline (``mammoedge.runtime.pipeline.ExamPipeline``): FP32 and INT8 on
OpenVINO and onnxruntime, and the OpenCV baseline behind the same model interface, each with its own
analysis options (the split-levels comparison is two rows of one detector). Each DICOM view is read and
normalized once (``ExamPipeline.read``) and analyzed by every row (``ExamPipeline.view``). Truths are the
exam's typed ``truth.json`` (``ExamTruth.read``), mapped into the normalized view with the view's
transform (``tools/exams.py``).

Matching, per view ("image"):
- calcifications: a detected calcification within max(0.5 mm, half the
  calcification's length) of a planted one;
- clusters: a detected cluster's centroid within the true cluster's half
  bounding-box diagonal plus ``CLUSTER_MARGIN_MM``; score = the runtime's
  cluster ``suspicion``. "Suspicious clusters" counts only clusters of a
  suspicious morphology as truths; detections on benign true clusters are
  ignored (neither hit nor false positive, see ``froc.drop_ignored``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mammoedge.runtime.pipeline import ExamModels, ExamPipeline

from ..exams import CLUSTER_MARGIN_MM, cluster_regions
from ..modelfiles import Backend
from ..phantom.truth import CalcTruth, ExamTruth, ViewTruth
from .froc import (
    FP_RATES,
    ImageCase,
    bootstrap,
    drop_ignored,
    found_truths,
    froc_curve,
    sensitivity_by_group,
    threshold_at,
)

__all__ = ["CLUSTER_MARGIN_MM", "OPERATING_RATE", "ViewCases", "evaluate_views", "load_rows", "split_level_rows",
           "view_cases"]

CALC_MIN_RADIUS_MM = 0.5
OPERATING_RATE = 0.2  #: FP clusters per image at which the breakdowns are read
#: Contrast-to-noise of a planted calcification: (peak within PEAK_MM - median of the ring) / std of the ring,
#: ring RING_MM from its centre (docs/phantom.md's convention; the "noise" includes the anatomy).
CNR_PEAK_MM = 0.3
CNR_RING_MM = (0.6, 1.2)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ViewCases:
    """One view's cases for one row, plus labels of its truths for the breakdowns."""

    calcs: ImageCase
    clusters: ImageCase
    suspicious: ImageCase
    calc_morphology: tuple[str, ...]
    #: per suspicious true cluster: morphology, density, vendor, members (in this view), median member CNR
    suspicious_labels: tuple[dict[str, Any], ...]


def view_cases(analysis: Any, normalized: Any, view: ViewTruth, exam: ExamTruth) -> ViewCases:
    """Cases (mm in the normalized view) of one analyzed view against its typed truth."""
    s = normalized.spacing_mm
    calc_records: list[CalcTruth] = [c for cl in view.clusters for c in cl.calcifications]
    calc_xy = normalized.transform.from_original(np.array([[c.x, c.y] for c in calc_records], float).reshape(-1, 2))
    calc_truth = np.array([[x * s, y * s, max(CALC_MIN_RADIUS_MM, 0.5 * c.length_mm)]
                           for (x, y), c in zip(calc_xy, calc_records)]).reshape(-1, 3)
    calc_det = np.array([[c.x, c.y, c.score] for c in analysis.calcifications], float).reshape(-1, 3) * [s, s, 1]
    cluster_det = np.array([[c.centroid_x, c.centroid_y, c.suspicion] for c in analysis.clusters], float
                           ).reshape(-1, 3) * [s, s, 1]
    morph = exam.morphology_of()
    regions = cluster_regions(view, normalized)
    all_truth = np.array([[*r.centre * s, r.radius_mm] for r in regions]).reshape(-1, 3)
    morphologies = [morph.get(r.cluster.cluster_id) for r in regions]
    suspicious = np.array([m is not None and m.suspicious for m in morphologies], bool)
    labels = tuple({"morphology": str(m.value), "density": exam.density.value, "vendor": exam.vendor,
                    "members": len(r.cluster.calcifications),
                    "cnr": round(median_cnr(normalized, r.cluster.calcifications), 2),
                    "exam": exam.exam_index, "view": Path(view.file).stem, "cluster_id": r.cluster.cluster_id}
                   for r, m, sus in zip(regions, morphologies, suspicious) if sus and m is not None)
    return ViewCases(calcs=ImageCase(detections=calc_det, truths=calc_truth),
                     clusters=ImageCase(detections=cluster_det, truths=all_truth),
                     suspicious=drop_ignored(ImageCase(detections=cluster_det, truths=all_truth[suspicious]),
                                             all_truth[~suspicious]),
                     calc_morphology=tuple(c.morphology.value for c in calc_records),
                     suspicious_labels=labels)


def median_cnr(normalized: Any, calcifications: Sequence[CalcTruth]) -> float:
    """Median contrast-to-noise (``CNR_RING_MM``) of planted calcifications in the normalized view."""
    if not calcifications:
        return float("nan")
    image, s = normalized.image, normalized.spacing_mm
    xy = normalized.transform.from_original(np.array([[c.x, c.y] for c in calcifications], float))
    outer = int(np.ceil(CNR_RING_MM[1] / s))
    values = []
    for x, y in xy:
        cx, cy = int(round(x)), int(round(y))
        y0, x0 = max(cy - outer, 0), max(cx - outer, 0)
        window = image[y0:cy + outer + 1, x0:cx + outer + 1]
        yy, xx = np.mgrid[y0:y0 + window.shape[0], x0:x0 + window.shape[1]]
        r = np.hypot(xx - x, yy - y) * s
        ring = window[(r >= CNR_RING_MM[0]) & (r <= CNR_RING_MM[1])]
        core = window[r <= CNR_PEAK_MM]
        if ring.size < 8 or not core.size or ring.std() == 0:
            continue
        values.append((float(core.max()) - float(np.median(ring))) / float(ring.std()))
    return float(np.median(values)) if values else float("nan")




def pipeline(model: Any, config: Any, analysis: Any = None) -> ExamPipeline:
    """An exam pipeline around ``model`` (a compiled detector, or a classical one behind its interface), without
    the morphology model, with ``analysis`` options (default: the configuration's)."""
    return ExamPipeline(ExamModels(model),
                        config if analysis is None else dataclasses.replace(config, analysis=analysis))


def load_rows(models_dir: Path, config: Any, *, backends: Sequence[Backend | str] = tuple(Backend),
              precisions: Sequence[str] = ("INT8", "FP32")) -> dict[str, ExamPipeline]:
    """Name -> exam pipeline for ``precisions`` (INT8, FP32) x ``backends`` (those in the manifest), and the
    baseline."""
    from mammoedge.runtime.inference import Engine
    from mammoedge.runtime.inference.registry import ModelRegistry

    from .baseline_model import BaselineModel
    from .export import MODEL_NAME

    engine = Engine(config.inference, ModelRegistry(models_dir))
    rows: dict[str, ExamPipeline] = {}
    for label, name in (("INT8", MODEL_NAME), ("FP32", f"{MODEL_NAME}-fp32")):
        if name not in engine.registry.names() or label not in precisions:
            continue
        row_config = dataclasses.replace(config, analysis=dataclasses.replace(
            config.analysis, detector_model=name, morphology_model=""))
        for backend in map(Backend, backends):
            models = ExamModels.load(row_config, engine=engine, backend=str(backend), force=True)
            rows[f"{label} {backend}"] = ExamPipeline(models, row_config)
    rows["baseline (DoG)"] = pipeline(BaselineModel(), config)
    return rows


def exam_views(exam_dirs: Sequence[Path], reader: ExamPipeline, progress: bool = True
               ) -> Iterator[tuple[ExamTruth, ViewTruth, Any]]:
    """(exam truth, view truth, normalized view) of every view, each read and normalized once by ``reader``."""
    from tqdm import tqdm

    for folder in tqdm(exam_dirs, desc="exams", unit="exam", disable=not progress):
        truth = ExamTruth.read(folder / "truth.json")
        for view in truth.views:
            yield truth, view, reader.read(folder / view.file)


def evaluate_views(exam_dirs: list[Path], rows: dict[str, ExamPipeline], config: Any, out_dir: Path, *,
                   bootstrap_samples: int = 300, progress: bool = True) -> dict[str, Any]:
    """FROC (calcifications, all clusters, suspicious clusters) of every row on the same views; writes
    ``view-evaluation.json`` and ``froc-views.png`` in ``out_dir``. Views are read with ``config``'s reader
    and preprocessing (every row shares them)."""
    per_row: dict[str, list[ViewCases]] = {name: [] for name in rows}
    seconds = {name: 0.0 for name in rows}
    exams: dict[int, ExamTruth] = {}
    for truth, view, normalized in exam_views(exam_dirs, pipeline(None, config), progress):
        exams[id(truth)] = truth
        for name, row in rows.items():
            started = time.perf_counter()
            analysis = row.view(normalized)
            seconds[name] += time.perf_counter() - started
            per_row[name].append(view_cases(analysis, normalized, view, truth))
    return _report(list(exams.values()), per_row, seconds, rows, config, bootstrap_samples, out_dir)


def _counts(values: list[str]) -> dict[str, int]:
    return {str(k): int(v) for k, v in zip(*np.unique(values, return_counts=True))} if values else {}


def _report(exams: list[ExamTruth], per_row: dict[str, list[ViewCases]], seconds: dict[str, float],
            rows: dict[str, ExamPipeline], config: Any, bootstrap_samples: int, out_dir: Path) -> dict[str, Any]:
    views = len(next(iter(per_row.values()))) if per_row else 0
    report: dict[str, Any] = {
        "exams": len(exams), "views": views, "unit": "false positives per view (image)",
        "peak_threshold": config.analysis.peak_threshold,
        "cluster_match": f"centroid within half the true cluster's bounding-box diagonal + {CLUSTER_MARGIN_MM} mm",
        "density": _counts([e.density.value for e in exams]), "vendor": _counts([e.vendor for e in exams]),
        "detectors": {}}
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for name, cases in per_row.items():
        row_analysis = rows[name].config.analysis
        if row_analysis != config.analysis:
            report.setdefault("row_analysis", {})[name] = {
                key: getattr(row_analysis, key) for key in ("peak_threshold", "split_levels")}
        row: dict[str, Any] = {"seconds_per_view": round(seconds[name] / max(1, views), 3)}
        curves[name] = {}
        for kind in ("suspicious", "clusters", "calcs"):
            kind_cases = [getattr(c, kind) for c in cases]
            ci = bootstrap(kind_cases, FP_RATES, samples=bootstrap_samples)
            row[kind] = {"truths": int(sum(len(np.asarray(c.truths).reshape(-1, 3)) for c in kind_cases)),
                         "sensitivity_at_fp": {str(r): [round(v, 4) for v in ci[r]] for r in FP_RATES}}
            _, sens, fpi = froc_curve(kind_cases)
            curves[name][kind] = (fpi, sens)
            # every reported detection counted: the runtime's own operating point (its peak threshold)
            row[kind]["all_reported"] = {"sensitivity": round(float(sens[-1]) if len(sens) else 0.0, 4),
                                         "false_per_view": round(float(fpi[-1]) if len(fpi) else 0.0, 4)}
        sus = [c.suspicious for c in cases]
        threshold = threshold_at(sus, OPERATING_RATE)
        row["suspicious"][f"threshold_at_{OPERATING_RATE}_fp"] = round(threshold, 4) if np.isfinite(threshold) else None
        for key in ("morphology", "density", "vendor"):
            groups = [[label[key] for label in c.suspicious_labels] for c in cases]
            row["suspicious"][f"by_{key}_at_{OPERATING_RATE}_fp"] = {
                k: [round(v, 3), n] for k, (v, n) in sensitivity_by_group(sus, groups, threshold).items()}
        row["suspicious"][f"members_and_cnr_at_{OPERATING_RATE}_fp"] = found_and_missed(cases, threshold)
        row["suspicious"][f"missed_at_{OPERATING_RATE}_fp"] = missed_clusters(cases, threshold)
        calc_threshold = threshold_at([c.calcs for c in cases], 1.0)
        row["calcs"]["by_morphology_at_1.0_fp"] = {
            k: [round(v, 3), n] for k, (v, n) in sensitivity_by_group(
                [c.calcs for c in cases], [list(c.calc_morphology) for c in cases], calc_threshold).items()}
        report["detectors"][name] = row
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "view-evaluation.json").write_text(json.dumps(report, indent=2))
    plot_view_froc(curves, out_dir / "froc-views.png")
    return report


def found_and_missed(cases: list[ViewCases], threshold: float) -> dict:
    """Per suspicious morphology, found and missed true clusters at ``threshold``: how many, and the median
    of their member count and member contrast-to-noise (what limits a morphology's sensitivity)."""
    out: dict = {}
    for case in cases:
        for found, label in zip(found_truths(case.suspicious, threshold), case.suspicious_labels):
            group = out.setdefault(label["morphology"], {"found": [], "missed": []})
            group["found" if found else "missed"].append((label["members"], label["cnr"]))
    return {morphology: {kind: {"clusters": len(rows),
                                "median_members": float(np.median([m for m, _ in rows])) if rows else None,
                                "median_cnr": round(float(np.nanmedian([c for _, c in rows])), 2) if rows else None}
                         for kind, rows in groups.items()}
            for morphology, groups in sorted(out.items())}


def missed_clusters(cases: list[ViewCases], threshold: float) -> list[dict]:
    """The suspicious true clusters not found at ``threshold``: exam index, view, cluster id, morphology,
    members and member contrast-to-noise, so each miss can be looked up in the phantom's truth."""
    return [{key: label.get(key) for key in ("exam", "view", "cluster_id", "morphology", "members", "cnr")}
            for case in cases
            for found, label in zip(found_truths(case.suspicious, threshold), case.suspicious_labels) if not found]


def plot_view_froc(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = {"suspicious": "suspicious clusters", "clusters": "all clusters", "calcs": "calcifications"}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, (kind, title) in zip(axes, titles.items()):
        for name, by_kind in curves.items():
            if kind not in by_kind:
                continue
            fpi, sens = by_kind[kind]
            last_fp, last_sens = (float(fpi[-1]), float(sens[-1])) if len(fpi) else (0.0, 0.0)
            # beyond its last detection the curve stays flat (dotted): more FP allowance finds nothing more
            line, = ax.step(np.concatenate([[0], fpi]), np.concatenate([[0], sens]), where="post", label=name,
                            linestyle="--" if "onnxruntime" in name else "-")
            ax.plot([last_fp, 20], [last_sens, last_sens], ":", color=line.get_color())
            ax.plot([last_fp], [last_sens], "o", color=line.get_color(), markersize=4)
        ax.set_xscale("symlog", linthresh=0.1)
        ax.set_xlim(0, 20)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("false positives per view")
        ax.set_ylabel("sensitivity")
        ax.set_title(f"FROC, {title}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def split_level_rows(rows: dict[str, ExamPipeline], analysis: Any) -> dict[str, ExamPipeline]:
    """Each CNN row twice: with ``analysis.split_levels`` and without (``split_levels = ()``)."""
    levels = ", ".join(str(v) for v in analysis.split_levels) or "none"
    out: dict[str, ExamPipeline] = {}
    for name, row in rows.items():
        if name.startswith(("INT8", "FP32")):
            for label, options in ((f"split_levels {levels}", analysis),
                                   ("no split_levels", dataclasses.replace(analysis, split_levels=()))):
                out[f"{name}, {label}"] = ExamPipeline(row.models, dataclasses.replace(row.config, analysis=options))
    return out
