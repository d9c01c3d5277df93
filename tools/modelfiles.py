"""What every model pipeline shares: static INT8 (QDQ) quantization, file digests, manifest entries."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np


class _Calibration:
    """onnxruntime CalibrationDataReader over one input's samples."""

    def __init__(self, input_name: str, samples: np.ndarray) -> None:
        self._items = iter([{input_name: samples[i:i + 1]} for i in range(len(samples))])

    def get_next(self):
        return next(self._items, None)


def quantize_qdq(fp32_path: Path, int8_path: Path, input_name: str, calibration: np.ndarray,
                 float_nodes: Callable[[Path], list[str]]) -> Path:
    """Static QDQ INT8 (per-channel symmetric int8 weights, uint8 activations, percentile 99.999
    calibration on ``calibration``), keeping the nodes ``float_nodes(prepared model)`` names in float."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = int8_path.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
    try:
        quantize_static(str(prepared), str(int8_path), _Calibration(input_name, calibration.astype(np.float32)),
                        quant_format=QuantFormat.QDQ, per_channel=True, weight_type=QuantType.QInt8,
                        activation_type=QuantType.QUInt8, calibrate_method=CalibrationMethod.Percentile,
                        extra_options={"CalibPercentile": 99.999}, nodes_to_exclude=float_nodes(prepared))
    finally:
        prepared.unlink(missing_ok=True)
    return int8_path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(models_dir: Path, entries: list[dict]) -> Path:
    """Replace entries of the same names in ``models_dir/manifest.json`` (their files were overwritten)."""
    path = models_dir / "manifest.json"
    document = json.loads(path.read_text()) if path.exists() else {"schema_version": 1, "models": []}
    names = {e["name"] for e in entries}
    document["models"] = [m for m in document["models"] if m["name"] not in names] + entries
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
