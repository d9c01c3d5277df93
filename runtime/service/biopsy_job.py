"""The service's biopsy path: a study's stereotactic set -> the biopsy stage -> target, SR in the send queue.

``split_instances`` sorts a study's spooled files into its stereo set and its screening views
(``biopsy.route``); ``analyze_stereo`` runs the stage with the compiled detector the screening path shares;
``forward_target`` writes the stage's Comprehensive 3D SR and queues it for the ``[forward]`` destinations
that take ``biopsy_sr``; ``write_pictures`` draws the overlay of both views beside the exam's pictures.
"""

from __future__ import annotations

import enum
import functools
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from ..biopsy.detect import ViewDetections, detect_view
from ..biopsy.overlay import write_overlay
from ..biopsy.result import BiopsyResult
from ..biopsy.route import marked_role, split_study
from ..biopsy.sr import target_sr
from ..biopsy.stage import run_biopsy
from ..biopsy.stereo_set import StereoRole, StereoSet
from ..config import Config, ForwardObject
from ..dicom.header import load_dataset
from ..pipeline import shared_models

log = logging.getLogger(__name__)


class ExamKind(enum.StrEnum):
    """What a study was analyzed as (the result envelope's ``kind``)."""

    SCREENING = "screening"  #: screening views -> the triage flag
    BIOPSY = "biopsy"  #: a stereotactic set -> the biopsy target (its screening views, if any, still triaged)


@dataclass(frozen=True, kw_only=True)
class StereoRun:
    """One stereo set through the biopsy stage."""

    result: BiopsyResult
    stereo: StereoSet
    detections: dict[StereoRole, ViewDetections]


def _header(path: Path) -> Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # unreadable: a screening view the pipeline refuses with its reason
        return Dataset()


def is_stereo(path: Path) -> bool:
    """Image Type value 3 marks the file as a stereotactic image (``STEREO_SCOUT/PLUS/MINUS``)."""
    return marked_role(_header(path)) is not None


def split_instances(instances: list[Path], config: Config) -> tuple[list[Path], list[Path]]:
    """(stereo set, screening views) of one study's spooled files (``biopsy.route.split_study``)."""
    return split_study(instances, [_header(p) for p in instances], config.biopsy)


def analyze_stereo(paths: list[Path], config: Config, *, lock: threading.Lock) -> StereoRun:
    """The biopsy stage on the stereo files (named by their pseudonymous spool names in messages).

    Raises the stage's typed errors (``StereoSetError``, ``GeometryError``, ``NoTargetError``).
    """
    datasets = [(p.name, load_dataset(p)) for p in paths]
    with lock:
        detect = functools.partial(detect_view, detector=shared_models(config).detector, config=config)
        result, stereo, detections = run_biopsy(datasets, detect, config)
    return StereoRun(result=result, stereo=stereo, detections=detections)


def write_pictures(run: StereoRun, study_key: str, directory: Path) -> Path:
    """``<study key>_biopsy-overlay.png`` (both views, matches, target) and ``<study key>_biopsy.json``."""
    directory.mkdir(parents=True, exist_ok=True)

    def view(role: StereoRole) -> tuple[np.ndarray, np.ndarray]:
        d = run.detections[role]
        return d.pixels, np.array([(c.x, c.y) for c in d.detections]).reshape(-1, 2)

    path = write_overlay(directory / f"{study_key}_biopsy-overlay.png", run.result, view(StereoRole.PLUS),
                         view(StereoRole.MINUS))
    (directory / f"{study_key}_biopsy.json").write_text(json.dumps(run.result.to_dict(), indent=1) + "\n")
    return path


def forward_target(run: StereoRun, study_key: str, config: Config) -> dict[str, Any] | None:
    """Write the target's Comprehensive 3D SR and queue it for the destinations taking ``biopsy_sr``.

    Returns the envelope's forwarding record (None: no destination takes it). Named
    ``<study key>_<instance number>_biopsy_sr.dcm``, numbered after this study's earlier ones.
    """
    forward = config.forward
    if not any(ForwardObject.BIOPSY_SR in d.objects for d in forward.destinations):
        return None
    from ..forward import SendQueue, enqueue_results, forward_paths

    where = forward_paths(forward, config.service)
    where.objects.mkdir(parents=True, exist_ok=True)
    number = len(list(where.objects.glob(f"{study_key}_*_{ForwardObject.BIOPSY_SR.value}.dcm"))) + 1
    path = where.objects / f"{study_key}_{number:05d}_{ForwardObject.BIOPSY_SR.value}.dcm"
    sr = target_sr(run.result, [image.dataset for image in run.stereo.images], instance_number=number)
    temporary = path.with_suffix(".tmp")
    sr.save_as(temporary, enforce_file_format=True)
    os.replace(temporary, path)
    queue = SendQueue(where.queue)
    try:
        enqueue_results(queue, forward, study_key, [(ForwardObject.BIOPSY_SR, path)])
        deliveries = [asdict(s) for s in queue.of_study(study_key) if s.object == path.name]
    finally:
        queue.close()
    log.info("exam %s: biopsy target SR queued for %d destination(s)", study_key[:8], len(deliveries))
    return {"objects": 1, "deliveries": deliveries, "error": None}
