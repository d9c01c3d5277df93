"""Benchmark: a stereo set on disk -> its 3-D target (read, recognise, detect each view, match, triangulate).

``python -m mammoedge.tools.biopsy.bench [--repeats 10]``: one full-size (1024 x 1024 at 0.05 mm) phantom set
per unit geometry, models loaded once (as the service does), one warm-up, then the median and the worst of
the repeats, with and without the scout, and the median CPU time (all threads). The machine is shared: wall
times grow with its load (reported), CPU time much less.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import pydicom

from mammoedge.runtime.biopsy.detect import detect_view
from mammoedge.runtime.biopsy.geometry import UnitKind
from mammoedge.runtime.biopsy.stage import run_biopsy
from mammoedge.runtime.config import Config
from mammoedge.runtime.inference import Engine
from mammoedge.runtime.pipeline import load_detector

from ..phantom.stereo import StereoGeometry, make_stereo
from .seeds import SEEDS, StereoSplit


def bench(repeats: int) -> dict[str, object]:
    config = Config()
    detector = load_detector(Engine(config.inference), config.analysis)
    detect = functools.partial(detect_view, detector=detector, config=config)
    out: dict[str, object] = {"cpus": os.cpu_count(), "repeats": repeats,
                              "load_before": os.getloadavg()[0], "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for unit in UnitKind:
            folder = Path(tmp) / unit.value
            make_stereo(folder, seed=SEEDS[StereoSplit.TUNING][unit], index=0,
                        geometry=StereoGeometry(unit=unit, isocenter_z_mm=10.0))
            for label, names in (("scout+pair", ("scout.dcm", "plus15.dcm", "minus15.dcm")),
                                 ("pair", ("plus15.dcm", "minus15.dcm"))):
                times, cpu = [], []
                for _ in range(repeats + 1):
                    started, started_cpu = time.perf_counter(), time.process_time()
                    datasets = [(n, pydicom.dcmread(folder / n)) for n in names]
                    run_biopsy(datasets, detect, config)
                    times.append(time.perf_counter() - started)
                    cpu.append(time.process_time() - started_cpu)
                # the first call warms caches and the compiled model; CPU time is summed over every thread
                out["runs"][f"{unit.value} {label}"] = {  # type: ignore[index]
                    "median_s": statistics.median(times[1:]), "max_s": max(times[1:]),
                    "median_cpu_s": statistics.median(cpu[1:])}
    out["load_after"] = os.getloadavg()[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(bench(args.repeats), indent=1))


if __name__ == "__main__":
    main()
