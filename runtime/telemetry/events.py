"""Exam events, once per result: queued by the worker's hook, or derived from the queue's done state.

The worker marks an exam ``done`` and then hands its result to the telemetry
hook; a kill between the two, or an outbox write that fails (full disk), would
lose that event. :class:`EventReconciler` closes the window: at start-up and
every few seconds it lists the exams the queue says are done since its
watermark and queues the event of any whose result has none yet. Whoever
queues an event marks (study key, the run's ``started_at``) in the same outbox
transaction, so the hook and the reconciler, in one process or two, queue it
once between them.

Update events come the same way from the update state file (``firmware/state.py``): the updater
writes each update's outcome there, durably, and never talks to the broker itself;
:class:`UpdateEventReconciler` queues one ``update`` message per concluded outcome, marking the
outcome's key in the same outbox transaction. A kill of the updater right after the outcome, or of
the reporter before its run, loses nothing; the same outcome is never queued twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from ..jobs.queue import JobQueue, JobState
from .outbox import Outbox
from .payloads import ExamEvent, build, event_payload, exam_event

log = logging.getLogger(__name__)
EVENT_QOS = 2  #: exactly once between a live client session and the broker (see docs/telemetry.md)
WATERMARK = "events_scanned_upto"
LAG_S = 10.0  #: exams finished this long before the watermark are listed again (late commits)
KEEP_MARKS_S = 7 * 86400.0  #: marks of queued events are kept this long
UPDATE_MARK = "update_event_queued"  #: outbox state: the key of the last update outcome queued


def queue_event(outbox: Outbox, topic_name: str, event: ExamEvent, now: float | None = None) -> bool:
    """Queue ``event`` unless its result already has one; True when it was queued now."""
    now = time.time() if now is None else now
    mark = None if event.started_at is None else (event.study_key, event.started_at, now)
    return outbox.put(topic_name, event_payload(event), qos=EVENT_QOS, emitted=mark) is not None


class EventReconciler:
    """Derives missing events from the queue's done state; :meth:`run` is cheap, call it often."""

    def __init__(self, queue: JobQueue, outbox: Outbox, topic_name: str, *, now: float | None = None) -> None:
        self.queue, self.outbox, self.topic = queue, outbox, topic_name
        stored = outbox.get_state(WATERMARK)
        if stored is None:  # first start with telemetry: no history is sent
            outbox.set_state(WATERMARK, repr(time.time() if now is None else now))

    def run(self, now: float | None = None) -> int:
        """Queue the missing events of exams done in ``(watermark - LAG_S, now]``; how many were queued."""
        now = time.time() if now is None else now
        watermark = float(self.outbox.get_state(WATERMARK) or now)
        queued, stuck_at = 0, None
        for key, state, path, finished_at in self.queue.finished_between(watermark - LAG_S, now):
            if state != JobState.DONE or not path:
                continue
            try:
                document = json.loads(Path(path).read_text())
                event = exam_event(document)
                if event.started_at is None or self.outbox.has_event(event.study_key, event.started_at):
                    continue
                if queue_event(self.outbox, self.topic, event, now):
                    queued += 1
                    log.info("exam %s: event derived from its done state", key[:8])
            except (OSError, ValueError, KeyError, TypeError) as exc:  # unreadable result: retry on the next run
                log.warning("exam %s: event not queued yet (%s)", key[:8], type(exc).__name__)
                stuck_at = finished_at if stuck_at is None else min(stuck_at, finished_at)
        self.outbox.set_state(WATERMARK, repr(now if stuck_at is None else min(now, stuck_at)))
        self.outbox.forget_events_before(now - KEEP_MARKS_S)
        return queued


class UpdateEventReconciler:
    """Queues the ``update`` event of the update state file's last outcome, once; :meth:`run` is cheap."""

    def __init__(self, state_path: Path, outbox: Outbox, topic_name: str, device: str) -> None:
        self.state_path, self.outbox, self.topic, self.device = state_path, outbox, topic_name, device

    def run(self) -> bool:
        """True when an event was queued now (False: no concluded update, already queued, or unreadable)."""
        from ...firmware.state import RESTING, StateFile, event_fields

        if not self.state_path.is_file():
            return False
        try:
            record = StateFile(self.state_path).load()
        except Exception as exc:  # a broken state file is reported by the health message, not here
            log.warning("update state unreadable for its event: %s", type(exc).__name__)
            return False
        key = record.outcome_key
        if key is None or record.state not in RESTING:
            return False
        message_id = hashlib.sha256(f"update:{self.device}:{key}".encode()).hexdigest()[:32]
        payload = build("update", message_id=message_id, **event_fields(record))
        queued = self.outbox.put(self.topic, payload, qos=EVENT_QOS, state={UPDATE_MARK: key},
                                 unless_state=(UPDATE_MARK, key)) is not None
        if queued:
            log.info("update event queued: outcome %s (update %d)", record.last_outcome.value, record.outcome_seq)
        return queued
