"""Benchmark: wall and CPU seconds to build and write one exam's DICOM results (CAD SR, summary SR, GSPS, SCs).

    .venv/bin/python tests/runtime/dicom_results/bench_build.py [--size full|small] [--repeat 3]

A phantom exam (the demo's seed and profile) through the real exam pipeline, then ``write_exam_dicom`` to a
fresh folder ``--repeat`` times. CPU time (``time.process_time``, all threads) does not depend on what else
the machine runs; wall time does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))
from pacs_helpers import analyse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("small", "full"), default="full")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from mammoedge.runtime.dicom_results import write_exam_dicom
    from mammoedge.tools.demo import DEMO_SEED
    from mammoedge.tools.phantom import make_exam

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_exam(root / "exam", seed=DEMO_SEED, profile="hologic", size=args.size, normal_fraction=0.0)
        paths = sorted((root / "exam").glob("*.dcm"))
        exam = analyse(paths)
        wall, cpu, objects = [], [], 0
        for i in range(args.repeat):
            c, w = time.process_time(), time.perf_counter()
            objects = len(write_exam_dicom(exam.result, exam.images, paths, root / f"out{i}"))
            wall.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
    print(json.dumps({"size": args.size, "objects": objects, "repeat": args.repeat,
                      "wall_s_median": round(statistics.median(wall), 3),
                      "cpu_s_median": round(statistics.median(cpu), 3),
                      "wall_s": [round(v, 3) for v in wall], "cpu_s": [round(v, 3) for v in cpu]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
