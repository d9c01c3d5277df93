"""Durable file writes: temporary file, fsync, atomic rename, directory fsync.

A reader never sees a half-written file: it sees the old name absent or the
whole file present, also after a power cut or kill -9.
"""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path

from ..errors import StateError

#: errno values that mean the disk (or quota) is full.
FULL_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
TMP_PREFIX = ".tmp-"


class DiskFullError(StateError, OSError):
    """Writing failed because the file system is full."""


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (creations, renames) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path) -> None:
    """Create ``path`` and its parents durably."""
    if path.is_dir():
        return
    ensure_dir(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        return
    fsync_dir(path.parent)


def write_durable(path: Path, data: bytes | Path) -> None:
    """Write ``data`` (bytes, or a file's content copied in the kernel) to ``path`` atomically and durably;
    raise DiskFullError when the disk is full."""
    ensure_dir(path.parent)
    tmp = path.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            if isinstance(data, Path):
                _copy_into(fd, data)
            else:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if exc.errno in FULL_DISK_ERRNOS:
            raise DiskFullError(exc.errno, f"file system of {path.parent} is full") from None
        raise


def _copy_into(fd: int, source: Path) -> None:
    """The whole of ``source`` into ``fd`` with ``sendfile`` (no copy through this process's memory)."""
    with open(source, "rb") as src:
        size, offset = os.fstat(src.fileno()).st_size, 0
        while offset < size:
            sent = os.sendfile(fd, src.fileno(), offset, size - offset)
            if sent == 0:
                raise OSError(errno.EIO, f"{source.name} shrank while it was copied")
            offset += sent


def remove_stale_tmp(directory: Path) -> int:
    """Delete temporary files left by an interrupted write (run at start-up); return how many."""
    removed = 0
    if not directory.is_dir():
        return 0
    for tmp in directory.rglob(f"{TMP_PREFIX}*"):
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            pass
    return removed
