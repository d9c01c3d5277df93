"""The page's systemd unit verifies and stays within its exposure budget (systemd-analyze, offline)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[3] / "systemd" / "mammoedge-web.service"
MAMMOEDGE = Path(sys.executable).parent / "mammoedge"
EXPOSURE_BUDGET = 2.0


@pytest.fixture
def unit(tmp_path) -> Path:
    path = tmp_path / UNIT.name
    path.write_text(UNIT.read_text().replace("/opt/mammoedge/venv/bin/mammoedge", str(MAMMOEDGE)))
    return path


def test_web_unit_verifies_and_is_hardened(unit):
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    out = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True, text=True)
    score = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout).group(1))
    assert score <= EXPOSURE_BUDGET, out.stdout[-2000:]
    text = UNIT.read_text()
    assert "StateDirectory=mammoedge/web\n" in text and "StateDirectory=mammoedge\n" not in text  # the rest: read-only
    assert " web\n" in text and "MemoryDenyWriteExecute=yes" in text
