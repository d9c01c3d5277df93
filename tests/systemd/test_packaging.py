"""Issue 16 items 15-16: the services are part of the target; install.sh checks prerequisites, installs offline."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "systemd"
INSTALL = SYSTEMD / "install.sh"
SERVICES = ("mammoedge-intake.service", "mammoedge-worker.service")


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((SYSTEMD / name).read_text())
    return parser


@pytest.mark.parametrize("service", SERVICES)
def test_stopping_the_target_stops_each_service(service: str) -> None:
    """``systemctl stop mammoedge.target`` left both running: the target only Wants= them, no PartOf=."""
    assert service in _unit("mammoedge.target")["Unit"]["Wants"].split()
    assert _unit(service)["Unit"].get("PartOf", "").split() == ["mammoedge.target"]


def _fake_python(tmp_path: Path, *, venv: bool) -> Path:
    """A python3 that is real except that, without ``venv``, it has no venv/ensurepip (no python3-venv)."""
    fake = tmp_path / "python3"
    refuse = "" if venv else 'case "$*" in *"import venv, ensurepip"*) exit 1;; esac\n'
    fake.write_text(f"#!/bin/bash\n{refuse}exec {sys.executable} \"$@\"\n")
    fake.chmod(0o755)
    return fake


def _install(*args: str, python: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": str(python), "MAMMOEDGE_PREFIX": str(prefix)}
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, env=env, timeout=600)


def test_every_missing_prerequisite_is_named_and_nothing_is_done(tmp_path: Path) -> None:
    empty = tmp_path / "wheelhouse"
    empty.mkdir()
    out = _install("--dry-run", "--wheelhouse", str(empty), python=_fake_python(tmp_path, venv=False),
                   prefix=tmp_path / "opt")
    assert out.returncode == 1
    assert "python3-venv" in out.stderr and f"a mammoedge wheel in {empty}" in out.stderr
    assert "nothing was changed" in out.stderr
    assert "+ " not in out.stdout and not (tmp_path / "opt").exists()


def test_dry_run_from_a_wheelhouse_is_offline(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    (wheelhouse / "mammoedge-0.1.0-py3-none-any.whl").write_bytes(b"placeholder for the dry run")
    out = _install("--dry-run", "--wheelhouse", str(wheelhouse), python=_fake_python(tmp_path, venv=True),
                   prefix=tmp_path / "opt")
    assert out.returncode == 0, out.stderr
    assert f"pip install --disable-pip-version-check --upgrade --no-index --find-links {wheelhouse} mammoedge" \
        in out.stdout
    assert "+ systemctl enable --now mammoedge.target" in out.stdout


@pytest.fixture(scope="module")
def mammoedge_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's wheel alone (no dependencies): a wheelhouse the lab forgot to fill."""
    out = tmp_path_factory.mktemp("wheelhouse")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--disable-pip-version-check", "-q", "-w", str(out), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    return out


def test_an_incomplete_wheelhouse_is_refused_before_anything_is_installed(tmp_path: Path, mammoedge_wheel: Path
                                                                          ) -> None:
    """A real run (as root) against a wheelhouse without the dependencies: pip resolves offline, names what is
    missing, and the script stops before the configuration, the account and the units."""
    if os.geteuid() != 0:
        pytest.fail("this test runs install.sh for real and needs root")
    prefix = tmp_path / "opt"
    out = _install("--wheelhouse", str(mammoedge_wheel), python=_fake_python(tmp_path, venv=True), prefix=prefix)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "installing offline from the wheelhouse" in out.stdout
    assert "cannot satisfy mammoedge's requirements" in out.stderr
    assert "numpy" in out.stderr or "No matching distribution" in out.stderr, out.stderr
    assert (prefix / "slots" / "a" / "venv" / "bin" / "pip").exists()  # slot a of the A/B layout (docs/updates.md)
    assert not list((prefix / "slots" / "a" / "venv").rglob("mammoedge-*.dist-info"))  # nothing was installed
