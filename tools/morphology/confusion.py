"""The 12-class confusion of morphology model files on phantom ROIs of one seed (issue 23: punctate vs fine
pleomorphic), on OpenVINO.

    python -m mammoedge.tools.morphology.confusion models/calc-morphology-int8.onnx build/cand/calc-morphology-int8.onnx \\
        --rois 1200 --seed 100000

Seeds: ``MORPHOLOGY_VALIDATION`` (training seed + 100,000, the ROIs a training run validates on) or
``CALIBRATION``; never the held-out ``TEST`` ROIs, which only ``evaluate morphology`` reads.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mammoedge.runtime.codes import Morphology

from ..splits import Split, check_seed
from .data import CLASSES, RoiSet, make_rois
from .evaluate import GROUP, runner


def confusion(logits: np.ndarray, data: RoiSet) -> dict[str, Any]:
    """Confusion (12 true x 12 predicted, ROIs with a cluster), per-class recall, reported-class accuracy, and
    the punctate and fine pleomorphic rows."""
    known = [i for i, m in enumerate(data.morphology) if m is not None]
    truth = np.array([CLASSES.index(data.morphology[i]) for i in known])
    predicted = np.argmax(logits[known, :len(CLASSES)], axis=1)
    matrix = np.zeros((len(CLASSES), len(CLASSES)), int)
    np.add.at(matrix, (truth, predicted), 1)
    rows = matrix.sum(axis=1)
    group_of = GROUP.argmax(axis=1)
    reported_right = float(np.mean(group_of[truth] == group_of[predicted]))

    def row(m: Morphology) -> dict[str, int]:
        r = matrix[CLASSES.index(m)]
        return {CLASSES[j].value: int(r[j]) for j in np.nonzero(r)[0]}

    return {
        "classes": [c.value for c in CLASSES], "confusion": matrix.tolist(),
        "recall": {c.value: round(float(matrix[k, k] / rows[k]), 4) if rows[k] else None for k, c in enumerate(CLASSES)},
        "reported_class_accuracy": round(reported_right, 4),
        "punctate_row": row(Morphology.PUNCTATE), "fine_pleomorphic_row": row(Morphology.FINE_PLEOMORPHIC),
        "round_row": row(Morphology.ROUND),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="ONNX files")
    parser.add_argument("--rois", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=Split.MORPHOLOGY_VALIDATION.seed)
    parser.add_argument("--out", type=Path, help="JSON report")
    args = parser.parse_args(argv)
    check_seed(args.seed, Split.MORPHOLOGY_VALIDATION, Split.CALIBRATION, what="ROI seed")
    data = make_rois(args.rois, args.seed, progress=True)
    report = {}
    for path in args.models:
        result = confusion(runner(path, "openvino")(data.images), data)
        report[str(path)] = result
        print(f"{path}: reported-class accuracy {result['reported_class_accuracy']}; recall "
              + ", ".join(f"{k} {v}" for k, v in result["recall"].items()))
        print(f"  punctate -> {result['punctate_row']}\n  fine pleomorphic -> {result['fine_pleomorphic_row']}"
              f"\n  round -> {result['round_row']}")
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
