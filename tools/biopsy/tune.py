"""Choosing the biopsy stage's detection threshold and matching rules on BIOPSY_TUNE (never on BIOPSY_TEST).

``python -m mammoedge.tools.biopsy.tune --root eval/biopsy --exams 50 [--low 0.03]``

Each image is run through the shipped detector once, at a low peak threshold (``--low``), and its detections are
cached beside the exam (``detections-<low>.json``). A higher threshold is then a filter on the cached scores
(NMS keeps the higher score, so filtering equals extracting at that threshold). Every candidate rule set is then
``evaluate_exam`` on the cached detections: the real stage (``locate``) and the real scoring. The screening
clusters of the reference image are not recomputed per threshold (they break ties of equal evidence only).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from mammoedge.runtime.biopsy.detect import Detection, ViewDetections, detect_view
from mammoedge.runtime.biopsy.geometry import UnitKind
from mammoedge.runtime.config import Config
from mammoedge.runtime.inference import Engine
from mammoedge.runtime.pipeline import load_detector

from .evaluate import evaluate_exam, exam_folder, summarize
from .seeds import StereoSplit

EMPTY = np.zeros((1, 1), np.float32)


def cache_exam(folder: Path, detect: Any, low: float) -> dict[str, list[list[float]]]:
    """SOP Instance UID -> [[x, y, score, diameter_mm], ...] of every image, at threshold ``low`` (cached)."""
    path = folder / f"detections-{low:g}.json"
    if path.exists():
        return json.loads(path.read_text())
    out = {}
    for name in ("scout.dcm", "plus15.dcm", "minus15.dcm"):
        ds = pydicom.dcmread(folder / name)
        found = detect(ds, clusters=False)
        out[str(ds.SOPInstanceUID)] = [[d.x, d.y, d.score, d.diameter_mm] for d in found.detections]
    path.write_text(json.dumps(out))
    return out


class CachedDetector:
    """``detect(ds, clusters=...)`` from the cache, keeping scores >= ``threshold``."""

    def __init__(self, cached: dict[str, list[list[float]]], threshold: float) -> None:
        self.cached, self.threshold = cached, threshold

    def __call__(self, ds: Dataset, *, clusters: bool) -> ViewDetections:
        rows = self.cached[str(ds.SOPInstanceUID)]
        kept = tuple(Detection(x=r[0], y=r[1], score=r[2], diameter_mm=r[3]) for r in rows if r[2] >= self.threshold)
        return ViewDetections(detections=kept, clusters=(), pixels=EMPTY)


def grid(spec: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(spec)
    return [dict(zip(keys, values)) for values in itertools.product(*(spec[k] for k in keys))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("eval/biopsy"))
    parser.add_argument("--exams", type=int, default=50)
    parser.add_argument("--low", type=float, default=0.03)
    parser.add_argument("--grid", type=json.loads, default={"threshold": [0.2, 0.1, 0.05]},
                        help='JSON: {"threshold": [...], "<[biopsy] option>": [...]}')
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    base = Config()
    low_config = dataclasses.replace(base, analysis=dataclasses.replace(base.analysis, peak_threshold=args.low))
    detector = load_detector(Engine(base.inference), base.analysis)
    detect = functools.partial(detect_view, detector=detector, config=low_config)
    started = time.perf_counter()
    folders = [exam_folder(args.root, StereoSplit.TUNING, unit, i) for unit in UnitKind for i in range(args.exams)]
    caches = [cache_exam(f, detect, args.low) for f in folders]
    print(f"cached {len(folders)} exams in {time.perf_counter() - started:.0f} s", flush=True)
    report = []
    for point in grid(args.grid):
        options = {k: v for k, v in point.items() if k != "threshold"}
        config = dataclasses.replace(base, biopsy=dataclasses.replace(base.biopsy, **options))
        rows = [evaluate_exam(f, CachedDetector(c, point["threshold"]), config) for f, c in zip(folders, caches)]
        by_unit = {u.value: summarize([r for r, f in zip(rows, folders) if f.parent.name == u.value]) for u in UnitKind}
        s = summarize(rows)
        report.append({"point": point, "all": s, "units": by_unit})
        print(json.dumps(point), f"found {s['found']}/{s['exams']}",
              f"median {s['error_3d_mm'].get('median', float('nan')):.2f} p95 {s['error_3d_mm'].get('p95', float('nan')):.2f}",
              f"xy p95 {s['error_xy_mm'].get('p95', float('nan')):.2f} z p95 {s['error_z_mm'].get('p95', float('nan')):.2f}",
              f"recall {s['planted_matched_fraction']:.2f} false/target {s['false_matches_per_target']:.2f}",
              " ".join(f"{u} {v['found']}" for u, v in by_unit.items()), flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
