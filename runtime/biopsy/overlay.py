"""An overlay PNG of both stereo views: detections, matched calcifications (numbered), the target cross."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .result import BiopsyResult

#: Each view is drawn this wide (px); below it, a crop around the target enlarged to the same width.
PANEL = 512
#: Side of the crop around the target, in stored pixels.
CROP = 160
DETECTION = (150, 150, 150)
MATCH = (60, 220, 60)
AMBIGUOUS = (0, 200, 255)
TARGET = (40, 40, 255)


def _window(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image[::4, ::4], [0.5, 99.5])
    scaled = (image.astype(np.float32) - low) * (255.0 / max(float(high - low), 1e-6))
    return cv2.cvtColor(np.clip(scaled, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def _panel(image: np.ndarray, detections: np.ndarray, matches: list[tuple[float, float, bool]],
           target: tuple[float, float], origin: tuple[float, float], scale: float, size: int) -> np.ndarray:
    """Draw on the region of ``image`` starting at ``origin`` (column, row) shown ``scale`` times enlarged."""
    x0, y0 = origin
    src = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float32)
    canvas = cv2.warpAffine(_window(image), src, (size, size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST)

    def at(x: float, y: float) -> tuple[int, int]:
        return int(round((x - x0 + 0.5) * scale - 0.5)), int(round((y - y0 + 0.5) * scale - 0.5))

    radius = max(3, int(round(2.5 * max(scale, 1.0))))
    for x, y in detections:
        cv2.circle(canvas, at(x, y), 1 if scale < 1 else 2, DETECTION, -1, cv2.LINE_AA)
    for number, (x, y, ambiguous) in enumerate(matches, start=1):
        p = at(x, y)
        cv2.circle(canvas, p, radius, AMBIGUOUS if ambiguous else MATCH, 1, cv2.LINE_AA)
        if scale >= 1:
            cv2.putText(canvas, str(number), (p[0] + radius, p[1] - radius), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        MATCH, 1, cv2.LINE_AA)
    t = at(*target)
    arm = 6 if scale < 1 else 14
    cv2.line(canvas, (t[0] - arm, t[1]), (t[0] + arm, t[1]), TARGET, 1, cv2.LINE_AA)
    cv2.line(canvas, (t[0], t[1] - arm), (t[0], t[1] + arm), TARGET, 1, cv2.LINE_AA)
    return canvas


def render(result: BiopsyResult, plus: tuple[np.ndarray, np.ndarray],
           minus: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """BGR picture: the +theta and -theta views (image, (N, 2) detections each), whole and around the target."""
    columns = []
    views = ((plus, [(*m.plus_px, m.ambiguous) for m in result.matches], result.target.plus_px, "+"),
             (minus, [(*m.minus_px, m.ambiguous) for m in result.matches], result.target.minus_px, "-"))
    for (image, detections), matches, target, sign in views:
        rows, cols = image.shape
        scale = PANEL / max(rows, cols)
        whole = _panel(image, detections, matches, target, (0.0, 0.0), scale, PANEL)
        crop = _panel(image, detections, matches, target, (target[0] - CROP / 2, target[1] - CROP / 2),
                      PANEL / CROP, PANEL)
        label = f"{sign}{result.theta_deg:g} deg"
        cv2.putText(whole, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        columns.append(np.vstack([whole, crop]))
    picture = np.hstack([columns[0], np.full((columns[0].shape[0], 4, 3), 255, np.uint8), columns[1]])
    t = result.target
    caption = (f"target X {t.x_mm:.1f}  Y {t.y_mm:.1f}  Z {t.z_mm:.1f} mm (+/- {t.sigma_x_mm:.1f}, {t.sigma_y_mm:.1f}, "
               f"{t.sigma_z_mm:.1f})  {t.n_matches} matched  {result.unit.value}")
    bar = np.zeros((28, picture.shape[1], 3), np.uint8)
    cv2.putText(bar, caption, (8, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([picture, bar])


def write_overlay(path: str | Path, result: BiopsyResult, plus: tuple[np.ndarray, np.ndarray],
                  minus: tuple[np.ndarray, np.ndarray]) -> Path:
    """Write :func:`render` as PNG."""
    path = Path(path)
    cv2.imwrite(str(path), render(result, plus, minus))
    return path
