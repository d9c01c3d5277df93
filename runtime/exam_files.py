"""Files in, exam results out: group DICOM files by study, read, normalize, analyze, write."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .analysis.view import AnalysisModels, StageTiming
from .config import Config
from .dicom import read_header, read_mammogram
from .errors import InputError
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


def analyze_study(paths: list[Path], study_uid: str, models: AnalysisModels, config: Config, secret: bytes,
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
    result = analyze_exam(views, models, config.analysis, study_key=key,
                          timings=[StageTiming(stage="read", seconds=read_done - started),
                                   StageTiming(stage="normalize", seconds=normalized - read_done)])
    result, path = write_exam_outputs(result, views, out_dir)
    return result, path, rejected


_models_lock = threading.Lock()
_models: dict[tuple, AnalysisModels] = {}


def cached_models(config: Config) -> AnalysisModels:
    """The analysis models, compiled once per process and configuration (~0.1-1 s each)."""
    from .analysis.view import load_models
    from .inference import Engine

    key = (config.inference, config.analysis.detector_model, config.analysis.tile_size, config.analysis.batch_size,
           config.analysis.verifier_model, config.analysis.morphology_model)
    with _models_lock:
        if key not in _models:
            _models[key] = load_models(Engine(config.inference), config.analysis)
        return _models[key]


def analyze_instances(instances: list[Path], missing_views: list[str], *, config: Config) -> dict:
    """The service's analyzer: the whole exam analysis; the exam result as a JSON-ready dict."""
    from .results.serialize import to_dict
    from .service.paths import ServicePaths

    secret = load_or_create_secret(ServicePaths.of(config.service).secret)
    header = read_header(instances[0], config.reader)
    out_dir = ServicePaths.of(config.service).results
    models = cached_models(config)
    with _models_lock:  # one exam at a time through the compiled models
        result, _, rejected = analyze_study(instances, header.study_instance_uid, models, config, secret,
                                            out_dir / "exams")
    document = to_dict(result)
    document["missing_views"] = list(missing_views)
    document["rejected"] = [{"reason": r.reason, "message": r.message} for r in rejected]
    return document
