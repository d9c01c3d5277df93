"""Message payloads built from an allow-list: a field not listed for its type cannot be sent.

Every payload carries ``schema_version``, ``type``, ``ts`` (UTC, seconds) and a
``message_id`` (unique per message, so receivers drop QoS 1 redeliveries).
The allow-lists here and ``schemas/*.schema.json`` say the same thing; a test
checks that.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

from ..errors import MammoedgeError
from .metrics import WINDOW_FIELDS

SCHEMA_VERSION = 1

#: message type -> allowed fields and their JSON types (besides the common ones)
ALLOWED: dict[str, dict[str, tuple[type, ...]]] = {
    "status": {"state": (str,), "software_version": (str,), "models": (dict,), "devices": (list,)},
    "health": {"queue_depth": (int,), "oldest_waiting_s": (int, float, type(None)), "cpu_percent": (int, float),
               "memory_used_percent": (int, float), "disk_free_mb": (int, float), "last_exam_age_s": (int, float, type(None)),
               "errors": (dict,), "devices": (list,), "events_dropped": (int,),
               "update": (dict,),
               "forward": (dict,)},  # DICOM results send queue: destination -> state -> count
    "event": {"study_key": (str,), "flag": (bool,), "clusters_by_birads": (dict,), "models": (dict,),
              "latency_s": (dict,)},
    "metrics": {"interval_s": (int, float), "uptime_s": (int, float), "interval": (dict,), "since_start": (dict,)},
    "command_result": {"accepted": (bool,), "action": (str,), "request_id": (str,), "rule": (str,), "error": (str,)},
}
#: (message type, field) -> keys allowed inside that object
NESTED: dict[tuple[str, str], tuple[str, ...]] = {
    ("metrics", "interval"): WINDOW_FIELDS,
    ("metrics", "since_start"): WINDOW_FIELDS,
    ("health", "update"): ("state", "last_outcome", "last_rule", "version", "target_version"),
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


def build(kind: str, **fields) -> bytes:
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
        if inner is not None and any(key not in inner for key in value):
            raise PayloadError(f"{kind}.{name} may only hold {', '.join(inner)}; got {', '.join(map(str, value))}")
    if kind == "event" and (len(fields.get("study_key", "")) != 32
                            or any(ch not in "0123456789abcdef" for ch in fields.get("study_key", ""))):
        raise PayloadError("event study_key must be the 32-hex opaque study key")
    document = {"schema_version": SCHEMA_VERSION, "type": kind, "ts": round(time.time(), 3),
                "message_id": uuid.uuid4().hex, **fields}
    return json.dumps(document, sort_keys=True).encode()


def event_payload(event: ExamEvent) -> bytes:
    return build("event", study_key=event.study_key, flag=event.flag, clusters_by_birads=dict(event.clusters_by_birads),
                 models=dict(event.models), latency_s=dict(event.latency_s))


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
                     latency_s={t["stage"]: round(float(t["seconds"]), 3) for t in result.get("timings", [])})
