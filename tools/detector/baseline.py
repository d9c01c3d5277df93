"""Classical CAD baseline: difference of Gaussians with local contrast normalization (OpenCV).

A calcification is a small bright blob: DoG(σ 1 px − σ 4 px at 0.1 mm)
divided by the local standard deviation of the image (σ 8 px) gives a
contrast-to-noise score; local maxima are candidates, as in classic
microcalcification CAD (top-hat/DoG + local thresholding).
"""

from __future__ import annotations

import cv2
import numpy as np


def baseline_score_map(image: np.ndarray) -> np.ndarray:
    img = image.astype(np.float32)
    dog = cv2.GaussianBlur(img, (0, 0), 1.0) - cv2.GaussianBlur(img, (0, 0), 4.0)
    mean = cv2.GaussianBlur(img, (0, 0), 8.0)
    var = cv2.GaussianBlur(img * img, (0, 0), 8.0) - mean * mean
    return dog / np.sqrt(np.maximum(var, 1e-6))


def local_maxima(score: np.ndarray, threshold: float, radius: int = 2) -> np.ndarray:
    """(row, col, score) of local maxima above ``threshold`` within a (2r+1)^2 window."""
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    peaks = (score >= cv2.dilate(score, kernel)) & (score > threshold)
    rows, cols = np.nonzero(peaks)
    return np.stack([rows, cols, score[rows, cols]], axis=1) if len(rows) else np.zeros((0, 3))


def baseline_detect(image: np.ndarray, threshold: float = 2.0) -> np.ndarray:
    """Detections (x, y, score) in pixels; score squashed to 0..1 (ranking is what FROC uses)."""
    found = local_maxima(baseline_score_map(image), threshold, radius=3)
    return np.stack([found[:, 1], found[:, 0], 1.0 / (1.0 + np.exp(-(found[:, 2] - 4.0)))], axis=1) \
        if len(found) else np.zeros((0, 3))
