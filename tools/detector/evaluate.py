"""Evaluate detectors on held-out phantom patches: FROC for calcifications, FP32 vs INT8, vs baseline.

Every detector sees the same standardized patches (seed different from
training). Per patch: detections (x, y, score) vs planted calcifications,
matched within max(0.5 mm, half the calcification's length).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..modelfiles import Backend, cpu_runner
from ..splits import Split
from .baseline import baseline_detect, local_maxima
from .data import STRIDE, PhantomPatches, make_set
from .froc import FP_RATES, ImageCase, bootstrap, froc_curve, sensitivity_by_group, threshold_at

Detector = Callable[[np.ndarray], np.ndarray]


def prob_to_detections(prob: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """Stride-4 probability map -> detections (x, y, score) at cell centres in input pixels."""
    found = local_maxima(prob, threshold, radius=1)
    if not len(found):
        return np.zeros((0, 3))
    return np.stack([(found[:, 1] + 0.5) * STRIDE - 0.5, (found[:, 0] + 0.5) * STRIDE - 0.5, found[:, 2]], axis=1)


def onnx_detector(path: Path, backend: Backend | str) -> Detector:
    """A detector running ``path`` on the CPU with onnxruntime or OpenVINO."""
    run = cpu_runner(path, backend)
    return lambda image: prob_to_detections(run(image[None, None].astype(np.float32))[0][0, 0])


def cases_for(detector: Detector, images: np.ndarray, truths: list[list], spacing_mm: float = 0.1
              ) -> list[ImageCase]:
    cases = []
    for image, truth in zip(images, truths):
        det = detector(image[0])
        det_mm = np.column_stack([det[:, :2] * spacing_mm, det[:, 2]]) if len(det) else np.zeros((0, 3))
        t = np.array([[c.x * spacing_mm, c.y * spacing_mm, max(0.5, 0.5 * c.length_mm)] for c in truth]
                     ).reshape(-1, 3)
        cases.append(ImageCase(detections=det_mm, truths=t))
    return cases


def evaluate(models: dict[str, Path], out_dir: Path, *, patches: int = 300, seed: int = Split.TEST.seed,
             bootstrap_samples: int = 300) -> dict[str, Any]:
    """FROC of every model (and the baseline) on the same held-out patches; JSON + PNG in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images, _, truths = make_set(PhantomPatches(), patches, seed=seed, progress=True)
    detectors: dict[str, Detector] = {"baseline (DoG)": lambda image: baseline_detect(image, threshold=0.5)}
    for name, path in models.items():
        for backend in Backend:
            detectors[f"{name} {backend}"] = onnx_detector(path, backend)
    report: dict = {"held_out_seed": seed, "patches": patches, "calcifications": sum(len(t) for t in truths),
                    "unit": "false positives per 25.6 x 25.6 mm patch", "detectors": {}}
    curves = {}
    morphologies = [[str(getattr(c.morphology, "value", c.morphology)) for c in t] for t in truths]
    for name, detector in detectors.items():
        started = time.perf_counter()
        cases = cases_for(detector, images, truths)
        seconds = time.perf_counter() - started
        ci = bootstrap(cases, FP_RATES, samples=bootstrap_samples)
        operating = threshold_at(cases, 0.5)
        by_morphology = sensitivity_by_group(cases, morphologies, operating)
        report["detectors"][name] = {"sensitivity_at_fp": {str(r): [round(v, 4) for v in ci[r]] for r in FP_RATES},
                                     "threshold_at_0.5_fp": round(operating, 4),
                                     "sensitivity_by_morphology_at_0.5_fp": {
                                         k: [round(v, 3), n] for k, (v, n) in by_morphology.items()},
                                     "seconds_per_patch": round(seconds / len(cases), 5)}
        _, sens, fpi = froc_curve(cases)
        curves[name] = (fpi, sens)
    (out_dir / "evaluation.json").write_text(json.dumps(report, indent=2))
    plot_froc(curves, out_dir / "froc.png")
    return report


def plot_froc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (fpi, sens) in curves.items():
        ax.plot(fpi, sens, label=name)
    ax.set_xscale("log")
    ax.set_xlim(0.05, 20)
    ax.set_ylim(0, 1)
    ax.set_xlabel("false positives per patch")
    ax.set_ylabel("calcification sensitivity")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("FROC, held-out phantom patches")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
