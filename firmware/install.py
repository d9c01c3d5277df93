"""Install a verified bundle into a slot: payload copied, a venv built offline from the wheelhouse, sealed last."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from .bundle import BundleKind, BundleManifest
from .errors import Rule, SlotError, UpdateError
from .slots import Slot, SlotInfo, SlotStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Installer:
    """Builds a slot's venv with ``python -m venv`` and ``pip install --no-index --find-links wheelhouse``.

    ``base_site``: a read-only directory of dependencies shared by both slots, added to the slot
    venv's path after its own site-packages (empty: every dependency comes from the wheelhouse).
    ``pip_python``: an interpreter whose pip installs into the slot (``pip --python``); None (the
    appliance): the venv gets its own pip (ensurepip, offline), which installs it, so the next update,
    run from this slot once it is good, has a pip too (a full wheelhouse holds no pip wheel).
    """

    base_python: str = getattr(sys, "_base_executable", sys.executable)
    pip_python: str | None = None
    base_site: Path | None = None
    timeout_s: float = 900.0

    def install(self, store: SlotStore, slot: Slot, unpacked: Path, manifest: BundleManifest,
                source_slot: Slot | None) -> SlotInfo:
        store.wipe(slot)
        root = store.path(slot)
        requirements = list(manifest.requirements)
        software_version = manifest.software_version
        if manifest.kind is BundleKind.MODELS:
            source = store.info(source_slot) if source_slot is not None else None
            if source is None or source_slot is None:
                raise SlotError(Rule.NO_GOOD_SLOT,
                                "a models-only bundle needs an installed slot to take the software from")
            shutil.copytree(store.path(source_slot) / "wheelhouse", root / "wheelhouse")
            requirements = list(source.manifest.get("requirements", ()))
            software_version = source.software_version
            if (store.path(source_slot) / "migrations").is_dir() and not (unpacked / "migrations").is_dir():
                shutil.copytree(store.path(source_slot) / "migrations", root / "migrations")
        for name in ("wheelhouse", "models", "migrations"):
            if (unpacked / name).is_dir():
                shutil.copytree(unpacked / name, root / name)
        self._venv(root, requirements)
        record = manifest.as_dict()
        record["requirements"] = requirements
        info = store.seal(slot, version=manifest.version, software_version=software_version,
                          kind=manifest.kind.value, manifest=record)
        log.info("slot %s holds bundle %s (software %s)", slot.value, manifest.version, software_version)
        return info

    def _venv(self, root: Path, requirements: list[str]) -> None:
        venv = root / "venv"
        own_pip = self.pip_python is None
        self._run([self.base_python, "-m", "venv", *([] if own_pip else ["--without-pip"]), str(venv)], "venv")
        if self.base_site is not None:
            purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
            Path(purelib).mkdir(parents=True, exist_ok=True)
            (Path(purelib) / "_mammoedge_base_site.pth").write_text(f"{self.base_site}\n")
        python = str(venv / "bin" / "python")
        pip = [python, "-m", "pip"] if self.pip_python is None else [self.pip_python, "-m", "pip", "--python", python]
        self._run([*pip, "install", "--no-index",
                   "--find-links", str(root / "wheelhouse"), "--no-cache-dir", "--disable-pip-version-check",
                   "--quiet", *(["--no-deps", "--ignore-installed"] if self.base_site is not None else []),
                   *requirements], "pip install")

    def _run(self, argv: list[str], what: str) -> None:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise UpdateError(Rule.INSTALL, f"{what} took longer than {self.timeout_s:.0f} s") from None
        if out.returncode != 0:
            tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
            raise UpdateError(Rule.INSTALL, f"{what} exited with {out.returncode}: {' | '.join(tail)}")
