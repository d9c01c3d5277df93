"""``mammoedge batch PATH...``: re-analyze an archive folder tree on Ray (local on 127.0.0.1, or a cluster)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mammoedge.runtime.cli.analyze import DEFAULT_SECRET
from mammoedge.runtime.config import Config
from mammoedge.runtime.privacy import load_or_create_secret

from .engine import FAILURES_FILE, BatchSettings, run_batch
from .table import CLUSTERS_FILE, EXAMS_FILE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="DICOM files or folders")
    parser.add_argument("--out", type=Path, default=Path("batch-results"),
                        help="results: <study key>.json per exam, exams.parquet, clusters.parquet, failures.json, "
                             "batch.sqlite (default batch-results/)")
    parser.add_argument("--address", help="a running Ray cluster (e.g. 10.0.0.5:6379); default: start a local Ray "
                                          "on 127.0.0.1 for this run")
    parser.add_argument("--workers", type=int, help="model-loaded workers (default: one per CPU of the cluster)")
    parser.add_argument("--threads-per-worker", type=int, default=1, help="cores per worker (default 1)")
    parser.add_argument("--pictures", action="store_true",
                        help="also write the overlays and saliency pictures as 'analyze' does (a shared --out)")
    parser.add_argument("--backend", choices=("auto", "openvino", "onnxruntime"), help="override [inference] backend")
    parser.add_argument("--device", help="override [inference] device, e.g. CPU, GPU, NPU, AUTO")
    parser.add_argument("--secret-file", type=Path, default=DEFAULT_SECRET,
                        help="study-key secret, the same as 'analyze' uses (created on first use)")
    parser.add_argument("--json", action="store_true", help="print the final report as JSON")


def run(args: argparse.Namespace, config: Config) -> int:
    from tqdm import tqdm

    overrides: dict[str, Any] = {k: v for k, v in (("backend", args.backend), ("device", args.device)) if v}
    settings = BatchSettings(paths=tuple(args.paths), out=args.out, secret=load_or_create_secret(args.secret_file),
                             address=args.address, workers=args.workers, threads=args.threads_per_worker,
                             pictures=args.pictures, overrides=overrides)
    bar: Any = None

    def progress(finished: int, due: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=due, desc="exams", unit="exam", file=sys.stderr)
        bar.update(1)

    try:
        report = run_batch(settings, config, progress)
    finally:
        if bar is not None:
            bar.close()
    for f in report.failures:
        where = f.path or f.study_key or ""
        print(f"{f.kind.value} {where}: [{f.reason}] {f.message}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(f"{report.exams} exam(s): {report.done} analyzed, {report.skipped} already done, {report.failed} failed; "
              f"{report.refused_files} file(s) refused; {report.workers} worker(s), "
              f"{report.exams_per_s:.2f} exams/s ({report.analysis_s:.1f} s analysis, {report.start_s:.1f} s start)")
        print(f"-> {args.out}/ (<study key>.json, {EXAMS_FILE}, {CLUSTERS_FILE}, {FAILURES_FILE})")
    return 1 if report.failures else 0
