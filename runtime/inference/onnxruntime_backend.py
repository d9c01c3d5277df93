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

#: Graph optimizers left out of every session. ``QDQPropagationTransformer`` moves a QuantizeLinear in front of
#: the MaxPool before it; for the detector's float stem that leaves a uint8 MaxPool in NCHW, which onnxruntime
#: runs with its generic kernel (~240 ms of a 455 ms INT8 run on four 512 px tiles, one thread). Without it the
#: MaxPool stays float and INT8 beats FP32 (docs/bench.md); results are identical (max commutes with quantizing).
DISABLED_OPTIMIZERS = ("QDQPropagationTransformer",)

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


def session(data: bytes, options: Any, chosen: list[Any]) -> Any:
    """An onnxruntime session of the model bytes ``data``, without ``DISABLED_OPTIMIZERS``."""
    import onnxruntime

    return onnxruntime.InferenceSession(data, sess_options=options, providers=chosen,
                                        disabled_optimizers=list(DISABLED_OPTIMIZERS))


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
        compiled = session(model.data, options, chosen)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        text = str(exc)
        if "provider" in text.lower() or "device" in text.lower():
            raise DeviceError(f"onnxruntime could not run {model.entry.name} on {device!r}: {text}") from None
        raise ModelError(f"model file {model.entry.path} is not a model onnxruntime can load: {text}") from None
    used = compiled.get_providers()[0]
    return OnnxRuntimeModel(
        compiled, entry=model.entry, backend=NAME, device="CPU" if used == CPU_EP else f"{used}:{device}",
        requested=device,
        inputs=tuple(_info(a) for a in compiled.get_inputs()),
        outputs=tuple(_info(a) for a in compiled.get_outputs()),
    )
