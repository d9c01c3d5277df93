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
from .biopsy_job import ExamKind, analyze_stereo, forward_target, is_stereo, split_instances, write_pictures
from . import timeline
from .paths import ServicePaths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalyzerOutput:
    """What an analyzer gives the worker: the exam result document, the instances it refused, and the step
    that writes the exam's pictures afterwards (returning the result document with their names)."""

    result: dict[str, Any] | None  #: None: a study with a stereo set and no screening view
    rejected: tuple[dict[str, str], ...] = field(default=())
    outputs: Callable[[], dict[str, Any] | None] | None = field(default=None, compare=False)
    #: run after the flag, before the pictures: the DICOM results written and queued for [forward]; what it
    #: returns is the result document's "forwarding" record
    after: Callable[[], dict[str, Any] | None] | None = field(default=None, compare=False)
    kind: ExamKind = ExamKind.SCREENING
    biopsy: dict[str, Any] | None = None  #: the biopsy stage's result (BiopsyResult.to_dict()) for a stereo set


#: (spooled instances, missing screening views) -> output; the worker wraps it in the result envelope.
Analyzer = Callable[[list[Path], list[str]], AnalyzerOutput]
#: a spooled instance -> None, analyzed and stored, or the reader's reason for refusing it
ViewAnalyzer = Callable[[Path], str | None]

models_in_use = threading.Lock()  # the compiled models are shared by the exam and view workers
#: views kept in memory (image + saliency) for their exam's pictures: one four-view exam, ~140 MB
RECENT_VIEWS = 4
#: views pushed out of those before their exam's pictures (a burst) keep the overlay's grey picture, ~3.4 MB
#: each: four exams' worth, so a burst's pictures need not read and decode their views again
RECENT_PICTURES = 16
_stores: dict[tuple[Path, str], ViewStore] = {}
#: views of an exam read and normalized at a time (threads) while the one before them runs the models
READERS = 2
_stores_lock = threading.Lock()


def _pipeline(config: Config) -> tuple[ExamPipeline, ViewStore]:
    pipeline = ExamPipeline(shared_models(config), config)
    where = (ServicePaths.of(config.service).views, pipeline.fingerprint)
    with _stores_lock:
        store = _stores.setdefault(where, ViewStore(*where, keep=RECENT_VIEWS, keep_pictures=RECENT_PICTURES))
    return pipeline, store


def analyze_instance(path: Path, *, config: Config) -> str | None:
    """One spooled view on its own, stored for its exam; None, or the reason the reader refused it."""
    if is_stereo(path):  # a stereotactic image: the biopsy stage reads it with its set
        return None
    pipeline, store = _pipeline(config)
    key = store.key(path)
    if store.exists(key) or not store.begin(key):  # stored, or being analyzed by its exam
        return None
    try:
        normalized = pipeline.read(path)  # no model needed: beside the other thread's inference
        with models_in_use:
            analysis = pipeline.view(normalized)
        store.put(key, analysis, normalized)
    except InputError as exc:  # the exam's analysis names the view and the reason
        return exc.reason
    finally:
        store.end(key)
    return None


def analyze_instances(instances: list[Path], missing_views: list[str], *, config: Config) -> AnalyzerOutput:
    """The exam: a stereotactic set goes to the biopsy stage (``biopsy_job``), the screening views to
    triage."""
    stereo, screening = split_instances(instances, config)
    if not stereo:
        return analyze_screening(instances, missing_views, config=config)
    return analyze_biopsy(stereo, screening, missing_views, config=config)


def analyze_biopsy(stereo: list[Path], screening: list[Path], missing_views: list[str], *,
                   config: Config) -> AnalyzerOutput:
    """A study with a stereo set: its target first (a refused set raises when there is nothing else, else it
    is named in ``rejected``), then its screening views, if any, through triage; the target's SR joins the
    forwarding, its overlay the pictures."""
    from ..biopsy.errors import BiopsyError

    paths = ServicePaths.of(config.service)
    key = study_key(read_header(stereo[0], config.reader).study_instance_uid, load_or_create_secret(paths.secret))
    try:
        run = analyze_stereo(stereo, config, lock=models_in_use)
        refused: tuple[dict[str, str], ...] = ()
    except BiopsyError as exc:
        if not screening:
            raise
        log.warning("exam %s: stereo set not targeted: %s", key[:8], exc.reason)
        run, refused = None, ({"reason": exc.reason, "message": str(exc)},)
    triage = analyze_screening(screening, missing_views, config=config) if screening else None
    biopsy = None if run is None else run.result.to_dict()

    def outputs() -> dict[str, Any] | None:
        if run is not None:
            write_pictures(run, key, paths.results / "exams")
        return triage.outputs() if triage is not None and triage.outputs is not None else (
            triage.result if triage is not None else None)

    def forwarding() -> dict[str, Any] | None:
        target: dict[str, Any] | None = None
        if run is not None:
            try:
                target = forward_target(run, key, config)
            except Exception as exc:  # never fails the analysed exam; the result says what went wrong
                log.error("exam %s: biopsy SR not queued: %s", key[:8], type(exc).__name__)
                target = {"objects": 0, "deliveries": [], "error": type(exc).__name__}
        records = [r for r in (target, triage.after() if triage is not None and triage.after is not None else None)
                   if r is not None]
        if not records:
            return None
        return {"objects": sum(r["objects"] for r in records), "error": next((r["error"] for r in records
                                                                              if r["error"]), None),
                "deliveries": [d for r in records for d in r["deliveries"]]}

    return AnalyzerOutput(result=None if triage is None else triage.result, kind=ExamKind.BIOPSY, biopsy=biopsy,
                          rejected=refused + (triage.rejected if triage is not None else ()),
                          outputs=outputs, after=forwarding if config.forward.destinations else None)


def analyze_screening(instances: list[Path], missing_views: list[str], *, config: Config) -> AnalyzerOutput:
    """Screening views: stored views reused, the rest analyzed; the pictures (overlays, saliency) are written by
    ``outputs`` under ``results/exams/`` once the flag is out."""
    paths = ServicePaths.of(config.service)
    key = study_key(read_header(instances[0], config.reader).study_instance_uid, load_or_create_secret(paths.secret))
    pipeline, store = _pipeline(config)
    run = pipeline.analyze_files(instances, study_key=key, store=store, models_lock=models_in_use, readers=READERS,
                                 on_step=lambda step: timeline.mark(timeline.Step(step.value)))

    def outputs() -> dict[str, Any]:
        # the models are taken only to make again the saliency maps of a view taken from the store
        result, _ = pipeline.write_outputs(run, paths.results / "exams", models_lock=models_in_use)
        for path in run.paths:  # the exam's pictures are out: its views' images need not be kept
            store.release(store.key(path))
        timeline.mark(timeline.Step.PICTURES)
        return to_dict(result)

    def forwarding() -> dict[str, Any] | None:
        # the SCs draw on the normalized pixels this run holds (views analysed on arrival come with theirs from
        # the store's recent views); only a view without them (e.g. after a restart) is decoded again
        missing = sum(image is None for image in run.views)
        if missing:
            log.info("exam %s: %d of %d view(s) decoded again for the secondary captures", key[:8], missing,
                     len(run.views))
        images = [image if image is not None else pipeline.read(path) for image, path in zip(run.views, run.paths)]
        forwarded = forward_results(run.result, images, list(run.paths), config)
        timeline.mark(timeline.Step.DICOM_OBJECTS)
        return forwarded

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
