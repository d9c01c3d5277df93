"""Calcifications in one stereo image with the shipped detector, exactly as the screening path runs it.

This module is the stage's only door to detection: the exam pipeline can repoint ``detect_view``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from ..analysis.peaks import measure
from ..analysis.view import analyze_view
from ..config import Config
from ..dicom import read_mammogram
from ..inference import CompiledModel
from ..preprocess.normalize import normalize


@dataclass(frozen=True, kw_only=True)
class Detection:
    """One detected calcification in the stored image: (column, row) at native resolution."""

    x: float
    y: float
    score: float
    diameter_mm: float


@dataclass(frozen=True, kw_only=True)
class DetectedCluster:
    """A cluster the screening rules form in one image: member indices into the detections."""

    members: tuple[int, ...]
    suspicion: float
    distribution: str


@dataclass(frozen=True, kw_only=True)
class ViewDetections:
    detections: tuple[Detection, ...]
    clusters: tuple[DetectedCluster, ...]
    pixels: np.ndarray  #: the stored image as brightness (float32), for the overlay


def detect_view(ds: Dataset, detector: CompiledModel, config: Config) -> ViewDetections:
    """Read, normalize and run ``detector`` (the configured detector, compiled once by the caller) and the
    screening clustering on one image; positions refined on the stored pixels.

    A stereo image is a small field inside the breast, so the whole image is breast (the screening mask
    looks for a skin line that is not there).
    """
    mammogram = read_mammogram(ds, config.reader)
    view = normalize(mammogram, config.preprocess)
    mask = np.ones(view.image.shape, bool)
    rows, cols = view.image.shape
    analysis = analyze_view(view.image, mask, spacing_mm=view.spacing_mm, laterality=view.laterality,
                            view=view.view, model=detector, config=config.analysis,
                            nipple=(float(cols - 1), rows / 2.0), to_original=view.transform.to_original)
    native = mammogram.pixels
    spacing = float(min(mammogram.header.spacing_mm))
    search = max(1.0, config.preprocess.model_spacing_mm / spacing)
    detections = []
    for c in analysis.calcifications:
        ox = float(c.original_x if c.original_x is not None else c.x)
        oy = float(c.original_y if c.original_y is not None else c.y)
        x, y, _, contrast = measure(native, ox, oy, spacing, search_px=search)
        if contrast <= 0 or np.hypot(x - ox, y - oy) > 2 * search:
            x, y = ox, oy
        detections.append(Detection(x=x, y=y, score=c.score, diameter_mm=c.diameter_mm))
    clusters = tuple(DetectedCluster(members=tuple(k.members), suspicion=float(k.suspicion),
                                     distribution=str(k.distribution.value)) for k in analysis.clusters)
    return ViewDetections(detections=tuple(detections), clusters=clusters, pixels=native)
