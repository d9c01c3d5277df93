"""Export the morphology model to ONNX (FP32) and INT8 (QDQ); manifest entries with its run-time parameters.

The run-time parameters travel in the manifest entry (``parameters``): the
class order, the calibration temperature of the malignancy logit and the
uncertainty threshold, both fitted on held-out phantom clusters
(evaluate.py), so a model and its calibration are always swapped together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mammoedge.runtime.morphology.roi import ROI_SIZE

from ..modelfiles import conv_nodes, quantize_qdq
from ..modelfiles import export_onnx as export_model
from ..modelfiles import manifest_entry as entry
from .data import CLASSES

MODEL_NAME = "calc-morphology"
INPUT_NAME = "roi"


def export_onnx(checkpoint: Path, out_path: Path, width: int = 8) -> Path:
    """FP32 ONNX, dynamic batch; outputs ``logits`` (N, 13) and their activation ``maps`` (N, 13, 12, 12)."""
    import torch

    from .train import load_model

    return export_model(load_model(checkpoint, width), torch.zeros(1, 1, ROI_SIZE, ROI_SIZE), out_path,
                        inputs=[INPUT_NAME], outputs=["logits", "maps"],
                        dynamic_axes={INPUT_NAME: {0: "batch"}, "logits": {0: "batch"}, "maps": {0: "batch"}})


def float_nodes(path: Path) -> list[str]:
    """The stem conv (8-bit input steps swallow faint specks, as in the detector), the 1x1 map conv
    and the mean over it (8-bit logits tie the small differences calibration and ranking rely on)."""
    nodes, convs = conv_nodes(path)
    return [convs[0].name, convs[-1].name] + [n.name for n in nodes if n.op_type == "ReduceMean"]


def quantize_int8(fp32_path: Path, int8_path: Path, calibration: np.ndarray) -> Path:
    return quantize_qdq(fp32_path, int8_path, INPUT_NAME, calibration, float_nodes)


def manifest_entry(path: Path, *, name: str, version: str, precision: str, training: dict[str, Any],
                   parameters: dict[str, Any], metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """A manifest entry (format: docs/models.md) for a morphology file, with its run-time parameters."""
    return entry(
        path, name=name, version=version, precision=precision,
        description="Calcification cluster morphology (BI-RADS) and malignancy logit, with class activation maps",
        inputs=[{"name": INPUT_NAME, "shape": [None, 1, ROI_SIZE, ROI_SIZE], "layout": "NCHW", "dtype": "float32",
                 "spacing_mm": 0.1, "normalization": "standardize_roi (ROI median -> 0.5, p1-p99 range -> 1), "
                 "ROI centred on the cluster"}],
        outputs=[{"name": "logits", "meaning": "logits of parameters.classes, then the malignancy logit",
                  "dtype": "float32"},
                 {"name": "maps", "meaning": "class activation map of each logit (their mean is the logit)",
                  "stride": 8, "dtype": "float32"}],
        parameters={"classes": [c.value for c in CLASSES], **parameters}, training=training, metrics=metrics)
