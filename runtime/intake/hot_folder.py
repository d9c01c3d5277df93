"""The hot folder: DICOM files dropped in a directory are taken in like C-STOREs, then removed.

A file is taken once its size and mtime have not changed for ``stable_s``
(the copier has finished). It is removed only once stored, found a duplicate
or quarantined; on a full disk it stays and is retried.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from .store import Intake, Outcome

log = logging.getLogger(__name__)
KEEP_OUTCOMES = (Outcome.DISK_FULL, Outcome.WRITE_FAILED)


class HotFolder:
    """Call :meth:`scan` periodically."""

    def __init__(self, directory: Path, intake: Intake, *, stable_s: float) -> None:
        self.directory, self.intake, self.stable_s = directory, intake, stable_s
        self._seen: dict[Path, tuple[int, int, float]] = {}  # path -> (size, mtime_ns, first seen unchanged)

    def scan(self, now: float | None = None) -> int:
        """Take in every stable file; return how many were taken."""
        now = time.monotonic() if now is None else now
        taken = 0
        present: set[Path] = set()
        try:
            entries = list(os.scandir(self.directory))
        except OSError as exc:
            log.warning("hot folder cannot be read: %s", exc.strerror)
            return 0
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                continue
            path = Path(entry.path)
            present.add(path)
            st = entry.stat(follow_symlinks=False)
            sig = (st.st_size, st.st_mtime_ns)
            known = self._seen.get(path)
            if known is None or known[:2] != sig:
                self._seen[path] = (*sig, now)
                continue
            if now - known[2] < self.stable_s:
                continue
            if self._take(path):
                taken += 1
                present.discard(path)
                self._seen.pop(path, None)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return taken

    def _take(self, path: Path) -> bool:
        result = self.intake.accept(path, intake="hot-folder")
        if result.outcome in KEEP_OUTCOMES:
            return False
        try:
            path.unlink()
        except OSError:
            pass
        return True
