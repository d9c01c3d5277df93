"""What a box runs, for its status message: installed model versions and the inference devices it offers."""

from __future__ import annotations

import logging

from ..config import Config

log = logging.getLogger(__name__)


def status_fields(config: Config) -> dict:
    """``models`` (name -> newest installed version) and ``devices`` ("backend:device" present on this box)."""
    from ..inference.engine import inventory
    from ..inference.registry import ModelRegistry

    fields: dict = {"models": {}, "devices": []}
    try:
        registry = ModelRegistry.from_config(config.inference)
        fields["models"] = {name: registry.entry(name).version for name in registry.names()}
    except Exception as exc:  # a status report must not fail on a broken model directory
        log.warning("model versions unavailable for the status: %s", type(exc).__name__)
    fields["devices"] = [f"{backend}:{device}" for backend, devices in sorted(inventory().items())
                         for device in devices]
    return fields
