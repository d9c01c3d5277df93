"""``mammoedge bench``: time each stage of the main job on realistic phantom exams.

Exams: four views at 3328x4096 (uncompressed and JPEG 2000 lossless) and at
4096x5625 (uncompressed). Each (exam, backend, precision) runs in a fresh
worker process, so its peak RSS is its own; times are medians over repeats
after one warm-up. Figures go to ``bench.json`` and ``bench.md``: compare them
as ratios within one run, the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXAMS = {
    "3328x4096 uncompressed": {"profile": "hologic"},
    "3328x4096 JPEG 2000": {"profile": "hologic", "transfer_syntax": "1.2.840.10008.1.2.4.90"},
    "4096x5625 uncompressed": {"profile": "hologic", "rows": 5625, "columns": 4096, "imager_spacing_mm": 0.05},
}
RUNS = [("openvino", "int8"), ("openvino", "fp32"), ("onnxruntime", "int8"), ("onnxruntime", "fp32")]
MODEL = {"int8": "calc-detector", "fp32": "calc-detector-fp32"}
MORPHOLOGY_MODEL = {"int8": "calc-morphology", "fp32": "calc-morphology-fp32"}
RISK_MODEL = {"int8": "risk-fourview", "fp32": "risk-fourview-fp32"}
#: the morphology budget is stated for this many clusters per exam (issue: <= 150 ms for up to 10)
BENCH_CLUSTERS = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("build/bench"), help="where bench.json/bench.md go")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per configuration (median)")
    parser.add_argument("--quick", action="store_true", help="only the 3328x4096 uncompressed exam, OpenVINO")
    parser.add_argument("--service", action="store_true",
                        help="also the service path: storescu -> serve on 127.0.0.1 (last ack -> flag, -> all outputs, "
                             "a burst of --burst exams from 4 storescu processes)")
    parser.add_argument("--burst", type=int, default=20, help="exams in the service burst (20)")
    parser.add_argument("--exams", default=",".join(EXAMS), help=f"comma-separated exams to run (default all: "
                        f"{', '.join(EXAMS)})")
    parser.add_argument("--layers", action="store_true",
                        help="only the detector's per-operator profile (one thread, four 512 px tiles): onnxruntime "
                             "FP32 / INT8 / INT8 with its default optimizers, OpenVINO FP32 / INT8")
    parser.add_argument("--decoders", action="store_true",
                        help="only the decoder table: one 3328x4096 view in each compressed syntax, every decoder "
                             "(wall and CPU time, pixel-identical?) beside the uncompressed decode floor")
    parser.add_argument("--stages", action="store_true",
                        help="only CPU seconds and memory per stage of one exam (3328x4096 uncompressed, OpenVINO "
                             "INT8): per view SHA-256, read, decode, modality/VOI, normalize, detector; pictures")
    parser.add_argument("--worker", nargs=4, metavar=("EXAM_DIR", "BACKEND", "PRECISION", "REPEATS"),
                        help=argparse.SUPPRESS)


def make_bench_exam(folder: Path, spec: dict) -> Path:
    from mammoedge.tools.phantom import make_exam
    from mammoedge.tools.phantom.vendors import PROFILES

    from pydicom.uid import UID

    changes = {k: (UID(v) if k == "transfer_syntax" else v) for k, v in spec.items() if k != "profile"}
    profile = dataclasses.replace(PROFILES[spec["profile"]], **changes)
    make_exam(folder, seed=2, profile=profile, size="full", normal_fraction=0.0)
    return folder


def worker(exam_dir: Path, backend: str, precision: str, repeats: int) -> dict:
    """Run the main job on one exam ``repeats`` times (+1 warm-up); stage medians and peak RSS."""
    from concurrent.futures import ThreadPoolExecutor

    from mammoedge.runtime.config import load_config
    from mammoedge.runtime.pipeline import ExamModels, ExamPipeline

    config = load_config(None)
    config = dataclasses.replace(config, analysis=dataclasses.replace(
        config.analysis, detector_model=MODEL[precision], morphology_model=MORPHOLOGY_MODEL[precision],
        risk_model=RISK_MODEL[precision]))
    models = ExamModels.load(config, backend=backend, force=True)
    pipeline = ExamPipeline(models, config)
    files = sorted(exam_dir.glob("*.dcm"))
    stages: dict[str, list[float]] = {}
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            mammograms = list(pool.map(pipeline.decode, files))
            t1 = time.perf_counter()
            views = list(pool.map(pipeline.normalize, mammograms))
            t2 = time.perf_counter()
            result = pipeline.exam([pipeline.view(v) for v in views], study_key="0" * 32, normalized=views)
            t3 = time.perf_counter()
            ten = morphology_clusters(models.morphology, views[0].image, BENCH_CLUSTERS)
            decode_only = time.perf_counter()
            for f in files:
                pipeline.decode(f)
            decode_only = time.perf_counter() - decode_only
            if i == 0:
                continue  # warm-up
            per = {t.stage: t.seconds for t in result.timings}
            sample = {"read+decode (parallel)": t1 - t0, "normalize": t2 - t1,
                      "inference": per.get("inference", 0.0), "postprocess": per.get("postprocess", 0.0),
                      "morphology": per.get("morphology", 0.0), f"morphology ({BENCH_CLUSTERS} clusters)": ten,
                      "risk+asymmetry+density": per.get("risk", 0.0),
                      "total (files to result)": t3 - t0, "decode four files (serial)": decode_only}
            for k, v in sample.items():
                stages.setdefault(k, []).append(v)
    return {"backend": models.detector.backend, "device": models.detector.device, "precision": precision,
            "median_s": {k: round(statistics.median(v), 4) for k, v in stages.items()},
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def morphology_clusters(classifier, image, count: int) -> float:
    """Seconds to assess ``count`` clusters of 8 calcifications spread over the view (3 ROIs each)."""
    import numpy as np

    from mammoedge.runtime.codes import Distribution

    rng = np.random.default_rng(0)
    rows, cols = image.shape
    centres = rng.uniform((100, 100), (cols - 100, rows - 100), (count, 2))
    members = [c + rng.normal(0, 25, (8, 2)) for c in centres]
    scores = [rng.uniform(0.3, 1.0, 8) for _ in range(count)]
    started = time.perf_counter()
    classifier.assess(image, members, scores, [Distribution.GROUPED] * count, list(range(1, count + 1)))
    return time.perf_counter() - started


#: (label, transfer syntax, encoder) of the decoder table; each encoder is another library than the shipped decoder
DECODE_SYNTAXES = [
    ("JPEG 2000 lossless", "1.2.840.10008.1.2.4.90", "pydicom/pylibjpeg-openjpeg (as the phantom writes it)"),
    ("HTJ2K lossless", "1.2.840.10008.1.2.4.201", "OpenJPH"),
    ("HTJ2K lossless, 1024 px tiles", "1.2.840.10008.1.2.4.201", "OpenJPH"),
    ("JPEG-LS lossless", "1.2.840.10008.1.2.4.80", "CharLS"),
    ("JPEG Lossless SV1", "1.2.840.10008.1.2.4.70", "libjpeg-turbo"),
]


def _encode_view(ds, label: str, ts: str):
    """``ds`` (uncompressed) re-encoded in ``ts``."""
    import copy

    import imagecodecs
    from pydicom.encaps import encapsulate
    from pydicom.uid import UID

    out = copy.deepcopy(ds)
    if label.startswith("JPEG 2000"):
        out.compress(UID(ts), encoding_plugin="pylibjpeg", generate_instance_uid=False)
        return out
    arr = ds.pixel_array
    if label.startswith("HTJ2K"):
        frame = imagecodecs.htj2k_encode(arr, reversible=True, tile=(1024, 1024) if "tiles" in label else None)
    elif label.startswith("JPEG-LS"):
        frame = imagecodecs.jpegls_encode(arr, level=0)
    else:
        frame = imagecodecs.jpeg8_encode(arr, lossless=True, predictor=1, bitspersample=int(ds.BitsStored))
    out.PixelData = encapsulate([frame])
    out["PixelData"].VR = "OB"
    out.file_meta.TransferSyntaxUID = UID(ts)
    return out


def decoder_table(view: Path, repeats: int) -> dict:
    """Every decoder of each syntax in DECODE_SYNTAXES on ``view``: median wall and CPU seconds, identical?"""
    import imagecodecs
    import numpy as np
    import pydicom
    from pydicom.encaps import generate_frames
    from pydicom.pixels.decoders.base import get_decoder

    from mammoedge.runtime.dicom import codecs

    def timed(fn) -> tuple[float, float, object]:
        fn()
        walls, cpus = [], []
        for _ in range(repeats):
            w, c = time.perf_counter(), time.process_time()
            out = fn()
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
        return statistics.median(walls), statistics.median(cpus), out

    ds = pydicom.dcmread(view)
    native = get_decoder(ds.file_meta.TransferSyntaxUID)
    floor, floor_cpu, truth = timed(lambda: native.as_array(ds)[0])
    rows = []
    for label, ts, encoder in DECODE_SYNTAXES:
        enc = _encode_view(ds, label, ts)
        frame = next(generate_frames(enc.PixelData, number_of_frames=1))
        decoder = get_decoder(ts)
        candidates = {f"pydicom plugin '{p}'": (lambda p=p, d=decoder, e=enc: d.as_array(e, decoding_plugin=p)[0])
                      for p in decoder.available_plugins}
        if "2000" in label or "HTJ2K" in label:
            for n in sorted({1, codecs.decode_threads()}):
                candidates[f"imagecodecs OpenJPEG, {n} thread(s)"] = (
                    lambda n=n, f=frame: imagecodecs.jpeg2k_decode(f, numthreads=n))
        shipped = f"pydicom plugin '{codecs.PLUGIN}'"
        for name, fn in candidates.items():
            try:
                wall, cpu, out = timed(fn)
            except Exception as exc:  # a decoder that cannot read this codestream is a row too
                rows.append({"syntax": label, "encoder": encoder, "decoder": name, "error": type(exc).__name__})
                continue
            rows.append({"syntax": label, "encoder": encoder, "decoder": name, "bytes": len(frame),
                         "codec": codecs.CODECS[ts].value if name == shipped else "",
                         "wall_s": round(wall, 4), "cpu_s": round(cpu, 4), "wall_over_floor": round(wall / floor, 1),
                         "identical": bool(np.array_equal(np.asarray(out).reshape(truth.shape), truth))})
    return {"view": f"{ds.Rows}x{ds.Columns}, {ds.BitsStored} bits stored", "floor_s": round(floor, 4),
            "floor_cpu_s": round(floor_cpu, 4), "threads": codecs.decode_threads(), "rows": rows}


def decoder_markdown(table: dict) -> str:
    lines = [f"One view ({table['view']}); medians; decode floor (the uncompressed view): {table['floor_s']:.3f} s; "
             f"every core = {table['threads']} threads; shipped = the `mammoedge` plugin (runtime/dicom/codecs.py).", "",
             "| syntax | decoder | wall s | CPU s | wall / floor | pixel-identical |", "|---|---|---|---|---|---|"]
    for r in table["rows"]:
        name = r["decoder"] + (f" (shipped: {r['codec']})" if r.get("codec") else "")
        if "error" in r:
            lines.append(f"| {r['syntax']} | {name} | fails ({r['error']}) | | | |")
            continue
        lines.append(f"| {r['syntax']} | {name} | {r['wall_s']:.3f} | {r['cpu_s']:.3f} | {r['wall_over_floor']} | "
                     f"{'yes' if r['identical'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def _ort_profile(data: bytes, runs: int, disabled: list[str]) -> dict[str, float]:
    """onnxruntime, one thread: operator type -> ms (each node's minimum over ``runs``, summed per type)."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads, options.enable_profiling = 1, 1, True
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"],
                                       disabled_optimizers=disabled)
        x = {session.get_inputs()[0].name: np.random.default_rng(0).random((4, 1, 512, 512), dtype=np.float32)}
        for _ in range(runs):
            session.run(None, x)
        events = json.loads(Path(session.end_profiling()).read_text())
    best: dict[str, tuple[str, float]] = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            op, ms = e["args"]["op_name"], e["dur"] / 1000
            best[e["name"]] = (op, min(ms, best.get(e["name"], (op, ms))[1]))
    per: dict[str, float] = {}
    for op, ms in best.values():
        per[op] = round(per.get(op, 0.0) + ms, 1)
    return per


def _ov_profile(data: bytes, runs: int) -> dict[str, float]:
    """OpenVINO CPU, one thread: '<layer type> <kernel>' -> ms (each layer's minimum over ``runs``, summed)."""
    import numpy as np
    import openvino as ov

    from mammoedge.runtime.inference.openvino_backend import CPU_F32

    core = ov.Core()
    model = core.read_model(model=data)
    model.reshape({model.inputs[0].get_any_name(): [4, 1, 512, 512]})
    request = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": 1, "PERF_COUNT": True,
                                                "PERFORMANCE_HINT": "LATENCY", **CPU_F32}).create_infer_request()
    x = np.random.default_rng(0).random((4, 1, 512, 512), dtype=np.float32)
    best: dict[str, tuple[str, float]] = {}
    for _ in range(runs):
        request.infer({model.inputs[0].get_any_name(): x})
        for info in request.profiling_info:
            if info.status.name == "EXECUTED":
                key, ms = f"{info.node_type} {info.exec_type}", info.real_time.total_seconds() * 1000
                best[info.node_name] = (key, min(ms, best.get(info.node_name, (key, ms))[1]))
    per: dict[str, float] = {}
    for key, ms in best.values():
        per[key] = round(per.get(key, 0.0) + ms, 1)
    return per


def layer_profiles(runs: int) -> dict:
    """Per-operator time of the shipped detector, FP32 and INT8, on both backends (one thread)."""
    from mammoedge.runtime.inference.onnxruntime_backend import DISABLED_OPTIMIZERS
    from mammoedge.runtime.inference.registry import ModelRegistry

    registry = ModelRegistry()
    fp32, int8 = registry.verified(MODEL["fp32"]).data, registry.verified(MODEL["int8"]).data
    profiles = {
        "onnxruntime FP32": _ort_profile(fp32, runs, list(DISABLED_OPTIMIZERS)),
        "onnxruntime INT8 (shipped session)": _ort_profile(int8, runs, list(DISABLED_OPTIMIZERS)),
        "onnxruntime INT8 (default optimizers)": _ort_profile(int8, runs, []),
        "OpenVINO FP32": _ov_profile(fp32, runs),
        "OpenVINO INT8": _ov_profile(int8, runs),
    }
    return {name: {"total_ms": round(sum(p.values()), 1), "ops": dict(sorted(p.items(), key=lambda kv: -kv[1]))}
            for name, p in profiles.items()}


def layers_markdown(profiles: dict) -> str:
    lines = ["Detector on four 512 px tiles, one thread, each node's minimum over the runs (ms):", ""]
    for name, p in profiles.items():
        top = ", ".join(f"{op} {ms}" for op, ms in list(p["ops"].items())[:6])
        lines.append(f"- **{name}**: {p['total_ms']} ms — {top}")
    return "\n".join(lines) + "\n"


def load() -> str:
    """The load average (1, 5, 15 min) as ``uptime`` shows it."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def machine() -> dict:
    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
        info["cpu"] = model
    except (OSError, StopIteration):
        pass
    import openvino

    info["openvino_devices"] = list(openvino.Core().available_devices)
    return info


def markdown(report: dict) -> str:
    stages = ["read+decode (parallel)", "normalize", "inference", "postprocess", "morphology",
              "total (files to result)", "decode four files (serial)", f"morphology ({BENCH_CLUSTERS} clusters)",
              "risk+asymmetry+density"]
    lines = [f"Machine: {report['machine'].get('cpu', '?')}, {report['machine']['cpus']} cores, OpenVINO devices "
             f"{report['machine']['openvino_devices']}; medians of {report['repeats']} runs, seconds; load average "
             f"before / after the exam rows: {report.get('load_before', '?')} / {report.get('load_after', '?')}.", "",
             "| exam (4 views) | backend | precision | " + " | ".join(stages) + " | peak RSS MB |",
             "|---" * (len(stages) + 4) + "|"]
    for row in report["rows"]:
        lines.append(f"| {row['exam']} | {row['backend']}/{row['device']} | {row['precision']} | "
                     + " | ".join(f"{row['median_s'][s]:.3f}" for s in stages) + f" | {row['peak_rss_mb']:.0f} |")
    lines += ["", "Ratios in this run:"]
    lines += [f"- {k}: {v}" for k, v in report["ratios"].items()]
    if report.get("service"):
        lines += ["", "Service path (storescu -> serve on 127.0.0.1; OpenVINO INT8; seconds after the last "
                      "acknowledged C-STORE; decode floor: the exam's four files decoded serially in this run; "
                      "last view: that file alone, every core):", "",
                  "| exam | load before/after | decode floor | last view | flag median (p90) | flag / floor | "
                  "flag / last view | all outputs median (p90) | outputs / floor | burst exams/hour | "
                  "burst s per exam / floor | burst flag median (p90) | burst lost/duplicated | peak RSS MB |",
                  "|---" * 14 + "|"]
        for name, s in report["service"].items():
            b = s["burst"]
            lines.append(
                f"| {name} | {s['load_before'][0]:.1f} / {s['load_after'][0]:.1f} | {s['decode_floor_s']:.3f} | "
                f"{s['last_view_decode_s']:.3f} | {s['last_ack_to_flag_s']['median']:.3f} "
                f"({s['last_ack_to_flag_s']['p90']:.3f}) | {s['flag_over_decode_floor']} | "
                f"{s['flag_over_last_view_decode']} | "
                f"{s['last_ack_to_all_outputs_s']['median']:.3f} ({s['last_ack_to_all_outputs_s']['p90']:.3f}) | "
                f"{s['all_outputs_over_decode_floor']} | "
                f"{b['exams_per_hour']} ({b['complete']} of {b['exams']} from {b['senders']}) | "
                f"{b['seconds_per_exam_over_floor']} | {b['last_ack_to_flag_s']['median']:.3f} "
                f"({b['last_ack_to_flag_s']['p90']:.3f}) | {b['lost']}/{b['duplicated']} | {s['peak_rss_mb']:.0f} |")
        from .bench_service import breakdown_markdown

        for name, s in report["service"].items():
            lines += ["", f"Service CPU per exam ({name}; user + system of the serve process, every thread): one exam "
                          f"at a time {s.get('cpu_s_per_exam', '?')} s; in the burst "
                          f"{s['burst'].get('cpu_s_per_exam', '?')} s.", ""]
            if s.get("breakdown"):
                lines.append(breakdown_markdown(s["breakdown"], f"Where the time goes after the last instance is "
                                                f"queued ({name}, one exam at a time, medians; `timeline` of the "
                                                f"result, runtime/service/timeline.py):"))
    return "\n".join(lines) + "\n"


def ratios(rows: list[dict]) -> dict:
    def find(exam, backend, precision):
        return next((r for r in rows if r["exam"] == exam and r["backend"] == backend
                     and r["precision"] == precision), None)

    out = {}
    for backend in ("openvino", "onnxruntime"):
        a, b = find("3328x4096 uncompressed", backend, "fp32"), find("3328x4096 uncompressed", backend, "int8")
        if a and b:
            out[f"{backend} detector FP32/INT8 inference time"] = round(a["median_s"]["inference"]
                                                                      / b["median_s"]["inference"], 2)
    unc = find("3328x4096 uncompressed", "openvino", "int8")
    if unc:
        out["uncompressed exam: total / serial decode of the four files"] = round(
            unc["median_s"]["total (files to result)"] / unc["median_s"]["decode four files (serial)"], 2)
    j2k = find("3328x4096 JPEG 2000", "openvino", "int8")
    if j2k:
        out["JPEG 2000 exam: total / serial decode of the four files"] = round(
            j2k["median_s"]["total (files to result)"] / j2k["median_s"]["decode four files (serial)"], 2)
    return out


def _one_exam_table(out: Path, name: str, measure: Callable[[Path], dict[str, Any]],
                    markdown: Callable[[dict[str, Any]], str]) -> int:
    """Measure on one 3328x4096 phantom exam, write ``name``.json and .md under ``out`` with the load, print."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_bench_exam(Path(tmp) / "exam", EXAMS["3328x4096 uncompressed"])
        before = load()
        table = {"machine": machine(), "load_before": before, **measure(folder), "load_after": load()}
    (out / f"{name}.json").write_text(json.dumps(table, indent=2))
    text = f"Load average before / after: {table['load_before']} / {table['load_after']}.\n\n" + markdown(table)
    (out / f"{name}.md").write_text(text)
    print(text)
    return 0


def run(args: argparse.Namespace, config: object) -> int:
    if args.worker:
        exam_dir, backend, precision, repeats = args.worker
        print(json.dumps(worker(Path(exam_dir), backend, precision, int(repeats))))
        return 0
    from tqdm import tqdm

    args.out.mkdir(parents=True, exist_ok=True)
    if args.layers:
        before = load()
        profiles = layer_profiles(max(10, args.repeats))
        text = f"Load average before / after: {before} / {load()}.\n\n" + layers_markdown(profiles)
        (args.out / "layers.json").write_text(json.dumps(profiles, indent=2))
        (args.out / "layers.md").write_text(text)
        print(text)
        return 0
    if args.stages:
        from . import bench_stages

        return _one_exam_table(args.out, "stages", lambda folder: bench_stages.measure(folder, max(3, args.repeats)),
                               bench_stages.markdown)
    if args.decoders:
        return _one_exam_table(args.out, "decoders",
                               lambda folder: decoder_table(sorted(folder.glob("*.dcm"))[-1], max(3, args.repeats)),
                               decoder_markdown)
    chosen = [e.strip() for e in args.exams.split(",") if e.strip()]
    unknown = sorted(set(chosen) - set(EXAMS))
    if unknown:
        print(f"unknown exam(s) {unknown}; known: {', '.join(EXAMS)}", file=sys.stderr)
        return 2
    exams = {k: v for k, v in EXAMS.items() if k in chosen and (not args.quick or k == "3328x4096 uncompressed")}
    runs = [r for r in RUNS if not args.quick or r[0] == "openvino"]
    rows = []
    load_before = load()
    with tempfile.TemporaryDirectory() as tmp:
        folders = {name: make_bench_exam(Path(tmp) / f"exam{i}", spec)
                   for i, (name, spec) in enumerate(tqdm(exams.items(), desc="phantom exams", unit="exam"))}
        for (name, folder), (backend, precision) in tqdm([(e, r) for e in folders.items() for r in runs],
                                                         desc="bench", unit="config"):
            if name != "3328x4096 uncompressed" and precision == "fp32":
                continue  # FP32 vs INT8 is compared on one exam size
            out = subprocess.run([sys.executable, "-m", "mammoedge.runtime.cli", "bench", "--worker", str(folder),
                                  backend, precision, str(args.repeats)], capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{name} {backend} {precision}: failed: {out.stderr.strip()[-300:]}", file=sys.stderr)
                continue
            rows.append({"exam": name, **json.loads(out.stdout.strip().splitlines()[-1])})
        load_after = load()
        (args.out / "bench.json").write_text(json.dumps({"machine": machine(), "repeats": args.repeats, "rows": rows,
                                                          "ratios": ratios(rows), "load_before": load_before,
                                                          "load_after": load_after}, indent=2))  # kept if the service part fails
        service = None
        if args.service:
            from .bench_service import measure

            service = {name: measure(folders[name], repeats=max(3, args.repeats), burst=args.burst, senders=4)
                       for name in folders if name != "4096x5625 uncompressed"}
    report = {"machine": machine(), "repeats": args.repeats, "rows": rows, "ratios": ratios(rows),
              "service": service, "load_before": load_before, "load_after": load_after}
    (args.out / "bench.json").write_text(json.dumps(report, indent=2))
    (args.out / "bench.md").write_text(markdown(report))
    print(markdown(report))
    return 0
