"""Intake in-process: durable spool, quarantine, duplicates, hot folder, study keys, excepthook."""

from __future__ import annotations

import json

import pytest
from mgfactory import make_dataset

from mammoedge.runtime.config import ReaderConfig
from mammoedge.runtime.intake.durable import DiskFullError, write_durable
from mammoedge.runtime.intake.hot_folder import HotFolder
from mammoedge.runtime.intake.receiver import (STATUS_CANNOT_UNDERSTAND, STATUS_DISK_FULL, STATUS_SOP_CLASS_MISMATCH,
                                               STATUS_SUCCESS, AddressAllowList, store_status)
from mammoedge.runtime.intake.store import Intake, Outcome
from mammoedge.runtime.jobs import JobQueue
from mammoedge.runtime.privacy import load_or_create_secret, study_key


def _bytes(tmp_path, **kwargs) -> bytes:
    ds, _ = make_dataset(**kwargs)
    path = tmp_path / "x.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path.read_bytes()


@pytest.fixture
def intake(tmp_path):
    queue = JobQueue(tmp_path / "q.sqlite")
    stored = []
    return Intake(spool_dir=tmp_path / "spool", quarantine_dir=tmp_path / "quarantine", queue=queue,
                  secret=b"s" * 32, reader=ReaderConfig(), on_stored=lambda: stored.append(1))


def test_study_key_is_hmac_of_the_uid():
    import hashlib
    import hmac
    uid = "1.2.826.0.1.3680043.8.498.1"
    assert study_key(uid, b"k" * 32) == hmac.new(b"k" * 32, uid.encode(), hashlib.sha256).hexdigest()[:32]
    assert study_key(uid, b"k" * 32) != study_key(uid, b"j" * 32)


def test_secret_created_once_private(tmp_path):
    secret = load_or_create_secret(tmp_path / "s" / "secret")
    assert len(secret) == 32 and load_or_create_secret(tmp_path / "s" / "secret") == secret
    assert (tmp_path / "s" / "secret").stat().st_mode & 0o077 == 0


def test_store_duplicate_and_quarantine(intake, tmp_path):
    data = _bytes(tmp_path, laterality="R", view="CC")
    first = intake.accept(data, intake="test")
    assert first.outcome == Outcome.STORED
    (spooled,) = (tmp_path / "spool").glob("*/*.dcm")
    assert spooled.read_bytes() == data and spooled.parent.name == first.study_key
    assert intake.accept(data, intake="test").outcome == Outcome.DUPLICATE
    rejected = intake.accept(b"\x00" * 200, intake="test")
    assert rejected.outcome == Outcome.QUARANTINED and rejected.reason == "not-dicom"
    (note,) = (tmp_path / "quarantine").glob("*.json")
    assert json.loads(note.read_text())["reason"] == "not-dicom"
    assert note.with_suffix(".dcm").read_bytes() == b"\x00" * 200
    assert store_status(rejected.outcome, rejected.reason) == STATUS_CANNOT_UNDERSTAND
    assert store_status(Outcome.QUARANTINED, "wrong-modality") == STATUS_SOP_CLASS_MISMATCH
    assert store_status(Outcome.DISK_FULL) == STATUS_DISK_FULL
    assert store_status(Outcome.DUPLICATE) == STATUS_SUCCESS


def test_write_durable_reports_full_disk(tmp_path, monkeypatch):
    import errno
    import os

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(DiskFullError):
        write_durable(tmp_path / "a" / "b.bin", b"123")
    monkeypatch.undo()
    assert list((tmp_path / "a").iterdir()) == []


def test_hot_folder_takes_stable_files_only(intake, tmp_path):
    hot = tmp_path / "hot"
    hot.mkdir()
    (hot / "a.dcm").write_bytes(_bytes(tmp_path, laterality="L", view="MLO"))
    (hot / "junk.txt").write_bytes(b"not dicom at all" * 20)
    folder = HotFolder(hot, intake, stable_s=1.0)
    assert folder.scan(now=0.0) == 0  # first sight
    assert folder.scan(now=0.5) == 0  # not yet stable
    assert folder.scan(now=1.6) == 2
    assert list(hot.iterdir()) == []
    assert len(list((tmp_path / "spool").glob("*/*.dcm"))) == 1
    assert len(list((tmp_path / "quarantine").glob("*.json"))) == 1


def test_address_allow_list():
    allow = AddressAllowList.parse(("10.1.0.0/16", "192.168.1.5"))
    assert allow.allows("10.1.2.3") and allow.allows("192.168.1.5") and allow.allows("::ffff:10.1.0.9")
    assert not allow.allows("127.0.0.1") and not allow.allows("garbage")
    assert AddressAllowList.parse(()).allows("127.0.0.1")


def test_a_file_is_spooled_byte_identical_and_truncated_pixel_data_is_quarantined(intake, tmp_path, monkeypatch):
    """The SCP hands the intake the file pynetdicom received into; the pixel data is never read, only checked."""
    from mammoedge.runtime.intake import store

    data = _bytes(tmp_path, laterality="L", view="MLO")
    received = tmp_path / "received.dcm"
    received.write_bytes(data)
    assert intake.accept(received, intake="test").outcome == Outcome.STORED
    (spooled,) = (tmp_path / "spool").glob("*/*.dcm")
    assert spooled.read_bytes() == data and received.exists()  # copied: the caller removes its file
    monkeypatch.setattr(store, "DEFER_BYTES", 1024)  # the test image's pixel data is deferred as a mammogram's is
    for source in (data[:-100], tmp_path / "cut.dcm"):
        if isinstance(source, type(received)):
            source.write_bytes(data[:-100])
        cut = intake.accept(source, intake="test")
        assert cut.outcome == Outcome.QUARANTINED and cut.reason == "truncated"
    assert sorted(p.stat().st_size for p in (tmp_path / "quarantine").glob("*.dcm")) == [len(data) - 100] * 2
    monkeypatch.setattr(store, "DEFER_BYTES", 1 << 30)  # read whole, the same cut is the pixel length rule's
    assert intake.accept(data[:-100], intake="test").reason == "pixel-length"


def test_a_large_element_besides_the_pixel_data_is_deferred_and_the_instance_stored(intake, tmp_path):
    ds, _ = make_dataset(laterality="R", view="MLO")
    block = ds.private_block(0x0009, "MAMMOEDGE TEST", create=True)
    block.add_new(0x10, "OB", b"\x01" * (3 << 20))  # 3 MB: over the intake's deferral size
    path = tmp_path / "big.dcm"
    ds.save_as(path, enforce_file_format=True)
    for source in (path, path.read_bytes()):
        assert intake.accept(source, intake="test").outcome in (Outcome.STORED, Outcome.DUPLICATE)
    (spooled,) = (tmp_path / "spool").glob("*/*.dcm")
    assert spooled.read_bytes() == path.read_bytes()
