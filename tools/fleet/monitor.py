"""The fleet monitor: one row per device from ``mammoedge/v1/#`` (retained status, health, metrics, events)."""

from __future__ import annotations

import enum
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field

log = logging.getLogger(__name__)
TOPIC_FILTER = "mammoedge/v1/#"


class DeviceState(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    UNKNOWN = "unknown"  #: heard from, but no status message yet


@dataclass(frozen=True, kw_only=True)
class DeviceRow:
    """What the fleet manager sees of one device."""

    site: str
    device: str
    state: DeviceState
    last_seen: float | None  #: ts of the newest message (epoch s)
    software_version: str | None
    models: dict[str, str]
    queue_depth: int | None
    latency_p50_s: float | None  #: p50 of the ``total`` stage, last metrics interval (since start if it was empty)
    errors: int | None  #: rejections and errors counted by the device's health source
    events_dropped: int | None  #: events its outbox dropped (cap reached while the broker was away)
    flags_today: int  #: flagged exam events seen today (UTC), repeats dropped by message id


@dataclass(kw_only=True)
class _Device:
    site: str
    device: str
    state: DeviceState = DeviceState.UNKNOWN
    last_seen: float | None = None
    software_version: str | None = None
    models: dict[str, str] = field(default_factory=dict)
    queue_depth: int | None = None
    latency_p50_s: float | None = None
    errors: int | None = None
    events_dropped: int | None = None
    flags: dict[str, str] = field(default_factory=dict)  # event message id -> UTC day


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


class FleetState:
    """Folds telemetry messages into per-device rows; thread-safe, ignores what it cannot parse."""

    def __init__(self) -> None:
        self._devices: dict[tuple[str, str], _Device] = {}
        self._lock = threading.Lock()
        self.messages = 0
        self.ignored = 0

    def apply(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        try:
            document = json.loads(payload)
        except ValueError:
            document = None
        with self._lock:
            self.messages += 1
            if len(parts) < 5 or parts[:2] != ["mammoedge", "v1"] or not isinstance(document, dict):
                self.ignored += 1
                return
            site, device, kind = parts[2], parts[3], "/".join(parts[4:])
            entry = self._devices.setdefault((site, device), _Device(site=site, device=device))
            try:
                self._fold(entry, kind, document)
            except (KeyError, TypeError, ValueError, AttributeError):
                self.ignored += 1

    @staticmethod
    def _fold(entry: _Device, kind: str, document: dict) -> None:
        ts = document.get("ts")
        if isinstance(ts, (int, float)) and kind != "command":
            entry.last_seen = max(entry.last_seen or 0.0, float(ts))
        if kind == "status":
            entry.state = DeviceState(document["state"])
            entry.software_version = document.get("software_version", entry.software_version)
            entry.models = dict(document.get("models") or entry.models)
        elif kind == "health":
            entry.queue_depth = document.get("queue_depth", entry.queue_depth)
            if isinstance(document.get("errors"), dict):
                entry.errors = sum(int(v) for v in document["errors"].values())
            entry.events_dropped = document.get("events_dropped", entry.events_dropped)
        elif kind == "metrics":
            for window in ("interval", "since_start"):
                total = document[window]["latency_s"].get("total")
                if total:
                    entry.latency_p50_s = float(total["p50"])
                    break
        elif kind == "event":
            if document.get("models"):
                entry.models = dict(document["models"])
            if document.get("flag") is True:
                entry.flags[str(document["message_id"])] = _day(float(document["ts"]))

    def rows(self, now: float | None = None) -> list[DeviceRow]:
        today = _day(time.time() if now is None else now)
        with self._lock:
            return [DeviceRow(site=d.site, device=d.device, state=d.state, last_seen=d.last_seen,
                              software_version=d.software_version, models=dict(d.models), queue_depth=d.queue_depth,
                              latency_p50_s=d.latency_p50_s, errors=d.errors, events_dropped=d.events_dropped,
                              flags_today=sum(day == today for day in d.flags.values()))
                    for _, d in sorted(self._devices.items())]


def as_json(rows: list[DeviceRow], now: float) -> str:
    counts = {state.value: sum(r.state is state for r in rows) for state in DeviceState}
    return json.dumps({"generated_at": round(now, 3), "devices_total": len(rows), "devices_by_state": counts,
                       "devices": [asdict(r) for r in rows]}, indent=1)


def as_table(rows: list[DeviceRow], now: float) -> str:
    def cell(value, fmt="{}"):
        return "-" if value is None else fmt.format(value)

    header = ("SITE/DEVICE", "STATE", "LAST SEEN", "VERSION", "MODELS", "QUEUE", "P50 S", "ERRORS", "DROPPED", "FLAGS TODAY")
    lines = [[f"{r.site}/{r.device}", r.state.value,
              cell(None if r.last_seen is None else max(0.0, now - r.last_seen), "{:.0f} s ago"),
              cell(r.software_version), ",".join(f"{k} {v}" for k, v in sorted(r.models.items())) or "-",
              cell(r.queue_depth), cell(r.latency_p50_s, "{:.2f}"), cell(r.errors), cell(r.events_dropped),
              str(r.flags_today)]
             for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    online = sum(r.state is DeviceState.ONLINE for r in rows)
    out = [f"{len(rows)} devices, {online} online  ({time.strftime('%H:%M:%S', time.gmtime(now))} UTC)",
           "  ".join(h.ljust(w) for h, w in zip(header, widths))]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in lines]
    return "\n".join(out)
