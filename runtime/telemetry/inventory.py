"""What a box runs, for its status message: installed model versions and the inference devices it offers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

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


def update_fields(config: Config) -> dict[str, Any]:
    """``update`` for the health message: the update state machine's state, last outcome and rule, the good
    slot's bundle version and the one on its way in (``{}`` where the box has no update root)."""
    from ...firmware.slots import Link, SlotStore
    from ...firmware.state import StateFile, telemetry_fields

    root = Path(config.update.root)
    if not root.is_dir():
        return {}
    try:
        record = StateFile(root / "update-state.json").load()
        store = SlotStore(root)
        good = store.link(Link.GOOD)
        info = None if good is None else store.info(good)
        return {"update": telemetry_fields(record, None if info is None else info.version)}
    except Exception as exc:  # a health report must not fail on a broken update state
        log.warning("update state unavailable for health: %s", type(exc).__name__)
        return {}
