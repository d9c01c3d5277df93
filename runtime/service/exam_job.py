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
from ..errors import InputError, MammoedgeError
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
    #: run after the flag, before the pictures: the DICOM results written and queued for [forward]; what it
    #: returns is the result document's "forwarding" record
    after: Callable[[], dict[str, Any] | None] | None = field(default=None, compare=False)


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

    def forwarding() -> dict[str, Any] | None:
        # the SCs draw on the normalized pixels this run holds (views analysed on arrival come with theirs from
        # the store's recent views); only a view without them (e.g. after a restart) is decoded again
        missing = sum(image is None for image in run.views)
        if missing:
            log.info("exam %s: %d of %d view(s) decoded again for the secondary captures", key[:8], missing,
                     len(run.views))
        images = [image if image is not None else pipeline.read(path) for image, path in zip(run.views, run.paths)]
        return forward_results(run.result, images, list(run.paths), config)

    return AnalyzerOutput(result=to_dict(run.result), outputs=outputs,
                          rejected=tuple({"reason": r.reason, "message": r.message} for r in run.rejected),
                          after=forwarding if config.forward.destinations else None)


def forward_results(result: Any, images: Any, paths: list[Path], config: Config) -> dict[str, Any] | None:
    """Write the exam's DICOM results and queue them for every configured destination (None: none configured).

    ``images`` and ``paths``: the normalized views and their original files, in ``result.views`` order. Each
    object is queued as soon as it is written, so the sender starts while the rest are built. A failure is
    reported in the result document; it never fails the analysed exam.
    """
    forward = config.forward
    if not forward.destinations:
        return None
    from dataclasses import asdict

    from ..dicom_results import write_exam_dicom
    from ..forward import SendQueue, enqueue_results, forward_paths

    where = forward_paths(forward, config.service)
    kinds = {kind for d in forward.destinations for kind in d.objects}
    queue = SendQueue(where.queue)
    try:
        try:
            written = write_exam_dicom(result, images, paths, where.objects, analysis=config.analysis,
                                       kinds=kinds, on_written=lambda item, path: enqueue_results(
                                           queue, forward, result.study_key, [(item.kind, path)]))
        except (MammoedgeError, OSError) as exc:
            log.error("exam %s: DICOM results not written: %s", result.study_key[:8], type(exc).__name__)
            return {"objects": 0, "deliveries": [], "error": f"{type(exc).__name__}: {exc}"}
        names = {path.name for _, path in written}
        deliveries = [asdict(s) for s in queue.of_study(result.study_key) if s.object in names]
    finally:
        queue.close()
    return {"objects": len(written), "deliveries": deliveries, "error": None}


def default_analyzer(config: Config) -> Analyzer:
    if config.forward.destinations:  # the DICOM results' tables load beside start-up, not on the first exam
        from ..dicom_results import warm_up

        threading.Thread(target=warm_up, name="dicom-results-warm-up", daemon=True).start()
    return lambda instances, missing_views: analyze_instances(instances, missing_views, config=config)


def default_view_analyzer(config: Config) -> ViewAnalyzer:
    return lambda path: analyze_instance(path, config=config)
