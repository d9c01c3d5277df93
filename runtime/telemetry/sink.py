"""Exam events into the shared outbox, for a process without network (the worker unit).

Under systemd the worker runs with ``PrivateNetwork=yes``: it never opens MQTT.
Its events go into the durable outbox in the shared state directory, and the
intake process's :class:`~.reporter.Reporter` sends them (it polls the outbox
for rows written by other processes). An event this sink could not write is
derived later from the queue by the reporter's :class:`~.events.EventReconciler`.
"""

from __future__ import annotations

from pathlib import Path

from ..config import TelemetryConfig
from .outbox import Outbox
from .events import queue_event
from .payloads import ExamEvent
from .topics import device_id, outbox_path, topic


class OutboxSink:
    """Same ``start``/``stop``/``exam_analyzed`` as the reporter; writes only to the outbox."""

    def __init__(self, config: TelemetryConfig, state_dir: Path) -> None:
        self.config, self.device = config, device_id(config)
        self.outbox = Outbox(outbox_path(config, state_dir), cap=config.outbox_max)

    def start(self) -> None:
        """Nothing to connect."""

    def exam_analyzed(self, event: ExamEvent) -> None:
        queue_event(self.outbox, topic(self.config, self.device, "event"), event)

    def stop(self, timeout: float = 0.0) -> None:
        self.outbox.close()
