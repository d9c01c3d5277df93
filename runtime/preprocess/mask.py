"""Breast mask and, in oblique views, the pectoral muscle, on a chest-wall-left image.

Both are found at about 1 mm resolution and scaled back up. The breast is the
largest bright region touching the chest wall (so burned-in labels and markers,
which do not touch it, are left out); the pectoral muscle is the bright wedge in
the top-left corner, accepted only when its edge is a plausible straight line.
"""

from __future__ import annotations

import cv2
import numpy as np

WORK_SPACING_MM = 1.0


def downsample(image: np.ndarray, spacing_mm: float) -> np.ndarray:
    """The image at about ``WORK_SPACING_MM`` (area-resampled by a whole factor), lightly blurred: what both
    masks are found on (computed once and passed to both as ``small``)."""
    factor = max(1, int(round(WORK_SPACING_MM / spacing_mm)))
    small = cv2.resize(image, (max(1, image.shape[1] // factor), max(1, image.shape[0] // factor)),
                       interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (0, 0), 1.0)


def _upsample(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    up = cv2.resize(mask.astype(np.uint8) * 255, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return up >= 128


def _otsu(values: np.ndarray) -> float:
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return lo
    scaled = np.round((values - lo) / (hi - lo) * 255).astype(np.uint8)
    threshold, _ = cv2.threshold(scaled.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return lo + threshold / 255.0 * (hi - lo)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    return (mask | (flood[1:-1, 1:-1] == 0))


def breast_mask(image: np.ndarray, spacing_mm: float, *, small: np.ndarray | None = None) -> np.ndarray:
    """Boolean breast mask of a chest-wall-left image with denser brighter (``small``: its ``downsample``)."""
    small = downsample(image, spacing_mm) if small is None else small
    otsu = _otsu(small)
    background = float(np.median(small[small < otsu])) if (small < otsu).any() else otsu
    # Halfway between the air level and Otsu keeps the thin, dark breast edge.
    candidate = small > background + 0.5 * (otsu - background)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidate.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(image.shape, dtype=bool)
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.int64)
    touches_wall = stats[1:, cv2.CC_STAT_LEFT] == 0
    pick = int(np.argmax(np.where(touches_wall, areas, 0))) if touches_wall.any() else int(np.argmax(areas))
    mask = labels == pick + 1
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    return _upsample(_fill_holes(mask), image.shape)


def pectoral_mask(image: np.ndarray, breast: np.ndarray, spacing_mm: float, *,
                  small: np.ndarray | None = None) -> np.ndarray | None:
    """The pectoral wedge of an oblique view (top-left), or None when no plausible one is found (``small``: the
    image's ``downsample``)."""
    small = downsample(image, spacing_mm) if small is None else small
    inside = cv2.resize(breast.astype(np.uint8), (small.shape[1], small.shape[0]),
                        interpolation=cv2.INTER_NEAREST).astype(bool)
    rows, cols = small.shape
    region = np.zeros_like(inside)
    region[: rows * 2 // 3, : cols // 2] = True
    region &= inside
    if region.sum() < 50:
        return None
    bright = (small > _otsu(small[region])) & region
    count, labels = cv2.connectedComponents(bright.astype(np.uint8), connectivity=8)
    top_edge = labels[: max(1, rows // 50) + 1, : cols // 3].ravel()
    top_edge = top_edge[top_edge > 0]
    if top_edge.size == 0:
        return None  # the muscle enters the image at its top edge
    wedge = labels == np.bincount(top_edge).argmax()
    ys, edge = [], []
    for y in range(rows):
        xs = np.flatnonzero(wedge[y])
        if xs.size:
            ys.append(y)
            edge.append(xs.max() + 1)
    if len(ys) < 5:
        return None
    slope, intercept = np.polyfit(np.asarray(ys, float), np.asarray(edge, float), 1)
    residual = np.abs(np.polyval([slope, intercept], ys) - edge)
    if slope >= 0 or intercept <= 3 or float(np.median(residual)) > max(2.0, 0.1 * intercept):
        return None  # not a wedge narrowing downward along a straight edge
    yy, xx = np.mgrid[0:rows, 0:cols]
    wedge = (xx < intercept + slope * yy) & inside
    fraction = wedge.sum() / max(1, inside.sum())
    if not 0.01 <= fraction <= 0.4:
        return None
    return _upsample(wedge, image.shape) & breast
