"""Build an update bundle (manifest + wheelhouse + models + migrations) and publish it to a TUF repository."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mammoedge.firmware.bundle import (
    BUNDLE_SCHEMA_VERSION,
    MANIFEST_NAME,
    BundleKind,
    BundleManifest,
    HostInfo,
)

from .repository import Repository
from mammoedge.runtime.digest import file_sha256

log = logging.getLogger(__name__)


def build_wheelhouse(dest: Path, requirements: Sequence[str], *, find_links: Sequence[Path] = (),
                     no_deps: bool = False, no_index: bool = False) -> list[Path]:
    """``pip wheel`` the requirements (project folders or names) and their dependencies into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "--quiet", "-w", str(dest)]
    argv += ["--no-deps"] * no_deps + ["--no-index"] * no_index + ["--no-build-isolation"] * no_index
    for link in find_links:
        argv += ["--find-links", str(link)]
    subprocess.run([*argv, *requirements], check=True)
    return sorted(dest.glob("*.whl"))


def build_bundle(out: Path, *, version: str, kind: BundleKind, models_dir: Path, software_version: str,
                 min_from_version: str, requirements: Sequence[str] = (), wheelhouse: Path | None = None,
                 migrations: Path | None = None, host: HostInfo | None = None, name: str = "mammoedge") -> Path:
    """Write ``out`` (an uncompressed tar): manifest.json first, then the payload it lists."""
    payload: dict[str, Path] = {}
    sources = [("models", models_dir)]
    if kind is BundleKind.FULL:
        if wheelhouse is None:
            raise ValueError("a full bundle needs a wheelhouse")
        sources.append(("wheelhouse", wheelhouse))
    if migrations is not None:
        sources.append(("migrations", migrations))
    for prefix, folder in sources:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            payload[f"{prefix}/{path.relative_to(folder).as_posix()}"] = path
    host = host or HostInfo.this_host()
    manifest = {
        "schema_version": BUNDLE_SCHEMA_VERSION, "name": name, "kind": kind.value, "version": version,
        "software_version": software_version, "min_from_version": min_from_version,
        "compatible": {"machine": [host.machine], "os": [host.os], "python": host.python},
        "requirements": list(requirements),
        "files": {n: {"sha256": file_sha256(p), "length": p.stat().st_size} for n, p in sorted(payload.items())},
    }
    BundleManifest.from_dict(manifest)  # the box's own validation, before anything is published
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        manifest_file = Path(tmp) / MANIFEST_NAME
        manifest_file.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        with tarfile.open(out, "w:", format=tarfile.PAX_FORMAT) as tar:
            tar.add(manifest_file, arcname=MANIFEST_NAME)
            for arcname, path in sorted(payload.items()):
                tar.add(path, arcname=arcname)
    log.info("bundle %s %s: %d payload files, %d bytes", kind.value, version, len(payload), out.stat().st_size)
    return out


def publish(repo: Repository, bundle: Path, *, version: str, kind: BundleKind) -> str:
    """List the bundle in the repository's signed targets (new targets, snapshot, timestamp)."""
    target_path = f"bundles/{bundle.name}"
    repo.add_target(bundle, target_path, {"version": version, "kind": kind.value})
    return target_path
