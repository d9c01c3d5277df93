"""Asymmetry picture PNG: a projection's left and right views side by side on the model grid, the
left-right dissimilarity heatmap in colour over both, the top window outlined."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..preprocess import NormalizedView
from .input import INPUT_SHAPE, prepare_view
from .stage import AsymmetryFinding

SCALE = 2  #: 256 x 208 -> 512 x 416 per view
HEAT_FLOOR = 0.3  #: heat below this share of the maximum is left uncoloured


def render_asymmetry(finding: AsymmetryFinding, left: NormalizedView, right: NormalizedView) -> np.ndarray:
    """BGR image: right | left view (as a reader hangs them), the heatmap on both, score and call below."""
    if finding.heatmap is None:
        raise ValueError("the finding carries no heatmap (read back from JSON?)")
    rows, cols = INPUT_SHAPE
    window, stride = finding.window, finding.stride
    heat = np.zeros(INPUT_SHAPE, np.float32)
    h, w = finding.heatmap.shape
    offset = window * stride // 2
    cells = cv2.resize(finding.heatmap.astype(np.float32), (w * stride, h * stride), interpolation=cv2.INTER_LINEAR)
    heat[offset:offset + h * stride, offset:offset + w * stride] = cells[:rows - offset, :cols - offset]
    heat /= max(float(heat.max()), 1e-6)
    colour = cv2.applyColorMap(np.clip(heat * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    alpha = (np.clip((heat - HEAT_FLOOR) / (1 - HEAT_FLOOR), 0, 1) * 0.5)[..., None]
    panels = []
    for view, mirror in ((right, True), (left, False)):
        grey = np.clip(prepare_view(view.image, view.mask) * 255.0, 0, 255).astype(np.uint8)
        panel = (cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR) * (1 - alpha) + colour * alpha).astype(np.uint8)
        y, x = finding.y * rows / view.image.shape[0], finding.x * cols / view.image.shape[1]
        half = window * stride / 2
        cv2.rectangle(panel, (int(x - half), int(y - half)), (int(x + half), int(y + half)), (255, 255, 255), 1)
        panel = cv2.resize(panel, (cols * SCALE, rows * SCALE), interpolation=cv2.INTER_NEAREST)
        panels.append(panel[:, ::-1] if mirror else panel)  # the right breast's chest wall on the right
    picture = np.hstack(panels)
    caption = np.zeros((32, picture.shape[1], 3), np.uint8)
    text = (f"{finding.projection.value} asymmetry {finding.score:.2f}"
            + ("  above operating point" if finding.above_operating_point else "") + "  (model trained on a simulated cohort)")
    cv2.putText(caption, text, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([picture, caption])


def write_asymmetry(path: str | Path, finding: AsymmetryFinding, left: NormalizedView, right: NormalizedView) -> Path:
    path = Path(path)
    if not cv2.imwrite(str(path), render_asymmetry(finding, left, right)):
        raise OSError(f"could not write {path.name}")
    return path
