"""The service's state as the page sees it, read-only: the queue database (WAL), result envelopes, the spool.

Nothing here writes to the service's files, so a page bug cannot touch intake or analysis.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import re
import sqlite3
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..config import Config
from ..jobs.queue import SCREENING_VIEW_NAMES, JobState
from ..service.paths import ServicePaths
from .errors import NotFoundError

log = logging.getLogger(__name__)
KEY_RULE = re.compile(r"[0-9a-f]{32}")


class ExamStatus(enum.StrEnum):
    """What the worklist says about an exam."""

    RECEIVING = "receiving"  #: views still coming (n/4)
    WAITING = "waiting"  #: assembled, waiting for a worker
    ANALYZING = "analyzing"
    DONE = "done"
    FAILED = "failed"


STATUS_OF = {JobState.RECEIVED: ExamStatus.RECEIVING, JobState.ASSEMBLED: ExamStatus.WAITING,
             JobState.ANALYZING: ExamStatus.ANALYZING, JobState.DONE: ExamStatus.DONE,
             JobState.FAILED: ExamStatus.FAILED}


@dataclass(frozen=True, kw_only=True)
class WorklistRow:
    """One exam of the worklist: opaque key, status and the flag; no patient data."""

    study_key: str
    status: ExamStatus
    views: int  #: screening views received (of 4)
    first_received_at: float
    last_received_at: float
    reason: str | None  #: why it failed, or why it was not analyzed
    analyzed: bool
    flagged: bool | None  #: None: no result yet
    score: float | None
    breasts: dict[str, float]  #: "R"/"L" -> case score
    breasts_flagged: list[str]
    clusters: int
    kind: str  #: "screening" or "biopsy"
    completed_at: float | None


def check_key(key: str) -> str:
    if not KEY_RULE.fullmatch(key):
        raise NotFoundError("study key must be 32 lower-case hex digits (rule: the page's URLs carry opaque keys)")
    return key


class ServiceState:
    """Read-only access to one box's service state."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.paths = ServicePaths.of(config.service)
        self._envelopes: dict[str, tuple[int, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    # -- change detection -----------------------------------------------------------------------
    def signature(self) -> tuple[int, ...]:
        """Changes whenever a result is written or the queue changes (directory and WAL/DB mtimes and sizes)."""
        sig: list[int] = []
        for path in (self.paths.results, self.paths.queue_db, self.paths.queue_db.with_name("queue.sqlite-wal")):
            try:
                st = path.stat()
                sig += [st.st_mtime_ns, st.st_size]
            except OSError:
                sig += [0, 0]
        return tuple(sig)

    # -- queue ----------------------------------------------------------------------------------
    def _rows(self, since: float) -> list[tuple[Any, ...]]:
        db = self.paths.queue_db
        if not db.exists():
            return []
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2.0)
        except sqlite3.Error as exc:
            log.warning("queue database not readable: %s", type(exc).__name__)
            return []
        try:
            waiting = ",".join("?" * 3)
            return conn.execute(
                "SELECT e.study_key, e.state, e.first_received_at, e.last_received_at, e.error, e.finished_at, "
                "(SELECT COUNT(DISTINCT view_name) FROM instances i WHERE i.study_key = e.study_key "
                f" AND i.view_name IN ({','.join('?' * len(SCREENING_VIEW_NAMES))})) "
                f"FROM exams e WHERE e.first_received_at >= ? OR e.state IN ({waiting}) "
                "ORDER BY e.first_received_at DESC",
                (*SCREENING_VIEW_NAMES, since, JobState.RECEIVED, JobState.ASSEMBLED, JobState.ANALYZING)).fetchall()
        except sqlite3.Error as exc:
            log.warning("queue database not readable: %s", type(exc).__name__)
            return []
        finally:
            conn.close()

    def envelope(self, key: str) -> dict[str, Any] | None:
        """The exam's result envelope (cached by file mtime), or None when there is none (yet)."""
        path = self.paths.results / f"{check_key(key)}.json"
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return None
        with self._lock:
            cached = self._envelopes.get(key)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            document = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            log.warning("result %s unreadable: %s", key[:8], type(exc).__name__)
            return None
        with self._lock:
            self._envelopes[key] = (mtime, document)
        return document

    def worklist(self, now: dt.datetime | None = None) -> list[WorklistRow]:
        """Today's exams (local time) and every unfinished one, newest first."""
        now = now or dt.datetime.now().astimezone()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        rows = []
        for key, state, first, last, error, _finished, views in self._rows(midnight):
            document = self.envelope(key)
            rows.append(_row(key, JobState(state), first, last, error, views, document))
        return rows

    def worklist_json(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.worklist()]

    # -- one exam -------------------------------------------------------------------------------
    def spooled(self, key: str) -> list[Path]:
        """The exam's spooled instance files."""
        folder = self.paths.spool / check_key(key)
        return sorted(folder.glob("*.dcm")) if folder.is_dir() else []

    def exam_file(self, key: str, name: str) -> Path:
        """A picture the worker wrote for the exam under ``results/exams/`` (its name must start with the key)."""
        check_key(key)
        if not re.fullmatch(rf"{key}_[A-Za-z0-9_]+\.png", name):
            raise NotFoundError("picture name must be <study key>_<name>.png")
        path = self.paths.results / "exams" / name
        if not path.is_file():
            raise NotFoundError("the exam has no such picture (not written yet?)")
        return path


def _row(key: str, state: JobState, first: float, last: float, error: str | None, views: int,
         document: dict[str, Any] | None) -> WorklistRow:
    result = (document or {}).get("result") or None
    triage = (result or {}).get("triage") or {}
    breasts = {b["laterality"]: round(float(b["case_score"]), 3) for b in (result or {}).get("breasts", [])}
    flagged_sides = [b["laterality"] for b in (result or {}).get("breasts", []) if b.get("flagged")]
    clusters = sum(len(v.get("clusters", [])) for v in (result or {}).get("views", []))
    reason = error
    if document is not None and not document.get("analyzed", True):
        reason = (document.get("not_analyzed") or {}).get("reason", reason)
    biopsy = (document or {}).get("biopsy")
    return WorklistRow(
        study_key=key, status=STATUS_OF[state], views=int(views), first_received_at=first, last_received_at=last,
        reason=reason if state is JobState.FAILED or (document and not document.get("analyzed", True)) else None,
        analyzed=bool(document and document.get("analyzed")),
        flagged=None if result is None else bool(triage.get("flagged")),
        score=None if result is None else round(float(triage.get("score", 0.0)), 3),
        breasts=breasts, breasts_flagged=flagged_sides, clusters=clusters,
        kind=str((document or {}).get("kind") or ("biopsy" if biopsy else "screening")),
        completed_at=(document or {}).get("completed_at"))
