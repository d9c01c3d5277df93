"""Benchmark of the phantom: training patches per second and seconds per full-size exam, as JSON.

``python -m mammoedge.tools.phantom.bench [--patches 500] [--exams 1] [--out FILE]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from .exam import make_exam
from .patch import make_training_patch
from .stereo import make_stereo
from .vendors import PROFILES


def run(patches: int, exams: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(patches):
        make_training_patch(rng)
    results = {"patch_256_ms": (time.perf_counter() - start) / max(patches, 1) * 1000}
    with tempfile.TemporaryDirectory() as tmp:
        for name, profile in PROFILES.items():
            start = time.perf_counter()
            for i in range(exams):
                make_exam(f"{tmp}/{name}{i}", seed=1, index=i, profile=profile, size="full")
            results[f"exam_full_{name}_s"] = (time.perf_counter() - start) / max(exams, 1)
        start = time.perf_counter()
        make_stereo(f"{tmp}/stereo", seed=1, index=0, size="full")
        results["stereo_full_s"] = time.perf_counter() - start
    return {k: round(v, 3) for k, v in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, default=500)
    parser.add_argument("--exams", type=int, default=1)
    parser.add_argument("--out", help="write the JSON here as well")
    args = parser.parse_args()
    text = json.dumps(run(args.patches, args.exams), indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
