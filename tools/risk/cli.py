"""Risk model steps behind ``mammoedge train|export|evaluate risk`` (the cohort is SIMULATED)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mammoedge.models import MODELS_DIR

from ..modelfiles import read_json
from ..splits import Split
from .train import TrainConfig

VERSION = "0.2.0"


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, default=TrainConfig.out / "risk.pt")
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="where the files and manifest go")
    parser.add_argument("--calibration-exams", type=int, default=160,
                        help="Split.RISK_CALIBRATION exams: INT8 calibration (the first 32), per-year calibration "
                             "and the asymmetry operating point (cached next to the checkpoint)")


def export_command(args: argparse.Namespace) -> int:
    from ..modelfiles import write_manifest
    from .data import cached_cohort
    from .evaluate import run_model
    from .export import MODEL_NAME, export_onnx, fit_parameters, manifest_entry, quantize_int8

    args.models_dir.mkdir(parents=True, exist_ok=True)
    calibration = cached_cohort(args.checkpoint.parent / "cohort-calibration.npz", Split.RISK_CALIBRATION,
                                args.calibration_exams, workers=2)
    fp32 = export_onnx(args.checkpoint, args.models_dir / f"{MODEL_NAME}-fp32.onnx")
    int8 = quantize_int8(fp32, args.models_dir / f"{MODEL_NAME}-int8.onnx", calibration.views[:32].astype("float32"))
    summary = read_json(args.checkpoint.parent / "training.json", {})
    training = {"data": "SIMULATED mammoedge phantom risk cohort (tools/phantom/cohort.py, tools/risk/data.py)",
                **summary.get("config", {}), "cohort": summary.get("cohort", {})}
    evaluation = read_json(args.checkpoint.parent / "evaluation.json", {"models": {}})
    entries = []
    for path, name, precision in ((int8, MODEL_NAME, "int8"), (fp32, f"{MODEL_NAME}-fp32", "fp32")):
        parameters = fit_parameters(run_model(path, calibration.views), calibration)
        row = evaluation["models"].get(precision.upper(), {})
        metrics = {"simulated_cohort": True, **{k: row[k] for k in ("risk", "asymmetry", "density") if k in row}}
        print(f"{name}: {json.dumps(parameters)}")
        entries.append(manifest_entry(path, name=name, version=VERSION, precision=precision, training=training,
                                      parameters=parameters, metrics=metrics))
    print(f"wrote {fp32.name}, {int8.name} and {write_manifest(args.models_dir, entries)}")
    return 0


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--out", type=Path, default=TrainConfig.out, help="evaluation.json (and the cached cohorts)")
    parser.add_argument("--exams", type=int, default=300, help="held-out exams (Split.RISK_TEST, cached)")
    parser.add_argument("--train-exams", type=int, default=700,
                        help="training exams the density-only baseline's incidences come from (Split.RISK_TRAIN)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--consistency-exams", type=int, default=0,
                        help="also compare the lab's input with the runtime's on this many RISK_TEST exams "
                             "(rendered at the phantom's small size; slow)")


def evaluate_command(args: argparse.Namespace, config: Any = None) -> int:
    from mammoedge.runtime.inference import ModelRegistry

    from .data import cached_cohort
    from .evaluate import evaluate
    from .export import MODEL_NAME

    test = cached_cohort(args.out / "cohort-test.npz", Split.RISK_TEST, args.exams, workers=2)
    train = cached_cohort(args.out / "cohort-train.npz", Split.RISK_TRAIN, args.train_exams, workers=2)
    registry = ModelRegistry(args.models_dir)
    files = {label: (registry.entry(name).path, registry.entry(name).parameters)
             for label, name in (("FP32", f"{MODEL_NAME}-fp32"), ("INT8", MODEL_NAME))}
    names = {"FP32": f"{MODEL_NAME}-fp32", "INT8": MODEL_NAME}
    report = evaluate(files, test, train, args.out, samples=args.bootstrap, models_dir=args.models_dir, names=names)
    rows = [("density-only baseline", report["density_only_baseline"], None),
            ("oracle: true hazard", report["oracle_true_hazard"], None),
            ("oracle: no faint calc.", report["oracle_without_faint_amorphous"], None)]
    rows += [(label, row["risk"], row) for label, row in report["models"].items()]
    print(f"SIMULATED cohort, {report['cohort']['exams']} held-out exams, "
          f"{report['cohort']['events_within_5_years']} cancers within 5 years")
    for label, risk, row in rows:
        c = risk["c_index"]
        line = (f"{label:22s} C-index {c[0]:.3f} ({c[1]:.3f}-{c[2]:.3f})  AUC y1..5 "
                f"{' '.join(f'{a:.3f}' for a in risk['auc_by_year'])}  ECE y1..5 "
                f"{' '.join(f'{e:.3f}' for e in risk['ece_by_year'])}")
        if row is not None:
            a, d = row["asymmetry"], row["density"]
            line += (f"\n{'':22s} asymmetry: top window on planted region {a['top_window_on_planted_region']} "
                     f"(region covers {a['region_share_of_breast']} of the breast), symmetric above operating point "
                     f"{a['symmetric_exams_above_operating_point']}, asymmetric "
                     f"{a['texture_asymmetry_exams_above_operating_point']}"
                     f"; density accuracy {d['accuracy']} kappa {d['weighted_kappa']}; latency {row.get('latency_ms')} ms")
        print(line)
    if args.consistency_exams > 0:
        from .consistency import consistency

        figures = consistency(test, args.consistency_exams, args.models_dir)
        report["lab_vs_runtime_input"] = figures
        (args.out / "evaluation.json").write_text(json.dumps(report, indent=2))
        print(f"lab vs runtime input: {figures}")
    print(f"wrote {args.out / 'evaluation.json'}")
    return 0
