"""The durable send queue: one SQLite database in WAL mode, one row per (destination, object).

Delivery states: pending -> sending -> delivered | refused; a failed attempt goes back to pending with a
later ``next_at`` (backoff). After a crash :meth:`SendQueue.requeue_interrupted` puts ``sending`` rows back
to pending, so an object whose transfer was cut is sent again; a row is ``delivered`` only after the
destination's success status, and never sent again. No UID or patient data is stored: objects are named
by their file (study key, instance number, kind).
"""

from __future__ import annotations

import enum
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    destination TEXT NOT NULL,
    object TEXT NOT NULL,
    path TEXT NOT NULL,
    study_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    reason TEXT,
    created_at REAL NOT NULL,
    delivered_at REAL,
    UNIQUE (destination, object)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(destination, state, next_at);
CREATE INDEX IF NOT EXISTS deliveries_study ON deliveries(study_key);
"""


#: Set whenever an object is queued in this process: an in-process sender wakes at once instead of polling.
DUE = threading.Event()


class DeliveryState(enum.StrEnum):
    """Where one object stands toward one destination."""

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    REFUSED = "refused"


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One object to send to one destination."""

    id: int
    destination: str
    object: str
    path: Path
    study_key: str
    kind: str
    attempts: int


@dataclass(frozen=True, kw_only=True)
class DeliveryStatus:
    """What the exam result and status show about one delivery (no patient data)."""

    destination: str
    object: str
    kind: str
    state: DeliveryState
    attempts: int
    reason: str | None


class SendQueue:
    """Thread-safe; each state change is one committed transaction (synchronous=FULL)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self._lock = threading.Lock()
        if readonly:
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def enqueue(self, destination: str, path: Path, *, study_key: str, kind: str, now: float | None = None) -> bool:
        """Queue ``path`` for ``destination``; False if that object is already queued there (idempotent)."""
        now = time.time() if now is None else now
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO deliveries (destination, object, path, study_key, kind, state, next_at, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (destination, path.name, str(path), study_key, kind, DeliveryState.PENDING.value, now, now))
            added = cursor.rowcount == 1
        if added:
            DUE.set()
        return added

    def claim(self, destination: str, now: float | None = None, limit: int = 64) -> list[Delivery]:
        """Due pending objects of ``destination``, marked sending (one association sends them together)."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            rows = self._db.execute(
                "SELECT id, destination, object, path, study_key, kind, attempts FROM deliveries WHERE destination = ? "
                "AND state = ? AND next_at <= ? ORDER BY id LIMIT ?",
                (destination, DeliveryState.PENDING.value, now, limit)).fetchall()
            self._db.executemany("UPDATE deliveries SET state = ?, attempts = attempts + 1 WHERE id = ?",
                                 [(DeliveryState.SENDING.value, r[0]) for r in rows])
            self._db.execute("COMMIT")
        return [Delivery(id=r[0], destination=r[1], object=r[2], path=Path(r[3]), study_key=r[4], kind=r[5],
                         attempts=r[6] + 1) for r in rows]

    def delivered(self, delivery: Delivery, now: float | None = None) -> None:
        with self._lock:
            self._db.execute("UPDATE deliveries SET state = ?, delivered_at = ?, reason = NULL WHERE id = ?",
                             (DeliveryState.DELIVERED.value, time.time() if now is None else now, delivery.id))

    def retry(self, delivery: Delivery, reason: str, delay_s: float, now: float | None = None) -> None:
        """Back to pending, due after ``delay_s``; ``reason`` is shown until it succeeds."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute("UPDATE deliveries SET state = ?, next_at = ?, reason = ? WHERE id = ?",
                             (DeliveryState.PENDING.value, now + delay_s, reason, delivery.id))

    def refuse(self, delivery: Delivery, reason: str) -> None:
        """Not retried any more (the file is kept); :meth:`resend` queues it again."""
        with self._lock:
            self._db.execute("UPDATE deliveries SET state = ?, reason = ? WHERE id = ?",
                             (DeliveryState.REFUSED.value, reason, delivery.id))

    def resend(self, destination: str, now: float | None = None) -> int:
        """Put a destination's refused objects back to pending (after its configuration was fixed)."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE deliveries SET state = ?, attempts = 0, next_at = ? WHERE destination = ? AND state = ?",
                (DeliveryState.PENDING.value, time.time() if now is None else now, destination,
                 DeliveryState.REFUSED.value))
            return cursor.rowcount

    def requeue_interrupted(self) -> int:
        """After a crash: objects left ``sending`` go back to pending (sent again)."""
        with self._lock:
            cursor = self._db.execute("UPDATE deliveries SET state = ? WHERE state = ?",
                                      (DeliveryState.PENDING.value, DeliveryState.SENDING.value))
            return cursor.rowcount

    def counts(self) -> dict[str, dict[str, int]]:
        """destination -> state -> count, for status and health (counts only)."""
        with self._lock:
            rows = self._db.execute("SELECT destination, state, COUNT(*) FROM deliveries GROUP BY destination, state"
                                    ).fetchall()
        out: dict[str, dict[str, int]] = {}
        for destination, state, n in rows:
            out.setdefault(destination, {})[state] = int(n)
        return out

    def reasons(self) -> dict[str, str]:
        """destination -> the latest reason an object was refused or retried (shown by status)."""
        with self._lock:
            rows = self._db.execute("SELECT destination, reason FROM deliveries WHERE reason IS NOT NULL AND state IN "
                                    "(?, ?) ORDER BY id", (DeliveryState.PENDING.value, DeliveryState.REFUSED.value)
                                    ).fetchall()
        return {d: r for d, r in rows}

    def of_study(self, study_key: str) -> list[DeliveryStatus]:
        """Every delivery of one exam's objects (for its result)."""
        with self._lock:
            rows = self._db.execute("SELECT destination, object, kind, state, attempts, reason FROM deliveries WHERE "
                                    "study_key = ? ORDER BY id", (study_key,)).fetchall()
        return [DeliveryStatus(destination=r[0], object=r[1], kind=r[2], state=DeliveryState(r[3]), attempts=r[4],
                               reason=r[5]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
