"""The README's quick-try storescu command sends the phantom's JPEG 2000 exam (issue 16 item 17)."""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
from pathlib import Path

import pydicom
from pydicom.uid import JPEG2000Lossless

from mammoedge.runtime.config import ReaderConfig, ServiceConfig
from mammoedge.runtime.intake.receiver import Receiver
from mammoedge.runtime.intake.store import Intake
from mammoedge.runtime.jobs import JobQueue

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_storescu_line_stores_every_view_of_a_phantom_exam(tmp_path: Path) -> None:
    from mammoedge.tools.phantom import make_exam

    exam = tmp_path / "exam"
    make_exam(exam, seed=3, size="small", profile="ge")  # GE-like: JPEG 2000 Lossless
    (line,) = [m.group(1) for m in re.finditer(r"^(storescu [^&\n]*)", README.read_text(), re.M)]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [str(port) if a == "11112" else a for a in shlex.split(line)]
    files = sorted(exam.glob("*.dcm"))
    assert len(files) == 4
    assert all(pydicom.dcmread(f, stop_before_pixels=True).file_meta.TransferSyntaxUID == JPEG2000Lossless
               for f in files)
    args = [a for a in args if not a.endswith("*.dcm")] + [str(f) for f in files]
    queue = JobQueue(tmp_path / "q.sqlite")
    intake = Intake(spool_dir=tmp_path / "spool", quarantine_dir=tmp_path / "quarantine", queue=queue,
                    secret=b"s" * 32, reader=ReaderConfig())
    receiver = Receiver(ServiceConfig(state_dir=tmp_path, bind_address="127.0.0.1", port=port), intake)
    receiver.start()
    try:
        out = subprocess.run(args[:1] + ["-v"] + args[1:], capture_output=True, text=True, timeout=120)
    finally:
        receiver.stop()
        queue.close()
    assert out.stderr.count("Received Store Response (Success)") == 4, out.stderr[-1500:]
    assert len(list((tmp_path / "spool").glob("*/*.dcm"))) == 4
