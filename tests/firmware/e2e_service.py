"""The e2e appliance's service manager (standing in for ``systemctl restart mammoedge.target``).

    python e2e_service.py restart ROOT CONFIG PORT AET   # stop the running service, start the current slot's
    python e2e_service.py stop ROOT

Exits 0 once the new service answers C-ECHO, 1 if it dies first or does not answer within 60 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pynetdicom import AE


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def stop(root: Path) -> None:
    pidfile = root.parent / "service.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text())
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 40
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    pidfile.unlink()


def echo(port: int, aet: str) -> bool:
    ae = AE(ae_title="E2E-PROBE")
    ae.add_requested_context("1.2.840.10008.1.1")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 2
    assoc = ae.associate("127.0.0.1", port, ae_title=aet)
    if not assoc.is_established:
        return False
    try:
        status = assoc.send_c_echo()
        return bool(status) and status.Status == 0
    finally:
        assoc.release()


def main() -> int:
    mode, root = sys.argv[1], Path(sys.argv[2])
    stop(root)
    if mode == "stop":
        return 0
    config, port, aet = sys.argv[3], int(sys.argv[4]), sys.argv[5]
    log = open(root.parent / "service.log", "ab")  # the child keeps it
    proc = subprocess.Popen([str(root / "current" / "venv" / "bin" / "mammoedge"), "--config", config, "serve"],
                            stdout=log, stderr=log, start_new_session=True)
    (root.parent / "service.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"the service exited with {proc.returncode} on start", file=sys.stderr)
            return 1
        if echo(port, aet):
            return 0
        time.sleep(0.1)
    return 1


if __name__ == "__main__":
    sys.exit(main())
