"""Exam events into the shared outbox, for a process without network (the worker unit).

Under systemd the worker runs with ``PrivateNetwork=yes``: it never opens MQTT.
Its events go into the durable outbox in the shared state directory, and the
intake process's :class:`~.reporter.Reporter` sends them (it polls the outbox
for rows written by other processes).
"""

from __future__ import annotations

from pathlib import Path

from ..config import TelemetryConfig
from .outbox import Outbox
from .payloads import ExamEvent, event_payload
from .topics import device_id, outbox_path, topic


class OutboxSink:
    """Same ``start``/``stop``/``exam_analyzed`` as the reporter; writes only to the outbox."""

    def __init__(self, config: TelemetryConfig, state_dir: Path) -> None:
        self.config, self.device = config, device_id(config)
        self.outbox = Outbox(outbox_path(config, state_dir), cap=config.outbox_max)

    def start(self) -> None:
        """Nothing to connect."""

    def exam_analyzed(self, event: ExamEvent) -> None:
        self.outbox.put(topic(self.config, self.device, "event"), event_payload(event), qos=1)

    def stop(self, timeout: float = 0.0) -> None:
        self.outbox.close()
