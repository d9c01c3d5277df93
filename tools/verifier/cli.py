"""Cluster verifier steps behind ``mammoedge train|export verifier`` (it is evaluated by ``evaluate detector``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from mammoedge.models import MODELS_DIR

VERSION = "1.0.0"
#: Mining exams: a seed range neither detector training (0..), its held-out exams (2,000,000) nor the
#: confirmation set (3,000,000) uses.
MINING_SEED = 4_000_000


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from .train import TrainConfig

    d = TrainConfig()
    parser.add_argument("--out", type=Path, default=Path("build/verifier"), help="checkpoint folder")
    parser.add_argument("--exams", type=int, default=160, help="phantom exams to mine candidate clusters from")
    parser.add_argument("--exam-seed", type=int, default=MINING_SEED)
    parser.add_argument("--exams-dir", type=Path, default=Path("build/verifier/exams"),
                        help="where the mining exams are written (reused when present)")
    parser.add_argument("--candidate-threshold", type=float, default=0.1,
                        help="detector peak threshold at which candidates are mined (the runtime's peak_threshold)")
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="where the detector that mines is")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--steps", type=int, default=d.steps)
    parser.add_argument("--batch", type=int, default=d.batch)
    parser.add_argument("--width", type=int, default=d.width)
    parser.add_argument("--threads", type=int, default=d.threads)


def mined_set(args: argparse.Namespace):
    """The mined candidates for ``args`` (cached in ``args.out/mined.npz`` with the parameters that made it)."""
    from mammoedge.runtime.analysis.view import load_detector
    from mammoedge.runtime.config import load_config
    from mammoedge.runtime.inference import Engine
    from mammoedge.runtime.inference.registry import ModelRegistry

    from ..detector.view_eval import make_heldout_exams
    from .mine import MinedSet, mine

    key = {"exams": args.exams, "exam_seed": args.exam_seed, "candidate_threshold": args.candidate_threshold,
           "detector": str(args.models_dir)}
    cache, cache_key = args.out / "mined.npz", args.out / "mined.json"
    if cache.exists() and cache_key.exists() and json.loads(cache_key.read_text()) == key:
        return MinedSet.load(cache)
    exams = make_heldout_exams(args.exams_dir, count=args.exams, seed=args.exam_seed,
                               profiles=("hologic", "ge", "siemens", "fuji"))
    config = load_config(None)
    config = dataclasses.replace(config, analysis=dataclasses.replace(
        config.analysis, peak_threshold=args.candidate_threshold, verifier_model="", morphology_model=""))
    detector = load_detector(Engine(config.inference, ModelRegistry(args.models_dir)), config.analysis,
                             backend="openvino", force=True)
    mined = mine(exams, detector, config)
    mined.save(cache)
    cache_key.write_text(json.dumps(key))
    return mined


def train_command(args: argparse.Namespace) -> int:
    from .train import TrainConfig, train

    mined = mined_set(args)
    config = TrainConfig(seed=args.seed, steps=args.steps, batch=args.batch, width=args.width, threads=args.threads)
    summary = train(config, mined, args.out)
    summary["mining"] = {"exams": args.exams, "exam_seed": args.exam_seed,
                         "candidate_threshold": args.candidate_threshold}
    (args.out / "training.json").write_text(json.dumps(summary, indent=2))
    print(f"trained {summary['parameters']} parameters on {summary['clusters']} candidate clusters in "
          f"{summary['train_seconds']} s; validation AUC {summary['history']['val_auc'][-1]:.3f}; "
          f"{args.out / 'verifier.pt'}")
    return 0


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, default=Path("build/verifier/verifier.pt"))
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="where the files and manifest go")
    parser.add_argument("--calibration-rois", type=int, default=128,
                        help="ROIs of mined validation clusters used to calibrate INT8")


def export_command(args: argparse.Namespace) -> int:
    import numpy as np

    from ..modelfiles import write_manifest
    from .export import MODEL_NAME, export_onnx, manifest_entry, quantize_int8
    from .mine import MinedSet
    from .train import split

    folder = args.checkpoint.parent
    summary = json.loads((folder / "training.json").read_text())
    config = summary["config"]
    args.models_dir.mkdir(parents=True, exist_ok=True)
    fp32 = export_onnx(args.checkpoint, args.models_dir / f"{MODEL_NAME}-fp32.onnx", width=config["width"])
    _, val = split(MinedSet.load(folder / "mined.npz"), config["val_every_exam"])
    rng = np.random.default_rng(0)
    flat = val.rois[:, 0]
    calibration = flat[rng.permutation(len(flat))[:args.calibration_rois]][:, None]
    int8 = quantize_int8(fp32, args.models_dir / f"{MODEL_NAME}-int8.onnx", calibration)
    training = {"data": "candidate clusters mined by calc-detector from phantom exams (tools/verifier/mine.py)",
                **summary.get("mining", {}), **config, "clusters": summary["clusters"]}
    metrics = {"validation_auc": round(summary["history"]["val_auc"][-1], 4)}
    entries = [manifest_entry(int8, name=MODEL_NAME, version=VERSION, precision="int8", training=training,
                              metrics=metrics),
               manifest_entry(fp32, name=f"{MODEL_NAME}-fp32", version=VERSION, precision="fp32",
                              training=training, metrics=metrics)]
    print(f"wrote {fp32.name}, {int8.name} and {write_manifest(args.models_dir, entries)}")
    return 0
