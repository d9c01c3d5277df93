"""An overlay PNG of a view: the image, each calcification dotted, each cluster outlined and labelled."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .clusters import Distribution
from .view import ViewAnalysis

#: BGR colour per distribution (suspicious ones warm).
COLOURS = {
    Distribution.SEGMENTAL: (0, 0, 255),
    Distribution.LINEAR: (0, 0, 255),
    Distribution.GROUPED: (0, 140, 255),
    Distribution.REGIONAL: (0, 220, 255),
    Distribution.DIFFUSE: (255, 200, 0),
}
DOT = (80, 255, 80)
#: Longest side of an overlay, px: a 0.1 mm view larger than this is drawn at a coarser scale
#: (a display picture; the saliency PNGs keep 0.1 mm detail around each cluster).
MAX_SIDE = 2048
#: Every n-th row and column of the breast sets the display window (percentiles of ~10 M pixels cost ~0.3 s).
WINDOW_SUBSAMPLE = 4


def to_8bit(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Window the image to the 0.5-99.5 percentiles of the breast."""
    step = WINDOW_SUBSAMPLE if image.size > 100 * WINDOW_SUBSAMPLE ** 2 else 1
    sampled, inside = image[::step, ::step], None if mask is None else mask[::step, ::step]
    values = sampled[inside] if inside is not None and inside.any() else sampled.ravel()
    low, high = np.percentile(values, [0.5, 99.5]) if values.size else (0.0, 1.0)
    scale = 255.0 / max(float(high - low), 1e-6)
    shifted = np.maximum(image - np.float32(low), np.float32(0.0))  # below the window -> 0
    return cv2.convertScaleAbs(shifted, alpha=scale)  # scaled and saturated at 255 in one pass


def overlay_base(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """The overlay's grey picture of a view before any mark is drawn: windowed to 8 bits, at most ``MAX_SIDE``
    px on its long side (~3.4 MB for a 0.1 mm view, against ~35 MB for the normalized view it comes from)."""
    zoom = min(1.0, MAX_SIDE / max(image.shape))
    grey = to_8bit(image, mask)
    if zoom < 1.0:
        grey = cv2.resize(grey, (round(image.shape[1] * zoom), round(image.shape[0] * zoom)),
                          interpolation=cv2.INTER_AREA)
    return grey


def render_overlay(image: np.ndarray | None, analysis: ViewAnalysis, mask: np.ndarray | None = None, *,
                   base: np.ndarray | None = None) -> np.ndarray:
    """BGR uint8 image of the view with its findings drawn, at most ``MAX_SIDE`` px on its long side; drawn on
    ``base`` (``overlay_base`` of the view) when given, else on ``overlay_base(image, mask)``."""
    if base is None:
        if image is None:
            raise ValueError("an overlay needs the view's image or its overlay_base")
        base = overlay_base(image, mask)
    zoom = min(1.0, MAX_SIDE / max(image.shape if image is not None else (analysis.rows, analysis.columns)))
    canvas = cv2.cvtColor(base, cv2.COLOR_GRAY2BGR)
    radius = max(2, int(round(0.4 / analysis.spacing_mm * zoom)))
    for calc in analysis.calcifications:
        cv2.circle(canvas, (int(round(calc.x * zoom)), int(round(calc.y * zoom))), radius, DOT, 1, cv2.LINE_AA)
    scale = max(0.4, min(canvas.shape[:2]) / 1200.0)
    for cluster in analysis.clusters:
        colour = COLOURS[cluster.distribution]
        outline = np.round(np.array(cluster.outline) * zoom).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [outline], True, colour, max(1, int(round(2 * scale))), cv2.LINE_8)
        label = f"#{cluster.id} {cluster.distribution.value} n={cluster.count} s={cluster.suspicion:.2f}"
        if cluster.morphology is not None:
            m = cluster.morphology
            label += (f" {m.morphology.value.replace('_', ' ')} BI-RADS {m.birads.value} p={m.likelihood:.2f}"
                      + ("?" if m.uncertain else ""))
        x = int(np.clip(outline[:, 0, 0].min(), 0, canvas.shape[1] - 1))
        y = int(np.clip(outline[:, 0, 1].min() - 6, 12, canvas.shape[0] - 1))
        cv2.putText(canvas, label, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, colour, max(1, int(scale)),
                    cv2.LINE_AA)
    title = f"{analysis.laterality.value}{analysis.view.value} score {analysis.score:.2f}"
    cv2.putText(canvas, title, (8, int(24 * scale) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, (255, 255, 255),
                max(1, int(scale)), cv2.LINE_AA)
    return canvas


def write_overlay(path: str | Path, image: np.ndarray | None, analysis: ViewAnalysis, mask: np.ndarray | None = None,
                  *, base: np.ndarray | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), render_overlay(image, analysis, mask, base=base)):
        raise OSError(f"could not write the overlay {path}")
    return path
