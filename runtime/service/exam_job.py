"""The service's analysis of one assembled exam: the spooled instances through the exam pipeline."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config
from ..dicom import read_header
from ..pipeline import ExamPipeline, ViewStore, shared_models
from ..privacy import load_or_create_secret, study_key
from ..results import to_dict
from .paths import ServicePaths


@dataclass(frozen=True)
class AnalyzerOutput:
    """What an analyzer gives the worker: the exam result document and the instances it refused."""

    result: dict[str, Any]
    rejected: tuple[dict[str, str], ...] = field(default=())


#: (spooled instances, missing screening views) -> output; the worker wraps it in the result envelope.
Analyzer = Callable[[list[Path], list[str]], AnalyzerOutput]

_one_exam_at_a_time = threading.Lock()  # the compiled models are shared by the workers


def analyze_instances(instances: list[Path], missing_views: list[str], *, config: Config) -> AnalyzerOutput:
    """The whole exam analysis: result JSON, overlays and saliency under ``results/exams/``."""
    paths = ServicePaths.of(config.service)
    key = study_key(read_header(instances[0], config.reader).study_instance_uid, load_or_create_secret(paths.secret))
    pipeline = ExamPipeline(shared_models(config), config)
    store = ViewStore(paths.views, pipeline.fingerprint)  # a resumed exam does not analyze its views again
    with _one_exam_at_a_time:
        run = pipeline.analyze_files(instances, study_key=key, store=store)
    result, _ = pipeline.write_outputs(run, paths.results / "exams")
    return AnalyzerOutput(result=to_dict(result),
                          rejected=tuple({"reason": r.reason, "message": r.message} for r in run.rejected))


def default_analyzer(config: Config) -> Analyzer:
    return lambda instances, missing_views: analyze_instances(instances, missing_views, config=config)
