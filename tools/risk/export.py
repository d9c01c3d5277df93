"""Export the risk model to ONNX (FP32) and INT8 (QDQ); per-year calibration and the asymmetry operating point
fitted on the calibration split; manifest entries carrying them (``parameters``).

Each file gets its own fit (on its own outputs), so a model and its calibration are always swapped together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mammoedge.runtime.risk import INPUT_SHAPE, RISK_INPUT

from ..modelfiles import conv_nodes, quantize_qdq
from ..modelfiles import export_onnx as export_model
from ..modelfiles import manifest_entry as entry
from .data import YEARS, Cohort, Precursor
from .model import WINDOW

MODEL_NAME = "risk-fourview"
INPUT_NAME = RISK_INPUT
OUTPUTS = ("risk_logits", "density_logits", "asymmetry")
ENCODER_STRIDE = 8  #: input pixels per texture-map cell (model.ASYM_STRIDE)
#: share of calibration exams without a texture asymmetry allowed above the asymmetry operating point
ASYMMETRY_FALSE_POSITIVE_RATE = 0.10


def export_onnx(checkpoint: Path, out_path: Path, width: int = 8) -> Path:
    """FP32 ONNX, dynamic batch: ``views`` (N, 4, 256, 208) -> the three outputs."""
    import torch

    from .train import load_model

    return export_model(load_model(checkpoint, width), torch.zeros(1, 4, *INPUT_SHAPE), out_path,
                        inputs=[INPUT_NAME], outputs=list(OUTPUTS),
                        dynamic_axes={name: {0: "batch"} for name in (INPUT_NAME, *OUTPUTS)})


def float_nodes(path: Path) -> list[str]:
    """The stem conv (8-bit input steps), and every MatMul/Gemm (the transformer and the heads: tiny, and the
    risk logits' small differences rank the exams)."""
    nodes, convs = conv_nodes(path)
    return [convs[0].name] + [n.name for n in nodes if n.op_type in ("MatMul", "Gemm")]


def quantize_int8(fp32_path: Path, int8_path: Path, calibration: np.ndarray) -> Path:
    return quantize_qdq(fp32_path, int8_path, INPUT_NAME, calibration, float_nodes)


def fit_logistic(x: np.ndarray, labels: np.ndarray, iterations: int = 100) -> np.ndarray:
    """Weights ``w`` of ``P(y) = sigmoid(x @ w)`` by Newton's method on the log-likelihood (tiny ridge)."""
    x = x.astype(np.float64)
    w = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-x @ w))
        grad = x.T @ (p - labels) + 1e-3 * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-3 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def fit_platt(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(a, b) of ``P(y) = sigmoid(a * logit + b)``."""
    a, b = fit_logistic(np.stack([logits, np.ones_like(logits)], axis=1), labels)
    return float(a), float(b)


def fit_calibration(logits: np.ndarray, cumulative: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-year calibration ``logit(p_t) = a * logit_t + b_t``: one slope shared by the years, an intercept per
    year, fitted jointly on every (exam, year). A slope per year was tried first: on 160 calibration exams (29
    cancers) the year-5 slope came out negative (-0.14), which would reverse the model's ranking in that year."""
    n, years = logits.shape
    x = np.concatenate([logits.T.reshape(-1, 1), np.repeat(np.eye(years), n, axis=0)], axis=1)
    w = fit_logistic(x, cumulative.T.reshape(-1))
    return [float(w[0])] * years, [float(v) for v in w[1:]]


def fit_parameters(outputs: dict[str, np.ndarray], cohort: Cohort) -> dict[str, Any]:
    """Per-year calibration and the asymmetry operating point from one file's outputs on the calibration split."""
    cumulative = cohort.cumulative()
    a, b = fit_calibration(outputs["risk_logits"], cumulative)
    score = outputs["asymmetry"].max(axis=(2, 3)).max(axis=1)
    symmetric = score[cohort.precursor != Precursor.TEXTURE_ASYMMETRY]
    threshold = float(np.quantile(symmetric, 1 - ASYMMETRY_FALSE_POSITIVE_RATE))
    return {"calibration": {"a": [round(v, 5) for v in a], "b": [round(v, 5) for v in b],
                            "fitted_on": f"RISK_CALIBRATION seed {cohort.seed}, {len(cohort)} exams"},
            "asymmetry_threshold": round(threshold, 5),
            "asymmetry_operating_point": f"{ASYMMETRY_FALSE_POSITIVE_RATE:.0%} of calibration exams without a "
                                         f"texture asymmetry above it",
            "asymmetry_window": WINDOW, "asymmetry_stride": ENCODER_STRIDE,
            "density_classes": ["a", "b", "c", "d"], "years": list(range(1, YEARS + 1))}


def manifest_entry(path: Path, *, name: str, version: str, precision: str, training: dict[str, Any],
                   parameters: dict[str, Any], metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """A manifest entry (format: docs/models.md) for a risk file, with its run-time parameters."""
    return entry(
        path, name=name, version=version, precision=precision,
        description="Four-view 1-5-year risk (additive hazard), left-right asymmetry maps and BI-RADS density; "
                    "trained on a SIMULATED phantom cohort",
        inputs=[{"name": INPUT_NAME, "shape": [None, 4, *INPUT_SHAPE], "layout": "NVHW", "dtype": "float32",
                 "normalization": "standardize_intensity on the normalized view, area-resampled to 256x208, zero "
                 "outside the breast (runtime/risk/input.py); views RCC, LCC, RMLO, LMLO"}],
        outputs=[{"name": "risk_logits", "meaning": "cumulative risk logit by year 1..5 (before calibration)",
                  "dtype": "float32"},
                 {"name": "density_logits", "meaning": "BI-RADS density a..d logits", "dtype": "float32"},
                 {"name": "asymmetry", "meaning": "CC and MLO left-right dissimilarity heatmaps "
                                                 "(27x21 windows of 6x6 texture-map cells)",
                  "stride": ENCODER_STRIDE, "dtype": "float32"}],
        parameters=parameters, training=training, metrics=metrics)
