"""Saliency overlay PNG: the cluster's ROI in grey with its class activation map in colour."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .classify import MorphologyAssessment, Saliency

SCALE = 4  #: 96 px ROI -> 384 px picture
#: heat below this share of the maximum is left uncoloured
HEAT_FLOOR = 0.2


def render_saliency(saliency: Saliency, assessment: MorphologyAssessment) -> np.ndarray:
    """BGR image: ROI (0.1 mm/px) enlarged, heat blended where it matters, the call written below."""
    grey = np.clip(saliency.roi * 255.0, 0, 255).astype(np.uint8)
    size = grey.shape[0] * SCALE
    base = cv2.cvtColor(cv2.resize(grey, (size, size), interpolation=cv2.INTER_NEAREST), cv2.COLOR_GRAY2BGR)
    heat = cv2.resize(saliency.heat, (size, size), interpolation=cv2.INTER_LINEAR)
    colour = cv2.applyColorMap(np.clip(heat * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    alpha = (np.clip((heat - HEAT_FLOOR) / (1 - HEAT_FLOOR), 0, 1) * 0.5)[..., None]
    picture = (base * (1 - alpha) + colour * alpha).astype(np.uint8)
    caption = np.zeros((56, size, 3), np.uint8)
    name = assessment.morphology.value.replace("_", " ")
    if assessment.benign_subtype is not None:
        name += f" ({assessment.benign_subtype.value.replace('_', ' ')})"
    lines = (f"cluster {saliency.cluster_id}: {name}",
             f"BI-RADS {assessment.birads.value}  likelihood {assessment.likelihood:.2f}"
             + ("  UNCERTAIN" if assessment.uncertain else ""))
    for i, text in enumerate(lines):
        cv2.putText(caption, text, (6, 22 + 24 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.line(picture, (size - 10 - 10 * SCALE, size - 12), (size - 10, size - 12), (255, 255, 255), 2)  # 1 mm bar
    return np.vstack([picture, caption])


def write_saliency(path: str | Path, saliency: Saliency, assessment: MorphologyAssessment) -> Path:
    path = Path(path)
    if not cv2.imwrite(str(path), render_saliency(saliency, assessment)):
        raise OSError(f"could not write saliency image {path}")
    return path
