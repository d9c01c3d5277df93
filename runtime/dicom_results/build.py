"""One exam result -> its DICOM results (CAD SR, companion SR, GSPS, one SC per view), and writing them."""

from __future__ import annotations

import datetime as _dt
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from highdicom.base import SOPClass
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from ..config import AnalysisConfig
from ..results.exam import ExamResult
from .cad_sr import SeriesPlacement, build_cad_sr
from .codes import MAMMOGRAPHY_CAD_SR, ResultKind, ResultSeries
from .errors import DicomResultsError
from .gsps import build_gsps
from .sc import build_sc
from .summary_sr import build_summary_sr

log = logging.getLogger(__name__)

#: Instance numbers: analysis n of a study numbers its objects n*100 + 1, n*100 + 2, ...
INSTANCES_PER_ANALYSIS = 100
DESCRIPTION = {
    ResultKind.CAD_SR: "mammoedge CAD SR, calcifications",
    ResultKind.SUMMARY_SR: "mammoedge triage flag and case scores",
    ResultKind.GSPS: "mammoedge CAD marks (presentation state)",
    ResultKind.SC: "derived CAD marks: NOT FOR PRIMARY DIAGNOSIS",
}
SERIES = {ResultKind.CAD_SR: ResultSeries.CAD_SR, ResultKind.SUMMARY_SR: ResultSeries.SUMMARY_SR,
          ResultKind.GSPS: ResultSeries.GSPS, ResultKind.SC: ResultSeries.SC}
#: Threads drawing the secondary captures beside the SR building.
SC_THREADS = 2
#: Our own implementation's device (observer) UID, the same on every box running this software.
DEVICE_UID = generate_uid(entropy_srcs=["mammoedge", "device observer"])


@dataclass(frozen=True, kw_only=True)
class DicomResult:
    """One built object and what it is."""

    kind: ResultKind
    dataset: Dataset

    @property
    def sop_instance_uid(self) -> str:
        return str(self.dataset.SOPInstanceUID)


def warm_up() -> None:
    """Load highdicom's IOD tables (a large JSON file read on first use, 1-2 s of CPU once per process) now,
    so the first exam's objects do not wait for it; the service calls it at start when it forwards."""
    SOPClass(study_instance_uid=generate_uid(), series_instance_uid=generate_uid(), series_number=1,
             sop_instance_uid=generate_uid(), sop_class_uid=MAMMOGRAPHY_CAD_SR, instance_number=1, modality="SR",
             manufacturer="mammoedge")


def series_uid(study_instance_uid: str, kind: ResultKind) -> str:
    """Our series of ``kind`` in a study: the same UID at every re-analysis (new instances join it)."""
    return str(generate_uid(entropy_srcs=[study_instance_uid, "mammoedge", kind.value]))


def kind_of(dataset: Dataset) -> ResultKind | None:
    """Which of our kinds a dataset is (by its series number and our series UID), or None."""
    for kind, number in SERIES.items():
        if (dataset.get("SeriesNumber") == number and "StudyInstanceUID" in dataset
                and dataset.get("SeriesInstanceUID") == series_uid(dataset.StudyInstanceUID, kind)):
            return kind
    return None


def analysis_number(previous: Iterable[Dataset]) -> int:
    """1 for the first analysis of a study, else one more than the latest one ``previous`` holds."""
    numbers = [int(d.InstanceNumber) // INSTANCES_PER_ANALYSIS for d in previous if "InstanceNumber" in d]
    return max(numbers, default=0) + 1


def align_sources(images: Sequence[Any], datasets: Iterable[Dataset]) -> list[Dataset]:
    """The source headers in the order of ``images`` (reader views with ``header.sop_instance_uid``)."""
    by_uid = {str(d.SOPInstanceUID): d for d in datasets}
    try:
        return [by_uid[image.header.sop_instance_uid] for image in images]
    except KeyError:
        raise DicomResultsError("a normalized view has no source header among the files given (matched by "
                                "SOP Instance UID); rule: every analysed view's original is given") from None


def build_dicom_results(result: ExamResult, sources: Sequence[Dataset], images: Sequence[Any] | None, *,
                        analysis: AnalysisConfig | None = None, previous: Sequence[Dataset] = (),
                        kinds: Iterable[ResultKind] = tuple(ResultKind), now: _dt.datetime | None = None
                        ) -> list[DicomResult]:
    """Every DICOM result of one exam (see :func:`iter_dicom_results`)."""
    return list(iter_dicom_results(result, sources, images, analysis=analysis, previous=previous, kinds=kinds,
                                   now=now))


def iter_dicom_results(result: ExamResult, sources: Sequence[Dataset], images: Sequence[Any] | None, *,
                       analysis: AnalysisConfig | None = None, previous: Sequence[Dataset] = (),
                       kinds: Iterable[ResultKind] = tuple(ResultKind), now: _dt.datetime | None = None
                       ) -> Iterator[DicomResult]:
    """Every DICOM result of one exam, each as soon as it is built: the SRs and GSPS first, while the
    secondary captures are drawn on other threads (OpenCV releases the GIL).

    ``sources``: the analysed images' headers (``pydicom.dcmread(path, stop_before_pixels=True)``), in
    ``result.views`` order; ``images``: the normalized views in the same order (needed for SC only);
    ``previous``: headers of the objects earlier analyses of this study produced (re-analysis: the new
    objects are numbered after them and the SRs list them as predecessors).
    """
    analysis = analysis or AnalysisConfig()
    if len(sources) != len(result.views) or not sources:
        raise DicomResultsError(f"{len(sources)} source headers for {len(result.views)} analysed views; "
                                "rule: one source per view, in result.views order")
    for view, source in zip(result.views, sources):
        stated = source.get("ImageLaterality") or source.get("Laterality")
        if stated and stated != view.laterality.value:
            raise DicomResultsError(f"source laterality {stated!r} differs from its view's "
                                    f"{view.laterality.value!r}; rule: sources are in result.views order")
    if len({s.StudyInstanceUID for s in sources}) != 1:
        raise DicomResultsError("source images belong to more than one study; rule: one exam, one study")
    wanted = set(kinds)
    study_uid = str(sources[0].StudyInstanceUID)
    n = analysis_number(previous)
    earlier: dict[ResultKind, list[Dataset]] = {}
    for d in previous:
        kind = kind_of(d)
        if kind is not None:
            earlier.setdefault(kind, []).append(d)

    def placement(kind: ResultKind, k: int = 1) -> SeriesPlacement:
        supersedes = "" if n == 1 else f" (v{n} supersedes v{n - 1})"
        latest = [d for d in earlier.get(kind, []) if int(d.InstanceNumber) // INSTANCES_PER_ANALYSIS == n - 1]
        return SeriesPlacement(series_instance_uid=series_uid(study_uid, kind), series_number=SERIES[kind],
                               sop_instance_uid=str(generate_uid()), instance_number=n * INSTANCES_PER_ANALYSIS + k,
                               series_description=(DESCRIPTION[kind] + supersedes)[:64], predecessors=tuple(latest))

    if ResultKind.SC in wanted and (images is None or len(images) != len(result.views)):
        raise DicomResultsError("secondary captures need the normalized view images, one per analysed view")
    with ThreadPoolExecutor(max_workers=SC_THREADS) as pool:
        captures = [pool.submit(build_sc, view, image, source, placement(ResultKind.SC, k))
                    for k, (view, image, source) in enumerate(zip(result.views, images or (), sources), start=1)
                    ] if ResultKind.SC in wanted else []
        try:
            if ResultKind.CAD_SR in wanted:
                yield DicomResult(kind=ResultKind.CAD_SR, dataset=build_cad_sr(
                    result, sources, placement(ResultKind.CAD_SR), min_birads=analysis.flag_min_birads,
                    flag_uncertain=analysis.flag_uncertain, now=now))
            if ResultKind.GSPS in wanted:
                for d in build_gsps(result, sources, placement(ResultKind.GSPS)):
                    yield DicomResult(kind=ResultKind.GSPS, dataset=d)
            if ResultKind.SUMMARY_SR in wanted:
                yield DicomResult(kind=ResultKind.SUMMARY_SR, dataset=build_summary_sr(
                    result, sources, placement(ResultKind.SUMMARY_SR), device_uid=DEVICE_UID))
            for capture in captures:
                yield DicomResult(kind=ResultKind.SC, dataset=capture.result())
        finally:
            for capture in captures:
                capture.cancel()


def file_name(result: ExamResult, item: DicomResult) -> str:
    """``<study key>_<instance number>_<kind>.dcm``: no identifiers in the name."""
    return f"{result.study_key}_{int(item.dataset.InstanceNumber):05d}_{item.kind.value}.dcm"


def previous_results(out_dir: Path, study_key: str) -> list[Dataset]:
    """Headers of the objects earlier analyses of this study wrote to ``out_dir``."""
    found: list[Dataset] = []
    for path in sorted(out_dir.glob(f"{study_key}_*.dcm")):
        try:
            found.append(pydicom.dcmread(path, stop_before_pixels=True))
        except Exception as exc:  # an unreadable leftover must not stop a new analysis
            log.warning("earlier result %s unreadable (%s); not counted", path.name, type(exc).__name__)
    return found


def write_dicom_results(result: ExamResult, sources: Sequence[Dataset], images: Sequence[Any] | None,
                        out_dir: str | os.PathLike[str], *, analysis: AnalysisConfig | None = None,
                        kinds: Iterable[ResultKind] = tuple(ResultKind),
                        on_written: Callable[[DicomResult, Path], object] | None = None
                        ) -> list[tuple[DicomResult, Path]]:
    """Build and write the objects to ``out_dir`` (temporary file + rename each), numbered after earlier
    analyses'; ``on_written`` is called as each file is in place (to queue it while the rest are built)."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for item in iter_dicom_results(result, sources, images, analysis=analysis,
                                   previous=previous_results(directory, result.study_key), kinds=kinds):
        path = directory / file_name(result, item)
        temporary = path.with_suffix(".tmp")
        item.dataset.save_as(temporary, enforce_file_format=True)
        os.replace(temporary, path)
        written.append((item, path))
        if on_written is not None:
            on_written(item, path)
    return written


def read_sources(paths: Iterable[Path]) -> list[Dataset]:
    """The headers of an exam's original files (``stop_before_pixels``); unreadable files are left out."""
    found: list[Dataset] = []
    for path in paths:
        try:
            found.append(pydicom.dcmread(path, stop_before_pixels=True))
        except Exception as exc:  # the reader already refused it: it is no analysed view
            log.debug("source %s not read (%s)", Path(path).name, type(exc).__name__)
    return found


def write_exam_dicom(result: ExamResult, images: Sequence[Any], paths: Sequence[Path],
                     out_dir: str | os.PathLike[str], *, analysis: AnalysisConfig | None = None,
                     kinds: Iterable[ResultKind] = tuple(ResultKind),
                     on_written: Callable[[DicomResult, Path], object] | None = None
                     ) -> list[tuple[DicomResult, Path]]:
    """:func:`write_dicom_results` for a pipeline run (``ExamRun``): ``images`` its normalized views and
    ``paths`` their original files, both in ``result.views`` order (``ExamRun.views``, ``ExamRun.paths``)."""
    if len(paths) != len(result.views):
        raise DicomResultsError(f"{len(paths)} source files for {len(result.views)} analysed views; rule: one "
                                "original per view, in result.views order")
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    return write_dicom_results(result, sources, images, out_dir, analysis=analysis, kinds=kinds,
                               on_written=on_written)


__all__ = [
    "MAMMOGRAPHY_CAD_SR",
    "DicomResult",
    "align_sources",
    "build_dicom_results",
    "read_sources",
    "write_dicom_results",
    "warm_up",
    "write_exam_dicom",
]
