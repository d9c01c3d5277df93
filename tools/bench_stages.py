"""``mammoedge bench --stages``: CPU seconds and memory per stage of the service's work on one exam.

A burst of 3,000 exams/hour on 2 cores leaves ~2.4 CPU-s per exam for everything; this says where they go.
Per view (the bench exam's four 3328x4096 views, one at a time in this thread, OpenVINO INT8 as shipped):
the file's SHA-256 (the view store's key), reading the file, decoding its pixels, the modality/VOI transform
to float32, normalizing, and the detector with post-processing and morphology; per exam: the exam-level steps
and the pictures (overlays, saliency PNGs, result JSON). CPU is ``time.process_time`` (every thread of the
process, the models' own included), the median of ``repeats`` passes; memory is tracemalloc's peak above the
stage's start (numpy arrays included) and what the stage's result keeps.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any


def measure(exam: Path, repeats: int) -> dict[str, Any]:
    from mammoedge.runtime.config import Config
    from mammoedge.runtime.dicom import read_mammogram
    from mammoedge.runtime.dicom.header import load_dataset, read_header
    from mammoedge.runtime.dicom.pixels import decode, to_brightness
    from mammoedge.runtime.digest import file_sha256
    from mammoedge.runtime.pipeline import ExamPipeline, shared_models

    config = Config()
    pipeline = ExamPipeline(shared_models(config), config)
    files = sorted(exam.glob("*.dcm"))
    pipeline.view(pipeline.read(files[0]))  # warm-up: compiled models, codec tables
    cpu: dict[str, list[float]] = {}
    memory: dict[str, tuple[float, float]] = {}

    def stage(name: str, traced: bool, fn: Callable[..., Any], *args: Any) -> Any:
        if traced:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
        started = time.process_time()
        out = fn(*args)
        cpu.setdefault(name, []).append(time.process_time() - started)
        if traced:
            current, peak = tracemalloc.get_traced_memory()
            memory[name] = (round((peak - base) / 1e6, 1), round((current - base) / 1e6, 1))
        return out

    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats + 1):
            traced = i == repeats  # memory in the last pass (tracing slows the others' CPU figures)
            if traced:
                tracemalloc.start()
            for path in files:
                stage("view: SHA-256 of the file", traced, file_sha256, path)
                ds = stage("view: read the file", traced, load_dataset, path, config.reader)
                header = read_header(ds, config.reader)
                stored = stage("view: decode pixels", traced, decode, ds, header)
                stage("view: modality/VOI to float32", traced, to_brightness, stored, ds, header)
                ds = stored = None  # freed before the next stage is traced
                mammogram = read_mammogram(path, config.reader)
                normalized = stage("view: normalize", traced, pipeline.normalize, mammogram)
                mammogram = None
                stage("view: detector, post-processing, morphology", traced, pipeline.view, normalized)
            run = pipeline.analyze_files(files, study_key="0" * 32)
            stage("exam: pictures (overlays, saliency, result JSON)", traced, pipeline.write_outputs, run,
                  Path(tmp) / str(i))
            run = None
            if traced:
                tracemalloc.stop()
    per_view = {k: statistics.median(v) for k, v in cpu.items() if k.startswith("view:")}
    rows = [{"stage": k, "cpu_s": round(statistics.median(v), 4),
             "peak_mb": memory.get(k, (0.0, 0.0))[0], "kept_mb": memory.get(k, (0.0, 0.0))[1]}
            for k, v in cpu.items()]
    pictures = statistics.median(cpu["exam: pictures (overlays, saliency, result JSON)"])
    return {"rows": rows, "views": len(files), "cpu_s_per_view": round(sum(per_view.values()), 4),
            "cpu_s_per_exam": round(len(files) * sum(per_view.values()) + pictures, 4)}


def markdown(table: dict[str, Any]) -> str:
    lines = ["| stage | CPU s (median) | peak MB above its start | MB its result keeps |", "|---|---|---|---|"]
    lines += [f"| {r['stage']} | {r['cpu_s']:.3f} | {r['peak_mb']:.0f} | {r['kept_mb']:.0f} |" for r in table["rows"]]
    lines += ["", f"Per view {table['cpu_s_per_view']:.3f} CPU-s; per exam ({table['views']} views + pictures) "
                  f"{table['cpu_s_per_exam']:.3f} CPU-s (intake and the service's bookkeeping not included: "
                  f"`bench --service` measures the whole serve process)."]
    return "\n".join(lines) + "\n"
