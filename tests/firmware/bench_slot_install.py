"""Measure a real slot install from a full wheelhouse (mammoedge and every runtime dependency; no base site).

    .venv/bin/python tests/firmware/bench_slot_install.py [--wheelhouse build/wheelhouse] [--work build/bench-slot]

Not a test (CI must not download): builds the wheelhouse with ``pip wheel .`` when the folder is
missing (that step needs the package index or its cache), then, all offline, times: full bundles
built and signed into a fresh TUF repository; ``provision`` into slot a from this venv (TUF refresh,
download, bundle check, ``python -m venv`` + ``pip install --no-index`` of every wheel, slot sealed);
then two updates the way the box runs them, ``<good slot>/venv/bin/mammoedge update apply`` (so slot
a installs slot b, then slot b installs slot a again, each with its own pip), each with the new
slot's own health check (models with their sha256, the synthetic exam against its reference) and
commit. Prints one line per figure; the apply phases come from the state file's transitions.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mammoedge.firmware.appliance import health_command
from mammoedge.firmware.bundle import BundleKind
from mammoedge.firmware.errors import Rule
from mammoedge.firmware.fetch import RepositorySource
from mammoedge.firmware.health import REFERENCE_NAME, exam_summary
from mammoedge.firmware.install import Installer
from mammoedge.firmware.machine import UpdateManager, slot_command
from mammoedge.firmware.state import StateFile
from mammoedge.runtime.config import load_config
from mammoedge.runtime.inference import shipped_models_dir
from mammoedge.tools.bundle.build import build_bundle, build_wheelhouse, publish
from mammoedge.tools.bundle.repository import Repository

PROJECT = Path(__file__).resolve().parents[2]


def _models(dest: Path) -> Path:
    shutil.copytree(shipped_models_dir(), dest, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    c = load_config(env={})
    ref = exam_summary(dataclasses.replace(c, inference=dataclasses.replace(c.inference, models_dir=dest)))
    (dest / REFERENCE_NAME).write_text(json.dumps(ref))
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheelhouse", type=Path, default=PROJECT / "build" / "wheelhouse")
    parser.add_argument("--work", type=Path, default=PROJECT / "build" / "bench-slot")
    args = parser.parse_args()
    figures: dict[str, float] = {}

    if not args.wheelhouse.is_dir():
        started = time.perf_counter()
        build_wheelhouse(args.wheelhouse, [str(PROJECT)])
        figures["pip wheel . (with dependencies)"] = time.perf_counter() - started
    wheels = sorted(args.wheelhouse.glob("*.whl"))
    software = next(w for w in wheels if w.name.startswith("mammoedge-")).name.split("-")[1]
    size_mb = sum(w.stat().st_size for w in wheels) / 2**20
    print(f"wheelhouse {args.wheelhouse}: {len(wheels)} wheels, {size_mb:.0f} MiB")

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    repo = Repository.create(args.work / "repo", args.work / "keys")
    models = _models(args.work / "models")
    bundles = {}
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        started = time.perf_counter()
        bundles[version] = build_bundle(args.work / "out" / f"mammoedge-{version}.tar", version=version,
                                        kind=BundleKind.FULL, models_dir=models, software_version=software,
                                        min_from_version="1.0.0", requirements=[f"mammoedge=={software}"],
                                        wheelhouse=args.wheelhouse)
        figures[f"bundle {version} built ({bundles[version].stat().st_size / 2**20:.0f} MiB)"] = \
            time.perf_counter() - started
    config_file = args.work / "mammoedge.toml"
    start_argv = json.dumps(["{slot}/venv/bin/python", "-c", "import mammoedge.runtime.pipeline, openvino, onnxruntime"])
    config_file.write_text(f"[service]\nport = 0\n\n[update]\nroot = \"{args.work / 'opt'}\"\n"  # no receiver here
                           f"trusted_root = \"{repo.metadata_dir / '1.root.json'}\"\nstart_command = {start_argv}\n")
    root = args.work / "opt"
    start = slot_command(json.loads(start_argv), 120.0, Rule.START)
    manager = UpdateManager(root, start=start, health=health_command(str(config_file), 600.0),
                            installer=Installer(), config_file=config_file)

    def source() -> RepositorySource:
        return RepositorySource(str(repo.repo_dir), cache_dir=root / "tuf",
                                trusted_root=repo.metadata_dir / "1.root.json", max_bundle_bytes=4 << 30)

    publish(repo, bundles["1.0.0"], version="1.0.0", kind=BundleKind.FULL)
    started = time.perf_counter()
    manager.provision(source())
    figures["provision slot a (download, check, venv + offline pip install of every wheel)"] = \
        time.perf_counter() - started
    venv_mb = sum(p.stat().st_size for p in (root / "slots" / "a" / "venv").rglob("*") if p.is_file()) / 2**20
    print(f"slot a venv: {venv_mb:.0f} MiB")

    for version in ("1.1.0", "1.2.0"):
        publish(repo, bundles[version], version=version, kind=BundleKind.FULL)
        good = (root / "good").resolve().name
        started = time.perf_counter()
        out = subprocess.run([str(root / "good" / "venv" / "bin" / "mammoedge"), "-v", "--config", str(config_file),
                              "update", "apply", str(repo.repo_dir)], capture_output=True, text=True, check=False)
        figures[f"apply {version} from slot {good}'s own CLI (install, start, health check, commit)"] = \
            time.perf_counter() - started
        record = StateFile(root / "update-state.json").load()
        if out.returncode != 0 or record.state.value != "committed":
            print(f"apply {version} ended {record.state.value}: {record.last_rule} {record.last_message}\n"
                  f"{out.stderr[-2000:]}", file=sys.stderr)
            return 1
        for state, seconds in _phases(out.stderr):
            figures[f"  {version}: in state {state}"] = seconds
    for name, seconds in figures.items():
        print(f"{seconds:7.1f} s  {name}")
    return 0


def _phases(log: str) -> list[tuple[str, float]]:
    """(state, seconds in it) from the CLI's 'update state X' log lines (their timestamps)."""
    import datetime as dt
    import re

    marks = []
    for line in log.splitlines():
        found = re.match(r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[.,]\d+).*update state (\S+)", line)
        if found:
            marks.append((found.group(2), dt.datetime.fromisoformat(found.group(1).replace(",", ".")).timestamp()))
    return [(state, until - at) for (state, at), (_, until) in zip(marks, marks[1:])]


if __name__ == "__main__":
    sys.exit(main())
