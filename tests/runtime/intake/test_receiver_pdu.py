"""The receiver's association parameters as dcmtk, the peer, reads them."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from mammoedge.runtime.config import ReaderConfig, ServiceConfig
from mammoedge.runtime.intake.receiver import Receiver
from mammoedge.runtime.intake.store import Intake
from mammoedge.runtime.jobs import JobQueue


def test_the_receiver_announces_its_configured_max_pdu_to_dcmtk(tmp_path: Path) -> None:
    """Larger PDUs cost the intake less CPU per image (docs/bench.md); dcmtk reads the size from our A-ASSOCIATE-AC."""
    queue = JobQueue(tmp_path / "q.sqlite")
    intake = Intake(spool_dir=tmp_path / "spool", quarantine_dir=tmp_path / "quarantine", queue=queue,
                    secret=b"s" * 32, reader=ReaderConfig())
    announced = []
    for size in (ServiceConfig().max_pdu_bytes, 65536):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        receiver = Receiver(ServiceConfig(state_dir=tmp_path, bind_address="127.0.0.1", port=port,
                                          max_pdu_bytes=size), intake)
        receiver.start()
        try:
            out = subprocess.run(["echoscu", "-d", "-aec", "MAMMOEDGE", "127.0.0.1", str(port)],
                                 capture_output=True, text=True, timeout=60)
        finally:
            receiver.stop()
        assert out.returncode == 0, out.stderr[-500:]
        lines = [line for line in (out.stdout + out.stderr).splitlines() if "Their Max PDU Receive Size" in line]
        announced.append(int(lines[-1].split(":")[-1]))
    queue.close()
    assert announced == [1_048_576, 65536]
