"""Calcifications in one stereo image with the shipped detector, exactly as the screening path runs it.

This module is the stage's only door to detection: the exam pipeline can repoint ``detect_view``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from ..analysis.clusters import find_clusters
from ..analysis.peaks import extract_calcifications, measure
from ..analysis.tiling import detect_map
from ..analysis.view import away_from_skin
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


def detect_view(ds: Dataset, detector: CompiledModel, config: Config, *, clusters: bool = True) -> ViewDetections:
    """Read and normalize one image, run ``detector`` (the configured detector, compiled once by the caller) over
    it in tiles and take its peaks exactly as the screening path does (``detect_map``, ``extract_calcifications``
    with ``[analysis]``'s threshold and NMS; a lower threshold was measured worse, docs/biopsy.md); with
    ``clusters``, form the screening clusters too (the target choice reads them on the scout only). Positions
    are refined on the stored pixels.

    A stereo image is a small field inside the breast: the whole image is breast, so the screening path's
    skin margin (``[analysis] skin_margin_mm``) drops detections near the image's edges (the chest-wall column 0
    excepted, as in screening).
    """
    mammogram = read_mammogram(ds, config.reader)
    view = normalize(mammogram, config.preprocess)
    mask = np.ones(view.image.shape, bool)
    rows, cols = view.image.shape
    a = config.analysis
    pmap = detect_map(view.image, mask, detector, tile_size=a.tile_size, overlap=a.tile_overlap,
                      batch_size=a.batch_size)
    found = extract_calcifications(pmap, view.image, view.spacing_mm, threshold=a.peak_threshold,
                                   nms_distance_mm=a.nms_distance_mm, to_original=view.transform.to_original)
    found = away_from_skin(found, mask, view.spacing_mm, a.skin_margin_mm)  # the image edge, as screening does
    formed = (find_clusters(found, mask, view.spacing_mm, view.view, a, nipple=(float(cols - 1), rows / 2.0),
                            to_original=view.transform.to_original) if clusters else [])
    native = mammogram.pixels
    spacing = float(min(mammogram.header.spacing_mm))
    search = max(1.0, config.preprocess.model_spacing_mm / spacing)
    detections = []
    for c in found:
        ox = float(c.original_x if c.original_x is not None else c.x)
        oy = float(c.original_y if c.original_y is not None else c.y)
        x, y, _, contrast = measure(native, ox, oy, spacing, search_px=search)
        if contrast <= 0 or np.hypot(x - ox, y - oy) > 2 * search:
            x, y = ox, oy
        detections.append(Detection(x=x, y=y, score=c.score, diameter_mm=c.diameter_mm))
    return ViewDetections(
        detections=tuple(detections), pixels=native,
        clusters=tuple(DetectedCluster(members=tuple(k.members), suspicion=float(k.suspicion),
                                       distribution=str(k.distribution.value)) for k in formed))
