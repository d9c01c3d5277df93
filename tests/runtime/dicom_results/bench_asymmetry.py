"""Benchmark: CPU ms to build the summary SR and the GSPS of one exam with and without the asymmetry windows.

    .venv/bin/python tests/runtime/dicom_results/bench_asymmetry.py [--repeat 10]

The tests' small phantom exam analysed with ``risk_model = "risk-fourview"``; "with": both projections'
windows (marked above the operating point, so the GSPS draws them too); "without": the same result with no
asymmetry findings. Alternated twice; CPU time (``time.process_time``) does not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))
from pacs_helpers import phantom_exam


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    import pydicom
    from mammoedge.runtime.config import Config
    from mammoedge.runtime.dicom_results import ResultKind, align_sources, build_dicom_results
    from mammoedge.runtime.pipeline import ExamPipeline, shared_models

    config = Config()
    config = dataclasses.replace(config, analysis=dataclasses.replace(config.analysis, risk_model="risk-fourview"))
    with tempfile.TemporaryDirectory() as tmp:
        paths = phantom_exam(Path(tmp))
        run = ExamPipeline(shared_models(config), config).analyze_files(paths, study_key="cd" * 16)
        sources = align_sources(run.views, [pydicom.dcmread(p, stop_before_pixels=True) for p in run.paths])
    risk = run.result.risk
    cases = {"with": dataclasses.replace(run.result, risk=dataclasses.replace(risk, asymmetry=tuple(
                 dataclasses.replace(f, above_operating_point=True) for f in risk.asymmetry))),
             "without": dataclasses.replace(run.result, risk=dataclasses.replace(risk, asymmetry=()))}
    kinds = [ResultKind.SUMMARY_SR, ResultKind.GSPS]
    build_dicom_results(cases["with"], sources, None, kinds=kinds)  # highdicom's tables loaded once
    ms: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(2):
        for name, result in cases.items():
            start = time.process_time()
            for _ in range(args.repeat):
                build_dicom_results(result, sources, None, kinds=kinds)
            ms[name].append(round((time.process_time() - start) / args.repeat * 1000, 1))
    print(json.dumps({"repeat": args.repeat, "cpu_ms_per_exam": ms}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
