"""The exam pipeline: read and normalize each view, analyze it, then the exam-level steps."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis import StageTiming, ViewAnalysis, analyze_view, rule_text, view_score
from ..config import Config
from ..dicom import Mammogram, read_header, read_mammogram
from ..errors import InputError
from ..preprocess import NormalizedView, normalize
from ..results import ExamResult, ViewNotAnalyzed, build_exam_result
from .files import Rejected
from .models import ExamModels
from .outputs import write_exam_outputs
from .views import ViewStore


class Step(enum.StrEnum):
    """What ``ExamPipeline.analyze_files`` reports as it goes (``on_step``), for the service's timeline."""

    REUSED = "reused"  #: a view taken from the store (waited for while another thread analyzed it)
    DECODED = "decoded"  #: a view not in the store read and decoded
    NORMALIZED = "normalized"  #: ... normalized
    DETECTED = "detected"  #: ... analyzed and stored
    VIEWS = "views"  #: every view analyzed or taken from the store
    EXAM_STEPS = "exam-steps"  #: the exam-level steps done


#: views read and normalized at a time in one process (a 3328x4096 view holds ~150 MB while it is read; two at
#: once kept the peak RSS above 1 GB in a burst with the retained heap, runtime/service/memory.py, for no gain)
READS_AT_ONCE = 1
_reading = threading.BoundedSemaphore(READS_AT_ONCE)


@dataclass(frozen=True, kw_only=True)
class _Read:
    """One view read and normalized, or the reader's error."""

    view: NormalizedView | None = None
    error: InputError | None = None
    decode_s: float = 0.0
    normalize_s: float = 0.0


class NoViewError(InputError):
    """Not one view of a study could be read."""

    reason = "no-view-readable"


@dataclass(frozen=True, kw_only=True)
class ExamRun:
    """One exam through the pipeline: its result, the files of its analyzed views (same order as
    ``result.views``), their normalized images where this run read them (None: taken from a ``ViewStore``),
    the files refused, and the overlay pictures (``overlay_base``) the store kept of views it had no image of."""

    result: ExamResult
    paths: tuple[Path, ...]
    views: tuple[NormalizedView | None, ...]
    rejected: tuple[Rejected, ...]
    pictures: tuple[np.ndarray | None, ...] = ()


class ExamPipeline:
    """The one place that combines the stages: per view (``read``, ``view``), then per exam (``exam``)."""

    def __init__(self, models: ExamModels, config: Config) -> None:
        self.models, self.config = models, config

    @property
    def fingerprint(self) -> str:
        """What a view's result depends on besides its file: models (hash, backend, precision) and options."""
        models = [(m.entry.sha256, m.backend, m.entry.precision) for m in self.models.compiled]
        options = [repr(section) for section in (self.config.reader, self.config.preprocess, self.config.analysis)]
        return hashlib.sha256(json.dumps([models, options]).encode()).hexdigest()

    def decode(self, path: Path) -> Mammogram:
        """Read and decode one view; raises a typed ``InputError``."""
        return read_mammogram(path, self.config.reader)

    def normalize(self, mammogram: Mammogram) -> NormalizedView:
        """Resample, orient, segment and standardize a decoded view."""
        return normalize(mammogram, self.config.preprocess)

    def read(self, path: Path) -> NormalizedView:
        """Read, decode and normalize one view; raises a typed ``InputError``. At most ``READS_AT_ONCE``
        views are read at a time in the process (each holds its full-size pixels a while)."""
        with _reading:
            return self.normalize(self.decode(path))

    def view(self, normalized: NormalizedView) -> ViewAnalysis:
        """Detection and clusters, then each cluster's morphology, then the view's score."""
        config = self.config.analysis
        analysis = analyze_view(
            normalized.image, normalized.mask, spacing_mm=normalized.spacing_mm, laterality=normalized.laterality,
            view=normalized.view, model=self.models.detector, config=config,
            to_original=normalized.transform.to_original)
        morphology = self.models.morphology
        if morphology is None or not analysis.clusters:
            return analysis
        started = time.perf_counter()
        members = [np.array([(analysis.calcifications[i].x, analysis.calcifications[i].y) for i in c.members])
                   for c in analysis.clusters]
        scores = [np.array([analysis.calcifications[i].score for i in c.members]) for c in analysis.clusters]
        assessments, saliency = morphology.assess(normalized.image, members, scores,
                                                  [c.distribution for c in analysis.clusters],
                                                  [c.id for c in analysis.clusters])
        clusters = tuple(dataclasses.replace(c, morphology=a) for c, a in zip(analysis.clusters, assessments))
        timing = StageTiming(stage="morphology", seconds=time.perf_counter() - started)
        return dataclasses.replace(analysis, clusters=clusters, score=view_score(clusters, config),
                                   saliency=tuple(saliency), timings=(*analysis.timings, timing))

    def exam(self, views: Sequence[ViewAnalysis], *, study_key: str, timings: Sequence[StageTiming] = (),
             not_analyzed: Sequence[ViewNotAnalyzed] = (), normalized: Sequence[NormalizedView] = ()) -> ExamResult:
        """The exam-level steps over analyzed views: breast assessment, triage, provenance; then, when a risk
        model is loaded and the ``normalized`` views are given, risk, asymmetry and density."""
        config = self.config.analysis
        risk, extra = None, list(timings)
        if self.models.risk is not None and normalized:
            started = time.perf_counter()
            ages = [v.header.patient_age_years for v in normalized if v.header.patient_age_years is not None]
            risk = self.models.risk.assess(normalized, age_years=ages[0] if ages else None)
            extra.append(StageTiming(stage="risk", seconds=time.perf_counter() - started))
        return build_exam_result(study_key=study_key, views=views, models=self.models.compiled,
                                 operating_point=config.triage_threshold, timings=extra,
                                 rule=rule_text(config.flag_min_birads, config.flag_uncertain),
                                 views_not_analyzed=not_analyzed, risk=risk)

    def analyze_files(self, paths: Sequence[Path], *, study_key: str, store: ViewStore | None = None,
                      on_step: Callable[[Step], None] = lambda step: None,
                      models_lock: AbstractContextManager[Any] | None = None, readers: int = 1) -> ExamRun:
        """One study's files end to end; a file the reader refuses is listed, the others analyzed. With a
        ``store``, a view already analyzed (same file, same fingerprint) is taken from it, and new ones go in;
        a view another thread is analyzing (``ViewStore.begin``) is waited for, not analyzed twice.

        ``on_step`` is told of each step as it ends. ``models_lock`` is held only while a view runs the models
        (decoding and normalizing need none); with ``readers`` > 1 the views still to analyze are read and
        normalized that many at a time in threads, while the one before them runs the models."""
        rejected: list[Rejected] = []
        analyzed: list[tuple[Path, NormalizedView | None, ViewAnalysis]] = []
        lock = models_lock if models_lock is not None else nullcontext()
        keys = [store.key(path) if store is not None else None for path in paths]
        mine = {i for i, key in enumerate(keys) if store is None or key is None or store.begin(key)}

        def stored(i: int) -> bool:
            key = keys[i]
            return store is not None and key is not None and (store.recent(key) is not None or store.exists(key))

        todo = [i for i in sorted(mine) if not stored(i)]
        pool = (ThreadPoolExecutor(max_workers=readers, thread_name_prefix="view-reader")
                if readers > 1 and len(todo) > 1 else None)
        reads: dict[int, Future[_Read]] = {}

        def read(i: int) -> _Read:
            with _reading:
                started = time.perf_counter()
                try:
                    mammogram = self.decode(paths[i])
                except InputError as exc:
                    return _Read(error=exc, decode_s=time.perf_counter() - started)
                decoded = time.perf_counter()
                on_step(Step.DECODED)
                view = self.normalize(mammogram)
                del mammogram  # the full-size decoded pixels: only the normalized view is kept
            on_step(Step.NORMALIZED)
            return _Read(view=view, decode_s=decoded - started, normalize_s=time.perf_counter() - decoded)

        def ahead(position: int) -> None:  # keep ``readers`` reads started from the view in hand on
            for i in todo[position:position + readers]:
                if i not in reads and pool is not None:
                    reads[i] = pool.submit(read, i)

        read_s = normalize_s = 0.0
        pictures: dict[int, np.ndarray | None] = {}
        slots: dict[int, tuple[Path, NormalizedView | None, ViewAnalysis] | Rejected] = {}
        try:  # the views another thread is analyzing last: by then they are likely done
            for i in sorted(range(len(paths)), key=lambda i: i not in mine):
                path, key = paths[i], keys[i]
                if store is not None and key is not None:
                    if i not in mine:
                        store.wait(key)  # another thread is analyzing it: its result, or ours if it failed
                    recent = store.recent(key)
                    found = recent[1] if recent else store.get(key)
                    if found is not None:
                        slots[i] = (path, recent[0] if recent else None, found)
                        if recent is None:
                            pictures[i] = store.picture(key)
                        on_step(Step.REUSED)
                        continue
                if i in todo:
                    ahead(todo.index(i))
                outcome = reads.pop(i).result() if i in reads else read(i)
                if i in todo:
                    ahead(todo.index(i) + 1)
                read_s, normalize_s = read_s + outcome.decode_s, normalize_s + outcome.normalize_s
                if outcome.view is None:
                    error = outcome.error
                    assert error is not None  # a read gives a view or the reader's error
                    slots[i] = Rejected(path=path, reason=error.reason, message=str(error), view=self._view_name(path))
                    continue
                with lock:
                    analysis = self.view(outcome.view)
                slots[i] = (path, outcome.view, analysis)
                if store is not None and key is not None:
                    store.put(key, analysis, outcome.view)
                on_step(Step.DETECTED)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            if store is not None:
                for i in mine:
                    key = keys[i]
                    if key is not None:
                        store.end(key)
        on_step(Step.VIEWS)
        kept: list[np.ndarray | None] = []
        for i in sorted(slots):  # in the order of ``paths``
            slot = slots[i]
            if isinstance(slot, Rejected):
                rejected.append(slot)
            else:
                analyzed.append(slot)
                kept.append(pictures.get(i))
        if not analyzed:
            raise NoViewError(f"none of the study's {len(paths)} file(s) could be read")
        risk_views = self._risk_views(analyzed)
        with lock:  # the risk model, when loaded
            result = self.exam([a for _, _, a in analyzed], study_key=study_key,
                               timings=(StageTiming(stage="read", seconds=read_s),
                                        StageTiming(stage="normalize", seconds=normalize_s)),
                               not_analyzed=[ViewNotAnalyzed(view=r.view, reason=r.reason, message=r.message)
                                             for r in rejected],
                               normalized=risk_views)
        on_step(Step.EXAM_STEPS)
        return ExamRun(result=result, paths=tuple(p for p, _, _ in analyzed), views=tuple(v for _, v, _ in analyzed),
                       rejected=tuple(rejected), pictures=tuple(kept))

    def _risk_views(self, analyzed: Sequence[tuple[Path, NormalizedView | None, ViewAnalysis]]
                    ) -> list[NormalizedView]:
        """The normalized views the risk stage needs (none without a risk model); a view taken from the store
        without its pixels is read again."""
        if self.models.risk is None:
            return []
        out = []
        for path, view, _ in analyzed:
            if view is None:
                try:
                    view = self.read(path)
                except InputError:
                    continue
            out.append(view)
        return out

    def _view_name(self, path: Path) -> str | None:
        """``RCC``, ``LMLO``, ... from the header of a file whose pixels were refused; None if that fails too."""
        try:
            header = read_header(path, self.config.reader)
        except InputError:
            return None
        return f"{header.laterality.value}{header.view.value}"

    def write_outputs(self, run: ExamRun, directory: Path,
                      models_lock: AbstractContextManager[Any] | None = None) -> tuple[ExamResult, Path]:
        """Overlays, saliency pictures and ``<study key>.json`` in ``directory``. A view taken from a store without
        its image is drawn on the overlay picture the store kept (``run.pictures``); it is read again only when
        there is none, or for the asymmetry pictures, and analyzed again (holding ``models_lock``) only when it
        has clusters the morphology model made saliency maps of (those maps are not stored)."""
        views, normalized = list(run.result.views), list(run.views)
        pictures = list(run.pictures) or [None] * len(views)
        risk = run.result.risk
        asymmetry = risk is not None and bool(risk.asymmetry)  # its pictures draw on every normalized view
        for i, (path, image) in enumerate(zip(run.paths, run.views)):
            if image is not None:
                continue
            saliency = self.models.morphology is not None and bool(views[i].clusters)
            if pictures[i] is not None and not saliency and not asymmetry:
                continue
            normalized[i] = image = self.read(path)
            if saliency:
                with models_lock if models_lock is not None else nullcontext():
                    views[i] = dataclasses.replace(views[i], saliency=self.view(image).saliency)
        result = dataclasses.replace(run.result, views=tuple(views))
        return write_exam_outputs(result, normalized, directory, bases=pictures)
