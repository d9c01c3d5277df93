"""A deflate bomb (Deflated Explicit VR Little Endian inflating to 200 MiB of zeros) is refused within a second."""

from __future__ import annotations

import io
import socket
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from mgfactory import make_dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian

from mammoedge.runtime.config import ReaderConfig, ServiceConfig
from mammoedge.runtime.dicom import TooLargeError, read_header, read_mammogram
from mammoedge.runtime.intake.receiver import Receiver
from mammoedge.runtime.intake.store import Intake, Outcome
from mammoedge.runtime.jobs import JobQueue

BOMB_INFLATED = 200 << 20


def deflated_part10(pixel_bytes: int | None = None, *, seed: int = 0) -> bytes:
    """An MG instance with the deflated syntax; ``pixel_bytes`` of zeros as its PixelData (a bomb) if given."""
    ds, _ = make_dataset(laterality="L", view="CC", seed=seed)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    if pixel_bytes is None:
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return buffer.getvalue()
    del ds.PixelData
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [compressor.compress(body.getvalue() + b"\xe0\x7f\x10\x00OW\x00\x00" + struct.pack("<I", pixel_bytes))]
    zeros = bytes(1 << 20)
    for _ in range(pixel_bytes >> 20):
        parts.append(compressor.compress(zeros))
    parts.append(compressor.flush())
    meta = DicomBytesIO()
    meta.is_little_endian, meta.is_implicit_VR = True, False
    write_file_meta_info(meta, ds.file_meta, enforce_standard=True)
    return bytes(128) + b"DICM" + meta.getvalue() + b"".join(parts)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.dcm"
    path.write_bytes(deflated_part10(BOMB_INFLATED))
    return path


def test_bomb_file_is_small_and_really_inflates_to_200_mib(bomb):
    data = bomb.read_bytes()
    assert len(data) < 400_000
    with open(bomb, "rb") as fh:
        read_preamble(fh, False)
        _read_file_meta_info(fh)
        body = fh.read()
    assert len(zlib.decompress(body, -zlib.MAX_WBITS)) > BOMB_INFLATED


def test_reader_refuses_the_bomb_within_a_second(bomb):
    start = time.monotonic()
    with pytest.raises(TooLargeError, match="inflate") as caught:
        read_header(bomb, ReaderConfig())
    elapsed = time.monotonic() - start
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    assert "reader.max_inflate" in str(caught.value)
    with pytest.raises(TooLargeError):
        read_mammogram(bomb, ReaderConfig())


def test_size_bound_without_the_ratio(bomb):
    """With the ratio rule out of the way, the size bound alone stops it (and says which rule)."""
    with pytest.raises(TooLargeError, match="reader.max_inflated_mb"):
        read_header(bomb, ReaderConfig(max_inflate_ratio=1e9, max_inflated_mb=32))


def test_a_normal_deflated_instance_is_read(tmp_path):
    path = tmp_path / "ok.dcm"
    path.write_bytes(deflated_part10(None))
    header = read_header(path, ReaderConfig())
    assert header.transfer_syntax_uid == DeflatedExplicitVRLittleEndian
    assert read_mammogram(path, ReaderConfig()).pixels.shape == (header.rows, header.columns)


def test_intake_quarantines_the_bomb_fast(bomb, tmp_path):
    queue = JobQueue(tmp_path / "q.sqlite")
    intake = Intake(spool_dir=tmp_path / "spool", quarantine_dir=tmp_path / "quarantine", queue=queue,
                    secret=b"s" * 32, reader=ReaderConfig())
    start = time.monotonic()
    result = intake.accept(bomb.read_bytes(), intake="test")
    assert time.monotonic() - start < 1.0
    assert result.outcome == Outcome.QUARANTINED and result.reason == "too-large"
    queue.close()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = JobQueue(tmp_path / "q.sqlite")
    intake = Intake(spool_dir=tmp_path / "spool", quarantine_dir=tmp_path / "quarantine", queue=queue,
                    secret=b"s" * 32, reader=ReaderConfig())
    receiver = Receiver(ServiceConfig(state_dir=tmp_path, bind_address="127.0.0.1", port=port), intake)
    receiver.start()
    yield receiver
    receiver.stop()
    queue.close()


def test_c_store_of_the_bomb_is_answered_with_a_refusal(receiver, bomb):
    """storescu proposes the deflated syntax (-xd) and sends the bomb as it is; the answer is 0xC210."""
    start = time.monotonic()
    out = subprocess.run(["storescu", "-v", "-xd", "-to", "60", "-td", "60", "-aec", "MAMMOEDGE", "127.0.0.1",
                          str(receiver.port), str(bomb)], capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    assert "Deflated Explicit VR Little Endian" in out.stderr, out.stderr[-1500:]
    assert "Received Store Response (Error: CannotUnderstand)" in out.stderr or "0xc210" in out.stderr.lower(), \
        out.stderr[-1500:]
    assert elapsed < 10.0, f"{elapsed:.1f} s"
    (note,) = (receiver.intake.quarantine_dir).glob("*.json")
    assert '"too-large"' in note.read_text()
