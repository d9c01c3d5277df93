"""``mammoedge analyze PATH...``: triage every exam found in files and folders."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..config import Config
from ..pipeline import ExamModels, ExamPipeline, group_by_study, list_files
from ..privacy import load_or_create_secret, study_key
from ..results import ExamResult

DEFAULT_SECRET = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local/state")) / "mammoedge/study-key.secret"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="DICOM files or folders")
    parser.add_argument("--out", type=Path, default=Path("results"), help="where results go (results/)")
    parser.add_argument("--backend", choices=("auto", "openvino", "onnxruntime"), help="override [inference] backend")
    parser.add_argument("--device", help="override [inference] device, e.g. CPU, GPU, NPU, AUTO")
    parser.add_argument("--force", action="store_true", help="fail instead of falling back to another device")
    parser.add_argument("--dicom-out", type=Path, metavar="DIR",
                        help="also write the DICOM results (CAD SR, summary SR, GSPS, SCs) to DIR (docs/outputs.md)")
    parser.add_argument("--secret-file", type=Path, default=DEFAULT_SECRET,
                        help="study-key secret (created on first use)")


def summary_line(result: ExamResult, path: Path) -> str:
    flag = "FLAG" if result.triage.flagged else "no flag"
    parts = [f"{result.study_key[:12]}: {flag} (score {result.triage.score:.2f} at {result.triage.operating_point:g})"]
    for view in result.views:
        if view.clusters:
            best = max(view.clusters, key=lambda c: c.suspicion)
            described = f"{best.distribution.value} x{best.count} {best.suspicion:.2f}"
            if best.morphology is not None:
                m = best.morphology
                described += (f" {m.morphology.value.replace('_', ' ')} BI-RADS {m.birads.value} "
                              f"likelihood {m.likelihood:.2f}" + (" uncertain" if m.uncertain else ""))
            parts.append(f"{view.laterality.value}{view.view.value}: {len(view.clusters)} cluster(s), top {described}")
    seconds = sum(t.seconds for t in result.timings)
    return " | ".join(parts) + f" | {seconds:.2f} s -> {path}"


def run(args: argparse.Namespace, config: Config) -> int:
    found = list_files(args.paths)
    for path, why in found.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    studies, rejected = group_by_study(found.files, config.reader)
    for r in rejected:
        print(f"refused {r.path}: [{r.reason}] {r.message}", file=sys.stderr)
    if not studies:
        print("no analyzable mammogram found", file=sys.stderr)
        return 1
    overrides: dict[str, Any] = {k: v for k, v in (("backend", args.backend), ("device", args.device)) if v}
    if args.force:
        overrides["force"] = True
    pipeline = ExamPipeline(ExamModels.load(config, **overrides), config)
    for model in pipeline.models.compiled:
        print(f"model {model.entry.name} {model.entry.version} ({model.entry.precision}) on "
              f"{model.backend}/{model.device}" + (f"; fallbacks: {list(model.fallbacks)}" if model.fallbacks else ""))
    secret = load_or_create_secret(args.secret_file)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = len(rejected)
    for uid, paths in tqdm(studies.items(), desc="exams", unit="exam", disable=len(studies) < 2):
        exam = pipeline.analyze_files(paths, study_key=study_key(uid, secret))
        result, path = pipeline.write_outputs(exam, args.out)
        for r in exam.rejected:
            print(f"refused {r.path}: [{r.reason}] {r.message}", file=sys.stderr)
        failed += len(exam.rejected)
        print(summary_line(result, path))
        if args.dicom_out is not None:
            from ..dicom_results import write_exam_dicom

            written = write_exam_dicom(exam.result, exam.views, exam.paths, args.dicom_out, analysis=config.analysis)
            print(f"  {len(written)} DICOM object(s) -> {args.dicom_out}")
    return 1 if failed else 0
