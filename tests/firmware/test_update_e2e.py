"""End to end: an appliance installed by systemd/install.sh into a temporary root, updated through the real CLI.

One installed appliance per module (the cases run in order on it): install.sh lays out slot a
(``--root``, offline from a wheelhouse holding this checkout's mammoedge wheel; the heavy
dependencies come from ``--base-site``, this test venv's site-packages) and enables the units; the
box runs ``mammoedge serve`` from its ``current`` slot (e2e_service.py stands in for systemd: a
service restart stands in for a reboot). A good update commits with an exam acknowledged just before
it analyzed after it; a bundle whose model does not match its sha256 and a release that crashes on
start both roll back by themselves.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time
import tomllib
from pathlib import Path

import pytest
from e2e_service import echo
from mgfactory import make_dataset, write
from mqtt_helpers import free_port
from pydicom.uid import generate_uid

from mammoedge.firmware.bundle import BundleKind
from mammoedge.firmware.health import REFERENCE_NAME, exam_summary
from mammoedge.firmware.migrate import dump_toml
from mammoedge.runtime.config import load_config
from mammoedge.runtime.inference import shipped_models_dir
from mammoedge.tools.bundle.build import build_bundle, publish
from mammoedge.tools.bundle.repository import Repository

PROJECT = Path(__file__).resolve().parents[2]
SERVICE = Path(__file__).with_name("e2e_service.py")
INSTALL = PROJECT / "systemd" / "install.sh"
MAMMOEDGE = Path(sys.executable).with_name("mammoedge")
AET = "MAMMOEDGE"
ENABLED = {"mammoedge.target.wants": {"mammoedge-update-boot.service", "mammoedge-health.service"},
           "multi-user.target.wants": {"mammoedge.target"}, "timers.target.wants": {"mammoedge-update.timer"}}


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
    """The appliance install.sh put under ``tmp/root``, its lab repository, and the service manager's command."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.system = tmp / "root"
        self.root = self.system / "opt" / "mammoedge"
        self.config = self.system / "etc" / "mammoedge" / "mammoedge.toml"
        self.port = free_port()
        self.repo = Repository.create(tmp / "repo", tmp / "keys")
        self.start = [sys.executable, str(SERVICE), "restart", str(self.root), str(self.config), str(self.port), AET]
        self.wheelhouse = tmp / "wheels" / "good"
        self.version = _wheel(self.wheelhouse).name.split("-")[1]
        self.models = _models(tmp)
        self.installed: subprocess.CompletedProcess[str] | None = None

    def install(self) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "MAMMOEDGE_PREFIX"}
        return subprocess.run(["bash", str(INSTALL), "--root", str(self.system), "--wheelhouse", str(self.wheelhouse),
                               "--base-site", sysconfig.get_paths()["purelib"],
                               "--trusted-root", str(self.repo.metadata_dir / "1.root.json")],
                              capture_output=True, text=True, env=env, timeout=600, check=False)

    def configure_for_the_test(self) -> None:
        """The installed configuration, with this test's port, service manager and timeouts."""
        table = tomllib.loads(self.config.read_text())
        table["service"].update(port=self.port, ae_title=AET, settle_s=45.0, shutdown_grace_s=20.0)
        table["update"].update(start_command=self.start, start_timeout_s=120.0, health_timeout_s=300.0)
        self.config.write_text(dump_toml(table))

    def cli(self, *args: str, good: bool = False) -> subprocess.CompletedProcess[str]:
        exe = self.root / "good" / "venv" / "bin" / "mammoedge" if good else MAMMOEDGE
        return subprocess.run([str(exe), "--config", str(self.config), *args], capture_output=True, text=True,
                              timeout=600, check=False)

    def status(self) -> dict:
        out = self.cli("update", "status", "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def results(self) -> list[Path]:
        return sorted((self.system / "var" / "lib" / "mammoedge" / "results").glob("*.json"))

    def release(self, bundle_version: str, models: Path, wheels: Path | None = None, software: str | None = None
                ) -> None:
        software = software or self.version
        out = build_bundle(self.tmp / "out" / f"mammoedge-{bundle_version}.tar", version=bundle_version,
                           kind=BundleKind.FULL, models_dir=models, software_version=software,
                           min_from_version=self.version, requirements=[f"mammoedge=={software}"],
                           wheelhouse=wheels or self.wheelhouse)
        publish(self.repo, out, version=bundle_version, kind=BundleKind.FULL)

    def service_log(self) -> str:
        log = self.tmp / "root" / "opt" / "service.log"
        return log.read_text()[-3000:] if log.exists() else ""


def _models(tmp: Path) -> Path:
    """The shipped models with the health check's reference (computed once: every release here ships them)."""
    folder = tmp / "models" / "reference"
    shutil.copytree(shipped_models_dir(), folder, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    c = load_config(env={})
    ref = exam_summary(dataclasses.replace(c, inference=dataclasses.replace(c.inference, models_dir=folder)))
    (folder / REFERENCE_NAME).write_text(json.dumps(ref))
    return folder


def _release_models(box: Box, name: str, *, tamper: bool = False) -> Path:
    folder = box.tmp / "models" / name
    shutil.copytree(box.models, folder)
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


def _send_exam(box: Box) -> None:
    """Three of four views: acknowledged, then waiting settle_s for the fourth (so it waits across the update)."""
    study = generate_uid()
    files = [write(make_dataset(laterality=lat, view=view, seed=i, study_uid=study)[0], box.tmp / f"{lat}{view}.dcm")
             for i, (lat, view) in enumerate([("L", "CC"), ("L", "MLO"), ("R", "CC")])]
    out = subprocess.run(["storescu", "-aec", AET, "127.0.0.1", str(box.port), *map(str, files)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr  # acknowledged: C-STORE success for every view


@pytest.fixture(scope="module")
def appliance(tmp_path_factory: pytest.TempPathFactory) -> Box:
    if os.geteuid() != 0:
        pytest.fail("install.sh runs for real here (into a temporary root) and needs root")
    box = Box(tmp_path_factory.mktemp("appliance"))
    box.installed = box.install()
    yield box
    subprocess.run([sys.executable, str(SERVICE), "stop", str(box.root)], timeout=60, check=False)


def test_a_fresh_install_is_updatable(appliance: Box) -> None:
    """install.sh provisions slot a (current and good), the state file and the update units."""
    box = appliance
    assert box.installed is not None and box.installed.returncode == 0, box.installed.stdout + box.installed.stderr
    status = box.status()  # the installed configuration, as written by install.sh
    assert status["update"]["state"] == "idle" and status["update"]["good_slot"] == "a"
    assert status["links"] == {"current": "a", "good": "a"} and status["slots"]["b"] is None
    assert status["slots"]["a"] == {"version": box.version, "software": box.version, "kind": "full"}
    slot = box.root / "slots" / "a"
    assert (slot / "venv" / "bin" / "mammoedge").exists() and (box.root / "venv").resolve() == (slot / "venv")
    assert sorted(p.name for p in (slot / "wheelhouse").iterdir()) == sorted(p.name for p in
                                                                               box.wheelhouse.iterdir())
    assert (slot / "models" / "manifest.json").is_file()
    config = tomllib.loads(box.config.read_text())
    assert config["update"]["root"] == str(box.root)
    assert config["inference"]["models_dir"] == str(box.root / "current" / "models")
    assert (box.system / "etc" / "mammoedge" / "update-root.json").read_bytes() == \
        (box.repo.metadata_dir / "1.root.json").read_bytes()
    units = box.system / "etc" / "systemd" / "system"
    for wants, names in ENABLED.items():
        assert {p.name for p in (units / wants).iterdir()} >= names, wants
    worker = (units / "mammoedge-worker.service.d" / "slot.conf").read_text()
    assert f"{box.root}/current/venv/bin/mammoedge --config {box.config} serve --role worker" in worker
    assert "mammoedge:" in (box.system / "etc" / "passwd").read_text()


def test_good_update_commits_without_losing_an_exam(appliance: Box) -> None:
    box = appliance
    box.configure_for_the_test()
    start = subprocess.run(box.start, capture_output=True, text=True, timeout=120, check=False)
    assert start.returncode == 0, start.stderr + box.service_log()
    box.release("2.0.0", _release_models(box, "v2"))
    _send_exam(box)  # acknowledged just before the update
    with Downtime(box.port) as downtime:
        started = time.monotonic()
        out = box.cli("update", "apply", str(box.repo.repo_dir), good=True)
        took = time.monotonic() - started
    assert out.returncode == 0, out.stdout + out.stderr + box.service_log()
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


def test_a_model_that_does_not_match_its_hash_rolls_back(appliance: Box) -> None:
    box = appliance
    box.release("3.0.0", _release_models(box, "v3-bad", tamper=True))
    out = box.cli("update", "apply", str(box.repo.repo_dir), good=True)
    assert out.returncode == 1
    status = box.status()
    assert status["update"]["state"] == "failed" and status["update"]["last_outcome"] == "rolled-back"
    assert status["update"]["last_rule"] == "health-check-failed" and "does not match" in out.stderr
    assert status["links"] == {"current": "b", "good": "b"} and echo(box.port, AET)


def test_a_release_that_crashes_on_start_rolls_back(appliance: Box) -> None:
    box = appliance
    broken = _crashing_wheel(box.tmp, box.tmp / "wheels" / "broken")
    box.release("4.0.0", _release_models(box, "v4"), wheels=broken.parent, software="9.0.0")
    out = box.cli("update", "apply", str(box.repo.repo_dir), good=True)
    assert out.returncode == 1
    status = box.status()
    assert status["update"]["last_outcome"] == "rolled-back" and status["update"]["last_rule"] == "start-failed"
    assert status["links"] == {"current": "b", "good": "b"} and status["slots"]["b"]["version"] == "2.0.0"
    assert echo(box.port, AET)
