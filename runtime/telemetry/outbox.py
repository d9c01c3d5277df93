"""A durable outbox (SQLite, WAL, synchronous writes): a message leaves it only when the broker acks it.

The same database keeps the telemetry state that must survive a kill: the
metrics collector's watermark and totals, the restart counters, and which exam
results already have their event (so an event is queued once per result, by
whichever process gets there first). Each of those is written in the same
transaction as the message it belongs to.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class Outbox:
    """FIFO of (topic, payload, qos, retain); ``cap`` rows at most, the oldest dropped and counted."""

    def __init__(self, path: Path, cap: int = 10_000) -> None:
        self.path, self.cap = path, cap
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            self._open()
        except sqlite3.Error as exc:  # e.g. a full disk: opened by the first use that can
            log.error("outbox %s not opened yet (%s)", path.name, type(exc).__name__)

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30.0)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.execute("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT, "
                           "payload BLOB, qos INTEGER, retain INTEGER)")
                db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER)")
                db.execute("CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT)")
                db.execute("CREATE TABLE IF NOT EXISTS emitted (study_key TEXT, started_at REAL, queued_at REAL, "
                           "PRIMARY KEY (study_key, started_at))")
            except BaseException:
                db.close()
                raise
            self._conn = db
        return self._conn

    @property
    def _db(self) -> sqlite3.Connection:
        """The connection, opened on first use (raises ``sqlite3.Error`` while it cannot be)."""
        return self._open()

    def put(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False, *,
            state: dict[str, str] | None = None, emitted: tuple[str, float, float] | None = None,
            unless_state: tuple[str, str] | None = None) -> int | None:
        """Queue a message; with it, in one transaction, ``state`` values and the ``emitted`` mark.

        ``emitted`` is (study key, the analysis run's started_at, now): when that result already has its
        event, nothing is written and None is returned. ``unless_state`` is (name, value): when that state
        value is already stored, nothing is written and None is returned (a once-only mark kept in ``state``).
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if unless_state is not None:
                    row = self._db.execute("SELECT value FROM state WHERE name = ?", unless_state[:1]).fetchone()
                    if row is not None and row[0] == unless_state[1]:
                        self._db.execute("COMMIT")
                        return None
                if emitted is not None:
                    if self._db.execute("SELECT 1 FROM emitted WHERE study_key=? AND started_at=?",
                                        emitted[:2]).fetchone():
                        self._db.execute("COMMIT")
                        return None
                    self._db.execute("INSERT INTO emitted VALUES (?, ?, ?)", emitted)
                cursor = self._db.execute("INSERT INTO outbox (topic, payload, qos, retain) VALUES (?, ?, ?, ?)",
                                          (topic, payload, qos, int(retain)))
                over = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] - self.cap
                if over > 0:
                    self._db.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)",
                                     (over,))
                    self._bump("dropped", over)
                for name, value in (state or {}).items():
                    self._db.execute("INSERT INTO state VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
                                     "SET value = excluded.value", (name, value))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return int(cursor.lastrowid or 0)

    def _bump(self, name: str, by: int) -> None:
        self._db.execute("INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
                         "SET value = value + excluded.value", (name, by))

    def pending(self, after: int = 0, limit: int = 100) -> list[tuple[int, str, bytes, int, bool]]:
        with self._lock:
            rows = self._db.execute("SELECT id, topic, payload, qos, retain FROM outbox WHERE id > ? ORDER BY id "
                                    "LIMIT ?", (after, limit)).fetchall()
        return [(r[0], r[1], bytes(r[2]), r[3], bool(r[4])) for r in rows]

    def ack(self, row_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def counter(self, name: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def bump(self, name: str, by: int = 1) -> int:
        """Add ``by`` to a durable counter; its new value."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._bump(name, by)
            (value,) = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
            self._db.execute("COMMIT")
        return int(value)

    def dropped(self) -> int:
        return self.counter("dropped")

    def get_state(self, name: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_state(self, name: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO state VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                             (name, value))

    def has_event(self, study_key: str, started_at: float) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM emitted WHERE study_key=? AND started_at=?",
                                    (study_key, started_at)).fetchone() is not None

    def forget_events_before(self, cutoff: float) -> int:
        """Drop the marks of events queued before ``cutoff`` (epoch s)."""
        with self._lock:
            return int(self._db.execute("DELETE FROM emitted WHERE queued_at < ?", (cutoff,)).rowcount)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
