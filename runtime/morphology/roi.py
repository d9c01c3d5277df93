"""Regions of interest around a cluster, cut from the standardized view at the model spacing."""

from __future__ import annotations

import cv2
import numpy as np

#: ROI side in pixels at 0.1 mm (9.6 mm): a grouped cluster's core (BI-RADS: 5 within 1 cm) fits.
ROI_SIZE = 96
#: ROIs per cluster: its centroid, then its highest-scoring members (test-time views of one cluster).
MAX_ROIS = 3


def crop_roi(image: np.ndarray, centre_xy: np.ndarray, size: int = ROI_SIZE) -> np.ndarray:
    """``size`` x ``size`` float32 crop centred on (x, y); outside the image is mirrored."""
    half = size // 2
    x0, y0 = int(round(float(centre_xy[0]))) - half, int(round(float(centre_xy[1]))) - half
    rows, cols = image.shape
    pad = max(0, -x0, -y0, x0 + size - cols, y0 + size - rows)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
        x0, y0 = x0 + pad, y0 + pad
    return np.ascontiguousarray(image[y0:y0 + size, x0:x0 + size], dtype=np.float32)


def standardize_roi(roi: np.ndarray) -> np.ndarray:
    """The model's input scale, from the ROI alone: median -> 0.5, 1st-99th percentile range -> 1.

    A view is standardized over the whole breast, a training patch over itself; their local
    contrast differs about twofold (measured on held-out phantom views), so each ROI is
    standardized on its own before the model sees it, in training and at run time alike.
    """
    low, median, high = np.percentile(roi, (1, 50, 99))
    return ((roi - median) / max(float(high - low), 1e-3) + 0.5).astype(np.float32)


def roi_centres(points_xy: np.ndarray, scores: np.ndarray, max_rois: int = MAX_ROIS,
                min_separation: float = ROI_SIZE / 3) -> np.ndarray:
    """Where a cluster's ROIs are cut (normalized px).

    A cluster that fits in one ROI: its centroid, then members by falling score that are ``min_separation`` px
    from every chosen centre. A wider one (regional, diffuse, long lines): its centroid may lie between its
    calcifications, so the ROIs go where they are densest (``dense_centres``).
    """
    points_xy = np.asarray(points_xy, float).reshape(-1, 2)
    if len(points_xy) > 1 and float(np.ptp(points_xy, axis=0).max()) > ROI_SIZE:
        return dense_centres(points_xy, max_rois, min_separation)
    centres = [points_xy.mean(axis=0)]
    for i in np.argsort(-np.asarray(scores, float), kind="stable"):
        if len(centres) >= max_rois:
            break
        if min(float(np.hypot(*(points_xy[i] - c))) for c in centres) >= min_separation:
            centres.append(points_xy[i])
    return np.array(centres)


def dense_centres(points_xy: np.ndarray, max_rois: int = MAX_ROIS, min_separation: float = ROI_SIZE / 3
                  ) -> np.ndarray:
    """Up to ``max_rois`` ROI centres over the densest parts of a wide cluster: for each member the members
    inside an ROI centred on it; greedily the fullest window (ties: first member), centred on the mean of
    what it holds, at least ``min_separation`` px from the centres already chosen."""
    half = ROI_SIZE / 2 - 4  # a margin so the calcifications are not cut at the ROI's edge
    inside = np.all(np.abs(points_xy[:, None, :] - points_xy[None, :, :]) <= half, axis=2)
    order = np.argsort(-inside.sum(axis=1), kind="stable")
    centres: list[np.ndarray] = []
    for i in order:
        if len(centres) >= max_rois:
            break
        centre = points_xy[inside[i]].mean(axis=0)
        if all(float(np.hypot(*(centre - c))) >= min_separation for c in centres):
            centres.append(centre)
    return np.array(centres)
