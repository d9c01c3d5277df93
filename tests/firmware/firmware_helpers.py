"""Fixtures for the update layer: tiny fake-app wheels, a lab TUF repository, bundles, a provisioned box."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from mammoedge.firmware.bundle import BundleKind
from mammoedge.firmware.errors import Rule
from mammoedge.firmware.fetch import RepositorySource
from mammoedge.firmware.install import Installer
from mammoedge.firmware.machine import Policy, SlotCommand, StateHook, UpdateManager
from mammoedge.firmware.state import UpdateRecord, UpdateState
from mammoedge.tools.bundle.build import build_bundle, publish
from mammoedge.tools.bundle.repository import Repository

#: where TemplateInstaller keeps one built venv per distinct (requirements, wheelhouse); set per session
VENV_CACHE: list[Path] = []

FAKE_MAIN = textwrap.dedent('''
    import os, sys, time
    from fakeapp import BEHAVIOUR, VERSION
    command = sys.argv[1]
    if os.environ.get("FAKEAPP_HANG") == f"{command}:{VERSION}":
        time.sleep(3600)
    if command == "start":
        if BEHAVIOUR == "crash":
            sys.exit("fakeapp: crashed on start")
        print(VERSION)
    elif command == "check":
        if BEHAVIOUR == "unhealthy":
            sys.exit("fakeapp: health check failed")
        print("ok")
''')


def make_fake_wheel(tmp: Path, version: str, behaviour: str, out: Path) -> Path:
    """A real wheel of a two-file package ``fakeapp`` (``python -m fakeapp start|check``)."""
    project = tmp / f"fakeapp-{version}-{behaviour}"
    (project / "fakeapp").mkdir(parents=True)
    (project / "fakeapp" / "__init__.py").write_text(f'VERSION = "{version}"\nBEHAVIOUR = "{behaviour}"\n')
    (project / "fakeapp" / "__main__.py").write_text(FAKE_MAIN)
    (project / "pyproject.toml").write_text(textwrap.dedent(f'''
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "fakeapp"
        version = "{version}"
        [tool.setuptools]
        packages = ["fakeapp"]
    '''))
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(out), str(project)], check=True)
    return next(out.glob(f"fakeapp-{version}-*.whl"))


@dataclass
class Lab:
    """The lab side: keys, a repository, and the fake bundles built into ``bundles``."""

    root: Path
    repo: Repository
    bundles: dict[str, Path]
    #: (version, behaviour) -> the wheel built for it (built once per session)
    wheels: dict[tuple[str, str], Path] = dataclasses.field(default_factory=dict)

    def bundle(self, name: str, version: str, behaviour: str = "good", *, kind: BundleKind = BundleKind.FULL,
               min_from: str = "0.0.1", model: bytes | None = None, migrations: dict[str, str] | None = None) -> Path:
        wheelhouse = self.root / "wheels" / name
        if kind is BundleKind.FULL:
            built = self.wheels.get((version, behaviour))
            if built is None:
                built = self.wheels[(version, behaviour)] = make_fake_wheel(self.root / "build" / name, version,
                                                                            behaviour, wheelhouse)
            else:
                wheelhouse.mkdir(parents=True)
                shutil.copy2(built, wheelhouse / built.name)
        models = self.root / "models" / name
        models.mkdir(parents=True)
        (models / "model.bin").write_bytes(model if model is not None else f"model for {version}".encode())
        folder = None
        if migrations:
            folder = self.root / "migrations" / name
            folder.mkdir(parents=True)
            for file, text in migrations.items():
                (folder / file).write_text(text)
        out = build_bundle(self.root / "out" / f"fakeapp-{name}.tar", version=version, kind=kind, models_dir=models,
                           migrations=folder,
                           software_version=version, min_from_version=min_from, requirements=[f"fakeapp=={version}"]
                           if kind is BundleKind.FULL else [], wheelhouse=wheelhouse if kind is BundleKind.FULL
                           else None)
        self.bundles[name] = out
        return out


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    root = tmp_path_factory.mktemp("lab")
    lab = Lab(root=root, repo=Repository.create(root / "repo-v1", root / "keys"), bundles={})
    for name, version, behaviour in (("v1", "1.0.0", "good"), ("v2", "2.0.0", "good"),
                                     ("v2-unhealthy", "2.0.0", "unhealthy"), ("v2-crash", "2.0.0", "crash")):
        lab.bundle(name, version, behaviour)
    publish(lab.repo, lab.bundles["v1"], version="1.0.0", kind=BundleKind.FULL)
    return lab


def repo_with(lab: Lab, dest: Path, bundle: str, version: str = "2.0.0",
              kind: BundleKind = BundleKind.FULL) -> Repository:
    """A copy of the v1 repository that also signs ``bundle``."""
    shutil.copytree(lab.repo.repo_dir, dest)
    repo = Repository(dest, lab.repo.keys_dir)
    publish(repo, lab.bundles[bundle], version=version, kind=kind)
    return repo


@dataclass(frozen=True, kw_only=True)
class TemplateInstaller(Installer):
    """The real Installer, except that each distinct venv (same requirements, same wheel files) is built once
    with ``venv`` + ``pip`` and later slots get a hard-linked copy of it: what a test of the state machine
    needs from a slot is a venv that runs, not a fresh pip run per case (test_update_machine keeps one
    update that uses the plain Installer)."""

    cache: Path

    def _venv(self, root: Path, requirements: list[str]) -> None:
        digest = hashlib.sha256("\n".join(requirements).encode())
        for wheel in sorted((root / "wheelhouse").glob("*.whl")):  # by content (names and CRCs), not zip dates
            with zipfile.ZipFile(wheel) as zf:
                digest.update(wheel.name.encode() + repr(sorted((i.filename, i.CRC) for i in zf.infolist())).encode())
        template = self.cache / digest.hexdigest()[:16]
        if not template.is_dir():
            super()._venv(root, requirements)
            building = self.cache / f".{template.name}.{os.getpid()}"
            shutil.copytree(root / "venv", building, symlinks=True)
            os.replace(building, template)
            return
        shutil.copytree(template, root / "venv", symlinks=True, copy_function=os.link)


def fake_manager(root: Path, *, timeout_s: float = 20.0, on_state: StateHook | None = None,
                 config_file: Path | None = None, installer: Installer | None = None) -> UpdateManager:
    python = "{slot}/venv/bin/python"
    if installer is None:
        # this venv's pip installs into the fake slots (no ensurepip per template); the product's own-pip path
        # runs in test_update_machine's plain-Installer update and in the end-to-end test
        installer = TemplateInstaller(cache=VENV_CACHE[0], pip_python=sys.executable) if VENV_CACHE else Installer()
    return UpdateManager(
        root,
        start=SlotCommand(argv=(python, "-m", "fakeapp", "start"), timeout_s=timeout_s, rule=Rule.START),
        health=SlotCommand(argv=(python, "-m", "fakeapp", "check"), timeout_s=timeout_s, rule=Rule.HEALTH),
        installer=installer, policy=Policy(max_trial_starts=3, crash_loop_starts=3, crash_loop_window_s=600),
        on_state=on_state, config_file=config_file)


class Fault:
    """Faults injected at one state (the ``on_state`` hook runs after the state is on disk)."""

    ERROR, KILL, HANG = "error", "kill", "hang"


#: states whose hang is inside a step the manager bounds itself (service start, health check)
SELF_TIMED = {UpdateState.STARTING_NEW: "start", UpdateState.HEALTH_CHECKING: "check"}
FAULT_TIMEOUT_S = 3.0


def fault_hook(root: Path, state: UpdateState, fault: str) -> StateHook:
    def hook(record: UpdateRecord) -> None:
        if record.state is not state:
            return
        (root / "reached").write_text(state.value)
        if fault == Fault.ERROR:
            raise RuntimeError(f"fault injected at {state.value}")
        if fault == Fault.KILL:
            os.kill(os.getpid(), signal.SIGKILL)  # a power cut: nothing after this line runs
        if fault == Fault.HANG:
            if state in SELF_TIMED:  # the slot's own command hangs; the manager's timeout ends it
                os.environ["FAKEAPP_HANG"] = f"{SELF_TIMED[state]}:{record.target_version}"
            else:
                time.sleep(3600)  # ended by the supervisor (systemd's timeout) with SIGKILL
    return hook


def apply_in_child(root: Path, repo: Path, state: UpdateState, fault: str) -> int:
    """Run one update in a forked child (a real process: SIGKILL is a real kill -9) with a fault at ``state``.

    A hang outside the self-timed steps is ended as systemd's timeout would: SIGKILL once the state is
    reached and the child is seen still running. Returns the exit code, or minus the signal that ended it.
    """
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            fake_manager(root, timeout_s=FAULT_TIMEOUT_S, on_state=fault_hook(root, state, fault)).apply(
                source_for(root, repo))
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + 120
    killed_at: float | None = None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"the update did not end within 120 s (fault {fault} at {state.value})")
        if fault == Fault.HANG and state not in SELF_TIMED and (root / "reached").exists():
            killed_at = killed_at or time.monotonic() + 0.3
            if time.monotonic() >= killed_at:  # still running 0.3 s after reaching the state: a hung step
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def recover(root: Path) -> UpdateRecord:
    """The reboot: a new manager reloads the state from disk, resolves it, the service starts, a trial is decided."""
    manager = fake_manager(root)
    manager.boot()
    start_current(root)
    return manager.finish_trial()


def source_for(root: Path, repo_dir: Path) -> RepositorySource:
    return RepositorySource(str(repo_dir), cache_dir=root / "tuf", trusted_root=repo_dir / "metadata" / "1.root.json",
                            max_bundle_bytes=64 << 20)


@pytest.fixture(scope="session", autouse=True)
def venv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One built venv per distinct slot content for the whole session (see TemplateInstaller)."""
    cache = tmp_path_factory.mktemp("venv-cache")
    VENV_CACHE[:] = [cache]
    return cache


@pytest.fixture(scope="session")
def provisioned_template(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A box with fakeapp 1.0.0 in slot a (current and good); copied per test."""
    root = tmp_path_factory.mktemp("template") / "box"
    fake_manager(root).provision(source_for(root, lab.repo.repo_dir))
    return root


@pytest.fixture
def box(provisioned_template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "box"
    shutil.copytree(provisioned_template, root, symlinks=True)
    return root


def start_current(root: Path) -> str:
    """Start the current slot the way a service would; its printed version."""
    out = subprocess.run([str(root / "current" / "venv" / "bin" / "python"), "-m", "fakeapp", "start"],
                         capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()
