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
    parser.add_argument("--hard-fraction", type=float, default=d.hard_fraction,
                        help="share of patches with amorphous / fine-linear clusters")
    parser.add_argument("--width", type=int, default=d.width, help="channels of the first stage")
    parser.add_argument("--view-contrast", type=float, default=d.view_contrast,
                        help="share of crops given a whole view's contrast and level")
    parser.add_argument("--view-exams", type=int, default=d.view_exams,
                        help="full phantom exams whose normalized views also give training crops (0: patches only)")
    parser.add_argument("--view-crops", type=int, default=d.view_crops, help="crops per view")
    parser.add_argument("--view-exams-dir", type=Path, default=Path("build/detector/train-exams"),
                        help="where those exams are written (reused when present)")
    parser.add_argument("--cluster-head", action="store_true",
                        help="add the cluster-scale output (probability that a cell lies in a cluster)")
    parser.add_argument("--init-checkpoint", default=d.init_checkpoint,
                        help="start from this detector.pt (e.g. a trained detector, to add the cluster head)")
    parser.add_argument("--head-only", action="store_true",
                        help="train only the cluster head; the calcification output stays the checkpoint's")
    parser.add_argument("--steps", type=int, default=d.steps)
    parser.add_argument("--batch", type=int, default=d.batch)
    parser.add_argument("--crop", type=int, default=d.crop)
    parser.add_argument("--threads", type=int, default=d.threads)


def train_command(args: argparse.Namespace) -> int:
    from .train import TrainConfig, train

    config = TrainConfig(seed=args.seed, patches=args.patches, steps=args.steps, batch=args.batch, crop=args.crop,
                         threads=args.threads, hard_fraction=args.hard_fraction, width=args.width,
                         view_contrast=args.view_contrast, view_exams=args.view_exams, view_crops=args.view_crops,
                         cluster_head=args.cluster_head, init_checkpoint=args.init_checkpoint,
                         head_only=args.head_only)
    summary = train(config, args.out, view_exams_dir=args.view_exams_dir)
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
    from ..modelfiles import write_manifest
    from .export import MODEL_NAME, export_onnx, manifest_entry, quantize_int8

    args.models_dir.mkdir(parents=True, exist_ok=True)
    training_file = args.checkpoint.parent / "training.json"
    trained = json.loads(training_file.read_text())["config"] if training_file.exists() else {}
    cluster_head = trained.get("cluster_head", False)
    fp32 = export_onnx(args.checkpoint, args.models_dir / f"{MODEL_NAME}-fp32.onnx", width=trained.get("width", 8),
                       cluster_head=cluster_head)
    calibration, _, _ = make_set(PhantomPatches(), args.calibration_patches, seed=args.seed)
    int8 = quantize_int8(fp32, args.models_dir / f"{MODEL_NAME}-int8.onnx", calibration)
    training = {"data": "mammoedge phantom training patches (tools/phantom/patch.py)", **trained}
    metrics_file = args.checkpoint.parent / "evaluation.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    entries = [manifest_entry(int8, name=MODEL_NAME, version=VERSION, precision="int8", training=training,
                              metrics=metrics, cluster_head=cluster_head),
               manifest_entry(fp32, name=f"{MODEL_NAME}-fp32", version=VERSION, precision="fp32",
                              training=training, metrics=metrics, cluster_head=cluster_head)]
    print(f"wrote {fp32.name}, {int8.name} and {write_manifest(args.models_dir, entries)}")
    return 0


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--out", type=Path, default=Path("build/detector"))
    parser.add_argument("--patches", type=int, default=300, help="held-out patches (0: full views only)")
    parser.add_argument("--seed", type=int, default=1_000_000, help="held-out seed (training uses 0..)")
    parser.add_argument("--bootstrap", type=int, default=300, help="bootstrap resamples for the intervals")
    parser.add_argument("--exams", type=int, default=64,
                        help="held-out full phantom exams for the per-view FROC (0: patches only)")
    parser.add_argument("--exam-seed", type=int, default=2_000_000, help="held-out exam seed (not training's)")
    parser.add_argument("--exams-dir", type=Path, default=Path("build/detector/heldout-exams"),
                        help="where the held-out exams are written (reused when present)")
    parser.add_argument("--peak-threshold", type=float, default=None,
                        help="override the runtime's analysis.peak_threshold for the per-view FROC (lower: more "
                             "cluster candidates, so the curve reaches higher false-positive rates)")
    parser.add_argument("--verifier-model", default=None,
                        help="override analysis.verifier_model for the per-view FROC ('' : no cluster verifier)")
    parser.add_argument("--verifier-threshold", type=float, default=None,
                        help="override analysis.verifier_threshold for the per-view FROC")
    parser.add_argument("--scan", action="store_true",
                        help="also rank cluster candidates by a scan statistic over the INT8 onnxruntime detector's "
                             "map and over the image's contrast-to-noise (tools/detector/scan.py)")
    parser.add_argument("--profiles", default="hologic,ge,siemens,fuji",
                        help="vendor profiles of the held-out exams, in turn")


def evaluate_command(args: argparse.Namespace, config=None) -> int:
    from .evaluate import evaluate

    if args.exams > 0:
        _evaluate_views(args, config)
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


def add_observer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("build/detector/observer"))
    parser.add_argument("--exams", type=int, default=64, help="phantom exams (rendered, not written)")
    parser.add_argument("--exam-seed", type=int, default=2_000_000,
                        help="exam seed (the same exams as evaluate detector's with that seed)")
    parser.add_argument("--profiles", default="hologic,ge,siemens,fuji", help="vendor profiles, in turn")
    parser.add_argument("--workers", type=int, default=2)


def observer_command(args: argparse.Namespace) -> int:
    from .observer import observe

    profiles = tuple(p.strip() for p in args.profiles.split(",") if p.strip())
    report = observe(args.out, count=args.exams, seed=args.exam_seed, profiles=profiles, workers=args.workers)
    print(f"{len(report['clusters'])} suspicious clusters in views of {args.exams} exams; known-location d' "
          f"(median, min), member d' median, searched z median:")
    for morphology, row in report["by_morphology"].items():
        print(f"  {morphology:24s} {row['clusters']:4d}  {row['dprime_median']:7.1f} {row['dprime_min']:7.1f}"
              f"  {row['member_dprime_median']:6.1f}  {row['z_searched_median']:6.1f}")
    print("searched, pattern known (found/total) at false positives per view:")
    for rate, row in report["searched_sensitivity_at_fp"].items():
        print(f"  {rate:>4s} (z > {row['threshold_z']}): " + ", ".join(
            f"{m} {v[0]}/{v[1]}" for m, v in row.items() if m != "threshold_z"))
    print(f"wrote {args.out / 'observer.json'}")
    return 0


def _evaluate_views(args: argparse.Namespace, config) -> None:
    from mammoedge.runtime.config import load_config

    from .view_eval import OPERATING_RATE, evaluate_views, load_detectors, make_heldout_exams

    import dataclasses

    config = config if config is not None else load_config(None)
    overrides = {key: value for key, value in (("peak_threshold", args.peak_threshold),
                                                ("verifier_model", args.verifier_model),
                                                ("verifier_threshold", args.verifier_threshold)) if value is not None}
    config = dataclasses.replace(config, analysis=dataclasses.replace(config.analysis, **overrides))
    profiles = tuple(p.strip() for p in args.profiles.split(",") if p.strip())
    exams = make_heldout_exams(args.exams_dir, count=args.exams, seed=args.exam_seed, profiles=profiles)
    detectors = load_detectors(args.models_dir, config, backends=("openvino", "onnxruntime"))
    report = evaluate_views(exams, detectors, config, args.out, bootstrap_samples=args.bootstrap,
                            scan_detector="INT8 onnxruntime" if args.scan else None)
    print(f"{report['views']} views of {report['exams']} held-out exams; sensitivity (95% CI) at false positives "
          f"per view: " + ", ".join(str(r) for r in (0.1, 0.2, 0.5, 1.0, 2.0)))
    for kind in ("suspicious", "clusters", "calcs"):
        print(f" {kind}:")
        for name, row in report["detectors"].items():
            if kind in row:
                cells = [f"{v[0]:.3f} ({v[1]:.2f}-{v[2]:.2f})" for v in row[kind]["sensitivity_at_fp"].values()]
                print(f"  {name:30s} " + "  ".join(cells))
    print(f"suspicious clusters at {OPERATING_RATE} FP/view, by morphology/density/vendor: see "
          f"{args.out / 'view-evaluation.json'}; curves {args.out / 'froc-views.png'}")
