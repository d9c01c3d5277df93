"""A durable outbox (SQLite, WAL, synchronous writes): a message leaves it only when the broker acks it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class Outbox:
    """FIFO of (topic, payload, qos, retain); ``cap`` rows at most, the oldest dropped and counted."""

    def __init__(self, path: Path, cap: int = 10_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.cap = cap
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT, "
                         "payload BLOB, qos INTEGER, retain INTEGER)")
        self._db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER)")

    def put(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            cursor = self._db.execute("INSERT INTO outbox (topic, payload, qos, retain) VALUES (?, ?, ?, ?)",
                                      (topic, payload, qos, int(retain)))
            over = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] - self.cap
            if over > 0:
                self._db.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (over,))
                self._db.execute("INSERT INTO counters VALUES ('dropped', ?) ON CONFLICT(name) DO UPDATE "
                                 "SET value = value + excluded.value", (over,))
            self._db.execute("COMMIT")
            return int(cursor.lastrowid)

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
            return self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def dropped(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
