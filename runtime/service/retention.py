"""Retention: prune spool, results and quarantine by age and spool size, never before a result exists.

Only exams in ``done`` or ``failed`` (their result or failure is recorded) are
pruned; exams still waiting or analyzing are never touched.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import ServiceConfig
from ..jobs.queue import JobQueue
from .paths import ServicePaths

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class PruneReport:
    exams: int
    quarantined: int
    bytes_freed: int


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _drop_exam(queue: JobQueue, paths: ServicePaths, study_key: str, result: str | None, with_result: bool) -> int:
    freed = _size(paths.spool / study_key)
    shutil.rmtree(paths.spool / study_key, ignore_errors=True)
    if with_result:
        if result:
            Path(result).unlink(missing_ok=True)
        for output in (paths.results / "exams").glob(f"{study_key}*"):  # exam result, overlays, saliency
            freed += output.stat().st_size
            output.unlink(missing_ok=True)
    queue.forget_exam(study_key)
    return freed


def prune(queue: JobQueue, paths: ServicePaths, config: ServiceConfig, now: float | None = None) -> PruneReport:
    """Apply ``retention_days`` (spool + result + quarantine) and ``spool_max_mb`` (oldest spool first)."""
    now = time.time() if now is None else now
    exams = quarantined = freed = 0
    if config.retention_days > 0:
        cutoff = now - config.retention_days * 86400
        for key, result in queue.finished_before(cutoff):
            freed += _drop_exam(queue, paths, key, result, with_result=True)
            exams += 1
        queue.forget_events_before(cutoff)
        if paths.quarantine.is_dir():
            for item in paths.quarantine.iterdir():
                if item.is_file() and item.stat().st_mtime < cutoff:
                    freed += item.stat().st_size
                    item.unlink(missing_ok=True)
                    quarantined += 1
        if paths.views.is_dir():  # stored views are keyed by content, not by exam: pruned by age
            for item in paths.views.glob("*.json"):
                if item.stat().st_mtime < cutoff:
                    freed += item.stat().st_size
                    item.unlink(missing_ok=True)
    if config.spool_max_mb > 0:
        limit = config.spool_max_mb * 1e6
        total = _size(paths.spool)
        for key, result in queue.finished_before(now + 1):
            if total <= limit:
                break
            dropped = _drop_exam(queue, paths, key, result, with_result=False)
            total -= dropped
            freed += dropped
            exams += 1
    if exams or quarantined:
        log.info("retention: pruned %d exams, %d quarantine files, %.1f MB", exams, quarantined, freed / 1e6)
    return PruneReport(exams=exams, quarantined=quarantined, bytes_freed=freed)
