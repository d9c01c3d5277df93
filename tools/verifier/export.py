"""Export the cluster verifier to ONNX (FP32) and INT8 (QDQ), with manifest entries."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mammoedge.runtime.morphology.roi import ROI_SIZE

from ..modelfiles import quantize_qdq, sha256
from ..morphology.export import float_nodes

MODEL_NAME = "calc-verifier"
INPUT_NAME = "roi"
OPSET = 17


def export_onnx(checkpoint: Path, out_path: Path, width: int = 8) -> Path:
    """FP32 ONNX, dynamic batch; outputs ``logits`` (N, 1) and its activation map ``maps`` (N, 1, 12, 12)."""
    import torch

    from .train import load_model

    model = load_model(checkpoint, width)
    torch.onnx.export(model, torch.zeros(1, 1, ROI_SIZE, ROI_SIZE), str(out_path), input_names=[INPUT_NAME],
                      output_names=["logits", "maps"], opset_version=OPSET, dynamo=False,
                      dynamic_axes={INPUT_NAME: {0: "batch"}, "logits": {0: "batch"}, "maps": {0: "batch"}})
    return out_path


def quantize_int8(fp32_path: Path, int8_path: Path, calibration: np.ndarray) -> Path:
    return quantize_qdq(fp32_path, int8_path, INPUT_NAME, calibration, float_nodes)


def manifest_entry(path: Path, *, name: str, version: str, precision: str, training: dict,
                   metrics: dict | None = None) -> dict:
    return {
        "name": name, "version": version, "file": path.name, "sha256": sha256(path), "precision": precision,
        "description": "Cluster verifier: logit that a candidate calcification cluster is real (not tissue or noise)",
        "inputs": [{"name": INPUT_NAME, "shape": [None, 1, ROI_SIZE, ROI_SIZE], "layout": "NCHW",
                    "dtype": "float32", "spacing_mm": 0.1,
                    "normalization": "standardize_roi (ROI median -> 0.5, p1-p99 range -> 1), ROI centred on the cluster"}],
        "outputs": [{"name": "logits", "meaning": "logit that the ROI's cluster is real; a cluster's is the mean over "
                                                  "its ROIs", "dtype": "float32"},
                    {"name": "maps", "meaning": "activation map of the logit (its mean is the logit)", "stride": 8,
                     "dtype": "float32"}],
        "training": training, "metrics": metrics or {},
    }
