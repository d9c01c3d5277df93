"""Evaluate detectors on held-out full phantom exams through the runtime's own path.

Each DICOM view is read and normalized by the runtime (``read_mammogram``,
``normalize``) and analyzed by ``analyze_normalized`` (breast-mask tiling,
peak extraction, clustering), once per detector: FP32 and INT8 on OpenVINO and
onnxruntime, and the OpenCV baseline behind the same interface. Truths (stored
DICOM pixels) are mapped into the normalized view with the view's transform.

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
from pathlib import Path
from typing import Any

import numpy as np

from .froc import (
    FP_RATES, ImageCase, bootstrap, drop_ignored, found_truths, froc_curve, sensitivity_by_group, threshold_at,
)

CLUSTER_MARGIN_MM = 5.0
CALC_MIN_RADIUS_MM = 0.5
OPERATING_RATE = 0.2  #: FP clusters per image at which the breakdowns are read
#: Contrast-to-noise of a planted calcification: (peak within PEAK_MM - median of the ring) / std of the ring,
#: ring RING_MM from its centre (docs/phantom.md's convention; the "noise" includes the anatomy).
CNR_PEAK_MM = 0.3
CNR_RING_MM = (0.6, 1.2)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ViewCases:
    """One view's cases for one detector, plus labels of its truths for the breakdowns."""

    calcs: ImageCase
    clusters: ImageCase
    suspicious: ImageCase
    calc_morphology: tuple[str, ...]
    #: per suspicious true cluster: morphology, density, vendor, members (in this view), median member CNR
    suspicious_labels: tuple[dict[str, Any], ...]


def make_heldout_exams(out_dir: Path, *, count: int, seed: int, profiles: tuple[str, ...],
                       workers: int = 2) -> list[Path]:
    """``count`` full-size phantom exams (vendor profiles in turn) under ``out_dir``, ``workers`` processes at
    a time; reuses ones already made."""
    from concurrent.futures import ProcessPoolExecutor

    from mammoedge.tools.phantom.exam import make_exam

    folders = [out_dir / f"exam-{seed}-{index:03d}" for index in range(count)]
    missing = [(folder, index) for index, folder in enumerate(folders) if not (folder / "truth.json").exists()]
    if missing:
        with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
            jobs = [pool.submit(make_exam, folder, seed=seed, index=index, profile=profiles[index % len(profiles)],
                                size="full") for folder, index in missing]
            for job in jobs:
                job.result()
    return folders


def _truth_regions(view_truth: dict, normalized: Any) -> list[tuple[dict, np.ndarray, float]]:
    """Per true cluster in the view: (cluster record, centre in normalized px, match radius in mm)."""
    out = []
    spacing = normalized.spacing_mm
    for cluster in view_truth["clusters"]:
        if cluster["cluster_id"] is None:  # isolated calcifications are no cluster
            continue
        x0, y0, x1, y1 = cluster["bbox_px"]
        corners = normalized.transform.from_original(np.array([[x0, y0], [x1, y1]], float))
        centre = corners.mean(axis=0)
        half_diagonal_mm = 0.5 * float(np.hypot(*(corners[1] - corners[0]))) * spacing
        out.append((cluster, centre, half_diagonal_mm + CLUSTER_MARGIN_MM))
    return out


def view_cases(analysis: Any, normalized: Any, view_truth: dict, exam_truth: dict) -> ViewCases:
    """Cases (mm in the normalized view) of one analyzed view against its truth."""
    return detection_cases(np.array([[c.x, c.y, c.score] for c in analysis.calcifications]),
                           np.array([[c.centroid_x, c.centroid_y, c.suspicion] for c in analysis.clusters]),
                           normalized, view_truth, exam_truth)


def detection_cases(calcs: np.ndarray, clusters: np.ndarray, normalized: Any, view_truth: dict,
                    exam_truth: dict) -> ViewCases:
    """Cases of one view's detections, (x, y, score) rows in normalized px, against its truth."""
    s = normalized.spacing_mm
    calc_records = [c for cl in view_truth["clusters"] for c in cl["calcifications"]]
    calc_xy = normalized.transform.from_original(np.array([[c["x"], c["y"]] for c in calc_records], float
                                                          ).reshape(-1, 2))
    calc_truth = np.array([[x * s, y * s, max(CALC_MIN_RADIUS_MM, 0.5 * c["length_mm"])]
                           for (x, y), c in zip(calc_xy, calc_records)]).reshape(-1, 3)
    calc_det = np.asarray(calcs, float).reshape(-1, 3) * [s, s, 1]
    cluster_det = np.asarray(clusters, float).reshape(-1, 3) * [s, s, 1]
    morph = {c["cluster_id"]: c["morphology"] for lat in exam_truth["clusters"].values() for c in lat}
    regions = _truth_regions(view_truth, normalized)
    all_truth = np.array([[*centre * s, r] for _, centre, r in regions]).reshape(-1, 3)
    suspicious = [morph.get(rec["cluster_id"]) in SUSPICIOUS for rec, _, _ in regions]
    sus_truth = all_truth[np.array(suspicious, bool)] if len(regions) else all_truth
    benign = all_truth[~np.array(suspicious, bool)] if len(regions) else all_truth
    labels = tuple({"morphology": str(morph.get(rec["cluster_id"])), "density": str(exam_truth["density"]),
                    "vendor": str(exam_truth["vendor"]), "members": len(rec["calcifications"]),
                    "cnr": round(median_cnr(normalized, rec["calcifications"]), 2),
                    "exam": exam_truth.get("exam_index"), "view": Path(view_truth["file"]).stem,
                    "cluster_id": rec["cluster_id"]}
                   for (rec, _, _), sus in zip(regions, suspicious) if sus)
    return ViewCases(calcs=ImageCase(detections=calc_det, truths=calc_truth),
                     clusters=ImageCase(detections=cluster_det, truths=all_truth),
                     suspicious=drop_ignored(ImageCase(detections=cluster_det, truths=sus_truth), benign),
                     calc_morphology=tuple(str(c["morphology"]) for c in calc_records),
                     suspicious_labels=labels)


def median_cnr(normalized: Any, calcifications: list[dict]) -> float:
    """Median contrast-to-noise (``CNR_RING_MM``) of planted calcifications in the normalized view."""
    if not calcifications:
        return float("nan")
    image, s = normalized.image, normalized.spacing_mm
    xy = normalized.transform.from_original(np.array([[c["x"], c["y"]] for c in calcifications], float))
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


SUSPICIOUS = frozenset({"amorphous", "coarse_heterogeneous", "fine_pleomorphic", "fine_linear_branching"})


def load_detectors(models_dir: Path, config: Any, *, backends: tuple[str, ...]) -> dict[str, Any]:
    """Name -> (compiled detector, cluster verifier or None) for FP32/INT8 x backends (those in the manifest),
    each precision with its own verifier when ``analysis.verifier_model`` is set, the baseline and the prewhitened
    speck filter (no verifier: they stay classical observers)."""
    from mammoedge.runtime.analysis.view import load_detector, load_verifier
    from mammoedge.runtime.inference import Engine
    from mammoedge.runtime.inference.registry import ModelRegistry

    from .baseline_model import BaselineModel, PrewhitenedModel
    from .export import MODEL_NAME

    engine = Engine(config.inference, ModelRegistry(models_dir))
    detectors: dict[str, Any] = {}
    verifier_name = config.analysis.verifier_model
    for label, name, suffix in (("INT8", MODEL_NAME, ""), ("FP32", f"{MODEL_NAME}-fp32", "-fp32")):
        if name not in engine.registry.names():
            continue
        analysis = dataclasses.replace(config.analysis, detector_model=name,
                                       verifier_model=verifier_name and f"{verifier_name}{suffix}")
        for backend in backends:
            detectors[f"{label} {backend}"] = (load_detector(engine, analysis, backend=backend, force=True),
                                               load_verifier(engine, analysis, backend=backend, force=True))
    detectors["baseline (DoG)"] = (BaselineModel(), None)
    detectors["prewhitened speck filter"] = (PrewhitenedModel(), None)
    return detectors


#: With ``scan_detector``: rows of the scan-statistic candidates (scan.py), clusters only.
SCAN_ROWS = {"detector": "{} evidence scan", "image": "image contrast scan"}


def evaluate_views(exam_dirs: list[Path], detectors: dict[str, Any], config: Any, out_dir: Path, *,
                   bootstrap_samples: int = 300, progress: bool = True, scan_detector: str | None = None) -> dict:
    """FROC (calcifications, all clusters, suspicious clusters) of every detector on the same views.

    ``detectors``: name -> (detector model, cluster verifier or None), as ``load_detectors`` gives them.
    ``scan_detector``: also the scan-statistic candidates (scan.py) of that detector's map and of the image."""
    from tqdm import tqdm

    from mammoedge.runtime.analysis.view import analyze_normalized
    from mammoedge.runtime.dicom import read_mammogram
    from mammoedge.runtime.preprocess import normalize

    from .scan import view_scans

    per_detector: dict[str, list[ViewCases]] = {name: [] for name in detectors}
    if scan_detector is not None:
        per_detector.update({row.format(scan_detector): [] for row in SCAN_ROWS.values()})
    seconds = {name: 0.0 for name in detectors}
    densities, vendors = [], []
    for folder in tqdm(exam_dirs, desc="held-out exams", unit="exam", disable=not progress):
        truth = json.loads((folder / "truth.json").read_text())
        densities.append(truth["density"])
        vendors.append(truth["vendor"])
        for view_truth in truth["views"]:
            normalized = normalize(read_mammogram(folder / view_truth["file"], config.reader), config.preprocess)
            for name, (model, verifier) in detectors.items():
                started = time.perf_counter()
                analysis = analyze_normalized(normalized, model, config.analysis, verifier=verifier)
                seconds[name] += time.perf_counter() - started
                per_detector[name].append(view_cases(analysis, normalized, view_truth, truth))
                if name == scan_detector:
                    scans = view_scans(normalized, analysis.detector_map, analysis.detector_stride,
                                       config.analysis.skin_margin_mm)
                    for source, row in SCAN_ROWS.items():
                        per_detector[row.format(name)].append(
                            detection_cases(np.zeros((0, 3)), scans[source], normalized, view_truth, truth))
    views = len(next(iter(per_detector.values())))
    report: dict = {"exams": len(exam_dirs), "views": views, "unit": "false positives per view (image)",
                    "peak_threshold": config.analysis.peak_threshold,
                    "verifier": config.analysis.verifier_model or None,
                    "verifier_threshold": config.analysis.verifier_threshold,
                    "cluster_match": f"centroid within half the true cluster's bounding-box diagonal + "
                                     f"{CLUSTER_MARGIN_MM} mm",
                    "density": dict(zip(*np.unique(densities, return_counts=True))) if densities else {},
                    "vendor": dict(zip(*np.unique(vendors, return_counts=True))) if vendors else {},
                    "detectors": {}}
    report["density"] = {str(k): int(v) for k, v in report["density"].items()}
    report["vendor"] = {str(k): int(v) for k, v in report["vendor"].items()}
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for name, cases in per_detector.items():
        row: dict = {"seconds_per_view": round(seconds[name] / max(1, views), 3) if name in seconds else None}
        curves[name] = {}
        for kind in ("suspicious", "clusters", "calcs") if name in detectors else ("suspicious", "clusters"):
            kind_cases = [getattr(c, kind) for c in cases]
            ci = bootstrap(kind_cases, FP_RATES, samples=bootstrap_samples)
            row[kind] = {"truths": int(sum(len(np.asarray(c.truths).reshape(-1, 3)) for c in kind_cases)),
                         "sensitivity_at_fp": {str(r): [round(v, 4) for v in ci[r]] for r in FP_RATES}}
            _, sens, fpi = froc_curve(kind_cases)
            curves[name][kind] = (fpi, sens)
        sus = [c.suspicious for c in cases]
        threshold = threshold_at(sus, OPERATING_RATE)
        row["suspicious"][f"threshold_at_{OPERATING_RATE}_fp"] = round(threshold, 4) if np.isfinite(threshold) else None
        for key in ("morphology", "density", "vendor"):
            groups = [[label[key] for label in c.suspicious_labels] for c in cases]
            row["suspicious"][f"by_{key}_at_{OPERATING_RATE}_fp"] = {
                k: [round(v, 3), n] for k, (v, n) in sensitivity_by_group(sus, groups, threshold).items()}
        row["suspicious"][f"members_and_cnr_at_{OPERATING_RATE}_fp"] = found_and_missed(cases, threshold)
        row["suspicious"][f"missed_at_{OPERATING_RATE}_fp"] = missed_clusters(cases, threshold)
        if name not in detectors:  # scan rows: clusters only
            report["detectors"][name] = row
            continue
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
