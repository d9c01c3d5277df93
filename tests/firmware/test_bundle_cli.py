"""The lab's ``mammoedge bundle`` commands and the box's ``mammoedge update check`` against what they publish."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mammoedge.tools.bundle.repository import Repository

MAMMOEDGE = Path(sys.executable).with_name("mammoedge")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MAMMOEDGE), *args], capture_output=True, text=True, timeout=300, env=env, check=False)


def test_init_build_publish_and_check(tmp_path: Path) -> None:
    repo, keys = tmp_path / "repo", tmp_path / "keys"
    out = _run("bundle", "init-repo", "--repo", str(repo), "--keys", str(keys))
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in keys.iterdir())[:3] == ["root-0.pem", "root-1.pem", "root-2.pem"]
    out = _run("bundle", "build", "--kind", "models", "--version", "1.1.0", "--reference",
               "--out", str(tmp_path / "models-1.1.0.tar"), "--repo", str(repo), "--keys", str(keys))
    assert out.returncode == 0, out.stderr
    targets = Repository(repo, keys).load("targets").signed.targets
    assert list(targets) == ["bundles/models-1.1.0.tar"]
    assert targets["bundles/models-1.1.0.tar"].custom == {"version": "1.1.0", "kind": "models"}
    # the reference the health check compares with travels in the bundle's models
    import tarfile
    with tarfile.open(tmp_path / "models-1.1.0.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        reference = json.load(tar.extractfile("models/health.json"))  # type: ignore[arg-type]
    assert manifest["kind"] == "models" and "models/health.json" in manifest["files"]
    assert set(reference) == {"flagged", "clusters", "models"}
    before = Repository(repo, keys).load("timestamp").signed.version
    assert _run("bundle", "timestamp", "--repo", str(repo), "--keys", str(keys)).returncode == 0
    assert Repository(repo, keys).load("timestamp").signed.version == before + 1

    env = dict(os.environ, MAMMOEDGE__UPDATE__ROOT=str(tmp_path / "box"),
               MAMMOEDGE__UPDATE__TRUSTED_ROOT=str(repo / "metadata" / "1.root.json"))
    out = _run("update", "check", str(repo), env=env)
    assert out.returncode == 0, out.stderr
    assert "newest signed bundle: 1.1.0 (models" in out.stdout and "installed: none" in out.stdout
