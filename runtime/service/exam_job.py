"""The service's analysis: each spooled view as it arrives, then its exam through the exam pipeline.

A view analyzed on arrival is stored (``pipeline.ViewStore``), so when an exam's last view comes only that
view and the exam steps remain. The flag comes first: the analyzer returns the result, and the worker
publishes it before it asks for the pictures (``AnalyzerOutput.outputs``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config
from ..dicom import read_header
from ..errors import InputError
from ..pipeline import ExamPipeline, ViewStore, shared_models
from ..privacy import load_or_create_secret, study_key
from ..results import to_dict
from .paths import ServicePaths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalyzerOutput:
    """What an analyzer gives the worker: the exam result document, the instances it refused, and the step
    that writes the exam's pictures afterwards (returning the result document with their names)."""

    result: dict[str, Any]
    rejected: tuple[dict[str, str], ...] = field(default=())
    outputs: Callable[[], dict[str, Any]] | None = field(default=None, compare=False)


#: (spooled instances, missing screening views) -> output; the worker wraps it in the result envelope.
Analyzer = Callable[[list[Path], list[str]], AnalyzerOutput]
#: a spooled instance -> None, analyzed and stored, or the reader's reason for refusing it
ViewAnalyzer = Callable[[Path], str | None]

models_in_use = threading.Lock()  # the compiled models are shared by the exam and view workers
#: views kept in memory (image + saliency) for their exam's pictures: one four-view exam, ~100 MB
RECENT_VIEWS = 4
_stores: dict[tuple[Path, str], ViewStore] = {}
_stores_lock = threading.Lock()


def _pipeline(config: Config) -> tuple[ExamPipeline, ViewStore]:
    pipeline = ExamPipeline(shared_models(config), config)
    where = (ServicePaths.of(config.service).views, pipeline.fingerprint)
    with _stores_lock:
        store = _stores.setdefault(where, ViewStore(*where, keep=RECENT_VIEWS))
    return pipeline, store


def analyze_instance(path: Path, *, config: Config) -> str | None:
    """One spooled view on its own, stored for its exam; None, or the reason the reader refused it."""
    pipeline, store = _pipeline(config)
    key = store.key(path)
    if store.get(key) is not None:
        return None
    try:
        with models_in_use:
            normalized = pipeline.read(path)
            store.put(key, pipeline.view(normalized), normalized)
    except InputError as exc:  # the exam's analysis names the view and the reason
        return exc.reason
    return None


def analyze_instances(instances: list[Path], missing_views: list[str], *, config: Config) -> AnalyzerOutput:
    """The exam: stored views reused, the rest analyzed; the pictures (overlays, saliency) are written by
    ``outputs`` under ``results/exams/`` once the flag is out."""
    paths = ServicePaths.of(config.service)
    key = study_key(read_header(instances[0], config.reader).study_instance_uid, load_or_create_secret(paths.secret))
    pipeline, store = _pipeline(config)
    with models_in_use:
        run = pipeline.analyze_files(instances, study_key=key, store=store)

    def outputs() -> dict[str, Any]:
        with models_in_use:  # a view taken from the store is read (and its saliency made) again
            result, _ = pipeline.write_outputs(run, paths.results / "exams")
        return to_dict(result)

    return AnalyzerOutput(result=to_dict(run.result), outputs=outputs,
                          rejected=tuple({"reason": r.reason, "message": r.message} for r in run.rejected))


def default_analyzer(config: Config) -> Analyzer:
    return lambda instances, missing_views: analyze_instances(instances, missing_views, config=config)


def default_view_analyzer(config: Config) -> ViewAnalyzer:
    return lambda path: analyze_instance(path, config=config)
