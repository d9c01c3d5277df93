"""Recognise a stereotactic set (scout, +theta, -theta of one compression) and refuse a mismatched one."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset

from ..codes import Laterality
from ..config import BiopsyConfig, StereoUnit
from .errors import GeometryError, Refusal, StereoSetError
from .geometry import UnitKind, ViewGeometry, geometry_from_dataset


class StereoRole(enum.StrEnum):
    """Image Type value 3 of a stereotactic image (PS3.3 C.8.11.7 defined terms)."""

    SCOUT = "STEREO_SCOUT"
    PLUS = "STEREO_PLUS"
    MINUS = "STEREO_MINUS"


@dataclass(frozen=True, kw_only=True)
class StereoImage:
    """One image of the set: its role, geometry and dataset (pixels are read later)."""

    name: str  #: file name (no path), for messages
    role: StereoRole
    geometry: ViewGeometry
    dataset: Dataset = dataclasses.field(repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class StereoSet:
    """A recognised set; ``scout`` is None for a bare pair."""

    plus: StereoImage
    minus: StereoImage
    scout: StereoImage | None
    unit: UnitKind
    theta_deg: float
    laterality: Laterality
    thickness_mm: float

    @property
    def images(self) -> tuple[StereoImage, ...]:
        return (self.plus, self.minus) + ((self.scout,) if self.scout is not None else ())


def _refuse(reason: Refusal, message: str) -> StereoSetError:
    return StereoSetError(reason, message)


def image_role(ds: Dataset, angle_deg: float, tolerance_deg: float) -> StereoRole:
    """The role from Image Type value 3 when it is a STEREO_ term, else from the angle's sign."""
    image_type = list(ds.get("ImageType") or [])
    term = str(image_type[2]).strip().upper() if len(image_type) > 2 else ""
    by_angle = (StereoRole.SCOUT if abs(angle_deg) <= tolerance_deg
                else StereoRole.PLUS if angle_deg > 0 else StereoRole.MINUS)
    if term in {r.value for r in StereoRole}:
        role = StereoRole(term)
        if role is not by_angle:
            raise _refuse(Refusal.ROLE, f"Image Type value 3 {role.value} with PositionerPrimaryAngle "
                                        f"{angle_deg:g}; rule: SCOUT at 0, PLUS at +theta, MINUS at -theta")
        return role
    return by_angle


def _thickness(ds: Dataset) -> float:
    value = ds.get("BodyPartThickness")
    try:
        thickness = float(value)
    except (TypeError, ValueError):
        raise GeometryError("BodyPartThickness is missing or not a number; rule: the compressed thickness, mm, "
                            "bounds the target's depth") from None
    if not 5.0 <= thickness <= 200.0:
        raise GeometryError(f"BodyPartThickness = {thickness:g} mm; rule: 5-200 mm")
    return thickness


def recognise(datasets: Sequence[tuple[str, Dataset]], config: BiopsyConfig) -> StereoSet:
    """The stereo set these images form, or a ``StereoSetError`` saying why not
    (``GeometryError`` for a missing or impossible geometry attribute)."""
    unit = None if config.unit is StereoUnit.AUTO else UnitKind(config.unit.value)
    images: list[StereoImage] = []
    for name, ds in datasets:
        try:
            geometry = geometry_from_dataset(ds, unit=unit, isocenter_z_mm=config.isocenter_height_mm)
        except GeometryError as exc:
            raise GeometryError(f"{name}: {exc}") from None
        role = image_role(ds, geometry.angle_deg, config.angle_tolerance_deg)
        images.append(StereoImage(name=name, role=role, geometry=geometry, dataset=ds))
    by_role = {r: [i for i in images if i.role is r] for r in StereoRole}
    if len(by_role[StereoRole.PLUS]) != 1 or len(by_role[StereoRole.MINUS]) != 1 or len(by_role[StereoRole.SCOUT]) > 1:
        counts = ", ".join(f"{len(v)} {r.value}" for r, v in by_role.items())
        raise _refuse(Refusal.COUNT, f"{counts}; rule: one STEREO_PLUS, one STEREO_MINUS, at most one STEREO_SCOUT")
    plus, minus = by_role[StereoRole.PLUS][0], by_role[StereoRole.MINUS][0]
    scout = by_role[StereoRole.SCOUT][0] if by_role[StereoRole.SCOUT] else None
    members = [plus, minus] + ([scout] if scout is not None else [])

    studies = {str(i.dataset.get("StudyInstanceUID", "")) for i in members}
    if len(studies) != 1 or "" in studies:
        raise _refuse(Refusal.STUDY, f"the images carry {len(studies - {''})} Study Instance UID(s)"
                                     f"{' and some none' if '' in studies else ''}; rule: one study")
    lateralities = {str(i.dataset.get("ImageLaterality", i.dataset.get("Laterality", ""))).upper() for i in members}
    if len(lateralities) != 1 or not lateralities <= {"L", "R"}:
        raise _refuse(Refusal.LATERALITY, f"ImageLaterality {sorted(lateralities)}; rule: one breast, L or R")
    thickness = [_thickness(i.dataset) for i in members]
    if max(thickness) - min(thickness) > config.thickness_tolerance_mm:
        raise _refuse(Refusal.COMPRESSION, f"BodyPartThickness {', '.join(f'{t:g}' for t in thickness)} mm; rule: "
                                           f"one compression, equal within {config.thickness_tolerance_mm:g} mm")
    frames = {str(i.dataset.get("FrameOfReferenceUID", "")) for i in members} - {""}
    if len(frames) > 1:
        raise _refuse(Refusal.COMPRESSION, f"{len(frames)} Frames of Reference; rule: one compression, one frame")
    a_plus, a_minus = plus.geometry.angle_deg, minus.geometry.angle_deg
    theta = (a_plus - a_minus) / 2
    if abs(a_plus + a_minus) > config.angle_tolerance_deg or theta < config.min_angle_deg:
        raise _refuse(Refusal.ANGLES, f"PositionerPrimaryAngle {a_plus:g} and {a_minus:g}; rule: +theta and "
                                      f"-theta within {config.angle_tolerance_deg:g} deg, theta >= "
                                      f"{config.min_angle_deg:g} deg")
    if plus.geometry.unit is not minus.geometry.unit:
        raise _refuse(Refusal.GEOMETRY, f"{plus.geometry.unit.value} +view and {minus.geometry.unit.value} -view; "
                                        f"rule: one unit")
    for field in ("sid_mm", "isocenter_z_mm", "pitch_mm", "rows", "columns"):
        values = {getattr(i.geometry, field) for i in members}
        if field in ("sid_mm", "isocenter_z_mm"):
            spread = max(values) - min(values)
            if spread <= 0.5:
                continue
        elif len(values) == 1:
            continue
        raise _refuse(Refusal.GEOMETRY, f"{field} differs between the images; rule: one unit, one detector")
    if scout is not None:  # at 0 deg both units look straight down; give the scout the pair's unit
        scout = dataclasses.replace(scout, geometry=dataclasses.replace(scout.geometry, unit=plus.geometry.unit))
    if not math.isfinite(theta):
        raise _refuse(Refusal.ANGLES, "angles are not finite")
    return StereoSet(plus=plus, minus=minus, scout=scout, unit=plus.geometry.unit, theta_deg=theta,
                     laterality=Laterality(lateralities.pop()), thickness_mm=sum(thickness) / len(thickness))
