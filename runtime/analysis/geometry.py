"""Coordinates of a normalized view and where a point lies in the breast.

Conventions (the reader's NormalizedView): x = column, y = row, pixel centres at
integer coordinates, chest wall at column 0, nipple to the right. Millimetres are
``px * spacing_mm`` from the centre of pixel (0, 0). A stride-``s`` map pixel
(r, c) covers image pixels ``c*s .. c*s+s-1``; its centre is ``c*s + (s-1)/2``.
The top of the image is lateral (CC) or superior (MLO), as in standard display.
"""

from __future__ import annotations

import enum
import math

import numpy as np

from ..codes import Laterality, View
from ..errors import InputError


class NoBreastError(InputError):
    """The view's breast mask is empty (blank or unreadable image): nothing to analyse."""

    reason = "no-breast"


class DepthThird(enum.StrEnum):
    """Depth along the nipple-chest wall axis."""

    ANTERIOR = "anterior"
    MIDDLE = "middle"
    POSTERIOR = "posterior"


class Quadrant(enum.StrEnum):
    UPPER_OUTER = "UOQ"
    UPPER_INNER = "UIQ"
    LOWER_OUTER = "LOQ"
    LOWER_INNER = "LIQ"
    CENTRAL = "central"


def map_to_image(xy: np.ndarray, stride: int) -> np.ndarray:
    """Stride-``stride`` map coordinates (x, y) -> image pixel coordinates (block centres)."""
    return np.asarray(xy, dtype=np.float64) * stride + (stride - 1) / 2.0


def image_to_map(xy: np.ndarray, stride: int) -> np.ndarray:
    """Inverse of :func:`map_to_image`."""
    return (np.asarray(xy, dtype=np.float64) - (stride - 1) / 2.0) / stride


def to_mm(xy: np.ndarray, spacing_mm: float) -> np.ndarray:
    return np.asarray(xy, dtype=np.float64) * spacing_mm


def from_mm(xy_mm: np.ndarray, spacing_mm: float) -> np.ndarray:
    return np.asarray(xy_mm, dtype=np.float64) / spacing_mm


def nipple_position(mask: np.ndarray) -> tuple[float, float]:
    """The breast mask's most anterior point (rightmost column; middle of its rows) as (x, y) px."""
    columns = np.flatnonzero(mask.any(axis=0))
    if columns.size == 0:
        raise NoBreastError("the breast mask of the view is empty; nothing to analyse")
    x = int(columns[-1])
    rows = np.flatnonzero(mask[:, x])
    return float(x), float((rows[0] + rows[-1]) / 2.0)


def depth_third(x: float, nipple_x: float) -> DepthThird:
    """Third of the nipple-to-chest-wall distance (chest wall = column 0) the column ``x`` lies in."""
    fraction = (nipple_x - x) / nipple_x if nipple_x > 0 else 0.0
    if fraction < 1 / 3:
        return DepthThird.ANTERIOR
    if fraction < 2 / 3:
        return DepthThird.MIDDLE
    return DepthThird.POSTERIOR


def side_in_view(view: View, dy_mm: float, central_mm: float) -> str:
    """Which half of the breast a view shows a point in: CC lateral/medial, MLO superior/inferior.

    ``dy_mm`` is the point's row offset from the nipple (positive = lower in the image).
    """
    if abs(dy_mm) <= central_mm:
        return "central"
    top, bottom = ("lateral", "medial") if view in (View.CC, View.XCCL, View.XCCM) else ("superior", "inferior")
    return top if dy_mm < 0 else bottom


def clock_position(laterality: Laterality, lateral_mm: float, superior_mm: float) -> int:
    """Clock hour (1-12) as seen facing the patient, from offsets about the nipple.

    ``lateral_mm`` > 0 toward the outer side, ``superior_mm`` > 0 upward. Right breast:
    outer = 9 o'clock; left breast: outer = 3 o'clock.
    """
    toward_patients_left = lateral_mm if laterality is Laterality.LEFT else -lateral_mm
    angle = math.degrees(math.atan2(toward_patients_left, superior_mm)) % 360.0
    hour = round(angle / 30.0) % 12
    return 12 if hour == 0 else hour


def quadrant(lateral_mm: float, superior_mm: float, central_mm: float) -> Quadrant:
    if math.hypot(lateral_mm, superior_mm) <= central_mm:
        return Quadrant.CENTRAL
    if superior_mm >= 0:
        return Quadrant.UPPER_OUTER if lateral_mm >= 0 else Quadrant.UPPER_INNER
    return Quadrant.LOWER_OUTER if lateral_mm >= 0 else Quadrant.LOWER_INNER
