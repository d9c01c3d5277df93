"""onnxruntime backend: CPU execution provider, or its OpenVINO execution provider when installed."""

from __future__ import annotations

import logging
from typing import Any
from collections.abc import Mapping

import numpy as np

from ..config import InferenceConfig
from ..errors import DeviceError, ModelError
from .compiled import CompiledModel
from .contract import TensorInfo
from .registry import VerifiedModel

log = logging.getLogger(__name__)
NAME = "onnxruntime"
OPENVINO_EP = "OpenVINOExecutionProvider"
CPU_EP = "CPUExecutionProvider"

_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8",
    "tensor(int8)": "int8", "tensor(int32)": "int32", "tensor(int64)": "int64",
}


def providers() -> tuple[str, ...]:
    import onnxruntime

    return tuple(onnxruntime.get_available_providers())


def _info(arg: Any) -> TensorInfo:
    shape = None if arg.shape is None else tuple(d if isinstance(d, int) else None for d in arg.shape)
    return TensorInfo(name=arg.name, shape=shape, dtype=_ORT_TYPES.get(arg.type, arg.type))


class OnnxRuntimeModel(CompiledModel):
    def __init__(self, session: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._session = session
        self._names = [o.name for o in session.get_outputs()]

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self._names, self._session.run(self._names, feeds)))


def compile_model(model: VerifiedModel, device: str, config: InferenceConfig,
                  static_shapes: Mapping[str, tuple[int, ...]] | None = None) -> OnnxRuntimeModel:
    """``device`` "CPU" uses the CPU EP; any other device needs onnxruntime's OpenVINO EP.

    ``static_shapes`` is accepted for interface parity and ignored (onnxruntime gains nothing from it).
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if config.num_threads > 0:
        options.intra_op_num_threads = config.num_threads
        options.inter_op_num_threads = 1
    if device.upper() == "CPU":
        chosen: list = [CPU_EP]
    elif OPENVINO_EP in providers():
        chosen = [(OPENVINO_EP, {"device_type": device}), CPU_EP]
    else:
        raise DeviceError(
            f"onnxruntime cannot run on device {device!r}: its OpenVINO execution provider is not installed "
            f"(available providers: {', '.join(providers())})"
        )
    try:
        session = onnxruntime.InferenceSession(model.data, sess_options=options, providers=chosen)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        text = str(exc)
        if "provider" in text.lower() or "device" in text.lower():
            raise DeviceError(f"onnxruntime could not run {model.entry.name} on {device!r}: {text}") from None
        raise ModelError(f"model file {model.entry.path} is not a model onnxruntime can load: {text}") from None
    used = session.get_providers()[0]
    return OnnxRuntimeModel(
        session, entry=model.entry, backend=NAME, device="CPU" if used == CPU_EP else f"{used}:{device}",
        requested=device,
        inputs=tuple(_info(a) for a in session.get_inputs()),
        outputs=tuple(_info(a) for a in session.get_outputs()),
    )
