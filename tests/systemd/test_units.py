"""The systemd units verify and meet the exposure budget; the install script's dry run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
MAMMOEDGE = Path(sys.executable).parent / "mammoedge"
EXPOSURE_BUDGET = {"mammoedge-intake.service": 2.0, "mammoedge-worker.service": 3.0, "mammoedge-web.service": 1.5}

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze is not installed on this machine")


@pytest.fixture
def units(tmp_path) -> Path:
    """The units with ExecStart pointing at this checkout's mammoedge (verify checks it exists)."""
    for unit in (*EXPOSURE_BUDGET, "mammoedge.target"):
        text = (SYSTEMD / unit).read_text().replace("/opt/mammoedge/venv/bin/mammoedge", str(MAMMOEDGE))
        (tmp_path / unit).write_text(text)
    return tmp_path


@needs_analyze
def test_units_verify(units):
    out = subprocess.run(["systemd-analyze", "verify", *map(str, sorted(units.iterdir()))],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr


@needs_analyze
@pytest.mark.parametrize("unit", sorted(EXPOSURE_BUDGET))
def test_exposure_within_budget(units, unit):
    out = subprocess.run(["systemd-analyze", "security", "--offline=true", str(units / unit)],
                         capture_output=True, text=True)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout + out.stderr)
    assert match, out.stdout[-500:] + out.stderr
    assert float(match.group(1)) <= EXPOSURE_BUDGET[unit]


def test_unit_requirements():
    intake = (SYSTEMD / "mammoedge-intake.service").read_text()
    worker = (SYSTEMD / "mammoedge-worker.service").read_text()
    for text in (intake, worker):
        for line in ("Type=notify", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "PrivateTmp=yes", "StateDirectory=mammoedge", "User=mammoedge"):
            assert line in text
        assert re.search(r"^WatchdogSec=\d+", text, re.M)
    assert not re.search(r"^MemoryDenyWriteExecute=", worker, re.M)  # JIT kernels of OpenVINO/onnxruntime
    assert "MemoryDenyWriteExecute=yes" in intake
    assert "DeviceAllow=char-drm rw" in worker and "DeviceAllow=char-accel rw" in worker
    assert "serve --role intake" in intake and "serve --role worker" in worker


def test_install_script_dry_run_changes_nothing():
    out = subprocess.run(["bash", str(SYSTEMD / "install.sh"), "--dry-run"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "+ systemctl enable --now mammoedge.target" in out.stdout
    assert "/etc/systemd/system/mammoedge-worker.service" in out.stdout
