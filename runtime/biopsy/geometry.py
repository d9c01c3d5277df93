"""Stereotactic unit geometry from the headers: focal spots, detector planes, rays (unit frame, mm).

Unit frame: origin at the centre of the detector's active surface at 0 deg, X along increasing image
columns, Y along increasing rows, Z up from the breast support toward the source. The tube turns in
the X-Z plane about an axis parallel to Y through (0, 0, Z_iso); at angle a the focal spot is at
``S = (d sin a, 0, Z_iso + d cos a)``, ``d = SID - Z_iso``. On a detector-fixed unit the detector
stays in the plane Z = 0; on an isocentric unit it turns with the tube about the same axis, so the
central ray stays normal to it.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from .errors import GeometryError


class UnitKind(enum.StrEnum):
    """How the detector moves between the stereo views."""

    DETECTOR_FIXED = "detector_fixed"  #: the tube turns, the detector stays under the breast
    ISOCENTRIC = "isocentric"  #: the detector turns with the tube about the isocentre


#: |DetectorPrimaryAngle| within this of 0 (isocentric) or of |PositionerPrimaryAngle| (fixed), deg.
ANGLE_MATCH_DEG = 0.5


@dataclass(frozen=True, kw_only=True)
class ViewGeometry:
    """Where one stereo image was taken from, in the unit frame."""

    unit: UnitKind
    angle_deg: float  #: tube angle in the X-Z plane (PositionerPrimaryAngle)
    sid_mm: float  #: focal spot to detector along the central ray
    isocenter_z_mm: float  #: height of the rotation axis above the detector at 0 deg
    pitch_mm: tuple[float, float]  #: (row, column) detector element spacing (ImagerPixelSpacing)
    rows: int
    columns: int

    def _rotate(self, v: np.ndarray) -> np.ndarray:
        """Rotate (N, 3) vectors by the view angle in the X-Z plane (0 deg: identity)."""
        a = math.radians(self.angle_deg)
        c, s = math.cos(a), math.sin(a)
        m = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
        return np.asarray(v, float) @ m.T

    @property
    def isocenter(self) -> np.ndarray:
        return np.array([0.0, 0.0, self.isocenter_z_mm])

    @property
    def source(self) -> np.ndarray:
        """Focal spot (3,)."""
        return self.isocenter + self._rotate(np.array([0.0, 0.0, self.sid_mm - self.isocenter_z_mm]))

    def detector_frame(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(centre, column direction, row direction) of the detector's active surface."""
        if self.unit is UnitKind.DETECTOR_FIXED:
            return np.zeros(3), np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
        centre = self.isocenter + self._rotate(-self.isocenter)
        return centre, self._rotate(np.array([1.0, 0.0, 0.0])), np.array([0.0, 1.0, 0.0])

    def pixel_to_world(self, px: np.ndarray) -> np.ndarray:
        """(N, 2) stored-pixel (column, row) -> (N, 3) points on the detector surface."""
        px = np.atleast_2d(np.asarray(px, float))
        centre, e_col, e_row = self.detector_frame()
        u = (px[:, 0] - (self.columns - 1) / 2) * self.pitch_mm[1]
        v = (px[:, 1] - (self.rows - 1) / 2) * self.pitch_mm[0]
        return centre + u[:, None] * e_col + v[:, None] * e_row

    def rays(self, px: np.ndarray) -> np.ndarray:
        """(N, 3) unit directions from the focal spot through the pixels (column, row)."""
        d = self.pixel_to_world(px) - self.source
        return d / np.linalg.norm(d, axis=1, keepdims=True)

    def project(self, xyz: np.ndarray) -> np.ndarray:
        """(N, 3) unit-frame points -> (N, 2) stored-pixel (column, row) where their rays meet the detector."""
        p = np.atleast_2d(np.asarray(xyz, float))
        centre, e_col, e_row = self.detector_frame()
        normal = np.cross(e_col, e_row)
        s = self.source
        t = ((centre - s) @ normal) / ((p - s) @ normal)
        hit = s + t[:, None] * (p - s) - centre
        return np.stack([hit @ e_col / self.pitch_mm[1] + (self.columns - 1) / 2,
                         hit @ e_row / self.pitch_mm[0] + (self.rows - 1) / 2], axis=1)

    def jacobian(self, xyz: np.ndarray, step_mm: float = 1e-3) -> np.ndarray:
        """(N, 2, 3) d(pixel)/d(point) by central differences."""
        p = np.atleast_2d(np.asarray(xyz, float))
        out = np.empty((len(p), 2, 3))
        for k in range(3):
            dp = np.zeros(3)
            dp[k] = step_mm
            out[:, :, k] = (self.project(p + dp) - self.project(p - dp)) / (2 * step_mm)
        return out


def _number(ds: Dataset, keyword: str, index: int | None = None) -> float:
    """A numeric attribute, or a GeometryError naming it."""
    try:
        value = ds.get(keyword)
        missing = value is None or value == ""
        number = 0.0 if missing else float(value[index] if index is not None else value)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise GeometryError(f"{keyword} is not a number; rule: a decimal value") from None
    if missing:
        raise GeometryError(f"{keyword} is missing; rule: stereotactic targeting needs it to place the view")
    if not math.isfinite(number):
        raise GeometryError(f"{keyword} = {number} is not finite")
    return number


def unit_kind(ds: Dataset, angle_deg: float) -> UnitKind:
    """Detector-fixed or isocentric from DetectorPrimaryAngle (beam angle to the detector normal).

    On a detector-fixed unit the beam meets the detector at the tube angle: PS3.3 counts the angle
    positive when the beam is tilted toward higher columns, which a focal spot at +X gives a beam
    heading to -X, so DetectorPrimaryAngle = -PositionerPrimaryAngle. On an isocentric unit it is 0.
    """
    detector = _number(ds, "DetectorPrimaryAngle")
    if abs(angle_deg) <= ANGLE_MATCH_DEG:  # the scout: both units look straight down
        return UnitKind.ISOCENTRIC if abs(detector) <= ANGLE_MATCH_DEG else _refuse_detector(detector, angle_deg)
    if abs(detector) <= ANGLE_MATCH_DEG:
        return UnitKind.ISOCENTRIC
    if abs(detector + angle_deg) <= ANGLE_MATCH_DEG:
        return UnitKind.DETECTOR_FIXED
    return _refuse_detector(detector, angle_deg)


def _refuse_detector(detector: float, angle: float) -> UnitKind:
    raise GeometryError(
        f"DetectorPrimaryAngle = {detector:g} with PositionerPrimaryAngle = {angle:g}; rule: 0 (isocentric "
        f"unit) or -PositionerPrimaryAngle (detector fixed, the tube turns), within {ANGLE_MATCH_DEG:g} deg")


def geometry_from_dataset(ds: Dataset, *, unit: UnitKind | None = None,
                          isocenter_z_mm: float | None = None) -> ViewGeometry:
    """The view's geometry from its header; ``unit``/``isocenter_z_mm`` (configuration) override the header.

    The rotation axis height is ``DistanceSourceToDetector - DistanceSourceToIsocenter`` (0018,9402).
    """
    angle = _number(ds, "PositionerPrimaryAngle")
    if not -90.0 < angle < 90.0:
        raise GeometryError(f"PositionerPrimaryAngle = {angle:g}; rule: between -90 and 90 deg for a stereo view")
    sid = _number(ds, "DistanceSourceToDetector")
    if not 100.0 <= sid <= 2000.0:
        raise GeometryError(f"DistanceSourceToDetector = {sid:g} mm; rule: 100-2000 mm")
    pitch = (_number(ds, "ImagerPixelSpacing", 0), _number(ds, "ImagerPixelSpacing", 1))
    if not all(0.01 <= p <= 1.0 for p in pitch):
        raise GeometryError(f"ImagerPixelSpacing = {pitch[0]:g}\\{pitch[1]:g} mm; rule: 0.01-1 mm")
    rows, columns = int(_number(ds, "Rows")), int(_number(ds, "Columns"))
    if isocenter_z_mm is None:
        isocenter_z_mm = sid - _number(ds, "DistanceSourceToIsocenter")
    if not 0.0 <= isocenter_z_mm < sid / 2:
        raise GeometryError(f"rotation axis height {isocenter_z_mm:g} mm (DistanceSourceToDetector - "
                            f"DistanceSourceToIsocenter); rule: 0 to half the source distance")
    return ViewGeometry(unit=unit if unit is not None else unit_kind(ds, angle), angle_deg=angle, sid_mm=sid,
                        isocenter_z_mm=isocenter_z_mm, pitch_mm=pitch, rows=rows, columns=columns)
