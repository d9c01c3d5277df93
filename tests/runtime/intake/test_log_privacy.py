"""pynetdicom's and pydicom's own log lines carry no UID (issue 16 item 5), with storescu as the peer."""

from __future__ import annotations

import logging
import socket
import subprocess
import warnings
from pathlib import Path

from mgfactory import make_dataset

from mammoedge.runtime.config import ReaderConfig, ServiceConfig
from mammoedge.runtime.intake.quiet import RedactValues, redact
from mammoedge.runtime.intake.receiver import Receiver
from mammoedge.runtime.intake.store import Intake
from mammoedge.runtime.jobs import JobQueue

BAD_UID = "1.2.826.0.1.3680043.8.498.0123456789a"  # a leading zero and a letter: valid length, non-conformant


def test_storescu_with_a_non_conformant_uid_leaves_no_uid_in_any_log(tmp_path: Path, caplog) -> None:
    ds, _ = make_dataset(laterality="R", view="CC")
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = BAD_UID
    path = tmp_path / "bad-uid.dcm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, enforce_file_format=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = JobQueue(tmp_path / "q.sqlite")
    intake = Intake(spool_dir=tmp_path / "spool", quarantine_dir=tmp_path / "quarantine", queue=queue,
                    secret=b"s" * 32, reader=ReaderConfig())
    receiver = Receiver(ServiceConfig(state_dir=tmp_path, bind_address="127.0.0.1", port=port), intake)
    caplog.set_level(logging.DEBUG)
    receiver.start()
    try:
        out = subprocess.run(["storescu", "-v", "-aec", "MAMMOEDGE", "127.0.0.1", str(port), str(path)],
                             capture_output=True, text=True, timeout=60)
    finally:
        receiver.stop()
        queue.close()
    assert "Received Store Response (Success)" in out.stderr, out.stderr[-1000:]
    pynetdicom_lines = [r for r in caplog.records if r.name.startswith("pynetdicom")]
    assert any("Non-conformant" in r.getMessage() for r in pynetdicom_lines)  # the line is kept, redacted
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert BAD_UID not in text and "0123456789a" not in text, text[-2000:]
    assert caplog.text.count(BAD_UID) == 0


def test_redaction_of_quoted_values_arguments_and_tracebacks() -> None:
    assert redact("Non-conformant 'Affected SOP Instance UID' value '1.2.3.04'") == \
        "Non-conformant <25 characters> value <8 characters>"
    record = logging.LogRecord("pynetdicom.dul", logging.ERROR, __file__, 1, "bad %s", ("'PH-1-00000'",), None)
    try:
        raise ValueError("Invalid value 'PH-1-00000'")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactValues().filter(record)
    assert record.getMessage() == "bad <10 characters> (ValueError)" and record.exc_info is None
