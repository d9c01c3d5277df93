"""``mammoedge demo``: make a phantom screening exam on the spot and run the main job on it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mammoedge.runtime.config import Config
from mammoedge.runtime.dicom.inspect_cmd import inspect_file

#: A seed whose exam holds a suspicious cluster (checked by tests/tools/test_demo.py).
DEMO_SEED = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="where to write the exam (demo-out)")
    parser.add_argument("--vendor", default="hologic", help="phantom vendor profile (hologic, ge, siemens, fuji)")
    parser.add_argument("--size", choices=("full", "small"), default="full", help="image size (full)")


def make_demo_exam(out: Path, vendor: str, size: str) -> Path:
    """Write the demo exam (four views + truth.json) and return its folder."""
    from mammoedge.tools.phantom import make_exam

    folder = out / "exam"
    make_exam(folder, seed=DEMO_SEED, profile=vendor, size=size, normal_fraction=0.0)
    return folder


def run(args: argparse.Namespace, config: Config) -> int:
    folder = make_demo_exam(args.out, args.vendor, args.size)
    truth = json.loads((folder / "truth.json").read_text())
    print(f"demo exam: {folder} ({truth['vendor']} profile, density {truth['density']})")
    rejected = 0
    for name in ("RCC.dcm", "LCC.dcm", "RMLO.dcm", "LMLO.dcm"):
        entry = inspect_file(folder / name, config)
        if not entry["ok"]:
            rejected += 1
            print(f"  {name}: REJECTED [{entry['reason']}] {entry['error']}")
            continue
        print(f"  {name}: {entry['laterality']} {entry['view']} | {entry['rows']}x{entry['columns']} "
              f"{entry['bits_stored']} bit {entry['photometric']} | spacing {entry['spacing_mm'][0]:.4f} mm "
              f"-> {entry['normalized_shape'][0]}x{entry['normalized_shape'][1]} at "
              f"{entry['model_spacing_mm']:g} mm | breast {entry['breast_area_cm2']} cm2 | pectoral "
              f"{'found' if entry['pectoral_found'] else '-'}")
    for side, clusters in sorted(truth["clusters"].items()):
        for c in clusters:
            print(f"  planted ({side} breast): {c['morphology']} {c['distribution']}, "
                  f"{c['n_calcifications']} calcification(s), BI-RADS {c['assessment']}")
    return 1 if rejected else 0
