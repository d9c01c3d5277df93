"""Fleet metrics: exams analyzed, flags raised, failures, latency percentiles per stage, rejects by reason.

Read from the shared job queue and the result files, so the intake process
reports what a separate worker process did. Two windows: the last interval and
since the collector started.
"""

from __future__ import annotations

import json
import math
from collections import Counter, deque
from pathlib import Path
from typing import Sequence

from ..jobs.queue import JobQueue, JobState

PERCENTILES = (50, 90, 99)
LAG_S = 10.0  #: exams finished this long before the last collection are read again (late commits), counted once
WINDOW_FIELDS = ("exams_analyzed", "flags_raised", "exams_failed", "latency_s", "rejects")


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty sequence."""
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class Window:
    """Counts and latency samples over one window; ``max_samples`` per stage at most (newest kept)."""

    def __init__(self, max_samples: int = 10_000) -> None:
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

    def as_fields(self) -> dict:
        latency = {}
        for stage, values in sorted(self._samples.items()):
            ordered = sorted(values)
            latency[stage] = {f"p{q}": round(percentile(ordered, q), 3) for q in PERCENTILES} | {"n": len(ordered)}
        return {"exams_analyzed": self.exams_analyzed, "flags_raised": self.flags_raised,
                "exams_failed": self.exams_failed, "latency_s": latency, "rejects": dict(sorted(self.rejects.items()))}


def exam_outcome(result_path: str | None) -> tuple[bool, dict[str, float], tuple[str, ...]]:
    """(flagged, seconds per stage + ``total``, "backend:device" used) from a result file; empty when unreadable."""
    if not result_path:
        return False, {}, ()
    try:
        document = json.loads(Path(result_path).read_text())
    except (OSError, ValueError):
        return False, {}, ()
    result = document.get("result") or {}
    latency = {str(t["stage"]): float(t["seconds"]) for t in result.get("timings", [])
               if isinstance(t, dict) and "stage" in t and isinstance(t.get("seconds"), (int, float))}
    if isinstance(document.get("completed_at"), (int, float)) and isinstance(document.get("started_at"), (int, float)):
        latency["total"] = float(document["completed_at"]) - float(document["started_at"])
    used = tuple(sorted({f"{m['backend']}:{m['device']}" for m in result.get("models", []) if isinstance(m, dict)
                         and isinstance(m.get("backend"), str) and isinstance(m.get("device"), str)}))
    return bool((result.get("triage") or {}).get("flagged", False)), latency, used


class MetricsCollector:
    """Call :meth:`collect` once per interval; it returns the fields of a ``metrics`` message."""

    def __init__(self, queue: JobQueue, *, started_at: float, max_samples: int = 10_000) -> None:
        self.queue, self.started_at, self.max_samples = queue, started_at, max_samples
        self.total = Window(max_samples)
        self._last = started_at
        self._event_row, _ = queue.events_after(None)
        self._seen: dict[tuple[str, float], float] = {}  # (study key, finished_at) -> finished_at
        self.devices_in_use: tuple[str, ...] = ()  #: "backend:device" of the newest analyzed exam

    def collect(self, now: float) -> dict:
        interval = Window(self.max_samples)
        for key, state, path, finished_at in self.queue.finished_between(max(self.started_at, self._last - LAG_S),
                                                                         now):
            if (key, finished_at) in self._seen:
                continue
            self._seen[(key, finished_at)] = finished_at
            flagged, latency, used = exam_outcome(path) if state == JobState.DONE else (False, {}, ())
            self.devices_in_use = used or self.devices_in_use
            for window in (interval, self.total):
                window.add_exam(failed=state == JobState.FAILED, flagged=flagged, latency_s=latency)
        self._event_row, rejects = self.queue.events_after(self._event_row)
        interval.rejects.update(rejects)
        self.total.rejects.update(rejects)
        self._seen = {k: t for k, t in self._seen.items() if t > now - 2 * LAG_S}
        fields = {"interval_s": round(now - self._last, 3), "uptime_s": round(now - self.started_at, 3),
                  "interval": interval.as_fields(), "since_start": self.total.as_fields()}
        self._last = now
        return fields
