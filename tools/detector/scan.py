"""Cluster candidates by a scan statistic (evaluation only; docs/detector.md, "Scanning for clusters").

A per-cell evidence map (the detector's probability, or the image's contrast-to-noise) is smoothed with a
Gaussian of a cluster's scale, turned into a robust z-score against the view's own breast cells (median,
1.4826 x MAD; cells near the skin line left out), and its local maxima within ``WINDOW_MM`` are the
candidates, scored by z: clusters found from the sum of sub-threshold evidence rather than from linked
peaks.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from .view_eval import CNR_PEAK_MM, CNR_RING_MM

SIGMA_MM = 2.0  #: smoothing (cluster scale)
WINDOW_MM = 10.0  #: one candidate per this window
Z_MIN = 3.0  #: weakest candidate (robust z)
TOP = 10  #: candidates per view
CNR_FLOOR = 2.5  #: image evidence: contrast-to-noise above this floor (best of 1.5-3 on the development exams)


def contrast_to_noise_map(image: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Per pixel: (max within ``CNR_PEAK_MM`` - ring mean) / ring std, ring ``CNR_RING_MM`` (view_eval's
    contrast-to-noise with the ring's mean for its median)."""
    image = image.astype(np.float32)
    outer = CNR_RING_MM[1] / spacing_mm
    r = int(np.ceil(outer))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    distance = np.hypot(xx, yy)
    ring = ((distance >= CNR_RING_MM[0] / spacing_mm) & (distance <= outer)).astype(np.float32)
    ring /= ring.sum()
    mean = cv2.filter2D(image, -1, ring, borderType=cv2.BORDER_REFLECT)
    square = cv2.filter2D(image * image, -1, ring, borderType=cv2.BORDER_REFLECT)
    std = np.sqrt(np.maximum(square - mean * mean, 1e-12))
    p = int(np.ceil(CNR_PEAK_MM / spacing_mm))
    yy, xx = np.mgrid[-p:p + 1, -p:p + 1]
    peak = cv2.dilate(image, (np.hypot(xx, yy) <= CNR_PEAK_MM / spacing_mm).astype(np.uint8))
    return (peak - mean) / std


def max_pool(values: np.ndarray, stride: int, shape: tuple[int, int]) -> np.ndarray:
    """``values`` max-pooled to cells of ``stride`` px, cropped or padded (with the minimum) to ``shape``."""
    rows, cols = shape
    padded = np.full((rows * stride, cols * stride), values.min(), np.float32)
    h, w = min(values.shape[0], rows * stride), min(values.shape[1], cols * stride)
    padded[:h, :w] = values[:h, :w]
    return padded.reshape(rows, stride, cols, stride).max(axis=(1, 3))


def scan_candidates(evidence: np.ndarray, cells: np.ndarray, cell_mm: float, *, sigma_mm: float = SIGMA_MM,
                    window_mm: float = WINDOW_MM, z_min: float = Z_MIN, top: int = TOP) -> np.ndarray:
    """(row, col, z) of the ``top`` local maxima (within ``window_mm``) of the smoothed ``evidence`` with robust
    z >= ``z_min`` over ``cells`` (bool, the breast cells that count), highest first."""
    if not cells.any():
        return np.zeros((0, 3))
    smooth = cv2.GaussianBlur(evidence.astype(np.float32), (0, 0), sigma_mm / cell_mm)
    values = smooth[cells]
    median = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - median)))
    z = (smooth - median) / max(spread, 1e-6)
    z[~cells] = 0.0
    side = 2 * int(round(window_mm / (2 * cell_mm))) + 1
    rows, cols = np.nonzero((z >= z_min) & (z >= cv2.dilate(z, np.ones((side, side), np.uint8))))
    order = np.argsort(-z[rows, cols], kind="stable")[:top]
    return np.stack([rows[order], cols[order], z[rows[order], cols[order]]], axis=1).astype(float)


def view_scans(normalized: Any, prob: np.ndarray, stride: int, skin_margin_mm: float) -> dict[str, np.ndarray]:
    """Candidates (x, y in normalized px, z) of the detector-evidence scan (``prob``: the analyzed view's
    stitched map) and of the image contrast-to-noise scan, for one view."""
    from mammoedge.runtime.analysis.view import skin_distance

    s = normalized.spacing_mm
    shape = prob.shape
    breast = normalized.mask[::stride, ::stride][:shape[0], :shape[1]]
    distance = skin_distance(normalized.mask)[:shape[0], :shape[1]]
    cells = breast & (distance > (skin_margin_mm + SIGMA_MM) / s)
    inside = breast & (distance > skin_margin_mm / s)  # the skin line is bright in the image too
    contrast = np.where(inside, max_pool(contrast_to_noise_map(normalized.image, s), stride, shape), 0.0)
    evidence = {"detector": prob, "image": np.maximum(contrast - CNR_FLOOR, 0.0)}
    out = {}
    for name, values in evidence.items():
        found = scan_candidates(values, cells, s * stride)
        out[name] = np.stack([(found[:, 1] + 0.5) * stride, (found[:, 0] + 0.5) * stride, found[:, 2]], axis=1)
    return out
