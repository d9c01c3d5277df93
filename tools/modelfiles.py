"""What every model family's export and evaluation share: ONNX export, static INT8 (QDQ) quantization,
float-kept nodes, CPU runners on both backends, file digests, manifest entries."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mammoedge.runtime.inference.openvino_backend import CPU_F32
from mammoedge.runtime.digest import file_sha256

if TYPE_CHECKING:
    from torch import nn

OPSET = 17


class Backend(enum.StrEnum):
    """The inference runtimes every evaluation runs a model file on."""

    OPENVINO = "openvino"
    ONNXRUNTIME = "onnxruntime"


def export_onnx(model: nn.Module, example: Any, out_path: Path, *, inputs: Sequence[str], outputs: Sequence[str],
                dynamic_axes: dict[str, dict[int, str]]) -> Path:
    """FP32 ONNX of ``model`` (eval mode) traced on ``example``: TorchScript exporter (``dynamo=False``: no
    onnxscript, weights inside the file), opset ``OPSET``."""
    import torch

    torch.onnx.export(model, example, str(out_path), input_names=list(inputs), output_names=list(outputs),
                      opset_version=OPSET, dynamo=False, dynamic_axes=dynamic_axes)
    return out_path


class _Calibration:
    """onnxruntime CalibrationDataReader over one input's samples."""

    def __init__(self, input_name: str, samples: np.ndarray) -> None:
        self._items = iter([{input_name: samples[i:i + 1]} for i in range(len(samples))])

    def get_next(self) -> dict[str, np.ndarray] | None:
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


def conv_nodes(path: Path) -> tuple[list[Any], list[Any]]:
    """(every node, the Conv nodes) of the ONNX graph at ``path``, in graph order (for ``float_nodes``)."""
    import onnx

    nodes = list(onnx.load(str(path)).graph.node)
    return nodes, [n for n in nodes if n.op_type == "Conv"]


def kernel_size(node: Any) -> int:
    """A Conv node's kernel size (3 when the attribute is absent)."""
    shape = next((list(a.ints) for a in node.attribute if a.name == "kernel_shape"), [3])
    return int(shape[0])


Runner = Callable[[np.ndarray], list[np.ndarray]]


def cpu_runner(path: Path, backend: Backend | str, threads: int = 2) -> Runner:
    """A batch (N, ...) float32 -> every output of ``path``, in graph order, on the CPU with ``backend``
    (OpenVINO in f32: ``CPU_F32``)."""
    backend = Backend(backend)
    if backend is Backend.ONNXRUNTIME:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: list(session.run(None, {name: x}))
    import openvino as ov

    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": threads, **CPU_F32})
    return lambda x: [compiled(x)[output] for output in compiled.outputs]


def manifest_entry(path: Path, *, name: str, version: str, precision: str, description: str,
                   inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], training: dict[str, Any],
                   metrics: dict[str, Any] | None = None, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """A manifest entry (format: docs/models.md) for a model file next to the manifest."""
    entry: dict[str, Any] = {"name": name, "version": version, "file": path.name, "sha256": file_sha256(path),
                             "precision": precision, "description": description, "inputs": inputs,
                             "outputs": outputs}
    if parameters is not None:
        entry["parameters"] = parameters
    return {**entry, "training": training, "metrics": metrics or {}}


def read_json(path: Path, default: Any) -> Any:
    """The JSON document at ``path``, or ``default`` when there is none (a checkpoint's training.json, ...)."""
    return json.loads(path.read_text()) if path.exists() else default


def write_manifest(models_dir: Path, entries: list[dict[str, Any]]) -> Path:
    """Replace entries of the same names in ``models_dir/manifest.json`` (their files were overwritten)."""
    path = models_dir / "manifest.json"
    document = read_json(path, {"schema_version": 1, "models": []})
    names = {e["name"] for e in entries}
    document["models"] = [m for m in document["models"] if m["name"] not in names] + entries
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
