"""Morphology model steps behind ``mammoedge train|export|evaluate morphology``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mammoedge.models import MODELS_DIR

from ..exams import EXAM_SPLITS, PROFILES, make_exams, parse_profiles
from ..modelfiles import read_json
from ..splits import Split, check_seed
from .train import TrainConfig

VERSION = "1.1.0"


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, default=TrainConfig.out / "morphology.pt")
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="where the files and manifest go")
    parser.add_argument("--calibration-rois", type=int, default=128, help="INT8 calibration ROIs")
    parser.add_argument("--fit-rois", type=int, default=1500,
                        help="ROIs the temperature and uncertainty threshold are fitted on (seed + 1)")
    parser.add_argument("--seed", type=int, default=Split.CALIBRATION.seed, help="calibration seed "
                        "(Split.CALIBRATION)")


def export_command(args: argparse.Namespace) -> int:
    from ..modelfiles import write_manifest
    from .data import make_rois
    from .evaluate import fit_parameters
    from .export import MODEL_NAME, export_onnx, manifest_entry, quantize_int8

    check_seed(args.seed, Split.CALIBRATION, what="calibration seed")
    check_seed(args.seed + 1, Split.CALIBRATION, what="temperature-fit seed")
    args.models_dir.mkdir(parents=True, exist_ok=True)
    fp32 = export_onnx(args.checkpoint, args.models_dir / f"{MODEL_NAME}-fp32.onnx")
    int8 = quantize_int8(fp32, args.models_dir / f"{MODEL_NAME}-int8.onnx",
                         make_rois(args.calibration_rois, args.seed).images)
    fit = make_rois(args.fit_rois, args.seed + 1, progress=True)
    training = read_json(args.checkpoint.parent / "training.json", {}).get("config", {})
    training = {"data": "mammoedge phantom cluster ROIs (tools/morphology/data.py)", **training}
    evaluation = read_json(args.checkpoint.parent / "evaluation.json", {"models": {}})
    entries = []
    for path, name, precision in ((int8, MODEL_NAME, "int8"), (fp32, f"{MODEL_NAME}-fp32", "fp32")):
        parameters = fit_parameters(path, fit)
        row = evaluation["models"].get(f"{precision.upper()} openvino", {})
        metrics = {k: row[k] for k in ("macro_f1", "f1_by_class", "auc", "ece_raw", "ece_calibrated") if k in row}
        print(f"{name}: {parameters}")
        entries.append(manifest_entry(path, name=name, version=VERSION, precision=precision, training=training,
                                      parameters=parameters, metrics=metrics))
    print(f"wrote {fp32.name}, {int8.name} and {write_manifest(args.models_dir, entries)}")
    return 0


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    splits = ", ".join(f"{s.name} {s.seed:,}" for s in EXAM_SPLITS)
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--out", type=Path, default=TrainConfig.out)
    parser.add_argument("--rois", type=int, default=1500, help="held-out ROIs (0: skip)")
    parser.add_argument("--seed", type=int, default=Split.TEST.seed, help="held-out ROI seed (Split.TEST)")
    parser.add_argument("--bootstrap", type=int, default=300)
    parser.add_argument("--exams", type=int, default=64,
                        help="full phantom exams for morphology on real detections and the flag (0: skip)")
    parser.add_argument("--exam-seed", type=int, default=Split.TEST_EXAMS.seed,
                        help=f"exam seed, one of the exam splits ({splits}; default TEST_EXAMS)")
    parser.add_argument("--exams-dir", type=Path, default=Path("build/detector/heldout-exams"),
                        help="where the exams are (made if missing; shared with evaluate detector)")
    parser.add_argument("--profiles", default=",".join(PROFILES), help="vendor profiles of the exams, in turn")


def evaluate_command(args: argparse.Namespace, config: Any = None) -> int:
    from .evaluate import evaluate

    check_seed(args.seed, Split.TEST, what="held-out ROI seed")
    if args.rois > 0:
        report = evaluate(args.models_dir, args.out, rois=args.rois, seed=args.seed,
                          bootstrap_samples=args.bootstrap)
        for name, row in report["models"].items():
            print(f"{name:22s} macro-F1 {row['macro_f1']:.3f}  AUC {row['auc'][0]:.3f} ({row['auc'][1]:.3f}-"
                  f"{row['auc'][2]:.3f})  ECE {row['ece_raw']:.3f} -> {row['ece_calibrated']:.3f}  "
                  f"uncertain {row['uncertain_share']:.2f}")
        print(f"wrote {args.out / 'evaluation.json'} and PNGs in {args.out}")
    if args.exams > 0:
        from mammoedge.runtime.config import load_config

        from .view_eval import evaluate_exams

        exams = make_exams(args.exams_dir, count=args.exams, seed=args.exam_seed,
                           profiles=parse_profiles(args.profiles))
        full = evaluate_exams(exams, config if config is not None else load_config(None), args.out)
        print(f"full views ({full['exams']} exams): {full['matched_clusters']} detected clusters on planted ones, "
              f"morphology accuracy {full['matched_accuracy']}, uncertain {full['matched_uncertain_share']}; "
              f"{full['false_clusters']} false clusters ({full['false_clusters_uncertain_share']} uncertain, "
              f"{full['false_clusters_counting_toward_flag']} count toward the flag); flag sensitivity "
              f"{full['flag_sensitivity'][0]}/{full['flag_sensitivity'][1]} exams, specificity "
              f"{full['flag_specificity'][0]}/{full['flag_specificity'][1]}; {args.out / 'exam-evaluation.json'}")
        from .scores import headline

        print(f"at the operating point (breasts, lesion-views): {headline(full['at_operating_point'])}")
    return 0
