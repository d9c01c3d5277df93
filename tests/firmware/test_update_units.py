"""The updater's systemd units verify, meet the exposure budget, and run the right slot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
MAMMOEDGE = Path(sys.executable).parent / "mammoedge"
BUDGET = {"mammoedge-update.service": 2.0, "mammoedge-update-boot.service": 1.0, "mammoedge-health.service": 2.0}
UNITS = (*BUDGET, "mammoedge-update.timer")


@pytest.fixture
def units(tmp_path: Path) -> Path:
    for unit in UNITS:
        text = (SYSTEMD / unit).read_text().replace("/opt/mammoedge/good/venv/bin/mammoedge", str(MAMMOEDGE))
        (tmp_path / unit).write_text(text)
    return tmp_path


def test_units_verify(units: Path) -> None:
    out = subprocess.run(["systemd-analyze", "verify", *map(str, sorted(units.iterdir()))],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr


@pytest.mark.parametrize("unit", sorted(BUDGET))
def test_exposure_within_budget(units: Path, unit: str) -> None:
    out = subprocess.run(["systemd-analyze", "security", "--offline=true", str(units / unit)],
                         capture_output=True, text=True, check=False)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout + out.stderr)
    assert match, out.stdout[-500:] + out.stderr
    assert float(match.group(1)) <= BUDGET[unit]


def test_slots_and_order() -> None:
    update = (SYSTEMD / "mammoedge-update.service").read_text()
    boot = (SYSTEMD / "mammoedge-update-boot.service").read_text()
    health = (SYSTEMD / "mammoedge-health.service").read_text()
    for text in (update, boot, health):
        assert "/opt/mammoedge/good/venv/bin/mammoedge" in text  # the updater runs from the last good slot
        assert "ReadWritePaths=/opt/mammoedge" in text and "ProtectSystem=strict" in text
    assert "update apply --in-window" in update and "update boot --no-count" in update  # ExecStopPost after a hang
    # the health check runs JIT kernels (OpenVINO/onnxruntime)
    assert not re.search(r"^MemoryDenyWriteExecute=", update + health, re.MULTILINE)
    assert "Before=mammoedge-intake.service mammoedge-worker.service" in boot
    assert "After=mammoedge-intake.service mammoedge-worker.service" in health
    for role in ("intake", "worker"):
        dropin = (SYSTEMD / f"mammoedge-{role}.service.d" / "slot.conf").read_text()
        assert f"/opt/mammoedge/current/venv/bin/mammoedge --config /etc/mammoedge/mammoedge.toml serve --role {role}" \
            in dropin and "ExecStart=\n" in dropin
    worker = (SYSTEMD / "mammoedge-worker.service.d" / "slot.conf").read_text()
    assert "ExecStartPre=+/opt/mammoedge/good/venv/bin/mammoedge" in worker and worker.count("update boot") == 1
    assert "OnCalendar=hourly" in (SYSTEMD / "mammoedge-update.timer").read_text()
