"""Asymmetry picture PNG: a projection's left and right views side by side, each whole view on the model grid's
size, the left-right dissimilarity heatmap in colour over both (taken from the registered input grid back into
each view's breast box), the top window outlined."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..preprocess import NormalizedView
from .input import INPUT_SHAPE, BreastBox, breast_box, to_input_grid
from .stage import AsymmetryFinding

SCALE = 2  #: 256 x 208 -> 512 x 416 per view
HEAT_FLOOR = 0.3  #: heat below this share of the maximum is left uncoloured


def _whole_view(view: NormalizedView) -> np.ndarray:
    """The whole normalized view on ``INPUT_SHAPE`` (not registered), zero outside the breast, 0..1 grey."""
    whole = BreastBox(0, view.image.shape[0], view.image.shape[1])
    inside = to_input_grid(view.mask.astype(np.float32), whole) > 0.5
    return np.where(inside, np.clip(to_input_grid(view.image, whole), 0.0, 3.0), 0.0)


def _into_box(heat: np.ndarray, box: BreastBox, shape: tuple[int, int]) -> np.ndarray:
    """``heat`` on the registered input grid placed where ``box`` lies on a whole view of ``shape`` drawn on the
    model grid's size."""
    rows, cols = INPUT_SHAPE
    top, bottom = (round(v * rows / shape[0]) for v in (box.top, box.bottom))
    right = max(1, round(box.right * cols / shape[1]))
    out = np.zeros(INPUT_SHAPE, np.float32)
    if bottom > top:
        out[top:bottom, :right] = cv2.resize(heat, (right, bottom - top), interpolation=cv2.INTER_LINEAR)
    return out


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
    boxes = finding.boxes or (breast_box(left.mask), breast_box(right.mask))
    centre_r = (finding.y - boxes[0].top) / max(boxes[0].rows, 1) * rows
    centre_c = finding.x / max(boxes[0].right, 1) * cols
    panels = []
    for view, box, mirror in ((right, boxes[1], True), (left, boxes[0], False)):
        placed = _into_box(heat, box, view.image.shape)
        colour = cv2.applyColorMap(np.clip(placed * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
        alpha = (np.clip((placed - HEAT_FLOOR) / (1 - HEAT_FLOOR), 0, 1) * 0.5)[..., None]
        grey = np.clip(_whole_view(view) * 255.0, 0, 255).astype(np.uint8)
        panel = (cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR) * (1 - alpha) + colour * alpha).astype(np.uint8)
        x, y = box.to_view(centre_r, centre_c)
        x, y = x * cols / view.image.shape[1], y * rows / view.image.shape[0]
        half_r = window * stride / 2 * box.rows / view.image.shape[0]
        half_c = window * stride / 2 * box.right / view.image.shape[1]
        cv2.rectangle(panel, (int(x - half_c), int(y - half_r)), (int(x + half_c), int(y + half_r)),
                      (255, 255, 255), 1)
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
