"""OpenVINO backend: read the verified ONNX bytes, compile for one device string."""

from __future__ import annotations

import logging
import threading
from typing import Any
from collections.abc import Mapping

import numpy as np

from ..config import InferenceConfig
from ..errors import DeviceError, ModelError
from .compiled import CompiledModel
from .contract import TensorInfo
from .registry import VerifiedModel

log = logging.getLogger(__name__)
NAME = "openvino"

# OpenVINO's CPU plugin runs float layers in bf16 by default on AVX-512 BF16 CPUs; f32 matches onnxruntime
CPU_F32 = {"INFERENCE_PRECISION_HINT": "f32"}

_core = None
_core_lock = threading.Lock()


def core() -> Any:
    """One process-wide ``openvino.Core`` (it is costly to create)."""
    global _core
    with _core_lock:
        if _core is None:
            import openvino

            _core = openvino.Core()
        return _core


def available_devices() -> tuple[str, ...]:
    return tuple(core().available_devices)


def _info(port: Any) -> TensorInfo:
    shape = port.get_partial_shape()
    dims = None if shape.rank.is_dynamic else tuple(d.get_length() if d.is_static else None for d in shape)
    return TensorInfo(name=port.get_any_name(), shape=dims, dtype=np.dtype(port.get_element_type().to_dtype()).name)


def read(model: VerifiedModel) -> tuple[Any, tuple[TensorInfo, ...], tuple[TensorInfo, ...]]:
    """The OpenVINO model and its I/O, from the verified bytes (never re-read from disk)."""
    try:
        ov_model = core().read_model(model=model.data)
    except RuntimeError as exc:
        # a DeviceError, not a ModelError: onnxruntime may still read it (the engine falls back)
        last = next((line for line in reversed(str(exc).splitlines()) if line.strip()), repr(exc))
        raise DeviceError(f"OpenVINO cannot read model file {model.entry.path}: {last.strip()}") from None
    return ov_model, tuple(_info(p) for p in ov_model.inputs), tuple(_info(p) for p in ov_model.outputs)


class OpenVINOModel(CompiledModel):
    def __init__(self, compiled: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._compiled = compiled
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            results = self._request.infer(feeds)
            return {port.get_any_name(): np.array(value, copy=True) for port, value in results.items()}


def compile_model(model: VerifiedModel, device: str, config: InferenceConfig,
                  static_shapes: Mapping[str, tuple[int, ...]] | None = None) -> OpenVINOModel:
    """Compile for ``device`` (e.g. "CPU", "AUTO:GPU,CPU"); DeviceError if OpenVINO refuses.

    ``static_shapes`` (input name -> shape) fixes dynamic inputs first, which OpenVINO runs
    faster (about 15 % for a small conv net on 512 px tiles). A one-input model fixed at a batch above 1 is
    compiled for batch 1 as well (``CompiledModel.single``), for the tiles of a last, partial batch.
    """
    ov_model, inputs, outputs = read(model)
    if static_shapes:
        unknown = set(static_shapes) - {t.name for t in inputs}
        if unknown:
            raise ModelError(f"model {model.entry.name}: cannot fix the shape of unknown input(s) {sorted(unknown)}")
        try:
            ov_model.reshape({name: list(shape) for name, shape in static_shapes.items()})
        except RuntimeError as exc:
            raise ModelError(f"model {model.entry.name} cannot take input shape(s) {dict(static_shapes)}: "
                             f"{str(exc).strip().splitlines()[-1]}") from None
    properties: dict[str, object] = {"PERFORMANCE_HINT": config.performance_hint.value}
    if "CPU" in device:
        properties["DEVICE_PROPERTIES"] = {"CPU": {"INFERENCE_PRECISION_HINT": config.cpu_precision}}
    if config.num_threads > 0:
        properties["INFERENCE_NUM_THREADS"] = config.num_threads
    if config.cache_dir is not None:
        config.cache_dir.mkdir(parents=True, exist_ok=True)
        properties["CACHE_DIR"] = str(config.cache_dir)
    try:
        compiled = core().compile_model(ov_model, device, properties)
        executed = compiled.get_property("EXECUTION_DEVICES")
    except RuntimeError as exc:
        reason = next((line for line in reversed(str(exc).splitlines()) if line.strip()), repr(exc))
        raise DeviceError(f"OpenVINO could not compile {model.entry.name} for device {device!r}: {reason.strip()}") from None
    compiled_model = OpenVINOModel(
        compiled, entry=model.entry, backend=NAME, device=",".join(executed) or device, requested=device,
        inputs=tuple(_info(p) for p in ov_model.inputs), outputs=tuple(_info(p) for p in ov_model.outputs),
    )
    compiled_model.model_inputs, compiled_model.model_outputs = inputs, outputs
    if static_shapes and len(static_shapes) == 1 and len(inputs) == 1:
        ((name, shape),) = static_shapes.items()
        if len(shape) > 1 and shape[0] > 1:  # a partial last chunk runs tile by tile (CompiledModel.single)
            compiled_model.single = compile_model(model, device, config, {name: (1, *shape[1:])})
    return compiled_model
