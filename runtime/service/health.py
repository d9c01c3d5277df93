"""The health snapshot: what ``mammoedge status`` prints and telemetry publishes. No patient data."""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

from .. import __version__
from ..config import Config
from ..jobs.queue import JobQueue
from .paths import ServicePaths


@dataclass(frozen=True, kw_only=True)
class HealthSnapshot:
    """Service health at one moment."""

    at: float  #: epoch seconds
    queue_depth: int  #: exams received but not yet done or failed
    oldest_waiting_s: float | None  #: age of the oldest unfinished exam
    last_exam_at: float | None  #: when the last result was written (epoch seconds)
    exams_by_state: dict[str, int]
    instances: int
    errors_by_reason: dict[str, int]  #: "kind:reason" -> count, e.g. "quarantine:no-laterality"
    versions: dict[str, str]
    #: DICOM results send queue: destination -> state -> count ([forward]; empty when none configured)
    forward: dict[str, dict[str, int]] = field(default_factory=dict)
    #: destination -> why its last failed object failed (no patient data); status shows it, telemetry does not
    forward_reasons: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def versions(config: Config) -> dict[str, str]:
    found = {"mammoedge": __version__, "python": platform.python_version()}
    for package in ("pydicom", "pynetdicom", "openvino", "onnxruntime"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


def snapshot_from_queue(queue: JobQueue, config: Config, now: float | None = None) -> HealthSnapshot:
    now = time.time() if now is None else now
    stats = queue.stats(now)
    forward, reasons = forward_counts(config)
    return HealthSnapshot(at=now, queue_depth=stats.queue_depth, oldest_waiting_s=stats.oldest_waiting_s,
                          forward=forward, forward_reasons=reasons,
                          last_exam_at=stats.last_exam_at, exams_by_state=stats.exams_by_state,
                          instances=stats.instances, errors_by_reason=stats.errors_by_reason,
                          versions=versions(config))


def forward_counts(config: Config) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """The send queue's counts and reasons, read-only; empty when no destination is configured."""
    if not config.forward.destinations:
        return {}, {}
    from ..forward import SendQueue, forward_paths

    db = forward_paths(config.forward, config.service).queue
    if not db.exists():
        return {d.name: {} for d in config.forward.destinations}, {}
    queue = SendQueue(db, readonly=True)
    try:
        return queue.counts(), queue.reasons()
    finally:
        queue.close()


def health_snapshot(config: Config, now: float | None = None) -> HealthSnapshot:
    """Read the service's queue (read-only; works while ``mammoedge serve`` runs) and summarize it."""
    db = ServicePaths.of(config.service).queue_db
    if not db.exists():
        forward, reasons = forward_counts(config)
        return HealthSnapshot(forward=forward, forward_reasons=reasons,
                              at=time.time() if now is None else now, queue_depth=0, oldest_waiting_s=None,
                              last_exam_at=None, exams_by_state={}, instances=0, errors_by_reason={},
                              versions=versions(config))
    queue = JobQueue(db, readonly=True)
    try:
        return snapshot_from_queue(queue, config, now)
    finally:
        queue.close()


def forward_fields(config: Config) -> dict[str, Any]:
    """Health telemetry's ``forward``: destination -> state -> count (counts only; nothing when none configured)."""
    counts, _ = forward_counts(config)
    return {"forward": counts} if counts else {}
