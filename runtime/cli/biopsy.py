"""``mammoedge biopsy FILES|FOLDER [--at X,Y] [--json] [--out DIR]``: the 3-D target of a stereotactic set."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from ..biopsy.detect import detect_view
from ..biopsy.overlay import write_overlay
from ..biopsy.sr import target_sr
from ..biopsy.stage import run_biopsy
from ..biopsy.stereo_set import StereoRole
from ..config import Config
from ..dicom.header import load_dataset
from ..errors import InputError
from ..inference import Engine
from ..pipeline import list_files, load_detector


def _point(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--at {text!r}: rule: X,Y (column,row on the scout, px)") from None
    return x, y


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="FILES|FOLDER", help="the stereo images")
    parser.add_argument("--at", type=_point, metavar="X,Y",
                        help="target the cluster nearest this (column,row) on the scout (the +view without one)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--out", type=Path,
                        help="write biopsy.json, biopsy-overlay.png, biopsy-target-sr.dcm (3D SR) here")
    parser.add_argument("--backend", choices=("auto", "openvino", "onnxruntime"), help="override [inference] backend")
    parser.add_argument("--device", help="override [inference] device")


def run(args: argparse.Namespace, config: Config) -> int:
    datasets: list[tuple[str, Dataset]] = []
    found = list_files(args.paths)
    for path, why in found.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    for path in found.files:
        try:
            datasets.append((path.name, load_dataset(path)))
        except InputError as exc:
            print(f"skipped {path}: [{exc.reason}] {exc}", file=sys.stderr)
    overrides = {k: v for k, v in (("backend", args.backend), ("device", args.device)) if v}
    detector = load_detector(Engine(config.inference), config.analysis, **overrides)
    detect = functools.partial(detect_view, detector=detector, config=config)
    result, stereo, detections = run_biopsy(datasets, detect, config, at=args.at)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "biopsy.json").write_text(json.dumps(result.to_dict(), indent=1) + "\n")

        def view(role: StereoRole) -> tuple[np.ndarray, np.ndarray]:
            d = detections[role]
            return d.pixels, np.array([(c.x, c.y) for c in d.detections]).reshape(-1, 2)

        write_overlay(args.out / "biopsy-overlay.png", result, view(StereoRole.PLUS), view(StereoRole.MINUS))
        target_sr(result, [image.dataset for image in stereo.images]).save_as(args.out / "biopsy-target-sr.dcm")
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
    else:
        t = result.target
        print(f"target X {t.x_mm:.2f} Y {t.y_mm:.2f} Z {t.z_mm:.2f} mm (1-sigma {t.sigma_x_mm:.2f}, "
              f"{t.sigma_y_mm:.2f}, {t.sigma_z_mm:.2f}); {t.n_matches} matched calcifications; "
              f"{result.unit.value} unit, +/-{result.theta_deg:g} deg; {result.seconds:.2f} s"
              + (f"; warnings: {', '.join(w.value for w in result.warnings)}" if result.warnings else ""))
    return 0
