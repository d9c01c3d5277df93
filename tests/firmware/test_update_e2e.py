"""End to end: an appliance installed into a temporary root, updated through the real CLI.

The box runs ``mammoedge serve`` from its ``current`` slot (e2e_service.py stands in for systemd: a
service restart stands in for a reboot). Slots hold a real mammoedge wheel installed offline from the
bundle's wheelhouse; heavy dependencies come from ``update.base_site`` (this test venv's site-packages).
A good update commits with exams acknowledged just before it analyzed after it; a bundle whose model
does not match its sha256 and a release that crashes on start both roll back by themselves.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time
from pathlib import Path

import pytest
from e2e_service import echo
from mgfactory import make_dataset, write
from mqtt_helpers import free_port
from pydicom.uid import generate_uid

from mammoedge.firmware.bundle import BundleKind
from mammoedge.firmware.health import REFERENCE_NAME, exam_summary
from mammoedge.runtime.config import load_config
from mammoedge.runtime.inference import shipped_models_dir
from mammoedge.tools.bundle.build import build_bundle, publish
from mammoedge.tools.bundle.repository import Repository

PROJECT = Path(__file__).resolve().parents[2]
SERVICE = Path(__file__).with_name("e2e_service.py")
MAMMOEDGE = Path(sys.executable).with_name("mammoedge")
AET = "MAMMOEDGE"


def _wheel(out: Path) -> Path:
    """A real mammoedge wheel of this checkout (built from a copy, so the worktree stays clean)."""
    src = out.parent / "src"
    shutil.copytree(PROJECT, src, ignore=shutil.ignore_patterns(".venv", ".git", "tests", "docs", "build", "*.egg-info",
                                                                "__pycache__", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(out), str(src)], check=True)
    return next(out.glob("mammoedge-*.whl"))


def _crashing_wheel(tmp: Path, out: Path) -> Path:
    """A broken release: a ``mammoedge`` 9.0.0 whose command exits with an error as soon as it runs."""
    project = tmp / "broken"
    (project / "mammoedge_broken").mkdir(parents=True)
    (project / "mammoedge_broken" / "__init__.py").write_text("import sys\n\ndef main():\n"
                                                             "    sys.exit('mammoedge 9.0.0: crashed on start')\n")
    (project / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "mammoedge"
        version = "9.0.0"
        [project.scripts]
        mammoedge = "mammoedge_broken:main"
        [tool.setuptools]
        packages = ["mammoedge_broken"]
    '''))
    out.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(out), str(project)], check=True)
    return next(out.glob("*.whl"))


class Box:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "opt"
        self.state = tmp / "var"
        self.port = free_port()
        self.repo = Repository.create(tmp / "repo", tmp / "keys")
        self.config = tmp / "mammoedge.toml"
        start = [sys.executable, str(SERVICE), "restart", str(self.root), str(self.config), str(self.port), AET]
        self.config.write_text(textwrap.dedent(f'''
            [service]
            state_dir = "{self.state}"
            port = {self.port}
            ae_title = "{AET}"
            settle_s = 45.0
            shutdown_grace_s = 20.0
            [inference]
            models_dir = "{self.root}/current/models"
            [update]
            root = "{self.root}"
            trusted_root = "{self.repo.metadata_dir / '1.root.json'}"
            base_site = "{sysconfig.get_paths()['purelib']}"
            start_command = {json.dumps(start)}
            start_timeout_s = 120.0
            health_timeout_s = 300.0
        '''))

    def cli(self, *args: str, good: bool = False) -> subprocess.CompletedProcess[str]:
        exe = self.root / "good" / "venv" / "bin" / "mammoedge" if good else MAMMOEDGE
        return subprocess.run([str(exe), "--config", str(self.config), *args], capture_output=True, text=True,
                              timeout=600, check=False)

    def status(self) -> dict:
        out = self.cli("update", "status", "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def results(self) -> list[Path]:
        return sorted((self.state / "results").glob("*.json"))


def _models(tmp: Path, name: str, *, tamper: bool = False) -> Path:
    folder = tmp / "models" / name
    shutil.copytree(shipped_models_dir(), folder, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    c = load_config(env={})
    import dataclasses
    ref = exam_summary(dataclasses.replace(c, inference=dataclasses.replace(c.inference, models_dir=folder)))
    (folder / REFERENCE_NAME).write_text(json.dumps(ref))
    if tamper:  # the lab shipped a detector file that is not the one its manifest hashes
        manifest = json.loads((folder / "manifest.json").read_text())
        model = folder / manifest["models"][0]["file"]
        data = bytearray(model.read_bytes())
        data[-1] ^= 0x01
        model.write_bytes(bytes(data))
    return folder


class Downtime:
    """C-ECHO every 50 ms; the longest stretch without an answer."""

    def __init__(self, port: int) -> None:
        self.port, self.stop, self.longest, self.failures = port, threading.Event(), 0.0, 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        down_since: float | None = None
        while not self.stop.is_set():
            ok = echo(self.port, AET)
            now = time.monotonic()
            if ok and down_since is not None:
                self.longest = max(self.longest, now - down_since)
                down_since = None
            elif not ok:
                self.failures += 1
                down_since = down_since or now
            time.sleep(0.05)

    def __enter__(self) -> Downtime:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def _send_exam(box: Box, tmp: Path) -> None:
    """Three of four views: acknowledged, then waiting settle_s for the fourth (so it waits across the update)."""
    study = generate_uid()
    files = [write(make_dataset(laterality=lat, view=view, seed=i, study_uid=study)[0], tmp / f"{lat}{view}.dcm")
             for i, (lat, view) in enumerate([("L", "CC"), ("L", "MLO"), ("R", "CC")])]
    out = subprocess.run(["storescu", "-aec", AET, "127.0.0.1", str(box.port), *map(str, files)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr  # acknowledged: C-STORE success for every view


@pytest.mark.slow
def test_update_end_to_end(tmp_path: Path) -> None:
    box = Box(tmp_path)
    wheel = _wheel(tmp_path / "wheels" / "good")
    wheelhouse = wheel.parent
    version = wheel.name.split("-")[1]

    def release(bundle_version: str, models: Path, wheels: Path = wheelhouse, software: str = version) -> None:
        out = build_bundle(tmp_path / "out" / f"mammoedge-{bundle_version}.tar", version=bundle_version,
                           kind=BundleKind.FULL, models_dir=models, software_version=software, min_from_version="1.0.0",
                           requirements=[f"mammoedge=={software}"], wheelhouse=wheels)
        publish(box.repo, out, version=bundle_version, kind=BundleKind.FULL)

    assert box.status()["update"]["state"] == "idle"  # fresh install
    release("1.0.0", _models(tmp_path, "v1"))
    out = box.cli("update", "provision", str(box.repo.repo_dir))
    assert out.returncode == 0, out.stderr
    start = subprocess.run(json.loads(box.config.read_text().split("start_command = ")[1].splitlines()[0]),
                           capture_output=True, text=True, timeout=120, check=False)
    assert start.returncode == 0, start.stderr + (tmp_path / "service.log").read_text()[-3000:]
    try:
        # a good update, with an exam acknowledged just before it
        release("2.0.0", _models(tmp_path, "v2"))
        _send_exam(box, tmp_path)
        with Downtime(box.port) as downtime:
            started = time.monotonic()
            out = box.cli("update", "apply", str(box.repo.repo_dir), good=True)
            took = time.monotonic() - started
        assert out.returncode == 0, out.stdout + out.stderr + (tmp_path / "service.log").read_text()[-3000:]
        status = box.status()
        assert status["update"]["state"] == "committed" and status["links"] == {"current": "b", "good": "b"}
        assert status["slots"]["b"]["version"] == "2.0.0"
        deadline = time.monotonic() + 240
        while not box.results() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(box.results()) == 1, "the acknowledged exam was lost across the update"
        sealed = (box.root / "slots" / "b" / "slot.json").stat().st_mtime
        assert box.results()[0].stat().st_mtime > sealed  # analyzed by the new slot, after it was installed
        print(f"\ngood update: apply took {took:.1f} s; longest C-ECHO gap {downtime.longest:.2f} s "
              f"({downtime.failures} failed echoes)")
        assert downtime.longest <= 10.0

        # a bundle whose detector does not match its sha256: the health check fails, the box rolls back
        release("3.0.0", _models(tmp_path, "v3-bad", tamper=True))
        out = box.cli("update", "apply", str(box.repo.repo_dir), good=True)
        assert out.returncode == 1
        status = box.status()
        assert status["update"]["state"] == "failed" and status["update"]["last_outcome"] == "rolled-back"
        assert status["update"]["last_rule"] == "health-check-failed" and "does not match" in out.stderr
        assert status["links"] == {"current": "b", "good": "b"} and echo(box.port, AET)

        # a release that crashes on start: the start fails, the box rolls back and restarts the good slot
        broken = _crashing_wheel(tmp_path, tmp_path / "wheels" / "broken")
        release("4.0.0", _models(tmp_path, "v4"), wheels=broken.parent, software="9.0.0")
        out = box.cli("update", "apply", str(box.repo.repo_dir), good=True)
        assert out.returncode == 1
        status = box.status()
        assert status["update"]["last_outcome"] == "rolled-back" and status["update"]["last_rule"] == "start-failed"
        assert status["links"] == {"current": "b", "good": "b"} and status["slots"]["b"]["version"] == "2.0.0"
        assert echo(box.port, AET)
    finally:
        subprocess.run([sys.executable, str(SERVICE), "stop", str(box.root)], timeout=60, check=False)
