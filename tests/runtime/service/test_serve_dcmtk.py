"""``mammoedge serve`` with dcmtk's echoscu/storescu as the modality, on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import time

import pydicom
import pytest
from service_helpers import clone_exams, dataset_bytes, storescu


pytestmark = pytest.mark.skipif(subprocess.run(["which", "storescu"], capture_output=True).returncode != 0,
                                reason="dcmtk storescu not installed")


def test_echo_store_result_and_byte_identical_spool(serve, phantom_exam, tmp_path):
    served = serve().start()
    echo = subprocess.run(["echoscu", "-aec", "MAMMOEDGE", "127.0.0.1", str(served.port)], capture_output=True)
    assert echo.returncode == 0, echo.stderr
    (exam,) = clone_exams(phantom_exam, tmp_path / "src", 1)
    sent = storescu(served.port, exam)
    assert sent.returncode == 0, sent.stderr
    assert sent.stderr.count("Received Store Response (Success)") == 4
    (result,) = served.wait_results(1, timeout=30)
    doc = json.loads(result.read_text())
    assert doc["complete"] and doc["missing_views"] == [] and doc["instances"] == 4
    assert sorted(v["laterality"] + v["view"] for v in doc["result"]["views"]) == ["LCC", "LMLO", "RCC", "RMLO"]
    spooled = sorted(dataset_bytes(p) for p in (served.state / "spool").glob("*/*.dcm"))
    assert spooled == sorted(dataset_bytes(p) for p in exam)
    # The same instances again are duplicates: acknowledged, not stored twice, not analyzed again.
    again = storescu(served.port, exam)
    assert again.returncode == 0 and again.stderr.count("(Success)") == 4
    time.sleep(0.5)
    status = served.status()
    assert status["instances"] == 4 and status["exams_by_state"] == {"done": 1}
    assert len(served.result_files()) == 1
    assert served.terminate() == 0
    log = served.log.read_text()
    header = pydicom.dcmread(exam[0], stop_before_pixels=True)
    for value in (header.PatientName, header.PatientID, header.StudyInstanceUID, header.SOPInstanceUID,
                  header.get("AccessionNumber", "")):
        assert not str(value) or str(value) not in log


def test_intake_and_worker_roles_share_the_state_dir(serve, phantom_exam, tmp_path):
    intake = serve(root=tmp_path / "roles").start(role="intake")
    worker = serve(root=tmp_path / "roles", port=intake.port)
    worker.start(role="worker", wait=False)
    (exam,) = clone_exams(phantom_exam, tmp_path / "src", 1)
    assert storescu(intake.port, exam).returncode == 0
    (result,) = intake.wait_results(1, timeout=30)
    assert json.loads(result.read_text())["instances"] == 4
    assert worker.terminate() == 0 and intake.terminate() == 0


def test_partial_exam_settles_and_names_missing_views(serve, phantom_exam, tmp_path):
    served = serve(options={"settle_s": 1.0}).start()
    (exam,) = clone_exams(phantom_exam, tmp_path / "src", 1, views=("RCC", "RMLO"))
    assert storescu(served.port, exam).returncode == 0
    (result,) = served.wait_results(1, timeout=30)
    doc = json.loads(result.read_text())
    assert doc["complete"] is False and doc["missing_views"] == ["LCC", "LMLO"]


def test_unknown_calling_ae_and_address_are_rejected(serve, phantom_exam, tmp_path):
    served = serve(options={"allowed_calling_aets": ["MODALITY"]}).start()
    (exam,) = clone_exams(phantom_exam, tmp_path / "src", 1)
    refused = storescu(served.port, exam, calling="INTRUDER")
    assert refused.returncode != 0
    assert "Calling AE Title Not Recognized" in refused.stderr
    echo = subprocess.run(["echoscu", "-aet", "INTRUDER", "-aec", "MAMMOEDGE", "127.0.0.1", str(served.port)],
                          capture_output=True, text=True)
    assert echo.returncode != 0
    assert storescu(served.port, exam, calling="MODALITY").returncode == 0
    served.wait_results(1, timeout=30)

    by_address = serve(options={"allowed_addresses": ["10.0.0.0/8"]}).start()
    refused = storescu(by_address.port, exam)
    assert refused.returncode != 0 and "Association Rejected" in refused.stderr
    assert not list((by_address.state / "spool").glob("*/*.dcm"))


def _associate_rq_with_even_context_id(called: bytes = b"MAMMOEDGE", calling: bytes = b"MODALITY") -> bytes:
    """An A-ASSOCIATE-RQ whose presentation context ID is 2 (PS3.8 requires odd IDs)."""
    def item(kind: int, body: bytes) -> bytes:
        return struct.pack(">BBH", kind, 0, len(body)) + body

    app = item(0x10, b"1.2.840.10008.3.1.1.1")
    pc = item(0x20, bytes([2, 0, 0, 0]) + item(0x30, b"1.2.840.10008.1.1") + item(0x40, b"1.2.840.10008.1.2"))
    user = item(0x50, item(0x51, struct.pack(">I", 16384)))
    body = struct.pack(">HH", 1, 0) + called.ljust(16) + calling.ljust(16) + bytes(32) + app + pc + user
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def test_malformed_associations_and_datasets_do_not_stop_the_next_exam(serve, phantom_exam, tmp_path):
    from mgfactory import make_dataset

    served = serve(options={"max_associations": 3}).start()
    held = []
    for _ in range(8):  # more than max_associations: a stuck slot would refuse the good exam below
        s = socket.create_connection(("127.0.0.1", served.port), timeout=5)
        s.sendall(_associate_rq_with_even_context_id())
        held.append(s)
    garbage = socket.create_connection(("127.0.0.1", served.port), timeout=5)
    garbage.sendall(b"\x07\x00\x00\x00\x00\x04junk" * 10)
    held.append(garbage)
    time.sleep(0.5)

    ds, _ = make_dataset(laterality="L", view="CC")
    del ds.ImageLaterality
    if "Laterality" in ds:
        del ds.Laterality
    bad = tmp_path / "no-laterality.dcm"
    ds.save_as(bad, enforce_file_format=True)
    refused = storescu(served.port, [bad])
    assert "Received Store Response (Error: CannotUnderstand)" in refused.stderr  # 0xC210
    notes = list((served.state / "quarantine").glob("*.json"))
    assert len(notes) == 1 and json.loads(notes[0].read_text())["reason"] == "no-laterality"
    assert dataset_bytes(notes[0].with_suffix(".dcm")) == dataset_bytes(bad)

    (exam,) = clone_exams(phantom_exam, tmp_path / "src", 1)
    good = storescu(served.port, exam)
    assert good.returncode == 0 and good.stderr.count("(Success)") == 4, good.stderr
    served.wait_results(1, timeout=30)
    for s in held:
        s.close()
    assert served.status()["errors_by_reason"] == {"quarantine:no-laterality": 1}
    log = served.log.read_text()
    assert "slot freed" in log
    assert served.proc.poll() is None


def test_silent_peers_hold_no_slot_and_are_dropped_at_the_request_deadline(serve, phantom_exam, tmp_path):
    """Issue 16: silent connections wait in the connection gate, not in an association slot."""
    served = serve(options={"max_associations": 2, "association_request_timeout_s": 1.0}).start()
    silent = [socket.create_connection(("127.0.0.1", served.port), timeout=5) for _ in range(2)]
    time.sleep(0.3)
    (exam,) = clone_exams(phantom_exam, tmp_path / "src", 1)
    assert storescu(served.port, exam).returncode == 0  # both slots free although two peers are silent
    served.wait_results(1, timeout=30)
    for s in silent:  # closed by the receiver at the deadline
        assert s.recv(10) == b""
        s.close()


def test_hot_folder_intake_in_serve(serve, phantom_exam, tmp_path):
    import shutil

    hot = tmp_path / "hot"
    served = serve(options={"hot_folder": str(hot), "hot_folder_poll_s": 0.1, "hot_folder_stable_s": 0.3,
                            "port": 0}).start(wait=False)
    (exam,) = clone_exams(phantom_exam, tmp_path / "src", 1)
    deadline = time.monotonic() + 30
    while not hot.is_dir() and time.monotonic() < deadline:
        time.sleep(0.1)
    for f in exam:
        shutil.copy(f, hot / f.name)
    (result,) = served.wait_results(1, timeout=30)
    assert json.loads(result.read_text())["complete"]
    assert list(hot.iterdir()) == []
    assert served.terminate() == 0


def test_a_spooled_file_missing_from_the_queue_is_queued_at_start(serve, phantom_exam, tmp_path):
    """A kill between the spool write and the queue row leaves an orphan: the next start queues it, once."""
    served = serve()
    orphan = served.state / "spool" / "orphaned-exam" / "view.dcm"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(phantom_exam.joinpath(sorted(p.name for p in phantom_exam.glob("*.dcm"))[0]).read_bytes())
    served.start()
    deadline = time.monotonic() + 30
    while served.status()["instances"] < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert served.status()["instances"] == 1
    assert orphan.read_bytes() == sorted(phantom_exam.glob("*.dcm"))[0].read_bytes()  # kept as it was
    assert served.terminate() == 0
