"""Files in, exam results out: group DICOM files by study, read, normalize, analyze, write."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .analysis.view import StageTiming
from .config import Config
from .dicom import read_header, read_mammogram
from .errors import InputError
from .inference import CompiledModel
from .preprocess import normalize
from .privacy import load_or_create_secret, study_key
from .results.exam import ExamResult
from .results.outputs import analyze_exam, write_exam_outputs

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Rejected:
    """A file that was not analyzed, and why (no patient data)."""

    path: Path
    reason: str
    message: str


def list_files(paths: list[Path]) -> list[Path]:
    """Files named, and every file below the folders named, sorted."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.exists():
            out.append(path)
        else:
            raise InputError(f"{os.fspath(path)!r} does not exist")
    return out


def group_by_study(files: list[Path], config: Config) -> tuple[dict[str, list[Path]], list[Rejected]]:
    """Readable mammograms by StudyInstanceUID; the rest as rejects with their typed reason."""
    studies: dict[str, list[Path]] = defaultdict(list)
    rejected: list[Rejected] = []
    for path in files:
        try:
            header = read_header(path, config.reader)
        except InputError as exc:
            rejected.append(Rejected(path=path, reason=exc.reason, message=str(exc)))
            continue
        studies[header.study_instance_uid].append(path)
    return dict(studies), rejected


def analyze_study(paths: list[Path], study_uid: str, detector: CompiledModel, config: Config, secret: bytes,
                  out_dir: Path) -> tuple[ExamResult, Path, list[Rejected]]:
    """Read, normalize and analyze one study's files; write ``<key>.json`` and overlays to ``out_dir``."""
    rejected: list[Rejected] = []
    started = time.perf_counter()
    mammograms = []
    for path in paths:
        try:
            mammograms.append(read_mammogram(path, config.reader))
        except InputError as exc:
            rejected.append(Rejected(path=path, reason=exc.reason, message=str(exc)))
    read_done = time.perf_counter()
    views = [normalize(m, config.preprocess) for m in mammograms]
    normalized = time.perf_counter()
    if not views:
        raise InputError("no view of the study could be read")
    key = study_key(study_uid, secret)
    result = analyze_exam(views, detector, config.analysis, study_key=key,
                          timings=[StageTiming(stage="read", seconds=read_done - started),
                                   StageTiming(stage="normalize", seconds=normalized - read_done)])
    result, path = write_exam_outputs(result, views, out_dir)
    return result, path, rejected


_detector_lock = threading.Lock()
_detectors: dict[tuple, CompiledModel] = {}


def cached_detector(config: Config) -> CompiledModel:
    """One compiled detector per process and configuration (compiling costs ~0.1-1 s)."""
    from .analysis.view import load_detector
    from .inference import Engine

    key = (config.inference, config.analysis.detector_model, config.analysis.tile_size, config.analysis.batch_size)
    with _detector_lock:
        if key not in _detectors:
            _detectors[key] = load_detector(Engine(config.inference), config.analysis)
        return _detectors[key]


def analyze_instances(instances: list[Path], missing_views: list[str], *, config: Config) -> dict:
    """The service's analyzer: the whole exam analysis; the exam result as a JSON-ready dict."""
    from .results.serialize import to_dict
    from .service.paths import ServicePaths

    secret = load_or_create_secret(ServicePaths.of(config.service).secret)
    header = read_header(instances[0], config.reader)
    out_dir = ServicePaths.of(config.service).results
    detector = cached_detector(config)
    with _detector_lock:  # one exam at a time through the compiled model
        result, _, rejected = analyze_study(instances, header.study_instance_uid, detector, config, secret,
                                            out_dir / "exams")
    document = to_dict(result)
    document["missing_views"] = list(missing_views)
    document["rejected"] = [{"reason": r.reason, "message": r.message} for r in rejected]
    return document
