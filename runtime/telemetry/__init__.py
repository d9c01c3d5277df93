"""Fleet telemetry over MQTT: allow-listed payloads, a durable outbox, status with last will."""

from .outbox import Outbox
from .payloads import ExamEvent, PayloadError, build, exam_event
from .reporter import Reporter
from .sink import OutboxSink

__all__ = ["ExamEvent", "Outbox", "OutboxSink", "PayloadError", "Reporter", "build", "exam_event"]
