"""Replay everything after the detector on cached maps: tune post-map stages and compare morphology models.

The detector's stitched map of each view is computed once (``cache``: the runtime's reader, normalizer and
tiled detector, INT8 OpenVINO) and stored with the normalized view; ``replay`` then runs the runtime's
post-map code (``analyze_map``), a morphology model's assessment and the exam's triage on them, exactly as
``ExamPipeline.view`` and ``ExamPipeline.exam`` do, and ``scores.score`` scores the results as issue 23
scores them. So a change after the map (a threshold, a stage, a morphology model) is measured on many exams
in seconds per exam instead of decoding and detecting again. Only exam splits for development and tuning
are accepted (never the held-out ones).

    python -m mammoedge.tools.morphology.replay cache --exams 20 --exam-seed 5000000 \\
        --exams-dir build/dev-exams --cache build/dev-cache
    python -m mammoedge.tools.morphology.replay score --exams 20 --exam-seed 5000000 \\
        --exams-dir build/dev-exams --cache build/dev-cache [--morphology-dir DIR] [--set analysis.x=VALUE]
    python -m mammoedge.tools.morphology.replay sweep ... --vary analysis.peak_threshold=0.15,0.2 [--vary ...]

``sweep`` scores every combination of the ``--vary`` values (one line each: the figures the FP budget and
the targets are read from).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import itertools
import json
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mammoedge.runtime.analysis.tiling import ProbabilityMap, detect_map
from mammoedge.runtime.analysis.view import ViewAnalysis, analyze_map, view_score
from mammoedge.runtime.config import Config, load_config
from mammoedge.runtime.morphology import MorphologyClassifier
from mammoedge.runtime.preprocess.normalize import NormalizedView
from mammoedge.runtime.results import ExamResult

from ..exams import make_exams
from ..phantom.truth import ExamTruth
from ..splits import Split, check_seed
from .scores import score

#: Exam splits a post-map stage may be tuned on.
TUNABLE = (Split.DEVELOPMENT_EXAMS, Split.TUNING_EXAMS)


def cache_views(exam_dirs: Sequence[Path], cache_dir: Path, config: Config, progress: bool = True) -> None:
    """Normalize and detect every view of ``exam_dirs`` once; ``cache_dir/<exam>/<view file>.pkl`` holds
    ``(NormalizedView, ProbabilityMap)``. Views already cached are kept."""
    from tqdm import tqdm

    from mammoedge.runtime.pipeline import ExamModels, ExamPipeline

    pipeline = ExamPipeline(ExamModels.load(dataclasses.replace(
        config, analysis=dataclasses.replace(config.analysis, morphology_model="", risk_model="")),
        backend="openvino", force=True), config)
    a = config.analysis
    for folder in tqdm(exam_dirs, desc="cache", unit="exam", disable=not progress):
        truth = ExamTruth.read(folder / "truth.json")
        for view in truth.views:
            out = cache_dir / folder.name / f"{view.file}.pkl"
            if out.exists():
                continue
            normalized = pipeline.read(folder / view.file)
            pmap = detect_map(normalized.image, normalized.mask, pipeline.models.detector, tile_size=a.tile_size,
                              overlap=a.tile_overlap, batch_size=a.batch_size)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps((normalized, pmap), protocol=pickle.HIGHEST_PROTOCOL))
            tmp.replace(out)


def load_view(cache_dir: Path, folder: Path, file: str) -> tuple[NormalizedView, ProbabilityMap]:
    loaded: tuple[NormalizedView, ProbabilityMap] = pickle.loads((cache_dir / folder.name / f"{file}.pkl").read_bytes())
    return loaded


def analyze_cached(normalized: NormalizedView, pmap: ProbabilityMap, config: Config,
                   morphology: MorphologyClassifier | None) -> ViewAnalysis:
    """``ExamPipeline.view`` on a cached map: post-map analysis, then each cluster's morphology and the score."""
    analysis = analyze_map(copy.deepcopy(pmap), normalized.image, normalized.mask, spacing_mm=normalized.spacing_mm,
                           laterality=normalized.laterality, view=normalized.view, config=config.analysis,
                           to_original=normalized.transform.to_original)
    if morphology is None or not analysis.clusters:
        return analysis
    members = [np.array([(analysis.calcifications[i].x, analysis.calcifications[i].y) for i in c.members])
               for c in analysis.clusters]
    scores = [np.array([analysis.calcifications[i].score for i in c.members]) for c in analysis.clusters]
    assessments, _ = morphology.assess(normalized.image, members, scores,
                                       [c.distribution for c in analysis.clusters], [c.id for c in analysis.clusters])
    clusters = tuple(dataclasses.replace(c, morphology=m) for c, m in zip(analysis.clusters, assessments))
    return dataclasses.replace(analysis, clusters=clusters, score=view_score(clusters, config.analysis))


def load_morphology(config: Config, models_dir: Path | None) -> MorphologyClassifier | None:
    """The configured morphology model (INT8, OpenVINO), from ``models_dir`` when given."""
    from mammoedge.runtime.inference import Engine

    if not config.analysis.morphology_model:
        return None
    inference = config.inference if models_dir is None else dataclasses.replace(config.inference, models_dir=models_dir)
    return MorphologyClassifier(Engine(inference).load(config.analysis.morphology_model, backend="openvino",
                                                       force=True))


def replay(exam_dirs: Sequence[Path], cache_dir: Path, config: Config, morphology: MorphologyClassifier | None
           ) -> list[tuple[ExamTruth, ExamResult]]:
    """Each exam's result from its cached views (``ExamPipeline.exam``'s triage, without risk)."""
    from mammoedge.runtime.analysis.triage import rule_text
    from mammoedge.runtime.results.exam import build_exam_result

    a = config.analysis
    out = []
    for folder in exam_dirs:
        truth = ExamTruth.read(folder / "truth.json")
        views = [analyze_cached(*load_view(cache_dir, folder, v.file), config, morphology) for v in truth.views]
        compiled = [morphology.model] if morphology is not None else []
        out.append((truth, build_exam_result(study_key=folder.name, views=views, models=compiled,
                                             operating_point=a.triage_threshold,
                                             rule=rule_text(a.flag_min_birads, a.flag_uncertain))))
    return out


def with_settings(config: Config, settings: Sequence[str]) -> Config:
    """``config`` with ``section.option=value`` settings (values parsed as JSON, else kept as text)."""
    for setting in settings:
        name, _, text = setting.partition("=")
        section, _, option = name.partition(".")
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if isinstance(value, list):
            value = tuple(value)
        config = dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section),
                                                                            **{option: value})})
    return config


def sweep_line(settings: dict[str, str], report: dict[str, Any]) -> str:
    """One line: settings, sensitivity, FP/view, amorphous, regional, breast sensitivity and specificity."""
    def kn(row: dict[str, Any] | None) -> str:
        return "-" if row is None else f"{row['k']}/{row['n']}"

    return (f"{settings} sens {kn(report['suspicious_sensitivity'])} fp {kn(report['fp_clusters_per_view'])} "
            f"amorphous {kn(report['by_morphology'].get('amorphous'))} "
            f"regional {kn(report['by_distribution'].get('regional'))} "
            f"breast sens {kn(report['breast_flag_sensitivity'])} spec {kn(report['breast_flag_specificity'])} "
            f"punctate counted {kn(report['benign_clusters_counted'].get('punctate'))}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("cache", "score", "sweep"))
    parser.add_argument("--exams", type=int, default=20)
    parser.add_argument("--first", type=int, default=0, help="first exam index")
    parser.add_argument("--exam-seed", type=int, default=Split.DEVELOPMENT_EXAMS.seed)
    parser.add_argument("--exams-dir", type=Path, default=Path("build/dev-exams"))
    parser.add_argument("--cache", type=Path, default=Path("build/dev-cache"))
    parser.add_argument("--morphology-dir", type=Path, help="models folder of the morphology model to replay")
    parser.add_argument("--set", action="append", default=[], help="section.option=value (JSON value)")
    parser.add_argument("--vary", action="append", default=[], help="sweep: section.option=v1,v2,...")
    parser.add_argument("--out", type=Path, help="write the score report (JSON; sweep: one per line) here")
    args = parser.parse_args(argv)
    check_seed(args.exam_seed, *TUNABLE, what="exam seed")
    config = with_settings(load_config(None), args.set)
    exams = make_exams(args.exams_dir, count=args.first + args.exams, seed=args.exam_seed)[args.first:]
    if args.step == "cache":
        cache_views(exams, args.cache, config)
        return 0
    morphology = load_morphology(config, args.morphology_dir)
    if args.step == "sweep":
        names = [v.partition("=")[0] for v in args.vary]
        values = [v.partition("=")[2].split(",") for v in args.vary]
        lines = []
        for combo in itertools.product(*values):
            varied = with_settings(config, [f"{n}={v}" for n, v in zip(names, combo)])
            a = varied.analysis
            report = score(replay(exams, args.cache, varied, morphology), operating_point=a.triage_threshold,
                           min_birads=a.flag_min_birads, flag_uncertain=a.flag_uncertain)
            lines.append(json.dumps({"settings": dict(zip(names, combo)), "report": report}))
            print(sweep_line(dict(zip(names, combo)), report), flush=True)
        if args.out is not None:
            args.out.write_text("\n".join(lines) + "\n")
        return 0
    a = config.analysis
    report = score(replay(exams, args.cache, config, morphology),
                   operating_point=a.triage_threshold, min_birads=a.flag_min_birads, flag_uncertain=a.flag_uncertain)
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2))
    from .scores import headline

    print(headline(report))
    print("by morphology:", {k: f"{v['k']}/{v['n']}" for k, v in report["by_morphology"].items()},
          "| benign counted:", {k: f"{v['k']}/{v['n']}" for k, v in report["benign_clusters_counted"].items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
