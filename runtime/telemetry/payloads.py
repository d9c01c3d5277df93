"""Message payloads built from an allow-list: a field not listed for its type cannot be sent.

Every payload carries ``schema_version``, ``type``, ``ts`` (UTC, seconds) and a
``message_id`` (unique per message, so receivers drop redeliveries; an exam
event's id is derived from its study key and result time, so the same result
always carries the same id).
The allow-lists here and ``schemas/*.schema.json`` say the same thing; a test
checks that.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..errors import MammoedgeError
from .metrics import WINDOW_FIELDS

SCHEMA_VERSION = 1

#: the biopsy target an event carries (unit frame, mm; docs/biopsy.md): position, uncertainty, matches, warnings
BIOPSY_EVENT_FIELDS = ("x_mm", "y_mm", "z_mm", "sigma_x_mm", "sigma_y_mm", "sigma_z_mm", "n_matches", "unit",
                       "warnings")
#: message type -> allowed fields and their JSON types (besides the common ones)
ALLOWED: dict[str, dict[str, tuple[type, ...]]] = {
    "status": {"state": (str,), "software_version": (str,), "models": (dict,), "devices": (list,),
               "last_will": (bool,), "connected_at": (int, float)},
    "health": {"queue_depth": (int,), "oldest_waiting_s": (int, float, type(None)),
               "cpu_percent": (int, float, type(None)), "load_1m": (int, float, type(None)),
               "memory_used_percent": (int, float, type(None)), "memory_source": (str,),
               "disk_free_mb": (int, float), "last_exam_age_s": (int, float, type(None)),
               "exams_failed": (int,), "errors": (dict,), "devices": (list,), "device_fallback": (bool,),
               "outbox_backlog": (int,), "events_dropped": (int,), "commands_busy": (int,),
               "uptime_s": (int, float), "restarts": (int,), "unclean_restarts": (int,), "update": (dict,),
               "forward": (dict,)},  # DICOM results send queue: destination -> state -> count
    "event": {"study_key": (str,), "flag": (bool,), "clusters_by_birads": (dict,), "models": (dict,),
              "latency_s": (dict,), "exam_kind": (str,), "biopsy": (dict,)},
    "metrics": {"interval_s": (int, float), "uptime_s": (int, float), "counting_since": (int, float),
                "interval": (dict,), "since_start": (dict,)},
    "command_result": {"accepted": (bool,), "action": (str,), "request_id": (str,), "rule": (str,), "error": (str,)},
    # one per concluded update, on the event topic (firmware.state.event_fields)
    "update": {"outcome": (str,), "rule": (str, type(None)), "state": (str,), "from_version": (str, type(None)),
               "to_version": (str, type(None)), "update_seq": (int,), "concluded_at": (int, float)},
}
#: (message type, field) -> keys allowed inside that object
NESTED: dict[tuple[str, str], tuple[str, ...]] = {
    ("metrics", "interval"): WINDOW_FIELDS,
    ("metrics", "since_start"): WINDOW_FIELDS,
    ("health", "update"): ("state", "last_outcome", "last_rule", "version", "target_version"),
    ("event", "biopsy"): BIOPSY_EVENT_FIELDS,
}
COMMON = ("schema_version", "type", "ts", "message_id")


class PayloadError(MammoedgeError):
    """A payload field is not allowed for its message type, or has the wrong type."""


@dataclass(frozen=True, kw_only=True)
class ExamEvent:
    """One analyzed exam as the fleet sees it: an opaque key, never an identifier."""

    study_key: str
    flag: bool
    clusters_by_birads: dict[str, int] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    latency_s: dict[str, float] = field(default_factory=dict)
    kind: str = "screening"  #: "biopsy": a stereotactic set went to the biopsy stage
    biopsy: dict[str, Any] | None = None  #: its target (BIOPSY_EVENT_FIELDS), when one was found
    started_at: float | None = None  #: when the analysis run behind it began; with the key, names it (not sent)

    @property
    def message_id(self) -> str | None:
        """The same id for the same result, whoever queues it (receivers drop repeats by it)."""
        if self.started_at is None:
            return None
        return hashlib.sha256(f"{self.study_key}:{self.started_at!r}".encode()).hexdigest()[:32]


def build(kind: str, *, message_id: str | None = None, **fields: Any) -> bytes:
    """A JSON payload of ``kind`` holding exactly the allowed ``fields``."""
    allowed = ALLOWED.get(kind)
    if allowed is None:
        raise PayloadError(f"message type {kind!r} is unknown; known: {', '.join(ALLOWED)}")
    for name, value in fields.items():
        if name not in allowed:
            raise PayloadError(f"field {name!r} is not allowed in a {kind} message; allowed: {', '.join(allowed)}")
        if not isinstance(value, allowed[name]) or (isinstance(value, bool) and bool not in allowed[name]):
            raise PayloadError(f"field {name!r} of a {kind} message has type {type(value).__name__}")
        inner = NESTED.get((kind, name))
        if inner is not None and isinstance(value, dict) and any(key not in inner for key in value):
            raise PayloadError(f"{kind}.{name} may only hold {', '.join(inner)}; got {', '.join(map(str, value))}")
    if kind == "event" and (len(fields.get("study_key", "")) != 32
                            or any(ch not in "0123456789abcdef" for ch in fields.get("study_key", ""))):
        raise PayloadError("event study_key must be the 32-hex opaque study key")
    document = {"schema_version": SCHEMA_VERSION, "type": kind, "ts": round(time.time(), 3),
                "message_id": message_id or uuid.uuid4().hex, **fields}
    return json.dumps(document, sort_keys=True).encode()


def event_payload(event: ExamEvent) -> bytes:
    extra: dict[str, Any] = {"biopsy": dict(event.biopsy)} if event.biopsy is not None else {}
    return build("event", message_id=event.message_id, study_key=event.study_key, flag=event.flag,
                 clusters_by_birads=dict(event.clusters_by_birads), models=dict(event.models),
                 latency_s=dict(event.latency_s), exam_kind=event.kind, **extra)


def biopsy_event(biopsy: dict[str, Any] | None) -> dict[str, Any] | None:
    """The target of a result document's ``biopsy`` (BiopsyResult.to_dict()) as an event carries it."""
    if not biopsy:
        return None
    target = biopsy["target"]
    out: dict[str, Any] = {k: round(float(target[k]), 2) for k in BIOPSY_EVENT_FIELDS if k.endswith("_mm")}
    return {**out, "n_matches": int(target["n_matches"]), "unit": str(biopsy["unit"]),
            "warnings": [str(w) for w in biopsy["warnings"]]}


def exam_event(document: dict) -> ExamEvent:
    """The event for a service result document (``runtime/service/worker.py``): counts, never identifiers."""
    result = document.get("result") or {}
    clusters = sum(len(view.get("clusters", [])) for view in result.get("views", []))
    by_category: dict[str, int] = {}
    for view in result.get("views", []):
        for cluster in view.get("clusters", []):
            category = str((cluster.get("morphology") or {}).get("birads") or "not assessed")
            by_category[category] = by_category.get(category, 0) + 1
    return ExamEvent(study_key=document["study_key"], flag=bool(result.get("triage", {}).get("flagged", False)),
                     clusters_by_birads=by_category if clusters else {},
                     models={m["name"]: m["version"] for m in result.get("models", [])},
                     latency_s={t["stage"]: round(float(t["seconds"]), 3) for t in result.get("timings", [])},
                     kind=str(document.get("kind") or "screening"), biopsy=biopsy_event(document.get("biopsy")),
                     started_at=float(started) if isinstance(started := document.get("started_at"),
                                                             (int, float)) else None)
