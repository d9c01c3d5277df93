"""Run one update step in its own process, with a fault at one state (used by test_update_machine.py).

    python update_driver.py apply ROOT REPO STATE FAULT   # FAULT: none, error, kill, hang
    python update_driver.py recover ROOT                  # a reboot: boot(), the service starts, health check
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from firmware_helpers import fake_manager, source_for, start_current
from mammoedge.firmware.state import UpdateRecord, UpdateState

#: states whose hang is inside a step the manager bounds itself (service start, health check)
SELF_TIMED = {UpdateState.STARTING_NEW: "start", UpdateState.HEALTH_CHECKING: "check"}


def main() -> int:
    mode, root = sys.argv[1], Path(sys.argv[2])
    if mode == "recover":
        manager = fake_manager(root)
        manager.boot()
        start_current(root)
        manager.finish_trial()
        return 0
    repo, state, fault = Path(sys.argv[3]), UpdateState(sys.argv[4]), sys.argv[5]

    def hook(record: UpdateRecord) -> None:
        if record.state is not state:
            return
        (root / "reached").write_text(state.value)
        if fault == "error":
            raise RuntimeError(f"fault injected at {state.value}")
        if fault == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if fault == "hang":
            if state in SELF_TIMED:
                os.environ["FAKEAPP_HANG"] = f"{SELF_TIMED[state]}:{record.target_version}"
            else:
                time.sleep(3600)  # ended by the supervisor (systemd's timeout) with SIGKILL

    fake_manager(root, timeout_s=3.0, on_state=hook).apply(source_for(root, repo))
    return 0


if __name__ == "__main__":
    sys.exit(main())
