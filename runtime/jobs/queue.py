"""The job queue: one SQLite database in WAL mode, one row per instance and per exam.

Exam states: received -> assembled -> analyzing -> done | failed. A late
instance reopens its exam (it is analyzed again, the result replaced). After a
crash, :meth:`JobQueue.requeue_interrupted` puts every exam left ``analyzing``
back to ``assembled``, so each unfinished exam is resumed exactly once. Such an
interruption (kill, power cut, crash) is not counted as an attempt: it is counted
apart, the exam goes behind the others, and only an exam interrupted
``max_interruptions`` times is given up as the likely cause.
Keys are pseudonymous (see :mod:`mammoedge.runtime.privacy`); no UID is stored.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..codes import SCREENING_VIEWS

SCREENING_VIEW_NAMES: tuple[str, ...] = tuple(f"{lat.value}{view.value}" for lat, view in SCREENING_VIEWS)

#: View names the intake gives stereotactic images (Image Type value 3; runtime/biopsy/route.py)
STEREO_PAIR = frozenset({"STEREO_PLUS", "STEREO_MINUS"})


def stereo_pair_alone(views: set[str]) -> bool:
    """A marked stereo pair (with or without its scout) and no screening view: a whole biopsy exam, analyzed
    without waiting to settle."""
    return STEREO_PAIR <= views and not views & set(SCREENING_VIEW_NAMES)


SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_key TEXT PRIMARY KEY,
    study_key TEXT NOT NULL,
    path TEXT NOT NULL,
    view_name TEXT NOT NULL,
    intake TEXT NOT NULL,
    received_at REAL NOT NULL,
    duplicates INTEGER NOT NULL DEFAULT 0,
    view_state TEXT NOT NULL DEFAULT 'pending'
);
CREATE INDEX IF NOT EXISTS instances_study ON instances(study_key);
CREATE TABLE IF NOT EXISTS exams (
    study_key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    first_received_at REAL NOT NULL,
    last_received_at REAL NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    interruptions INTEGER NOT NULL DEFAULT 0,
    missing_views TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    result_path TEXT,
    updated_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS exams_state ON exams(state);
CREATE TABLE IF NOT EXISTS events (
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 1
);
"""


class JobState(enum.StrEnum):
    """Where an exam is in its life."""

    RECEIVED = "received"
    ASSEMBLED = "assembled"
    ANALYZING = "analyzing"
    DONE = "done"
    FAILED = "failed"


WAITING_STATES = (JobState.RECEIVED, JobState.ASSEMBLED, JobState.ANALYZING)


class ViewState(enum.StrEnum):
    """An instance's own analysis, done as it arrives so that its exam only has the exam steps left."""

    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"
    FAILED = "failed"  #: refused by the reader: the exam's analysis reports it


@dataclass(frozen=True, kw_only=True)
class Job:
    """One exam claimed for analysis."""

    study_key: str
    instances: tuple[Path, ...]
    missing_views: tuple[str, ...]
    attempt: int
    generation: int
    interruptions: int = 0  #: times the service died while analyzing this exam
    given_up: bool = False  #: interrupted too often: write a "not analyzed" result and fail it


@dataclass(frozen=True, kw_only=True)
class QueueStats:
    """Counts for the health snapshot and ``mammoedge status``."""

    exams_by_state: dict[str, int]
    instances: int
    queue_depth: int  #: exams not yet done or failed
    oldest_waiting_s: float | None  #: age of the oldest unfinished exam's first instance
    last_exam_at: float | None  #: when the last result was written (epoch seconds)
    errors_by_reason: dict[str, int]


class JobQueue:
    """Thread-safe access to the queue database (one connection, one lock)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        if readonly:
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                       check_same_thread=False, timeout=5.0)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(exams)")}
            if "interruptions" not in columns:  # a database from before interruptions were counted
                self._db.execute("ALTER TABLE exams ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0")
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(instances)")}
            if "view_state" not in columns:  # a database from before views were analyzed on arrival
                self._db.execute("ALTER TABLE instances ADD COLUMN view_state TEXT NOT NULL DEFAULT 'done'")
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(events)")}
            if "count" not in columns:  # a database from before coalesced events
                self._db.execute("ALTER TABLE events ADD COLUMN count INTEGER NOT NULL DEFAULT 1")
        self._lock = threading.RLock()
        try:
            has_count = "count" in {r[1] for r in self._db.execute("PRAGMA table_info(events)")}
        except sqlite3.Error:
            has_count = True
        self._count = "SUM(count)" if has_count else "COUNT(*)"  # read-only on a database not yet migrated

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    # -- intake ---------------------------------------------------------------------------------
    def add_instance(self, *, instance_key: str, study_key: str, path: Path, view_name: str, intake: str,
                     now: float | None = None) -> bool:
        """Record a durably spooled instance; False when it is a duplicate (same SOPInstanceUID)."""
        now = time.time() if now is None else now
        with self._tx() as db:
            if db.execute("SELECT 1 FROM instances WHERE instance_key=?", (instance_key,)).fetchone():
                db.execute("UPDATE instances SET duplicates=duplicates+1 WHERE instance_key=?", (instance_key,))
                return False
            db.execute("INSERT INTO instances(instance_key, study_key, path, view_name, intake, received_at) "
                       "VALUES (?,?,?,?,?,?)", (instance_key, study_key, str(path), view_name, intake, now))
            row = db.execute("SELECT state FROM exams WHERE study_key=?", (study_key,)).fetchone()
            if row is None:
                db.execute("INSERT INTO exams(study_key, state, first_received_at, last_received_at, updated_at) "
                           "VALUES (?,?,?,?,?)", (study_key, JobState.RECEIVED, now, now, now))
            else:
                # Late instance: a finished exam is analyzed again; one in flight is redone after it.
                reopen = row[0] in (JobState.DONE, JobState.FAILED, JobState.ASSEMBLED)
                db.execute("UPDATE exams SET last_received_at=?, generation=generation+1, updated_at=?, "
                           "state=CASE WHEN ? THEN ? ELSE state END, "
                           "attempts=CASE WHEN ? THEN 0 ELSE attempts END WHERE study_key=?",
                           (now, now, reopen, JobState.RECEIVED, row[0] != JobState.ANALYZING, study_key))
            return True

    def known_paths(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT path FROM instances")}

    def record_event(self, kind: str, reason: str, now: float | None = None, *, count: int = 1) -> None:
        """Count ``count`` rejections or errors of one reason in one row (reasons are fixed short strings)."""
        with self._tx() as db:
            db.execute("INSERT INTO events(at, kind, reason, count) VALUES (?,?,?,?)",
                       (time.time() if now is None else now, kind, reason, count))

    # -- assembly -------------------------------------------------------------------------------
    def assemble(self, *, settle_s: float, now: float | None = None) -> list[str]:
        """Move received exams that are complete, or settled, to ``assembled``; return their keys."""
        now = time.time() if now is None else now
        ready: list[str] = []
        with self._tx() as db:
            rows = db.execute("SELECT study_key, last_received_at FROM exams WHERE state=?",
                              (JobState.RECEIVED,)).fetchall()
            for key, last in rows:
                views = {r[0] for r in db.execute("SELECT view_name FROM instances WHERE study_key=?", (key,))}
                missing = [v for v in SCREENING_VIEW_NAMES if v not in views]
                if missing and not stereo_pair_alone(views) and now - last < settle_s:
                    continue
                db.execute("UPDATE exams SET state=?, missing_views=?, updated_at=? WHERE study_key=?",
                           (JobState.ASSEMBLED, json.dumps(missing), now, key))
                ready.append(key)
        return ready

    def next_settle_at(self, settle_s: float) -> float | None:
        """When the earliest waiting partial exam settles (epoch seconds), or None."""
        with self._lock:
            row = self._db.execute("SELECT MIN(last_received_at) FROM exams WHERE state=?",
                                   (JobState.RECEIVED,)).fetchone()
        return None if row[0] is None else row[0] + settle_s

    # -- views, as they arrive -----------------------------------------------------------------
    def claim_view(self) -> tuple[str, Path] | None:
        """The oldest spooled instance not yet analyzed on its own whose exam is not being analyzed, or None."""
        with self._tx() as db:
            row = db.execute(
                "SELECT i.instance_key, i.path FROM instances i JOIN exams e ON e.study_key = i.study_key "
                "WHERE i.view_state=? AND e.state IN (?,?) ORDER BY i.received_at LIMIT 1",
                (ViewState.PENDING, JobState.RECEIVED, JobState.ASSEMBLED)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE instances SET view_state=? WHERE instance_key=?", (ViewState.CLAIMED, row[0]))
        return row[0], Path(row[1])

    def finish_view(self, instance_key: str, state: ViewState) -> None:
        with self._tx() as db:
            db.execute("UPDATE instances SET view_state=? WHERE instance_key=?", (state, instance_key))

    # -- analysis -------------------------------------------------------------------------------
    def claim(self, now: float | None = None, *, max_interruptions: int | None = None) -> Job | None:
        """Take the next assembled exam for analysis (fewest interruptions, then oldest), or None.

        An exam the service died analyzing ``max_interruptions`` times comes back ``given_up``: the
        worker writes its "not analyzed" result and fails it, so a poison exam cannot stop the service.
        """
        now = time.time() if now is None else now
        with self._tx() as db:
            row = db.execute("SELECT study_key, missing_views, attempts, generation, interruptions FROM exams "
                             "WHERE state=? ORDER BY interruptions, first_received_at LIMIT 1",
                             (JobState.ASSEMBLED,)).fetchone()
            if row is None:
                return None
            key, _, attempts, generation, interruptions = row
            rows = db.execute("SELECT path, view_name FROM instances WHERE study_key=? ORDER BY view_name, received_at",
                              (key,)).fetchall()
            # the views missing now: an instance may have come since the exam was assembled (then interrupted)
            missing = [v for v in SCREENING_VIEW_NAMES if v not in {view for _, view in rows}]
            db.execute("UPDATE exams SET state=?, attempts=attempts+1, missing_views=?, updated_at=? WHERE study_key=?",
                       (JobState.ANALYZING, json.dumps(missing), now, key))
            paths = tuple(Path(path) for path, _ in rows)
        return Job(study_key=key, instances=paths, missing_views=tuple(missing),
                   attempt=attempts + 1, generation=generation, interruptions=interruptions,
                   given_up=max_interruptions is not None and interruptions >= max_interruptions)

    def finish(self, job: Job, result_path: Path, now: float | None = None) -> JobState:
        """Mark the job done after its result is durably written (or reopen it if instances came meanwhile)."""
        now = time.time() if now is None else now
        with self._tx() as db:
            (generation,) = db.execute("SELECT generation FROM exams WHERE study_key=?", (job.study_key,)).fetchone()
            state = JobState.DONE if generation == job.generation else JobState.RECEIVED
            db.execute("UPDATE exams SET state=?, result_path=?, error=NULL, updated_at=?, finished_at=? "
                       "WHERE study_key=?", (state, str(result_path), now, now, job.study_key))
        return state

    def fail(self, job: Job, reason: str, *, max_attempts: int, final: bool = False,
             result_path: Path | None = None, now: float | None = None) -> JobState:
        """Record a failed attempt: retry later, or ``failed`` when ``final`` or after ``max_attempts``
        (``result_path``: its "not analyzed" result)."""
        now = time.time() if now is None else now
        state = JobState.FAILED if final or job.attempt >= max_attempts else JobState.ASSEMBLED
        with self._tx() as db:
            db.execute("UPDATE exams SET state=?, error=?, updated_at=?, finished_at=?, "
                       "result_path=COALESCE(?, result_path) WHERE study_key=?",
                       (state, reason, now, now if state == JobState.FAILED else None,
                        None if result_path is None else str(result_path), job.study_key))
            db.execute("INSERT INTO events(at, kind, reason) VALUES (?,?,?)", (now, "analysis", reason))
        return state

    def requeue_interrupted(self) -> int:
        """At start-up: exams left ``analyzing`` by a crash go back to ``assembled``; the interruption is
        counted apart from the attempts."""
        with self._tx() as db:
            db.execute("UPDATE instances SET view_state=? WHERE view_state=?", (ViewState.PENDING, ViewState.CLAIMED))
            return db.execute("UPDATE exams SET state=?, interruptions=interruptions+1, "
                              "attempts=MAX(attempts-1, 0) WHERE state=?",
                              (JobState.ASSEMBLED, JobState.ANALYZING)).rowcount

    def requeue(self, job: Job) -> None:
        """Give back a claimed job without counting the attempt (graceful shutdown)."""
        with self._tx() as db:
            db.execute("UPDATE exams SET state=?, attempts=MAX(attempts-1, 0) WHERE study_key=? AND state=?",
                       (JobState.ASSEMBLED, job.study_key, JobState.ANALYZING))

    # -- retention and status -------------------------------------------------------------------
    def finished_before(self, cutoff: float) -> list[tuple[str, str | None]]:
        """(study key, result path) of done/failed exams finished before ``cutoff``, oldest first."""
        with self._lock:
            return self._db.execute(
                "SELECT study_key, result_path FROM exams WHERE state IN (?,?) AND finished_at < ? "
                "ORDER BY finished_at", (JobState.DONE, JobState.FAILED, cutoff)).fetchall()

    def forget_events_before(self, cutoff: float) -> int:
        """Drop counted rejections/errors older than ``cutoff``."""
        with self._tx() as db:
            return db.execute("DELETE FROM events WHERE at < ?", (cutoff,)).rowcount

    def finished_between(self, start: float, end: float) -> list[tuple[str, str, str | None, float]]:
        """(study key, state, result path, finished_at) of exams done/failed in ``(start, end]``, oldest first."""
        with self._lock:
            return self._db.execute(
                "SELECT study_key, state, result_path, finished_at FROM exams WHERE state IN (?,?) "
                "AND finished_at > ? AND finished_at <= ? ORDER BY finished_at",
                (JobState.DONE, JobState.FAILED, start, end)).fetchall()

    def events_after(self, row_id: int | None) -> tuple[int, dict[str, int]]:
        """Rejections/errors recorded after event row ``row_id``: (last row id, "kind:reason" -> count).

        ``None`` only returns the last row id (a starting point). Row ids, not times, so a row
        committed late by another process is still counted, once.
        """
        with self._lock:
            (last,) = self._db.execute("SELECT COALESCE(MAX(rowid), 0) FROM events").fetchone()
            if row_id is None:
                return last, {}
            counts = dict(self._db.execute(f"SELECT kind || ':' || reason, {self._count} FROM events "
                                           "WHERE rowid > ? AND rowid <= ? GROUP BY kind, reason",
                                           (row_id, last)).fetchall())
        return last, counts

    def instance_paths(self, study_key: str) -> list[Path]:
        with self._lock:
            return [Path(r[0]) for r in self._db.execute("SELECT path FROM instances WHERE study_key=?",
                                                         (study_key,))]

    def forget_exam(self, study_key: str) -> None:
        """Drop a pruned exam's rows (its files are already removed)."""
        with self._tx() as db:
            db.execute("DELETE FROM instances WHERE study_key=?", (study_key,))
            db.execute("DELETE FROM exams WHERE study_key=?", (study_key,))

    def exam(self, study_key: str) -> dict | None:
        with self._lock:
            cur = self._db.execute("SELECT * FROM exams WHERE study_key=?", (study_key,))
            row = cur.fetchone()
            return None if row is None else dict(zip([c[0] for c in cur.description], row))

    def stats(self, now: float | None = None) -> QueueStats:
        now = time.time() if now is None else now
        with self._lock:
            by_state = dict(self._db.execute("SELECT state, COUNT(*) FROM exams GROUP BY state").fetchall())
            (instances,) = self._db.execute("SELECT COUNT(*) FROM instances").fetchone()
            marks = ",".join("?" * len(WAITING_STATES))
            depth, oldest = self._db.execute(
                f"SELECT COUNT(*), MIN(first_received_at) FROM exams WHERE state IN ({marks})",
                WAITING_STATES).fetchone()
            (last,) = self._db.execute("SELECT MAX(finished_at) FROM exams WHERE state=?",
                                       (JobState.DONE,)).fetchone()
            errors = dict(self._db.execute(f"SELECT kind || ':' || reason, {self._count} FROM events "
                                           "GROUP BY kind, reason").fetchall())
        return QueueStats(exams_by_state=by_state, instances=instances, queue_depth=depth,
                          oldest_waiting_s=None if oldest is None else max(0.0, now - oldest),
                          last_exam_at=last, errors_by_reason=errors)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the queue's lock; rollback on error."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db, self._lock = db, lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            self._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self._lock.release()
