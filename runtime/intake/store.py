"""Take one DICOM instance in: check its header, spool it durably, queue it, or quarantine it.

The Storage SCP calls :meth:`Intake.accept` with the instance's Part 10 bytes,
the hot folder (and the recovery of spooled files) with the file; the answer says
what happened, and only ``STORED``/``DUPLICATE`` mean the instance is durably on disk.
"""

from __future__ import annotations

import enum
import io
import json
import logging
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import BinaryIO

import pydicom
from pydicom.dataelem import RawDataElement

from ..biopsy.route import marked_role
from ..config import ReaderConfig
from ..dicom import read_header
from ..dicom.header import check_deflate
from ..dicom.errors import NotDicomError, TruncatedError
from ..errors import InputError
from ..jobs.queue import JobQueue
from ..privacy import instance_key, study_key
from .durable import DiskFullError, write_durable
from .space import SpaceGuard

log = logging.getLogger(__name__)
#: Refusals for lack of space are counted in memory and written as one event row at most this often
#: (a row per refusal filled the last of the disk: ~4 KB each).
DISK_FULL_EVENT_EVERY_S = 60.0


class Outcome(enum.StrEnum):
    """What became of one offered instance."""

    STORED = "stored"
    DUPLICATE = "duplicate"  #: same SOPInstanceUID already spooled; the first copy is kept
    QUARANTINED = "quarantined"  #: rejected by the reader; kept in the quarantine with its reason
    DISK_FULL = "disk-full"  #: not stored: no space left
    WRITE_FAILED = "write-failed"  #: not stored: another I/O error


@dataclass(frozen=True, kw_only=True)
class IntakeResult:
    outcome: Outcome
    reason: str = ""  #: the reader's reason when quarantined, e.g. "no-laterality"
    study_key: str = ""


class Intake:
    """Durable intake into ``spool_dir`` and the queue; rejects into ``quarantine_dir``."""

    def __init__(self, *, spool_dir: Path, quarantine_dir: Path, queue: JobQueue, secret: bytes,
                 reader: ReaderConfig, on_stored: Callable[[], None] = lambda: None,
                 space: SpaceGuard | None = None) -> None:
        self.spool_dir, self.quarantine_dir = spool_dir, quarantine_dir
        self.queue, self._secret, self._reader, self._on_stored = queue, secret, reader, on_stored
        self.space = space
        self._full_lock = threading.Lock()
        self._full_unrecorded = 0
        self._full_recorded_at = 0.0

    def accept(self, data: bytes | Path, *, intake: str) -> IntakeResult:
        """Check, spool and queue one instance given as a DICOM Part 10 file or its bytes (never raises on bad
        input). A file is copied, never moved: the caller removes it."""
        try:
            size = data.stat().st_size if isinstance(data, Path) else len(data)
        except OSError as exc:
            log.error("file to take in cannot be read (%s): instance refused (intake %s)", exc.strerror, intake)
            return IntakeResult(outcome=Outcome.WRITE_FAILED)
        if self.space is not None and not self.space.allows(2 * size):  # the spool copy + its queue rows
            return self._disk_full(intake)
        self.flush_disk_full_count()
        try:
            dataset = _parse(data, self._reader)
            header = read_header(dataset, self._reader)
            stereo = marked_role(dataset)  # a stereotactic image is queued by its role (its set completes the exam)
        except InputError as exc:
            return self._quarantine(data, size, exc.reason, str(exc), intake)
        except OSError as exc:  # a file given to take in cannot be read (it is left where it is)
            log.error("file to take in cannot be read (%s): instance refused (intake %s)", exc.strerror, intake)
            return IntakeResult(outcome=Outcome.WRITE_FAILED)
        except Exception as exc:  # pydicom on a mutated element it deferred: kept, as any unreadable input
            error = NotDicomError(f"a header element cannot be read ({type(exc).__name__} in pydicom)")
            return self._quarantine(data, size, error.reason, str(error), intake)
        skey = study_key(header.study_instance_uid, self._secret)
        ikey = instance_key(header.sop_instance_uid, self._secret)
        path = self.spool_dir / skey / f"{ikey}.dcm"
        try:
            if not path.exists():
                write_durable(path, data)
            added = self.queue.add_instance(instance_key=ikey, study_key=skey, path=path,
                                            view_name=stereo.value if stereo is not None else
                                            f"{header.laterality.value}{header.view.value}", intake=intake)
        except DiskFullError:
            return self._disk_full(intake)
        except sqlite3.OperationalError as exc:  # the queue cannot be written (full, or I/O error)
            if _is_full(exc):
                return self._disk_full(intake)
            log.error("queue write failed (%s): instance refused (intake %s)", type(exc).__name__, intake)
            return IntakeResult(outcome=Outcome.WRITE_FAILED, study_key=skey)
        except OSError as exc:
            log.error("spool write failed (%s): instance refused (intake %s)", exc.strerror, intake)
            return IntakeResult(outcome=Outcome.WRITE_FAILED, study_key=skey)
        if added:
            self._on_stored()
        else:
            log.info("duplicate instance %s of exam %s ignored (intake %s)", ikey[:8], skey[:8], intake)
        return IntakeResult(outcome=Outcome.STORED if added else Outcome.DUPLICATE, study_key=skey)

    def _quarantine(self, data: bytes | Path, size: int, reason: str, detail: str, intake: str) -> IntakeResult:
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"
        note = {"reason": reason, "detail": detail, "intake": intake, "received_at": time.time(),
                "bytes": size}
        try:
            write_durable(self.quarantine_dir / f"{name}.dcm", data)
            write_durable(self.quarantine_dir / f"{name}.json", json.dumps(note, indent=1).encode())
            self.queue.record_event("quarantine", reason)
        except DiskFullError:
            return self._disk_full(intake)
        except sqlite3.OperationalError as exc:
            if _is_full(exc):
                return self._disk_full(intake)
            return IntakeResult(outcome=Outcome.WRITE_FAILED)
        except OSError:
            return IntakeResult(outcome=Outcome.WRITE_FAILED)
        log.warning("instance quarantined as %s: %s (intake %s)", name, reason, intake)
        return IntakeResult(outcome=Outcome.QUARANTINED, reason=reason)


    def _disk_full(self, intake: str) -> IntakeResult:
        """Refuse for lack of space: counted, logged and recorded at most once a minute (no row per refusal)."""
        with self._full_lock:
            self._full_unrecorded += 1
            due = time.monotonic() - self._full_recorded_at >= DISK_FULL_EVENT_EVERY_S
        if due:
            log.error("no space: instance refused with 0xA700 (intake %s); refusals are counted once a minute",
                      intake)
            self.flush_disk_full_count()
        return IntakeResult(outcome=Outcome.DISK_FULL)

    def flush_disk_full_count(self) -> None:
        """Write the refusals counted since the last row as one event row (kept in memory if it fails)."""
        with self._full_lock:
            count, self._full_unrecorded = self._full_unrecorded, 0
            if not count:
                return
            self._full_recorded_at = time.monotonic()
        try:
            self.queue.record_event("intake", "disk-full", count=count)
        except sqlite3.Error:
            with self._full_lock:
                self._full_unrecorded += count


def _is_full(exc: sqlite3.Error) -> bool:
    """SQLite's way of saying the disk is full (SQLITE_FULL, or an I/O error growing its files)."""
    text = str(exc).lower()
    return "full" in text or "disk i/o" in text


#: values longer than this are not read by the intake (its checks need the header and the pixel data's length)
DEFER_BYTES = 1 << 20
UNDEFINED_LENGTH = 0xFFFFFFFF


def _parse(data: bytes | Path, reader: ReaderConfig) -> pydicom.Dataset:
    """Parse a Part 10 file or bytes without reading the pixel data; unreadable input (or a deflate bomb) is an
    InputError, and so is pixel data that the input ends before. A deferred value read later comes from the
    file (by name) or from the bytes' buffer, which stays open for that."""
    if isinstance(data, Path):
        with open(data, "rb") as fh:
            return _read(fh, reader)
    return _read(io.BytesIO(data), reader)


def _read(source: BinaryIO, reader: ReaderConfig) -> pydicom.Dataset:
    check_deflate(source, reader, "data set")
    size = source.seek(0, io.SEEK_END)
    source.seek(0)
    try:
        ds = pydicom.dcmread(source, force=False, defer_size=DEFER_BYTES)
    except Exception as exc:  # pydicom raises many types on mutated input (FIELD-NOTES)
        raise NotDicomError(f"bytes are not a readable DICOM Part 10 file ({type(exc).__name__})") from None
    if len(ds) == 0:
        raise NotDicomError("DICOM data set is empty")
    pixels = ds.get_item("PixelData", keep_deferred=True) if "PixelData" in ds else None
    if isinstance(pixels, RawDataElement) and pixels.value is None and pixels.length != UNDEFINED_LENGTH:
        if pixels.value_tell + pixels.length > size:  # a deferred value is skipped, not read: check it is there
            raise TruncatedError(f"PixelData says {pixels.length} bytes but the data set ends "
                                 f"{pixels.value_tell + pixels.length - size} bytes before; the instance is truncated")
    return ds
