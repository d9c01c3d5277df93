"""Where an exam's time goes after its last instance is queued: one timestamp per step of the service path.

The exam worker starts a :class:`Timeline` when it claims an exam, anchored at the moment the exam's last
instance was queued (its ``received_at``, written by the intake just before the C-STORE is acknowledged);
the analysis marks its steps on the timeline of the thread that runs it (:func:`mark`, a no-op outside a
claimed exam). The result document carries them as ``timeline``: seconds since that anchor, in step order.
"""

from __future__ import annotations

import enum
import threading
import time


class Step(enum.StrEnum):
    """The steps of the service path, in the order they happen for a screening exam."""

    CLAIMED = "claimed"  #: the exam worker took the exam from the queue
    REUSED = "reused"  #: a view analyzed on arrival taken from the store (waited for while it was analyzed)
    DECODED = "decoded"  #: a view not analyzed on arrival: read and decoded (marked once per such view)
    NORMALIZED = "normalized"  #: ... normalized
    DETECTED = "detected"  #: ... detector, clusters and morphology done, the view stored
    VIEWS = "views"  #: every view of the exam analyzed or taken from the store
    EXAM_STEPS = "exam-steps"  #: exam-level steps (breast assessment, triage, risk) done
    FLAG_WRITTEN = "flag-written"  #: the result document with the flag durably written
    QUEUE_DONE = "queue-done"  #: the exam marked done in the queue
    EVENT_QUEUED = "event-queued"  #: the exam's telemetry event in the durable outbox (the MQTT sender's)
    DICOM_OBJECTS = "dicom-objects"  #: DICOM results written and queued for [forward]
    PICTURES = "pictures"  #: overlays and saliency pictures drawn and written (then the last result write)


class Timeline:
    """Steps of one exam, as seconds since ``origin`` (epoch seconds; monotonic clock in between), each with
    the process's CPU seconds since the claim (every thread's: the models' own threads included)."""

    def __init__(self, origin: float) -> None:
        self._offset = time.time() - origin  # seconds from the origin to now
        self._start, self._cpu = time.monotonic(), time.process_time()
        self._steps: list[tuple[Step, float, float]] = []
        self._lock = threading.Lock()

    def mark(self, step: Step) -> None:
        at, cpu = self._offset + time.monotonic() - self._start, time.process_time() - self._cpu
        with self._lock:
            self._steps.append((step, at, cpu))

    def as_list(self) -> list[dict[str, object]]:
        """``[{"step": ..., "at_s": ..., "cpu_s": ...}, ...]`` in the order marked (a repeated step each time)."""
        with self._lock:
            return [{"step": step.value, "at_s": round(at, 4), "cpu_s": round(cpu, 4)} for step, at, cpu in self._steps]


_current = threading.local()


def begin(origin: float) -> Timeline:
    """Start the calling thread's timeline (the exam worker, at claim)."""
    timeline = Timeline(origin)
    _current.timeline = timeline
    timeline.mark(Step.CLAIMED)
    return timeline


def end() -> None:
    _current.timeline = None


def mark(step: Step) -> None:
    """Mark ``step`` on the calling thread's timeline, if it has one."""
    timeline: Timeline | None = getattr(_current, "timeline", None)
    if timeline is not None:
        timeline.mark(step)
