"""Benchmark: ``mammoedge batch`` on a local Ray vs the single-process ``analyze`` loop, on the same exams.

    .venv/bin/python tests/tools/batch/bench_batch.py [--exams 8] [--out build/bench-batch] [--size full]

Each configuration runs in a fresh process (``taskset`` gives it its cores):

- ``analyze, 1 core``: the loop of ``mammoedge analyze`` (``ExamPipeline.analyze_files`` + ``write_outputs``, models
  loaded once), pinned to core 0 with one inference and OpenCV thread: the per-core baseline;
- ``analyze, 2 cores``: the same loop unpinned with the backend's default threads (what ``analyze`` does);
- ``batch, 1 worker``: ``mammoedge batch --pictures --workers 1`` pinned to core 0 (Ray's own processes too);
- ``batch, 2 workers``: ``mammoedge batch --pictures --workers 2`` on both cores.

Times exclude start-up (model load; Ray start): analyze from its first exam to its last, batch its
``analysis_s`` (first exam handed out to last result recorded). CPU seconds: analyze's process; batch's workers
(each actor's own CPU time over its analyses) and the driver. Ratio per core = exams/s of the configuration
divided by (cores x exams/s of ``analyze, 1 core``). On a shared machine the wall-clock figures move with other
load; the CPU-second figures much less.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

MAMMOEDGE = Path(sys.executable).parent / "mammoedge"

ANALYZE_LOOP = r"""
import json, os, sys, time
from pathlib import Path
from mammoedge.runtime.config import load_config
from mammoedge.runtime.pipeline import ExamModels, ExamPipeline, group_by_study, list_files
from mammoedge.runtime.privacy import load_or_create_secret, study_key
if os.environ.get("BENCH_THREADS"):
    import cv2
    cv2.setNumThreads(int(os.environ["BENCH_THREADS"]))
config = load_config(None)
root, out, secret = Path(sys.argv[1]), Path(sys.argv[2]), load_or_create_secret(Path(sys.argv[3]))
studies, _ = group_by_study(list_files([root]).files, config.reader)
pipeline = ExamPipeline(ExamModels.load(config), config)
out.mkdir(parents=True, exist_ok=True)
t0, c0 = time.perf_counter(), sum(os.times()[:2])
for uid, paths in studies.items():
    pipeline.write_outputs(pipeline.analyze_files(paths, study_key=study_key(uid, secret)), out)
print(json.dumps({"exams": len(studies), "seconds": time.perf_counter() - t0, "cpu_s": sum(os.times()[:2]) - c0}))
"""


def make_exams(folder: Path, count: int, size: str) -> None:
    from mammoedge.tools.phantom import make_exam

    for index in range(count):
        if not (folder / f"exam{index:03d}" / "truth.json").exists():
            make_exam(folder / f"exam{index:03d}", seed=2, index=index, size=size, normal_fraction=0.3)


def analyze(exams: Path, out: Path, secret: Path, *, pinned: bool) -> dict:
    env = dict(os.environ)
    cmd = [sys.executable, "-c", ANALYZE_LOOP, str(exams), str(out), str(secret)]
    if pinned:
        env.update(MAMMOEDGE__INFERENCE__NUM_THREADS="1", BENCH_THREADS="1")
        cmd = ["taskset", "-c", "0", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def batch(exams: Path, out: Path, secret: Path, *, workers: int, pictures: bool = True) -> dict:
    cmd = [str(MAMMOEDGE), "batch", str(exams), "--out", str(out), "--workers", str(workers), "--secret-file",
           str(secret), "--json"] + (["--pictures"] if pictures else [])
    if workers == 1:
        cmd = ["taskset", "-c", "0", *cmd]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["done"] == report["exams"], done.stderr[-2000:]
    return {"exams": report["done"], "seconds": report["analysis_s"], "cpu_s": report["worker_cpu_s"],
            "start_s": report["start_s"], "command_s": wall, "driver_cpu_s": report.get("driver_cpu_s")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exams", type=int, default=8)
    parser.add_argument("--size", choices=("full", "small"), default="full")
    parser.add_argument("--out", type=Path, default=Path("build/bench-batch"))
    args = parser.parse_args()
    exams, secret = args.out / "exams", args.out / "secret"
    make_exams(exams, args.exams, args.size)
    rows = {}
    load = os.getloadavg()[0]
    rows["analyze, 1 core"] = analyze(exams, args.out / "r-a1", secret, pinned=True)
    rows["analyze, 2 cores"] = analyze(exams, args.out / "r-a2", secret, pinned=False)
    for workers in (1, 2):
        target = args.out / f"r-b{workers}"
        subprocess.run(["rm", "-rf", str(target)], check=True)
        rows[f"batch, {workers} worker{'s' if workers > 1 else ''}"] = batch(exams, target, secret, workers=workers)
    base = rows["analyze, 1 core"]["exams"] / rows["analyze, 1 core"]["seconds"]
    base_cpu = rows["analyze, 1 core"]["cpu_s"] / rows["analyze, 1 core"]["exams"]
    print(f"{args.exams} {args.size} exams; load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    print("| configuration | cores | exams/s | ratio per core | CPU s per exam (vs analyze, 1 core) | start s |")
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        cores = 1 if "1 core" in name or "1 worker" in name else 2
        rate = row["exams"] / row["seconds"]
        print(f"| {name} | {cores} | {rate:.3f} | {rate / (cores * base):.2f} | {row['cpu_s'] / row['exams']:.3f} "
              f"({row['cpu_s'] / row['exams'] / base_cpu:.2f}x) | {row.get('start_s', 0):.1f} |")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
