"""``mammoedge demo``: make a phantom screening exam on the spot and run the main job on it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mammoedge.runtime.cli.analyze import summary_line
from mammoedge.runtime.config import Config
from mammoedge.runtime.pipeline import ExamModels, ExamPipeline, group_by_study, list_files
from mammoedge.runtime.privacy import load_or_create_secret, study_key

#: A seed whose exam holds suspicious clusters in both breasts (coarse heterogeneous and amorphous, grouped,
#: BI-RADS 4B) that the shipped models find and flag (tests/tools/test_demo.py).
DEMO_SEED = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="where to write exam and results")
    parser.add_argument("--vendor", default="hologic", help="phantom vendor profile (hologic, ge, siemens, fuji)")
    parser.add_argument("--size", choices=("full", "small"), default="full", help="image size (full)")


def run(args: argparse.Namespace, config: Config) -> int:
    from mammoedge.tools.phantom import make_exam

    folder = args.out / "exam"
    make_exam(folder, seed=DEMO_SEED, profile=args.vendor, size=args.size, normal_fraction=0.0)
    truth = json.loads((folder / "truth.json").read_text())
    print(f"demo exam: {folder} (phantom, {truth['vendor']} profile, density {truth['density']})")
    for side, clusters in sorted(truth["clusters"].items()):
        for c in clusters:
            print(f"  planted ({side} breast): {c['morphology']} {c['distribution']}, "
                  f"{c['n_calcifications']} calcification(s), BI-RADS {c['assessment']}")
    studies, rejected = group_by_study(list_files([folder]).files, config.reader)
    for r in rejected:
        print(f"  {r.path.name}: REJECTED [{r.reason}] {r.message}")
    pipeline = ExamPipeline(ExamModels.load(config), config)
    for model in pipeline.models.compiled:
        print(f"model {model.entry.name} {model.entry.version} ({model.entry.precision}) on "
              f"{model.backend}/{model.device}")
    secret = load_or_create_secret(args.out / "study-key.secret")
    for uid, paths in studies.items():
        exam = pipeline.analyze_files(paths, study_key=study_key(uid, secret))
        result, path = pipeline.write_outputs(exam, args.out / "results")
        for view in result.views:
            print(f"  {view.laterality.value}{view.view.value}: {len(view.calcifications)} calcification(s), "
                  f"{len(view.clusters)} cluster(s)")
            for c in view.clusters:
                m = c.morphology
                said = "" if m is None else (
                    f", {m.morphology.value.replace('_', ' ')}"
                    + (f" ({m.benign_subtype.value.replace('_', ' ')})" if m.benign_subtype else "")
                    + f", BI-RADS {m.birads.value}, likelihood {m.likelihood:.2f}" + (", UNCERTAIN" if m.uncertain else ""))
                print(f"    #{c.id} {c.distribution.value}, {c.count} calcifications, {c.extent_mm:.0f} mm, "
                      f"{c.distance_to_nipple_mm:.0f} mm from the nipple, suspicion {c.suspicion:.2f}{said}")
        print("result: " + summary_line(result, path))
        rejected += exam.rejected
    return 1 if rejected else 0
