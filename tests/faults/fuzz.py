"""The reader's fuzz harness: random mutations of small mgfactory mammograms with planted identifiers.

Every mutated file goes through ``read_mammogram`` (header checks and pixel decoding) and through
``Intake.accept`` (parse, check, spool or quarantine with a JSON note). Counted:

* untyped exceptions: from ``read_mammogram`` anything that is not an ``InputError``; from
  ``Intake.accept`` any exception at all;
* files over the time limit: 1 s of CPU time (the process's, decoder threads included) for read + intake;
  the wall-clock maximum is reported beside it (on a shared 2-core machine it counts other processes' turns);
* planted identifiers (patient name, patient ID, accession number, birth date, and the study, series
  and instance UIDs, or any 10-character piece of one) in any error message, log record (every logger,
  DEBUG and up), Python warning, or quarantine note.

Mutations, each file one or more: random bytes overwritten; an element's length field set to a random
value (so its value swallows the next elements); a planted identifier copied into a checked attribute
(ImageLaterality, ViewPosition, Modality, SOP Class UID, PhotometricInterpretation, Rows as text);
the file cut short. ``python tests/faults/fuzz.py N [SEED]`` prints the figures as JSON.
"""

from __future__ import annotations

import io
import json
import logging
import struct
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mgfactory import VENDORS, Convention, make_dataset

from mammoedge.runtime.config import ReaderConfig
from mammoedge.runtime.dicom import read_mammogram
from mammoedge.runtime.errors import InputError
from mammoedge.runtime.intake.store import Intake
from mammoedge.runtime.jobs import JobQueue

PLANTED = {
    "PatientName": "PLANTNAME^Quixote",
    "PatientID": "PH-1-00000",
    "AccessionNumber": "ACC7731945",
    "PatientBirthDate": "19450308",
    "StudyInstanceUID": "2.25.318207440184216339018462911739",
    "SeriesInstanceUID": "2.25.907716253340091827364501928374",
    "SOPInstanceUID": "2.25.554433221100998877665544332211",
}
#: Attributes the reader checks against a known set (a copied identifier must not be quoted back).
CHECKED = ("ImageLaterality", "ViewPosition", "Modality", "SOPClassUID", "PhotometricInterpretation")
TIME_LIMIT_S = 1.0
WINDOW = 10


def _windows() -> set[str]:
    """Every planted identifier and each of its 10-character pieces (upper-cased)."""
    pieces: set[str] = set()
    for value in PLANTED.values():
        for part in [value, *value.split("^")]:
            part = part.upper()
            if len(part) < WINDOW:
                pieces.add(part)
            pieces.update(part[i:i + WINDOW] for i in range(len(part) - WINDOW + 1))
    return pieces


PIECES = _windows()


def leaks(text: str) -> list[str]:
    """The planted pieces found in ``text``."""
    upper = text.upper()
    return sorted(p for p in PIECES if p in upper)


def base_files() -> list[bytes]:
    """One small file per vendor convention and view, with the identifiers planted."""
    out = []
    conventions = [("plain", Convention()), *VENDORS.items()]
    for i, (_, convention) in enumerate(conventions):
        for view, laterality in (("CC", "R"), ("MLO", "L")):
            ds, _ = make_dataset(laterality=laterality, view=view, convention=convention, seed=i,
                                 study_uid=PLANTED["StudyInstanceUID"])
            _plant(ds)
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            out.append(buffer.getvalue())
    return out


def _plant(ds: Dataset) -> None:
    for keyword, value in PLANTED.items():
        setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPInstanceUID = PLANTED["SOPInstanceUID"]
    ds.StudyID = "PLANTSTUDY1"
    ds.ReferringPhysicianName = "PLANTNAME^Quixote"


def _element_headers(data: bytes) -> list[int]:
    """Offsets of explicit-VR short-form element length fields (2 bytes after tag+VR) in the data set."""
    offsets = []
    vrs = {b"AE", b"AS", b"CS", b"DA", b"DS", b"IS", b"LO", b"PN", b"SH", b"TM", b"UI", b"US", b"DT", b"LT", b"ST"}
    for pos in range(132, min(len(data), 4096) - 8):
        if data[pos + 4:pos + 6] in vrs and data[pos + 1] in (0x00, 0x10, 0x20, 0x28) and data[pos] % 2 == 0:
            offsets.append(pos + 6)
    return offsets


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One random mutation mix (see the module docstring)."""
    kind = int(rng.integers(0, 4))
    if kind == 2:  # copy an identifier into a checked attribute, then maybe bytes too
        ds = pydicom.dcmread(io.BytesIO(data))
        keyword = CHECKED[int(rng.integers(0, len(CHECKED)))]
        value = list(PLANTED.values())[int(rng.integers(0, len(PLANTED)))]
        setattr(ds, keyword, value)
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=False)
        data = buffer.getvalue()
    out = bytearray(data)
    if kind == 1 or kind == 2 and rng.random() < 0.5:  # a corrupted length field
        heads = _element_headers(data)
        if heads:
            pos = heads[int(rng.integers(0, len(heads)))]
            length = int(rng.choice([rng.integers(0, 4096), 1024, 0xFFFF, rng.integers(0, 64)]))
            out[pos:pos + 2] = struct.pack("<H", length)
    if kind == 0 or rng.random() < 0.3:  # random bytes in the header region
        for pos in rng.integers(132, min(len(out), 2000), size=int(rng.integers(1, 8))):
            out[int(pos)] = int(rng.integers(0, 256))
    if kind == 3:  # cut short
        out = out[:int(rng.integers(132, len(out)))]
    return bytes(out)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
        except Exception:
            self.lines.append(str(record.msg))


@dataclass
class Figures:
    files: int = 0
    accepted: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    untyped: list[str] = field(default_factory=list)
    over_limit: int = 0
    slow: list[str] = field(default_factory=list)
    max_s: float = 0.0  #: wall clock, read_mammogram + Intake.accept of one file
    max_read_s: float = 0.0  #: wall clock, read_mammogram alone
    max_cpu_s: float = 0.0  #: CPU time of the process, read_mammogram + Intake.accept (the limit's measure)
    mean_s: float = 0.0
    leaks: list[str] = field(default_factory=list)


#: The harness's files live on a RAM file system when there is one: the figures are the reader's time, not the
#: shared disk's fsync latency (the intake's durable writes fsync; on this machine's busy disk one took > 1 s).
RAM_DIR = Path("/dev/shm")


def run(count: int, seed: int = 0, work: Path | None = None) -> Figures:
    """Fuzz ``count`` files; return the figures (see the module docstring)."""
    if work is None and RAM_DIR.is_dir():
        work = RAM_DIR
    rng = np.random.default_rng(seed)
    bases = base_files()
    figures = Figures()
    handler = _Records()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    total = 0.0
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        tmpdir = Path(tmp)
        queue = JobQueue(tmpdir / "q.sqlite")
        intake = Intake(spool_dir=tmpdir / "spool", quarantine_dir=tmpdir / "quarantine", queue=queue,
                        secret=b"f" * 32, reader=ReaderConfig())
        path = tmpdir / "m.dcm"
        try:
            for i in range(count):
                data = mutate(bases[int(rng.integers(0, len(bases)))], rng)
                path.write_bytes(data)
                texts: list[str] = []
                start = time.perf_counter()
                cpu_start = time.process_time()
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        read_mammogram(path, ReaderConfig())
                        figures.accepted += 1
                    except InputError as exc:
                        figures.rejected_by_reason[exc.reason] = figures.rejected_by_reason.get(exc.reason, 0) + 1
                        texts.append(str(exc))
                    except Exception as exc:
                        figures.untyped.append(f"read #{i}: {type(exc).__name__}")
                    read_s = time.perf_counter() - start
                    try:
                        result = intake.accept(data, intake="fuzz")
                        texts.append(result.reason)
                    except Exception as exc:
                        figures.untyped.append(f"intake #{i}: {type(exc).__name__}")
                elapsed = time.perf_counter() - start
                cpu = time.process_time() - cpu_start
                figures.max_cpu_s = max(figures.max_cpu_s, cpu)
                total += elapsed
                figures.max_s = max(figures.max_s, elapsed)
                figures.max_read_s = max(figures.max_read_s, read_s)
                if cpu > TIME_LIMIT_S:
                    figures.over_limit += 1
                if elapsed > TIME_LIMIT_S:
                    figures.slow.append(f"#{i}: {elapsed:.1f} s wall, {cpu:.2f} s CPU ({texts[0][:80] or 'accepted'})")
                texts += [str(w.message) for w in caught]
                texts += handler.lines
                handler.lines = []
                for note in (tmpdir / "quarantine").glob("*.json"):
                    texts.append(note.read_text())
                    note.unlink()
                    note.with_suffix(".dcm").unlink(missing_ok=True)
                for text in texts:
                    found = leaks(text)
                    if found:
                        figures.leaks.append(f"#{i}: {found[0]!r} in {text[:200]!r}")
                figures.files += 1
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)
            queue.close()
    figures.mean_s = total / max(1, figures.files)
    return figures


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    s = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    t0 = time.perf_counter()
    result = run(n, s)
    out = result.__dict__ | {"wall_s": round(time.perf_counter() - t0, 1), "seed": s,
                             "untyped": result.untyped[:20], "leaks": result.leaks[:20],
                             "untyped_count": len(result.untyped), "leak_count": len(result.leaks)}
    print(json.dumps(out, indent=1, default=str))
