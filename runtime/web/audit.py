"""The audit log: one JSON line per access (account, action, study key, time); never patient data."""

from __future__ import annotations

import enum
import json
import os
import threading
import time
from pathlib import Path


class AuditAction(enum.StrEnum):
    LOGIN = "login"
    LOGIN_FAILED = "login-failed"
    LOCKED = "locked"
    LOGOUT = "logout"
    OPEN_EXAM = "open-exam"
    OPEN_BIOPSY = "open-biopsy"
    RETARGET_BIOPSY = "retarget-biopsy"
    UNLOCK = "unlock"


class AuditLog:
    """Appends to ``path`` (0600), flushed and fsynced per line: who opened which study key, when."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self._lock = threading.Lock()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._fh = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, account: str, action: AuditAction, study_key: str | None = None, **extra: str | int) -> None:
        record = {"time": round(time.time(), 3), "account": account, "action": action.value, "study_key": study_key,
                  **extra}
        with self._lock:
            self._fh.write(json.dumps(record, sort_keys=True) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        with self._lock:
            self._fh.close()
