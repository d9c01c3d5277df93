"""The biopsy result record: typed, versioned, read back as well as written (biopsy_result.schema.json)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..codes import Laterality
from .geometry import UnitKind

SCHEMA_VERSION = "1.0.0"
SCHEMA_PATH = Path(__file__).with_name("biopsy_result.schema.json")

Pixel = tuple[float, float]


class TargetWarning(enum.StrEnum):
    """What the biopsy team should look at before firing."""

    NEAR_SUPPORT = "near-support"  #: target closer to the breast support than the stroke margin
    FEW_MATCHES = "few-matches"  #: fewer matched calcifications than [biopsy] min_matches
    AMBIGUOUS_MATCHES = "ambiguous-matches"  #: a calcification had two candidates of near-equal cost
    NO_SCOUT = "no-scout"  #: a bare pair: matches are checked against two views only


class ChoiceRule(enum.StrEnum):
    """How the target cluster was chosen."""

    MOST_SUSPICIOUS = "most-suspicious"
    NEAREST_POINT = "nearest-point"  #: the cluster nearest a point given on the scout (--at)


def _pixel(value: Any) -> Pixel:
    return float(value[0]), float(value[1])


def _opt_pixel(value: Any) -> Pixel | None:
    return None if value is None else _pixel(value)


@dataclass(frozen=True, kw_only=True)
class MatchedCalcification:
    """One calcification seen in both stereo views (and the scout when matched there), triangulated."""

    plus_px: Pixel  #: (column, row) in the +theta image
    minus_px: Pixel
    scout_px: Pixel | None
    x_mm: float
    y_mm: float
    z_mm: float
    ray_gap_mm: float  #: RMS distance of its source rays from the triangulated point
    ambiguous: bool
    score: float  #: detector score (mean over the views)

    def to_dict(self) -> dict[str, Any]:
        return {"plus_px": list(self.plus_px), "minus_px": list(self.minus_px),
                "scout_px": None if self.scout_px is None else list(self.scout_px),
                "x_mm": self.x_mm, "y_mm": self.y_mm, "z_mm": self.z_mm, "ray_gap_mm": self.ray_gap_mm,
                "ambiguous": self.ambiguous, "score": self.score}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MatchedCalcification:
        return cls(plus_px=_pixel(d["plus_px"]), minus_px=_pixel(d["minus_px"]), scout_px=_opt_pixel(d["scout_px"]),
                   x_mm=float(d["x_mm"]), y_mm=float(d["y_mm"]), z_mm=float(d["z_mm"]),
                   ray_gap_mm=float(d["ray_gap_mm"]), ambiguous=bool(d["ambiguous"]), score=float(d["score"]))


@dataclass(frozen=True, kw_only=True)
class Target:
    """The chosen cluster's target in the unit frame (mm) with 1-sigma per-axis uncertainty."""

    x_mm: float
    y_mm: float
    z_mm: float
    sigma_x_mm: float
    sigma_y_mm: float
    sigma_z_mm: float
    n_matches: int
    plus_px: Pixel  #: the target projected into each image (column, row)
    minus_px: Pixel
    scout_px: Pixel | None

    def to_dict(self) -> dict[str, Any]:
        return {"x_mm": self.x_mm, "y_mm": self.y_mm, "z_mm": self.z_mm, "sigma_x_mm": self.sigma_x_mm,
                "sigma_y_mm": self.sigma_y_mm, "sigma_z_mm": self.sigma_z_mm, "n_matches": self.n_matches,
                "plus_px": list(self.plus_px), "minus_px": list(self.minus_px),
                "scout_px": None if self.scout_px is None else list(self.scout_px)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Target:
        return cls(x_mm=float(d["x_mm"]), y_mm=float(d["y_mm"]), z_mm=float(d["z_mm"]),
                   sigma_x_mm=float(d["sigma_x_mm"]), sigma_y_mm=float(d["sigma_y_mm"]),
                   sigma_z_mm=float(d["sigma_z_mm"]), n_matches=int(d["n_matches"]), plus_px=_pixel(d["plus_px"]),
                   minus_px=_pixel(d["minus_px"]), scout_px=_opt_pixel(d["scout_px"]))


@dataclass(frozen=True, kw_only=True)
class BiopsyResult:
    """Stereotactic targeting of one set. No patient data: no names, IDs or UIDs."""

    schema_version: str
    unit: UnitKind
    theta_deg: float
    laterality: Laterality
    thickness_mm: float
    choice: ChoiceRule
    target: Target
    matches: tuple[MatchedCalcification, ...]  #: the target cluster's matched calcifications
    candidates: int  #: 3-D groups of matched calcifications the target was chosen from
    sigma_px: float  #: localisation noise estimated from the reprojection residuals (px)
    warnings: tuple[TargetWarning, ...]
    seconds: float  #: wall time of detection, matching and triangulation

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": self.schema_version, "unit": self.unit.value, "theta_deg": self.theta_deg,
                "laterality": self.laterality.value, "thickness_mm": self.thickness_mm, "choice": self.choice.value,
                "target": self.target.to_dict(), "matches": [m.to_dict() for m in self.matches],
                "candidates": self.candidates, "sigma_px": self.sigma_px,
                "warnings": [w.value for w in self.warnings], "seconds": self.seconds}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BiopsyResult:
        return cls(schema_version=str(d["schema_version"]), unit=UnitKind(d["unit"]), theta_deg=float(d["theta_deg"]),
                   laterality=Laterality(d["laterality"]), thickness_mm=float(d["thickness_mm"]),
                   choice=ChoiceRule(d["choice"]), target=Target.from_dict(d["target"]),
                   matches=tuple(MatchedCalcification.from_dict(m) for m in d["matches"]),
                   candidates=int(d["candidates"]), sigma_px=float(d["sigma_px"]),
                   warnings=tuple(TargetWarning(w) for w in d["warnings"]), seconds=float(d["seconds"]))
