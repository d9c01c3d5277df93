"""Names shared by every telemetry process: device id, topic tree, outbox location (no network here)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..config import TelemetryConfig


def default_device_id() -> str:
    """A stable id from /etc/machine-id (hashed: the raw id is not sent)."""
    try:
        raw = Path("/etc/machine-id").read_text().strip()
    except OSError:
        raw = ""
    return "me-" + hashlib.sha256((raw or "unknown").encode()).hexdigest()[:12]


def device_id(config: TelemetryConfig) -> str:
    return config.device_id or default_device_id()


def topic(config: TelemetryConfig, device: str, kind: str) -> str:
    return f"mammoedge/v1/{config.site}/{device}/{kind}"


def outbox_path(config: TelemetryConfig, state_dir: Path) -> Path:
    return Path(config.outbox_path) if config.outbox_path else state_dir / "telemetry-outbox.sqlite"
