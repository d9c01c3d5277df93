"""Detector steps behind ``mammoedge train|export|evaluate detector`` and ``evaluate split-levels``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from mammoedge.models import MODELS_DIR

from ..exams import EXAM_SPLITS, PROFILES, make_exams, parse_profiles
from ..modelfiles import Backend, read_json
from ..splits import Split, check_seed
from .train import TrainConfig

VERSION = "1.0.0"


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, default=TrainConfig.out / "detector.pt")
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="where the files and manifest go")
    parser.add_argument("--calibration-patches", type=int, default=64)
    parser.add_argument("--seed", type=int, default=Split.CALIBRATION.seed, help="calibration patch seed "
                        "(Split.CALIBRATION)")


def export_command(args: argparse.Namespace) -> int:
    from ..modelfiles import write_manifest
    from .data import PhantomPatches, make_set
    from .export import MODEL_NAME, export_onnx, manifest_entry, quantize_int8

    check_seed(args.seed, Split.CALIBRATION, what="calibration seed")
    args.models_dir.mkdir(parents=True, exist_ok=True)
    trained = read_json(args.checkpoint.parent / "training.json", {}).get("config", {})
    fp32 = export_onnx(args.checkpoint, args.models_dir / f"{MODEL_NAME}-fp32.onnx", width=trained.get("width", 8))
    calibration, _, _ = make_set(PhantomPatches(), args.calibration_patches, seed=args.seed)
    int8 = quantize_int8(fp32, args.models_dir / f"{MODEL_NAME}-int8.onnx", calibration)
    training = {"data": "mammoedge phantom training patches (tools/phantom/patch.py)", **trained}
    metrics = read_json(args.checkpoint.parent / "evaluation.json", {})
    entries = [manifest_entry(int8, name=MODEL_NAME, version=VERSION, precision="int8", training=training,
                              metrics=metrics),
               manifest_entry(fp32, name=f"{MODEL_NAME}-fp32", version=VERSION, precision="fp32",
                              training=training, metrics=metrics)]
    print(f"wrote {fp32.name}, {int8.name} and {write_manifest(args.models_dir, entries)}")
    return 0


def _add_exam_arguments(parser: argparse.ArgumentParser, *, count: int, split: Split, exams_dir: Path) -> None:
    splits = ", ".join(f"{s.name} {s.seed:,}" for s in EXAM_SPLITS)
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--bootstrap", type=int, default=300, help="bootstrap resamples for the intervals")
    parser.add_argument("--exams", type=int, default=count, help="full phantom exams")
    parser.add_argument("--exam-seed", type=int, default=split.seed, help=f"exam seed, one of the exam splits "
                        f"({splits}; default {split.name})")
    parser.add_argument("--exams-dir", type=Path, default=exams_dir, help="where the exams are written (reused)")
    parser.add_argument("--peak-threshold", type=float, default=None,
                        help="override the runtime's analysis.peak_threshold (lower: more cluster candidates)")
    parser.add_argument("--profiles", default=",".join(PROFILES), help="vendor profiles of the exams, in turn")


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    _add_exam_arguments(parser, count=64, split=Split.TEST_EXAMS, exams_dir=TrainConfig.out / "heldout-exams")
    parser.add_argument("--out", type=Path, default=TrainConfig.out)
    parser.add_argument("--patches", type=int, default=300, help="held-out patches (0: full views only)")
    parser.add_argument("--seed", type=int, default=Split.TEST.seed, help="held-out patch seed (Split.TEST)")
    parser.add_argument("--backends", default=",".join(map(str, Backend)), help="backends of the exam rows "
                        "(openvino, onnxruntime; comma-separated)")
    parser.add_argument("--precisions", default="INT8,FP32", help="detector files of the exam rows (INT8, FP32)")


def _exam_config(args: argparse.Namespace, config: Any) -> Any:
    from mammoedge.runtime.config import load_config

    config = config if config is not None else load_config(None)
    if args.peak_threshold is None:
        return config
    return dataclasses.replace(config, analysis=dataclasses.replace(config.analysis,
                                                                    peak_threshold=args.peak_threshold))


def _print_views(report: dict[str, Any], kinds: tuple[str, ...]) -> None:
    from .froc import FP_RATES

    print(f"{report['views']} views of {report['exams']} exams; sensitivity (95% CI) at false positives per view: "
          + ", ".join(str(r) for r in FP_RATES))
    for kind in kinds:
        print(f" {kind}:")
        for name, row in report["detectors"].items():
            cells = [f"{v[0]:.3f} ({v[1]:.2f}-{v[2]:.2f})" for v in row[kind]["sensitivity_at_fp"].values()]
            print(f"  {name:40s} " + "  ".join(cells))


def evaluate_command(args: argparse.Namespace, config: Any = None) -> int:
    from .evaluate import evaluate

    check_seed(args.seed, Split.TEST, what="held-out patch seed")
    if args.exams > 0:
        from .view_eval import OPERATING_RATE, evaluate_views, load_rows

        config = _exam_config(args, config)
        exams = make_exams(args.exams_dir, count=args.exams, seed=args.exam_seed,
                           profiles=parse_profiles(args.profiles))
        rows = load_rows(args.models_dir, config, backends=parse_profiles(args.backends),
                         precisions=parse_profiles(args.precisions))
        report = evaluate_views(exams, rows, config, args.out,
                                bootstrap_samples=args.bootstrap)
        _print_views(report, ("suspicious", "clusters", "calcs"))
        print(f"suspicious clusters at {OPERATING_RATE} FP/view, by morphology/density/vendor: see "
              f"{args.out / 'view-evaluation.json'}; curves {args.out / 'froc-views.png'}")
    if args.patches <= 0:
        return 0
    models = {"INT8": args.models_dir / "calc-detector-int8.onnx", "FP32": args.models_dir / "calc-detector-fp32.onnx"}
    report = evaluate({k: v for k, v in models.items() if v.exists()}, args.out, patches=args.patches,
                      seed=args.seed, bootstrap_samples=args.bootstrap)
    rates = next(iter(report["detectors"].values()))["sensitivity_at_fp"].keys()
    print("sensitivity (95% CI) at false positives per patch: " + ", ".join(rates))
    for name, row in report["detectors"].items():
        cells = [f"{v[0]:.3f} ({v[1]:.2f}-{v[2]:.2f})" for v in row["sensitivity_at_fp"].values()]
        print(f"  {name:24s} " + "  ".join(cells))
    print(f"wrote {args.out / 'evaluation.json'} and {args.out / 'froc.png'}")
    return 0


def add_split_levels_arguments(parser: argparse.ArgumentParser) -> None:
    _add_exam_arguments(parser, count=192, split=Split.TUNING_EXAMS, exams_dir=TrainConfig.out / "tune-exams")
    parser.set_defaults(peak_threshold=0.1)
    parser.add_argument("--out", type=Path, default=TrainConfig.out / "split-levels")
    parser.add_argument("--backends", default=str(Backend.OPENVINO), help="backends of the detector rows "
                        "(openvino, onnxruntime; comma-separated)")


def split_levels_command(args: argparse.Namespace, config: Any = None) -> int:
    """The suspicious-cluster FROC with the configured ``split_levels`` and without (the script that chose
    the default 0.15, 0.2, 0.3; docs/detector.md)."""
    from .view_eval import evaluate_views, load_rows, split_level_rows

    config = _exam_config(args, config)
    exams = make_exams(args.exams_dir, count=args.exams, seed=args.exam_seed, profiles=parse_profiles(args.profiles))
    rows = load_rows(args.models_dir, config, backends=parse_profiles(args.backends))
    report = evaluate_views(exams, split_level_rows(rows, config.analysis), config, args.out,
                            bootstrap_samples=args.bootstrap)
    _print_views(report, ("suspicious",))
    print(f"wrote {args.out / 'view-evaluation.json'}")
    return 0
