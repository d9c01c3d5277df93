"""Fixtures for the update layer: tiny fake-app wheels, a lab TUF repository, bundles, a provisioned box."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from mammoedge.firmware.bundle import BundleKind
from mammoedge.firmware.errors import Rule
from mammoedge.firmware.fetch import RepositorySource
from mammoedge.firmware.install import Installer
from mammoedge.firmware.machine import Policy, SlotCommand, UpdateManager
from mammoedge.tools.bundle.build import build_bundle, publish
from mammoedge.tools.bundle.repository import Repository

DRIVER = Path(__file__).with_name("update_driver.py")

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

    def bundle(self, name: str, version: str, behaviour: str = "good", *, kind: BundleKind = BundleKind.FULL,
               min_from: str = "0.0.1", model: bytes | None = None, migrations: dict[str, str] | None = None) -> Path:
        wheelhouse = self.root / "wheels" / name
        if kind is BundleKind.FULL:
            make_fake_wheel(self.root / "build" / name, version, behaviour, wheelhouse)
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


def fake_manager(root: Path, *, timeout_s: float = 20.0, on_state=None,  # type: ignore[no-untyped-def]
                 config_file: Path | None = None) -> UpdateManager:
    python = "{slot}/venv/bin/python"
    return UpdateManager(
        root,
        start=SlotCommand(argv=(python, "-m", "fakeapp", "start"), timeout_s=timeout_s, rule=Rule.START),
        health=SlotCommand(argv=(python, "-m", "fakeapp", "check"), timeout_s=timeout_s, rule=Rule.HEALTH),
        installer=Installer(), policy=Policy(max_trial_starts=3, crash_loop_starts=3, crash_loop_window_s=600),
        on_state=on_state, config_file=config_file)


def source_for(root: Path, repo_dir: Path) -> RepositorySource:
    return RepositorySource(str(repo_dir), cache_dir=root / "tuf", trusted_root=repo_dir / "metadata" / "1.root.json",
                            max_bundle_bytes=64 << 20)


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
