"""Individual calcifications from a stitched probability map: local maxima, NMS in mm, size and contrast."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import map_to_image
from .tiling import ProbabilityMap

#: Keep at most this many calcifications per view (highest scores); protects clustering time.
MAX_CALCIFICATIONS = 2000
#: Calcifications of interest are 0.1-1 mm, so the local background is read 1.0-1.5 mm away.
_BACKGROUND_INNER_MM = 1.0
_BACKGROUND_OUTER_MM = 1.5


@dataclass(frozen=True, kw_only=True)
class Calcification:
    """One detected calcification. ``x``, ``y``: normalized-image px; ``*_mm``: same frame in mm.

    ``original_x``/``original_y``: position in the original DICOM pixels, when the view's
    transform was given. ``contrast``: peak minus local background in image units.
    """

    x: float
    y: float
    x_mm: float
    y_mm: float
    diameter_mm: float
    contrast: float
    score: float
    original_x: float | None = None
    original_y: float | None = None


def local_maxima(prob: np.ndarray, threshold: float) -> np.ndarray:
    """(row, col) of 3x3 local maxima of ``prob`` at or above ``threshold``, highest first."""
    dilated = cv2.dilate(prob, np.ones((3, 3), np.uint8))
    rows, cols = np.nonzero((prob >= threshold) & (prob >= dilated))
    order = np.argsort(-prob[rows, cols], kind="stable")
    return np.stack([rows[order], cols[order]], axis=1)


def suppress(points_mm: np.ndarray, distance_mm: float) -> np.ndarray:
    """Greedy NMS: indices kept from ``points_mm`` (sorted by descending score)."""
    kept: list[int] = []
    for i, point in enumerate(points_mm):
        if not kept or np.min(np.hypot(*(points_mm[kept] - point).T)) >= distance_mm:
            kept.append(i)
    return np.asarray(kept, dtype=int)


def measure(image: np.ndarray, x: float, y: float, spacing_mm: float,
            search_px: float) -> tuple[float, float, float, float]:
    """(x, y, diameter_mm, contrast) of the bright spot nearest (x, y) in the normalized image.

    The spot's peak is searched within ``search_px``; its region is the connected part above
    half the contrast over the local background (median of a 1.0-1.5 mm ring); the position is
    the contrast-weighted centroid of that region and the diameter its area-equivalent one.
    """
    radius = max(2, int(np.ceil(_BACKGROUND_OUTER_MM / spacing_mm)))
    cx, cy = int(round(x)), int(round(y))
    y0, y1 = max(cy - radius, 0), min(cy + radius + 1, image.shape[0])
    x0, x1 = max(cx - radius, 0), min(cx + radius + 1, image.shape[1])
    window = image[y0:y1, x0:x1].astype(np.float64)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    distance_mm = np.hypot(xx - x, yy - y) * spacing_mm
    ring = window[(distance_mm >= _BACKGROUND_INNER_MM) & (distance_mm <= _BACKGROUND_OUTER_MM)]
    background = float(np.median(ring)) if ring.size else float(window.min())
    near = distance_mm <= search_px * spacing_mm
    peak_index = int(np.argmax(np.where(near, window, -np.inf)))
    contrast = float(window.flat[peak_index]) - background
    if contrast <= 0:
        return x, y, spacing_mm, 0.0
    above = ((window >= background + contrast / 2) & (distance_mm < _BACKGROUND_INNER_MM)).astype(np.uint8)
    _, labels = cv2.connectedComponents(above, connectivity=8)
    region = labels == labels.flat[peak_index]
    weight = (window - background)[region]
    cx_f = float((xx[region] * weight).sum() / weight.sum())
    cy_f = float((yy[region] * weight).sum() / weight.sum())
    return cx_f, cy_f, float(2.0 * np.sqrt(region.sum() / np.pi) * spacing_mm), contrast


def extract_calcifications(
    pmap: ProbabilityMap,
    image: np.ndarray,
    spacing_mm: float,
    *,
    threshold: float,
    nms_distance_mm: float,
    to_original: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[Calcification]:
    """Calcifications at the map's local maxima above ``threshold``, NMS'd in mm, highest score first.

    Position, size and contrast are measured on ``image`` (the normalized view the map was
    computed from) around each map peak.
    """
    peaks = local_maxima(pmap.prob, threshold)[: MAX_CALCIFICATIONS * 4]
    if peaks.size == 0:
        return []
    centres = map_to_image(peaks[:, ::-1], pmap.stride)
    spots = np.array([measure(image, x, y, spacing_mm, search_px=pmap.stride) for x, y in centres])
    kept = suppress(spots[:, :2] * spacing_mm, nms_distance_mm)[:MAX_CALCIFICATIONS]
    spots, peaks = spots[kept], peaks[kept]
    original = to_original(spots[:, :2]) if to_original is not None else None
    result = []
    for i, ((x, y, diameter, contrast), (r, c)) in enumerate(zip(spots, peaks)):
        result.append(
            Calcification(
                x=float(x), y=float(y), x_mm=float(x * spacing_mm), y_mm=float(y * spacing_mm),
                diameter_mm=float(diameter), contrast=float(contrast), score=float(pmap.prob[r, c]),
                original_x=None if original is None else float(original[i, 0]),
                original_y=None if original is None else float(original[i, 1]),
            )
        )
    return result
