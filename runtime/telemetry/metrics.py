"""Fleet metrics: exams analyzed, flags raised, failures, latency percentiles per stage, rejects by reason.

Read from the shared job queue and the result files, so the intake process
reports what a separate worker process did. Two windows: the last interval and
since counting started (``counting_since``). The collector's whole state (its
watermark, the exams it counted recently, the totals and their latency
samples) is a JSON document that the reporter commits in the same outbox
transaction as the metrics message it produced, so after a kill -9 the next
message starts exactly where the last queued one ended: every exam is counted
in one interval message, once.
"""

from __future__ import annotations

import copy
import json
import math
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Sequence

from ..jobs.queue import JobQueue, JobState

PERCENTILES = (50, 90, 99)
LAG_S = 10.0  #: exams finished this long before the last collection are read again (late commits), counted once
WINDOW_FIELDS = ("exams_analyzed", "flags_raised", "exams_failed", "latency_s", "rejects")
STATE_NAME = "metrics"  #: the outbox state row holding the collector's state
MAX_SAMPLES = 2000  #: latency samples kept per stage for the since-start window (newest)


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty sequence."""
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class Window:
    """Counts and latency samples over one window; ``max_samples`` per stage at most (newest kept)."""

    def __init__(self, max_samples: int = MAX_SAMPLES) -> None:
        self.exams_analyzed = self.flags_raised = self.exams_failed = 0
        self.rejects: Counter[str] = Counter()
        self._samples: dict[str, deque[float]] = {}
        self._max = max_samples

    def add_exam(self, *, failed: bool, flagged: bool, latency_s: dict[str, float]) -> None:
        if failed:
            self.exams_failed += 1
            return
        self.exams_analyzed += 1
        self.flags_raised += int(flagged)
        for stage, seconds in latency_s.items():
            self._samples.setdefault(stage, deque(maxlen=self._max)).append(seconds)

    def as_fields(self) -> dict[str, Any]:
        latency = {}
        for stage, values in sorted(self._samples.items()):
            ordered = sorted(values)
            latency[stage] = {f"p{q}": round(percentile(ordered, q), 3) for q in PERCENTILES} | {"n": len(ordered)}
        return {"exams_analyzed": self.exams_analyzed, "flags_raised": self.flags_raised,
                "exams_failed": self.exams_failed, "latency_s": latency, "rejects": dict(sorted(self.rejects.items()))}

    def to_state(self) -> dict[str, Any]:
        return {"exams_analyzed": self.exams_analyzed, "flags_raised": self.flags_raised,
                "exams_failed": self.exams_failed, "rejects": dict(self.rejects),
                "samples": {stage: [round(v, 4) for v in values] for stage, values in self._samples.items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any], max_samples: int = MAX_SAMPLES) -> Window:
        window = cls(max_samples)
        window.exams_analyzed = int(state["exams_analyzed"])
        window.flags_raised = int(state["flags_raised"])
        window.exams_failed = int(state["exams_failed"])
        window.rejects = Counter({str(k): int(v) for k, v in state["rejects"].items()})
        window._samples = {str(stage): deque((float(v) for v in values), maxlen=max_samples)
                           for stage, values in state["samples"].items()}
        return window


def exam_outcome(result_path: str | None) -> tuple[bool, dict[str, float], tuple[str, ...], bool]:
    """(flagged, seconds per stage + ``total``, "backend:device" used, any fallback) from a result file."""
    if not result_path:
        return False, {}, (), False
    try:
        document = json.loads(Path(result_path).read_text())
    except (OSError, ValueError):
        return False, {}, (), False
    if not isinstance(document, dict):
        return False, {}, (), False
    result = document.get("result") or {}
    latency = {str(t["stage"]): float(t["seconds"]) for t in result.get("timings", [])
               if isinstance(t, dict) and "stage" in t and isinstance(t.get("seconds"), (int, float))}
    if isinstance(document.get("completed_at"), (int, float)) and isinstance(document.get("started_at"), (int, float)):
        latency["total"] = float(document["completed_at"]) - float(document["started_at"])
    models = [m for m in result.get("models", []) if isinstance(m, dict)]
    used = tuple(sorted({f"{m['backend']}:{m['device']}" for m in models
                         if isinstance(m.get("backend"), str) and isinstance(m.get("device"), str)}))
    fallback = any(m.get("fallbacks") for m in models)
    return bool((result.get("triage") or {}).get("flagged", False)), latency, used, fallback


@dataclass(kw_only=True)
class CollectorState:
    """Everything :class:`MetricsCollector` must remember across a restart."""

    counting_since: float
    last: float  #: end of the last collected interval (epoch s)
    event_row: int  #: last queue event row counted
    seen: dict[str, float] = field(default_factory=dict)  #: "study key@finished_at" -> finished_at, recent only
    total: dict[str, Any] = field(default_factory=lambda: Window().to_state())

    def dumps(self) -> str:
        return json.dumps({"counting_since": self.counting_since, "last": self.last, "event_row": self.event_row,
                           "seen": self.seen, "total": self.total})

    @classmethod
    def loads(cls, text: str) -> CollectorState:
        doc = json.loads(text)
        return cls(counting_since=float(doc["counting_since"]), last=float(doc["last"]),
                   event_row=int(doc["event_row"]), seen={str(k): float(v) for k, v in doc["seen"].items()},
                   total=dict(doc["total"]))


class MetricsCollector:
    """:meth:`prepare` the fields of a ``metrics`` message and the state after it; :meth:`adopt` it once queued.

    ``state`` resumes a previous process's counting (see :meth:`CollectorState.loads`);
    without it counting starts at ``started_at``.
    """

    def __init__(self, queue: JobQueue, *, started_at: float, state: CollectorState | None = None,
                 max_samples: int = MAX_SAMPLES) -> None:
        self.queue, self.started_at, self.max_samples = queue, started_at, max_samples
        if state is None:
            event_row, _ = queue.events_after(None)
            state = CollectorState(counting_since=started_at, last=started_at, event_row=event_row)
        self.state = state

    def prepare(self, now: float) -> tuple[dict[str, Any], CollectorState]:
        """(fields of the metrics message for ``(last, now]``, the state once it is sent); changes nothing."""
        state = copy.deepcopy(self.state)
        interval, total = Window(self.max_samples), Window.from_state(state.total, self.max_samples)
        for key, job_state, path, finished_at in self.queue.finished_between(
                max(state.counting_since, state.last - LAG_S), now):
            mark = f"{key}@{finished_at!r}"
            if mark in state.seen:
                continue
            state.seen[mark] = finished_at
            flagged, latency, _, _ = exam_outcome(path) if job_state == JobState.DONE else (False, {}, (), False)
            for window in (interval, total):
                window.add_exam(failed=job_state == JobState.FAILED, flagged=flagged, latency_s=latency)
        state.event_row, rejects = self.queue.events_after(state.event_row)
        interval.rejects.update(rejects)
        total.rejects.update(rejects)
        state.seen = {k: t for k, t in state.seen.items() if t > now - 2 * LAG_S}
        fields = {"interval_s": round(max(0.0, now - state.last), 3),
                  "uptime_s": round(max(0.0, now - self.started_at), 3),
                  "counting_since": round(state.counting_since, 3),
                  "interval": interval.as_fields(), "since_start": total.as_fields()}
        state.last = now
        state.total = total.to_state()
        return fields, state

    def adopt(self, state: CollectorState) -> None:
        """The message made from ``state`` is queued: count from there on."""
        self.state = state

    def collect(self, now: float) -> dict[str, Any]:
        """:meth:`prepare` and :meth:`adopt` at once (when nothing needs to be stored in between)."""
        fields, state = self.prepare(now)
        self.adopt(state)
        return fields

    def since_start(self) -> dict[str, Any]:
        """The since-start window as last adopted (for health: latency p90/p99 of ``total``)."""
        return Window.from_state(self.state.total, self.max_samples).as_fields()
