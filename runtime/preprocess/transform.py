"""The exact mapping between normalized and stored pixel coordinates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, kw_only=True)
class ViewTransform:
    """Normalized image (model spacing, chest wall left) <-> stored image, both as (x=col, y=row).

    Pixel centres map to pixel centres, the convention ``cv2.resize`` uses, so
    ``to_original(from_original(p)) == p`` up to float rounding.
    """

    original_shape: tuple[int, int]  #: stored (rows, columns)
    original_spacing_mm: tuple[float, float]  #: stored (row, column) spacing at the breast
    shape: tuple[int, int]  #: normalized (rows, columns)
    spacing_mm: float  #: normalized spacing (isotropic)
    flip_horizontal: bool
    flip_vertical: bool

    def _scale(self) -> tuple[float, float]:
        return self.original_shape[1] / self.shape[1], self.original_shape[0] / self.shape[0]

    def to_original(self, xy: np.ndarray) -> np.ndarray:
        """Normalized (x, y) pixel positions, shape (N, 2) -> stored (column, row) positions."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        sx, sy = self._scale()
        x = (xy[:, 0] + 0.5) * sx - 0.5
        y = (xy[:, 1] + 0.5) * sy - 0.5
        if self.flip_horizontal:
            x = self.original_shape[1] - 1 - x
        if self.flip_vertical:
            y = self.original_shape[0] - 1 - y
        return np.stack([x, y], axis=1)

    def from_original(self, xy: np.ndarray) -> np.ndarray:
        """Stored (column, row) positions, shape (N, 2) -> normalized (x, y) positions."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        x, y = xy[:, 0].copy(), xy[:, 1].copy()
        if self.flip_horizontal:
            x = self.original_shape[1] - 1 - x
        if self.flip_vertical:
            y = self.original_shape[0] - 1 - y
        sx, sy = self._scale()
        return np.stack([(x + 0.5) / sx - 0.5, (y + 0.5) / sy - 0.5], axis=1)

    def to_mm(self, xy: np.ndarray) -> np.ndarray:
        """Normalized pixel positions -> millimetres from the normalized image's top-left corner."""
        return np.asarray(xy, dtype=np.float64).reshape(-1, 2) * self.spacing_mm
