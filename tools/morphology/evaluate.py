"""Evaluate the morphology model on held-out phantom ROIs; fit its temperature and uncertainty threshold.

Every model file runs on the same ROIs (seed other than training's and
calibration's), on OpenVINO and onnxruntime: macro-F1 over the five reported
classes with a confusion matrix, malignancy AUC with a bootstrap interval,
expected calibration error before and after temperature scaling with a
reliability diagram, and the uncertainty of typical clusters against
background (no calcification) and noise ROIs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mammoedge.runtime.codes import MorphologyClass
from mammoedge.runtime.morphology.calibration import (
    calibrated,
    expected_calibration_error,
    fit_temperature,
    reliability,
    sigmoid,
)
from mammoedge.runtime.morphology.roi import ROI_SIZE

from ..modelfiles import Backend, cpu_runner
from ..training import batched
from .data import CLASSES, RoiSet, make_rois

REPORTED = tuple(MorphologyClass)
GROUP = np.array([[m.group is g for g in REPORTED] for m in CLASSES], float)  # (12, 5)
#: Share of typical held-out clusters whose uncertainty is above the threshold ("uncertain").
UNCERTAIN_SHARE = 0.10


def runner(path: Path, backend: Backend | str) -> Callable[[np.ndarray], np.ndarray]:
    """ROIs (N,1,96,96) -> logits (N,13) with ``path`` on the CPU, 64 ROIs at a time."""
    run = cpu_runner(path, backend)
    return lambda x: batched(lambda chunk: run(chunk)[0], x, 64)


def reported_probabilities(logits: np.ndarray) -> np.ndarray:
    z = logits[:, :len(CLASSES)]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)) @ GROUP


def normalized_entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(np.clip(p, 1e-12, 1))).sum(axis=1) / np.log(p.shape[1])


def fit_parameters(path: Path, data: RoiSet) -> dict:
    """Temperature of the malignancy logit (NLL on ``data``) and the uncertainty threshold
    (the 90th percentile of typical clusters' uncertainty)."""
    logits = runner(path, "onnxruntime")(data.images)
    known = np.array([m is not None for m in data.morphology])
    uncertainty = normalized_entropy(reported_probabilities(logits[known]))
    return {"temperature": round(fit_temperature(logits[:, len(CLASSES)], data.malignant), 4),
            "uncertainty_threshold": round(float(np.quantile(uncertainty, 1 - UNCERTAIN_SHARE)), 4)}


def macro_f1(truth: np.ndarray, predicted: np.ndarray, classes: int) -> tuple[float, list[float]]:
    scores = []
    for c in range(classes):
        tp = float(((predicted == c) & (truth == c)).sum())
        denominator = float((predicted == c).sum() + (truth == c).sum())
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores)), scores


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    positive, negative = scores[labels > 0.5], scores[labels <= 0.5]
    if not len(positive) or not len(negative):
        return float("nan")
    order = np.argsort(np.concatenate([positive, negative]), kind="mergesort")
    ranks = np.empty(len(order))
    values = np.concatenate([positive, negative])[order]
    i = 0
    while i < len(values):  # average ranks of ties
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_auc(scores: np.ndarray, labels: np.ndarray, samples: int, seed: int = 0
                  ) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    picks = (rng.integers(0, len(scores), len(scores)) for _ in range(samples))
    draws = [auc(scores[idx], labels[idx]) for idx in picks]
    draws = [d for d in draws if np.isfinite(d)]
    return auc(scores, labels), float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))


def noise_rois(count: int, seed: int) -> np.ndarray:
    """Out-of-distribution input: white noise at the standardized image's scale."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 1.0, (count, 1, ROI_SIZE, ROI_SIZE)).astype(np.float32)


def evaluate(models_dir: Path, out_dir: Path, *, rois: int, seed: int, bootstrap_samples: int) -> dict:
    from mammoedge.runtime.inference.manifest import read_manifest

    out_dir.mkdir(parents=True, exist_ok=True)
    entries = {e.path.name: e for e in read_manifest(models_dir) if e.name.startswith("calc-morphology")}
    data = make_rois(rois, seed, progress=True)
    noise = noise_rois(200, seed + 1)
    known = np.array([m is not None for m in data.morphology])
    truth = np.array([REPORTED.index(g) for g in data.groups if g is not None])
    labels = data.malignant
    report: dict = {"rois": int(known.sum()), "background_rois": int((~known).sum()), "noise_rois": len(noise),
                    "malignant": int(labels.sum()), "seed": seed, "models": {}}
    curves = {}
    for file_name, entry in sorted(entries.items()):
        for backend in Backend:
            name = f"{entry.precision.upper()} {backend}"
            run = runner(entry.path, backend)
            logits = run(data.images)
            probabilities = reported_probabilities(logits)
            predicted = probabilities[known].argmax(axis=1)
            f1, per_class = macro_f1(truth, predicted, len(REPORTED))
            raw = sigmoid(logits[:, len(CLASSES)])
            tuned = calibrated(logits[:, len(CLASSES)], entry.parameters["temperature"])
            uncertainty = normalized_entropy(probabilities)
            noise_uncertainty = normalized_entropy(reported_probabilities(run(noise)))
            confusion = np.zeros((len(REPORTED), len(REPORTED)), int)
            np.add.at(confusion, (truth, predicted), 1)
            report["models"][name] = {
                "file": file_name, "macro_f1": round(f1, 4),
                "f1_by_class": {g.value: round(v, 4) for g, v in zip(REPORTED, per_class)},
                "accuracy": round(float((truth == predicted).mean()), 4),
                "auc": [round(v, 4) for v in bootstrap_auc(tuned, labels, bootstrap_samples)],
                "ece_raw": round(expected_calibration_error(raw, labels), 4),
                "ece_calibrated": round(expected_calibration_error(tuned, labels), 4),
                "temperature": entry.parameters["temperature"],
                "uncertainty_threshold": entry.parameters["uncertainty_threshold"],
                "uncertain_share": round(float(
                    (uncertainty[known] > entry.parameters["uncertainty_threshold"]).mean()), 4),
                "uncertainty_mean": {"clusters": round(float(uncertainty[known].mean()), 4),
                                     "background": (round(float(uncertainty[~known].mean()), 4)
                                                    if (~known).any() else None),
                                     "noise": round(float(noise_uncertainty.mean()), 4)},
                "confusion": confusion.tolist(),
            }
            curves[name] = (raw, tuned, confusion)
    primary = next((n for n in report["models"] if n.startswith("INT8 openvino")), next(iter(report["models"])))
    report["primary"] = primary
    report["summary"] = {k: report["models"][primary][k] for k in ("macro_f1", "auc", "ece_raw", "ece_calibrated")}
    plot_confusion(curves[primary][2], out_dir / "confusion.png", primary)
    plot_reliability(curves[primary][0], curves[primary][1], labels, out_dir / "reliability.png", primary)
    (out_dir / "evaluation.json").write_text(json.dumps(report, indent=2))
    return report


def plot_confusion(confusion: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [g.value.replace("_", "\n") for g in REPORTED]
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.imshow(confusion, cmap="Blues")
    for (i, j), v in np.ndenumerate(confusion):
        ax.text(j, i, str(v), ha="center", va="center", color="black" if v < confusion.max() / 2 else "white")
    ax.set_xticks(range(len(names)), names, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Morphology confusion ({title})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_reliability(raw: np.ndarray, tuned: np.ndarray, labels: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    for name, p in (("before", raw), ("after temperature scaling", tuned)):
        points = reliability(p, labels)
        ax.plot([q[0] for q in points], [q[1] for q in points], marker="o",
                label=f"{name} (ECE {expected_calibration_error(p, labels):.3f})")
    ax.set_xlabel("predicted malignancy likelihood")
    ax.set_ylabel("observed malignant rate")
    ax.set_title(f"Reliability ({title})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
