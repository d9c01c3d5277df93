"""Free space for the queue and the results, whatever else fills the disk.

Two defences (issue 16: on a full state file system the service could not start, since SQLite in WAL
mode cannot even open its database without room for its shared-memory file):

* the intake refuses instances (0xA700) while the free space of the spool's or the state directory's
  file system is below ``service.min_free_mb``, so what is left stays for the queue and the results;
* a ballast file ``<state_dir>/space-reserve`` of ``service.reserve_mb`` is kept while there is room; when
  the file system is nearly full anyway (another writer, or a full disk at start) it is deleted, which
  gives the queue, the results and the outbox that much room at once, and it is made again once the
  space has come back.
"""

from __future__ import annotations

import enum
import errno
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

BALLAST_NAME = "space-reserve"
MB = 1024 * 1024


class SpaceState(enum.StrEnum):
    """The intake's view of the free space."""

    OK = "ok"
    LOW = "low"  #: below min_free_mb: instances are refused (0xA700)


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on ``path``'s file system."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class SpaceGuard:
    """The free-space rule of the intake and the ballast file (see the module docstring)."""

    def __init__(self, *, state_dir: Path, paths: tuple[Path, ...], min_free_mb: float, reserve_mb: float) -> None:
        self.ballast = state_dir / BALLAST_NAME
        self.paths = tuple(dict.fromkeys((state_dir, *paths)))
        self.min_free = int(min_free_mb * MB)
        self.reserve = int(reserve_mb * MB)
        self.state = SpaceState.OK

    def free(self) -> int:
        """The smallest free space over the watched file systems (bytes); a path that is gone counts 0."""
        values = []
        for path in self.paths:
            try:
                values.append(free_bytes(path))
            except OSError:
                values.append(0)
        return min(values)

    def allows(self, size: int) -> bool:
        """Whether an instance of ``size`` bytes may be written now (tracks LOW/OK and logs the changes)."""
        if self.min_free <= 0:
            return True
        ok = self.free() - size >= self.min_free
        new = SpaceState.OK if ok else SpaceState.LOW
        if new != self.state:
            if new is SpaceState.LOW:
                log.error("free space below service.min_free_mb (%.0f MB): instances are refused (0xA700)",
                          self.min_free / MB)
            else:
                log.warning("free space is back above service.min_free_mb: instances are accepted again")
            self.state = new
        return ok

    def release(self) -> bool:
        """Delete the ballast (the file system is full): True if that freed space."""
        try:
            size = self.ballast.stat().st_size
            self.ballast.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.error("space reserve %s cannot be released: %s", self.ballast.name, exc.strerror)
            return False
        log.error("file system nearly full: space reserve released (%.1f MB) for the queue and results",
                  size / MB)
        return size > 0

    def maintain(self) -> None:
        """Release the ballast when nearly full; make it again once there is room for it and the minimum."""
        if self.reserve <= 0:
            return
        free = self.free()
        exists = self.ballast.exists()
        if exists and free < self.reserve // 2:
            self.release()
        elif not exists and free >= self.min_free + 2 * self.reserve:
            self._make()

    def _make(self) -> None:
        fd = -1
        try:
            fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.reserve)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                os.ftruncate(fd, 0)  # no fallocate: write it out
                block = bytes(MB)
                for _ in range(max(1, self.reserve // MB)):
                    os.write(fd, block)
            os.fsync(fd)
            log.info("space reserve of %.1f MB kept in %s", self.reserve / MB, self.ballast.name)
        except FileExistsError:
            pass
        except OSError as exc:
            log.warning("space reserve cannot be made: %s", exc.strerror)
            if fd >= 0:
                os.close(fd)
                fd = -1
            self.ballast.unlink(missing_ok=True)
        finally:
            if fd >= 0:
                os.close(fd)
