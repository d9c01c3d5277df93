"""Turn a read mammogram into the models' input: oriented, resampled, masked, standardized."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..codes import Laterality, View
from ..config import PreprocessConfig
from ..dicom import Mammogram, MammogramHeader
from .intensity import standardize_intensity
from .mask import breast_mask, downsample, pectoral_mask
from .orientation import CC_LIKE, decide_flips
from .transform import ViewTransform


@dataclass(frozen=True, kw_only=True)
class NormalizedView:
    """One view in model space: chest wall at column 0, nipple right, denser brighter."""

    image: np.ndarray  #: float32 (H, W), see ``standardize_intensity``
    mask: np.ndarray  #: bool (H, W), the breast
    pectoral: np.ndarray | None  #: bool (H, W) in oblique views when found, else None
    spacing_mm: float
    laterality: Laterality
    view: View
    header: MammogramHeader
    transform: ViewTransform
    decisions: tuple[str, ...]


def normalize(mammogram: Mammogram, config: PreprocessConfig) -> NormalizedView:
    """Resample to ``config.model_spacing_mm``, orient, find breast and pectoral, standardize."""
    header = mammogram.header
    spacing = config.model_spacing_mm
    rows, cols = mammogram.pixels.shape
    out_rows = max(1, int(round(rows * header.spacing_mm[0] / spacing)))
    out_cols = max(1, int(round(cols * header.spacing_mm[1] / spacing)))
    shrinking = out_rows * out_cols < rows * cols
    image = cv2.resize(mammogram.pixels, (out_cols, out_rows),
                       interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    decisions = list(mammogram.decisions)
    decisions.append(f"resampled {rows}x{cols} -> {out_rows}x{out_cols} at {spacing:g} mm "
                     f"({'area' if shrinking else 'linear'} interpolation)")
    flip_h, flip_v, flip_decisions = decide_flips(header, image)
    decisions += flip_decisions
    if flip_h or flip_v:  # OpenCV flips into a new contiguous array in one pass
        image = cv2.flip(image, -1 if flip_h and flip_v else 1 if flip_h else 0)
    small = downsample(image, spacing)  # the ~1 mm image both masks are found on
    mask = breast_mask(image, spacing, small=small)
    if not mask.any():
        decisions.append("breast mask: empty (no region brighter than the background)")
    pectoral = None
    if header.view not in CC_LIKE:
        pectoral = pectoral_mask(image, mask, spacing, small=small)
        decisions.append("pectoral muscle: " + ("found" if pectoral is not None else "not found"))
    # the resampled image is this function's own: standardized in place
    standardized = standardize_intensity(image, mask & ~pectoral if pectoral is not None else mask, out=image)
    transform = ViewTransform(original_shape=(rows, cols), original_spacing_mm=header.spacing_mm,
                              shape=(out_rows, out_cols), spacing_mm=spacing,
                              flip_horizontal=flip_h, flip_vertical=flip_v)
    return NormalizedView(image=standardized, mask=mask, pectoral=pectoral, spacing_mm=spacing,
                          laterality=header.laterality, view=header.view, header=header, transform=transform,
                          decisions=tuple(decisions))
