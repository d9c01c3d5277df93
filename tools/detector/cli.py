"""Detector steps behind ``mammoedge train|export|evaluate detector``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mammoedge.models import MODELS_DIR

VERSION = "1.0.0"


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from .train import TrainConfig

    d = TrainConfig()
    parser.add_argument("--out", type=Path, default=Path("build/detector"), help="checkpoint folder")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--patches", type=int, default=d.patches, help="training patches made up front")
    parser.add_argument("--steps", type=int, default=d.steps)
    parser.add_argument("--batch", type=int, default=d.batch)
    parser.add_argument("--crop", type=int, default=d.crop)
    parser.add_argument("--threads", type=int, default=d.threads)


def train_command(args: argparse.Namespace) -> int:
    from .train import TrainConfig, train

    config = TrainConfig(seed=args.seed, patches=args.patches, steps=args.steps, batch=args.batch, crop=args.crop,
                         threads=args.threads)
    summary = train(config, args.out)
    print(f"trained {summary['parameters']} parameters in {summary['train_seconds']} s "
          f"({summary['patches_per_second']} patches/s); final validation loss "
          f"{summary['history']['val_loss'][-1]:.4f}; {args.out / 'detector.pt'}")
    return 0


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, default=Path("build/detector/detector.pt"))
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="where the files and manifest go")
    parser.add_argument("--calibration-patches", type=int, default=64)
    parser.add_argument("--seed", type=int, default=500_000, help="calibration patch seed (not training's)")


def export_command(args: argparse.Namespace) -> int:
    from .data import PhantomPatches, make_set
    from .export import MODEL_NAME, export_onnx, manifest_entry, quantize_int8, write_manifest

    args.models_dir.mkdir(parents=True, exist_ok=True)
    fp32 = export_onnx(args.checkpoint, args.models_dir / f"{MODEL_NAME}-fp32.onnx")
    calibration, _, _ = make_set(PhantomPatches(), args.calibration_patches, seed=args.seed)
    int8 = quantize_int8(fp32, args.models_dir / f"{MODEL_NAME}-int8.onnx", calibration)
    training_file = args.checkpoint.parent / "training.json"
    training = json.loads(training_file.read_text())["config"] if training_file.exists() else {}
    training = {"data": "mammoedge phantom training patches (tools/phantom/patch.py)", **training}
    metrics_file = args.checkpoint.parent / "evaluation.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    entries = [manifest_entry(int8, name=MODEL_NAME, version=VERSION, precision="int8", training=training,
                              metrics=metrics),
               manifest_entry(fp32, name=f"{MODEL_NAME}-fp32", version=VERSION, precision="fp32",
                              training=training, metrics=metrics)]
    print(f"wrote {fp32.name}, {int8.name} and {write_manifest(args.models_dir, entries)}")
    return 0


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--out", type=Path, default=Path("build/detector"))
    parser.add_argument("--patches", type=int, default=300, help="held-out patches")
    parser.add_argument("--seed", type=int, default=1_000_000, help="held-out seed (training uses 0..)")
    parser.add_argument("--bootstrap", type=int, default=300, help="bootstrap resamples for the intervals")
    parser.add_argument("--exams", type=int, default=0,
                        help="also make this many held-out full exams and measure cluster FROC on full views")


def evaluate_command(args: argparse.Namespace) -> int:
    from .evaluate import evaluate

    models = {"INT8": args.models_dir / "calc-detector-int8.onnx", "FP32": args.models_dir / "calc-detector-fp32.onnx"}
    report = evaluate({k: v for k, v in models.items() if v.exists()}, args.out, patches=args.patches,
                      seed=args.seed, bootstrap_samples=args.bootstrap)
    rates = next(iter(report["detectors"].values()))["sensitivity_at_fp"].keys()
    print("sensitivity (95% CI) at false positives per patch: " + ", ".join(rates))
    for name, row in report["detectors"].items():
        cells = [f"{v[0]:.3f} ({v[1]:.2f}-{v[2]:.2f})" for v in row["sensitivity_at_fp"].values()]
        print(f"  {name:24s} " + "  ".join(cells))
    if args.exams > 0:
        from .exam_eval import evaluate_exams

        clusters = evaluate_exams(args.exams, bootstrap_samples=args.bootstrap)
        report["full_view_clusters"] = clusters
        (args.out / "evaluation.json").write_text(json.dumps(report, indent=2))
        for key in ("all_clusters", "suspicious_clusters"):
            row = clusters[key]
            cells = [f"{v[0]:.3f} ({v[1]:.2f}-{v[2]:.2f})" for v in row["sensitivity_at_fp"].values()]
            print(f"  {key} ({row['planted']} planted, {clusters['views']} views, INT8 runtime path): "
                  + "  ".join(cells))
    print(f"wrote {args.out / 'evaluation.json'} and {args.out / 'froc.png'}")
    return 0
