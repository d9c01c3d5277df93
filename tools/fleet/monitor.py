"""The fleet monitor's model: one row per device from ``mammoedge/v1/#`` (status, health, metrics, events).

Every message is checked against the committed JSON Schema of its kind before it
touches a device, so a malformed message on a device topic creates no ghost
device (it is counted as ignored). Times are the monitor's own: "last seen" is
when a message was **received**; a retained message (sent before the monitor
subscribed) only tells the box's own ``ts``, shown as such and never in the
future. A device that says online but has sent no health for ``silent_after_s``
is flagged "silent".
"""

from __future__ import annotations

import enum
import json
import logging
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from collections.abc import Callable

import fastjsonschema

from mammoedge.runtime import telemetry

log = logging.getLogger(__name__)
TOPIC_FILTER = "mammoedge/v1/#"
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SILENT_AFTER_S = 180.0  #: default: three health intervals of the shipped configuration (60 s)
CLOCK_SKEW_S = 60.0  #: a box whose clock is off by more is flagged
LOW_DISK_MB = 2048.0
STUCK_WAITING_S = 600.0


class DeviceState(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    UNKNOWN = "unknown"  #: heard from, but no status message yet


class Kind(enum.StrEnum):
    """Device topics the monitor folds (``command`` is what operators send: not the box's word)."""

    STATUS = "status"
    HEALTH = "health"
    METRICS = "metrics"
    EVENT = "event"
    COMMAND_RESULT = "command/result"


class Problem(enum.StrEnum):
    """What is wrong with a device, most urgent first (the sort order)."""

    OFFLINE = "offline"
    SILENT = "silent"
    UNKNOWN = "no-status"
    STUCK = "queue-stuck"
    DISK = "disk-low"
    FAILED = "failed-exams"
    DROPPED = "events-dropped"
    BACKLOG = "outbox-backlog"
    FALLBACK = "device-fallback"
    UPDATE = "update-failed"
    CLOCK = "clock-skew"


SEVERITY = {problem: rank for rank, problem in enumerate(Problem)}


@cache
def _validator(kind: str) -> Callable[[Any], Any]:
    """The committed schema of a message kind, compiled once (fastjsonschema: ~0.03-0.13 ms a message)."""
    path = Path(telemetry.__file__).parent / "schemas" / f"{kind.replace('/', '_')}.schema.json"
    return fastjsonschema.compile(json.loads(path.read_text()))


@dataclass(frozen=True, kw_only=True)
class DeviceRow:
    """What the fleet manager sees of one device (None: the box has not said)."""

    site: str
    device: str
    state: DeviceState
    problems: list[str]
    last_seen: float | None  #: epoch s: when the newest message was received (or the box's ts, if retained)
    last_seen_retained: bool  #: last_seen is the box's ts of a retained message, not a receive time
    clock_skew_s: float | None  #: box ts minus receive time of the newest live message
    health_age_s: float | None  #: since the newest health (receive time, or box ts if retained)
    software_version: str | None
    models: dict[str, str]
    devices: list[str]  #: inference devices in use (backend:device of the newest exam)
    device_fallback: bool | None
    update_state: str | None  #: the update state machine's state and, after a slash, its last outcome
    uptime_s: float | None
    restarts: int | None
    unclean_restarts: int | None
    queue_depth: int | None
    oldest_waiting_s: float | None
    last_exam_age_s: float | None  #: as of the health message, plus the time since it was received
    exams_failed: int | None
    errors: int | None  #: rejections and errors counted by the device
    rejects: dict[str, int]  #: kind:reason -> count
    disk_free_mb: float | None
    cpu_percent: float | None
    memory_used_percent: float | None
    outbox_backlog: int | None
    events_dropped: int | None
    exams_analyzed: int | None  #: since the device's counting_since (metrics)
    latency_p50_s: float | None  #: ``total`` stage since counting began (metrics)
    latency_p90_s: float | None
    latency_p99_s: float | None
    flags_today: int  #: flagged exam events seen today (UTC), repeats dropped by message id


@dataclass(kw_only=True)
class _Device:
    site: str
    device: str
    state: DeviceState = DeviceState.UNKNOWN
    last_seen: float | None = None
    last_seen_retained: bool = False
    clock_skew_s: float | None = None
    health_at: float | None = None
    health: dict[str, Any] = field(default_factory=dict)
    health_received: float | None = None
    software_version: str | None = None
    models: dict[str, str] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    exams_analyzed: int | None = None
    flags: dict[str, str] = field(default_factory=dict)  # event message id -> UTC day


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


class FleetState:
    """Folds telemetry messages into per-device rows; thread-safe, ignores (and counts) what is not valid."""

    def __init__(self, silent_after_s: float = SILENT_AFTER_S) -> None:
        self._devices: dict[tuple[str, str], _Device] = {}
        self._lock = threading.Lock()
        self.silent_after_s = silent_after_s
        self.messages = 0
        self.ignored = 0

    def apply(self, topic: str, payload: bytes, *, retained: bool = False, received_at: float | None = None) -> bool:
        """Fold one message; False (and counted in ``ignored``) when it is not a valid device message."""
        received = time.time() if received_at is None else received_at
        parts = topic.split("/")
        with self._lock:
            self.messages += 1
        kind_text = "/".join(parts[4:])
        valid = (len(parts) >= 5 and parts[:2] == ["mammoedge", "v1"] and bool(NAME.match(parts[2]))
                 and bool(NAME.match(parts[3])) and kind_text in {k.value for k in Kind})
        document: Any = None
        if valid:
            try:
                document = json.loads(payload)
                kind = Kind(kind_text)
                _validator(kind.value)(document)
            except (ValueError, fastjsonschema.JsonSchemaException):
                valid = False
        if not valid:
            with self._lock:
                self.ignored += 1
            return False
        with self._lock:
            entry = self._devices.setdefault((parts[2], parts[3]), _Device(site=parts[2], device=parts[3]))
            self._fold(entry, kind, document, retained=retained, received=received)
        return True

    @staticmethod
    def _fold(entry: _Device, kind: Kind, document: dict[str, Any], *, retained: bool, received: float) -> None:
        ts = float(document["ts"])
        if retained:  # sent before we subscribed: only the box's word for when, never in the future
            seen = min(ts, received)
            if entry.last_seen is None or (entry.last_seen_retained and seen > entry.last_seen):
                entry.last_seen, entry.last_seen_retained = seen, True
            if ts > received + CLOCK_SKEW_S:
                entry.clock_skew_s = round(ts - received, 1)
        else:
            entry.last_seen, entry.last_seen_retained = received, False
            entry.clock_skew_s = round(ts - received, 1)
        if kind is Kind.STATUS:
            entry.state = DeviceState(document["state"])
            entry.software_version = document.get("software_version", entry.software_version)
            entry.models = dict(document.get("models") or entry.models)
        elif kind is Kind.HEALTH:
            entry.health = dict(document)
            entry.health_received = received
            entry.health_at = min(ts, received) if retained else received
        elif kind is Kind.METRICS:
            total = document["since_start"]["latency_s"].get("total")
            if total:
                entry.latency = {f"p{q}": float(total[f"p{q}"]) for q in (50, 90, 99)}
            entry.exams_analyzed = int(document["since_start"]["exams_analyzed"])
        elif kind is Kind.EVENT:
            if document.get("models"):
                entry.models = dict(document["models"])
            if document.get("flag") is True:
                entry.flags[str(document["message_id"])] = _day(ts)

    def _problems(self, d: _Device, now: float) -> list[str]:
        h = d.health
        found = []
        if d.state is DeviceState.OFFLINE:
            found.append(Problem.OFFLINE)
        elif d.state is DeviceState.ONLINE and (d.health_at is None or now - d.health_at > self.silent_after_s):
            found.append(Problem.SILENT)
        elif d.state is DeviceState.UNKNOWN:
            found.append(Problem.UNKNOWN)
        if (h.get("oldest_waiting_s") or 0) > STUCK_WAITING_S:
            found.append(Problem.STUCK)
        if "disk_free_mb" in h and h["disk_free_mb"] < LOW_DISK_MB:
            found.append(Problem.DISK)
        if h.get("exams_failed"):
            found.append(Problem.FAILED)
        if h.get("events_dropped"):
            found.append(Problem.DROPPED)
        if h.get("outbox_backlog") and d.state is DeviceState.ONLINE:
            found.append(Problem.BACKLOG)
        if h.get("device_fallback"):
            found.append(Problem.FALLBACK)
        update = h.get("update") or {}
        if update.get("state") == "failed" or update.get("last_outcome") in ("rolled-back", "interrupted"):
            found.append(Problem.UPDATE)
        if d.clock_skew_s is not None and abs(d.clock_skew_s) > CLOCK_SKEW_S:
            found.append(Problem.CLOCK)
        return [p.value for p in found]

    def rows(self, now: float | None = None) -> list[DeviceRow]:
        """Every device, problem-first (most urgent problem, then number of problems, then name)."""
        now = time.time() if now is None else now
        today = _day(now)
        with self._lock:
            rows = [self._row(d, now, today) for _, d in sorted(self._devices.items())]
        return sorted(rows, key=sort_key)

    def _row(self, d: _Device, now: float, today: str) -> DeviceRow:
        h = d.health
        since_health = None if d.health_received is None else max(0.0, now - d.health_received)
        last_exam = h.get("last_exam_age_s")
        errors = h.get("errors")
        return DeviceRow(
            site=d.site, device=d.device, state=d.state, problems=self._problems(d, now), last_seen=d.last_seen,
            last_seen_retained=d.last_seen_retained, clock_skew_s=d.clock_skew_s,
            health_age_s=None if d.health_at is None else round(max(0.0, now - d.health_at), 1),
            software_version=d.software_version, models=dict(d.models), devices=list(h.get("devices") or []),
            device_fallback=h.get("device_fallback"), update_state=_update_text(h.get("update")),
            uptime_s=h.get("uptime_s"),
            restarts=h.get("restarts"), unclean_restarts=h.get("unclean_restarts"), queue_depth=h.get("queue_depth"),
            oldest_waiting_s=h.get("oldest_waiting_s"),
            last_exam_age_s=None if last_exam is None or since_health is None else round(last_exam + since_health, 1),
            exams_failed=h.get("exams_failed"), errors=None if errors is None else sum(errors.values()),
            rejects=dict(errors or {}), disk_free_mb=h.get("disk_free_mb"), cpu_percent=h.get("cpu_percent"),
            memory_used_percent=h.get("memory_used_percent"), outbox_backlog=h.get("outbox_backlog"),
            events_dropped=h.get("events_dropped"), exams_analyzed=d.exams_analyzed,
            latency_p50_s=d.latency.get("p50"), latency_p90_s=d.latency.get("p90"),
            latency_p99_s=d.latency.get("p99"), flags_today=sum(day == today for day in d.flags.values()))


def _update_text(update: dict[str, Any] | None) -> str | None:
    if not update:
        return None
    outcome = update.get("last_outcome")
    return str(update["state"]) + (f"/{outcome}" if outcome and outcome != "none" else "")


def sort_key(row: DeviceRow) -> tuple[int, int, str, str]:
    worst = min((SEVERITY[Problem(p)] for p in row.problems), default=len(SEVERITY))
    return worst, -len(row.problems), row.site, row.device


def summary(rows: list[DeviceRow], state: FleetState | None = None) -> dict[str, Any]:
    by_state = {s.value: sum(r.state is s for r in rows) for s in DeviceState}
    by_problem = {p.value: sum(p.value in r.problems for r in rows) for p in Problem}
    out: dict[str, Any] = {"devices_total": len(rows), "devices_by_state": by_state,
                           "devices_with_problems": sum(bool(r.problems) for r in rows),
                           "devices_by_problem": {k: v for k, v in by_problem.items() if v}}
    if state is not None:
        out |= {"messages": state.messages, "ignored": state.ignored}
    return out


def summary_line(rows: list[DeviceRow], state: FleetState | None, now: float | None = None) -> str:
    """One line: devices by state, problems, messages; the UTC time when ``now`` is given."""
    s = summary(rows, state)
    problems = ", ".join(f"{k} {v}" for k, v in s["devices_by_problem"].items()) or "none"
    text = (f"{s['devices_total']} devices: {s['devices_by_state']['online']} online, "
            f"{s['devices_by_state']['offline']} offline, {s['devices_by_state']['unknown']} unknown | "
            f"problems: {problems}")
    if state is not None:
        text += f" | {state.messages} msgs, {state.ignored} ignored"
    return text if now is None else text + f" | {time.strftime('%H:%M:%S', time.gmtime(now))} UTC"


def as_json(rows: list[DeviceRow], now: float, state: FleetState | None = None) -> str:
    return json.dumps({"generated_at": round(now, 3), **summary(rows, state), "devices": [asdict(r) for r in rows]},
                      indent=1)


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def _num(value: float | int | None, fmt: str = "{}") -> str:
    return "-" if value is None else fmt.format(value)


#: (column title, cell from a row and now)
COLUMNS: list[tuple[str, Any]] = [
    ("SITE/DEVICE", lambda r, now: f"{r.site}/{r.device}"),
    ("STATE", lambda r, now: r.state.value),
    ("PROBLEMS", lambda r, now: ",".join(r.problems) or "ok"),
    ("SEEN", lambda r, now: ("~" if r.last_seen_retained else "") + _ago(None if r.last_seen is None
                                                                           else now - r.last_seen)),
    ("HEALTH", lambda r, now: _ago(r.health_age_s)),
    ("VERSION", lambda r, now: r.software_version or "-"),
    ("DEVICE", lambda r, now: ",".join(r.devices) + ("!" if r.device_fallback else "") if r.devices else "-"),
    ("QUEUE", lambda r, now: _num(r.queue_depth)),
    ("OLDEST", lambda r, now: _ago(r.oldest_waiting_s)),
    ("LAST EXAM", lambda r, now: _ago(r.last_exam_age_s)),
    ("FAILED", lambda r, now: _num(r.exams_failed)),
    ("REJECTS", lambda r, now: _num(r.errors)),
    ("P50/P90/P99 S", lambda r, now: "-" if r.latency_p50_s is None else
     f"{r.latency_p50_s:.2f}/{r.latency_p90_s:.2f}/{r.latency_p99_s:.2f}"),
    ("DISK GB", lambda r, now: _num(None if r.disk_free_mb is None else r.disk_free_mb / 1024, "{:.1f}")),
    ("OUTBOX", lambda r, now: _num(r.outbox_backlog)),
    ("DROP", lambda r, now: _num(r.events_dropped)),
    ("UP", lambda r, now: _ago(r.uptime_s)),
    ("RESTARTS", lambda r, now: "-" if r.restarts is None else f"{r.restarts}({r.unclean_restarts or 0}!)"),
    ("UPDATE", lambda r, now: r.update_state or "-"),
    ("FLAGS", lambda r, now: str(r.flags_today)),
]


def cells(row: DeviceRow, now: float) -> list[str]:
    return [str(cell(row, now)) for _, cell in COLUMNS]


def matches(row: DeviceRow, text: str) -> bool:
    """The filter: every word must appear in the device name, site, state, problems or version."""
    haystack = " ".join([row.site, row.device, f"{row.site}/{row.device}", row.state.value, *row.problems,
                         row.software_version or "", *row.devices]).lower()
    return all(word in haystack for word in text.lower().split())


def as_table(rows: list[DeviceRow], now: float, state: FleetState | None = None) -> str:
    """A plain table (``--once``): one line per device, never wrapped."""
    lines = [cells(r, now) for r in rows]
    header = [title for title, _ in COLUMNS]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    out = [summary_line(rows, state, now), "  ".join(h.ljust(w) for h, w in zip(header, widths))]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in lines]
    return "\n".join(out)
