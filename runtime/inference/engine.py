"""The inference engine: pick backend and device, fall back with a logged reason, or refuse when forced."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from ..config import InferenceBackend, InferenceConfig
from ..errors import DeviceError
from . import onnxruntime_backend, openvino_backend
from .compiled import CompiledModel
from .contract import check_contract
from .devices import auto_device, device_type, is_present
from .registry import ModelRegistry, VerifiedModel

log = logging.getLogger(__name__)

_COMPILERS = {
    InferenceBackend.OPENVINO: openvino_backend.compile_model,
    InferenceBackend.ONNXRUNTIME: onnxruntime_backend.compile_model,
}


@dataclass(frozen=True)
class Attempt:
    """One (backend, device) to try, or the reason it cannot even be tried."""

    backend: InferenceBackend
    device: str
    skip_reason: str = ""


class Engine:
    """Loads registry models onto the best backend/device the configuration allows.

    ``backend``/``device``/``force`` arguments of :meth:`load` override the configuration
    (the CLI's ``--backend``/``--device``). Tampered models and broken contracts are
    ModelError and are never "fallen back" from.
    """

    def __init__(self, config: InferenceConfig, registry: ModelRegistry | None = None) -> None:
        self.config = config
        self.registry = registry if registry is not None else ModelRegistry.from_config(config)

    def load(self, name: str, version: str | None = None, *, backend: InferenceBackend | str | None = None,
             device: str | None = None, force: bool | None = None,
             static_shapes: Mapping[str, tuple[int, ...]] | None = None) -> CompiledModel:
        """Verify ``name`` (sha256) and compile it; the result says which backend and device run it.

        ``static_shapes`` (input name -> shape, e.g. ``{"image": (4, 1, 512, 512)}``) lets OpenVINO
        compile for fixed tiles; the model still accepts any batch (run in chunks).
        """
        return self.compile(self.registry.verified(name, version), backend=backend, device=device, force=force,
                            static_shapes=static_shapes)

    def compile(self, model: VerifiedModel, *, backend: InferenceBackend | str | None = None,
                device: str | None = None, force: bool | None = None,
                static_shapes: Mapping[str, tuple[int, ...]] | None = None) -> CompiledModel:
        config = dataclasses.replace(
            self.config,
            backend=InferenceBackend(backend) if backend is not None else self.config.backend,
            device=device if device is not None else self.config.device,
            force=self.config.force if force is None else force,
        )
        reasons: list[str] = []
        for attempt in self._plan(config):
            try:
                if attempt.skip_reason:
                    raise DeviceError(attempt.skip_reason)
                compiled = _COMPILERS[attempt.backend](model, attempt.device, config, static_shapes)
            except DeviceError as exc:
                if config.force:
                    raise DeviceError(f"{exc} (forced by configuration: no fallback)") from None
                reasons.append(str(exc))
                log.warning("inference fallback for %s: %s", model.entry.name, exc)
                continue
            check_contract(model.entry, compiled.model_inputs, compiled.model_outputs)
            compiled.fallbacks = tuple(reasons)
            log.info("model %s %s runs on %s/%s", model.entry.name, model.entry.version, compiled.backend, compiled.device)
            return compiled
        raise DeviceError(f"no backend could run {model.entry.name}: " + "; ".join(reasons))

    def _plan(self, config: InferenceConfig) -> list[Attempt]:
        """Attempts in order; with ``force`` only the first counts."""
        wanted = config.backend
        openvino = self._openvino_attempts(config)
        onnxruntime = self._onnxruntime_attempts(config)
        if wanted is InferenceBackend.ONNXRUNTIME:
            return onnxruntime + ([] if config.force else openvino)
        if wanted is InferenceBackend.OPENVINO and config.force:
            return openvino
        return openvino + onnxruntime

    def _openvino_attempts(self, config: InferenceConfig) -> list[Attempt]:
        ov = InferenceBackend.OPENVINO
        try:
            available = openvino_backend.available_devices()
        except Exception as exc:  # import failure or a broken plugin set-up
            return [Attempt(ov, config.device, f"OpenVINO is not usable: {exc}")]
        auto = auto_device(config.device_priority, available)
        if not auto:
            return [Attempt(ov, config.device, "OpenVINO reports no devices")]
        requested = config.device.strip()
        if requested.upper() == "AUTO":
            return [Attempt(ov, auto)]
        listed = requested.split(":", 1)[1].split(",") if ":" in requested else [requested]
        absent = [d for d in listed if d and not is_present(d, available)]
        if absent:
            reason = (f"OpenVINO device {', '.join(absent)!s} requested by {requested!r} is not present; "
                      f"present: {', '.join(available)}")
            return [Attempt(ov, requested, reason), Attempt(ov, auto)]
        return [Attempt(ov, requested), Attempt(ov, auto)]

    def _onnxruntime_attempts(self, config: InferenceConfig) -> list[Attempt]:
        ort = InferenceBackend.ONNXRUNTIME
        requested = config.device.strip()
        if requested.upper() in ("AUTO", "CPU"):
            return [Attempt(ort, "CPU")]
        if config.backend is InferenceBackend.ONNXRUNTIME:
            return [Attempt(ort, device_type(requested) if ":" not in requested else requested), Attempt(ort, "CPU")]
        return [Attempt(ort, "CPU")]


def inventory() -> dict[str, tuple[str, ...]]:
    """What this box offers: OpenVINO devices and onnxruntime execution providers (for health reports)."""
    found: dict[str, tuple[str, ...]] = {}
    try:
        found["openvino"] = openvino_backend.available_devices()
    except Exception as exc:  # reported, not raised: a health probe must not fail
        log.warning("OpenVINO is not usable: %s", exc)
        found["openvino"] = ()
    try:
        found["onnxruntime"] = onnxruntime_backend.providers()
    except Exception as exc:
        log.warning("onnxruntime is not usable: %s", exc)
        found["onnxruntime"] = ()
    return found
