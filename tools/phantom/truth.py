"""Ground-truth records of the phantom: enums, frozen dataclasses, JSON output.

The JSON layout is versioned (``SCHEMA_VERSION``) and described by
``truth.schema.json`` next to this file; docs/phantom.md explains every field.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path
from typing import Any

from mammoedge.runtime.codes import BiradsCategory, Distribution, Morphology

SCHEMA_VERSION = "1.0.0"
SCHEMA_PATH = Path(__file__).with_name("truth.schema.json")


class Density(enum.StrEnum):
    """BI-RADS breast composition category."""

    A = "a"
    B = "b"
    C = "c"
    D = "d"


@dataclasses.dataclass(frozen=True, kw_only=True)
class CalcTruth:
    """One planted calcification as seen in one image (pixel coordinates of that image)."""

    x: float  #: column, pixels (sub-pixel centre of the calcification's projected mass)
    y: float  #: row, pixels
    diameter_mm: float  #: equivalent-sphere diameter (for elongated shapes: width)
    length_mm: float  #: largest extent in the image plane
    morphology: Morphology
    cluster_id: int | None  #: None for an isolated calcification
    suspicious: bool  #: morphology is one of the BI-RADS suspicious descriptors


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClusterTruth:
    """A cluster (or an isolated calcification) in the 3-D breast, with its labels."""

    cluster_id: int
    morphology: Morphology
    distribution: Distribution
    n_calcifications: int
    malignant: bool  #: drawn from the morphology-dependent PPV (see clusters.py)
    malignancy_probability: float  #: the rate the label was drawn from
    assessment: BiradsCategory
    center_mm: tuple[float, float, float]  #: (u, v, w) in breast coordinates, mm (docs/phantom.md)
    extent_mm: float  #: largest distance between two of its calcifications
    subtle_precursor: bool = False  #: planted by the risk cohort as a faint precursor


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClusterInView:
    """Where a cluster appears in one image: bounding box and its calcifications."""

    cluster_id: int
    center_px: tuple[float, float]  #: (col, row) in the stored DICOM pixel grid
    bbox_px: tuple[float, float, float, float]  #: (col0, row0, col1, row1)
    calcifications: tuple[CalcTruth, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ViewTruth:
    """One DICOM file of the exam and what is in it."""

    file: str
    sop_instance_uid: str
    laterality: str
    view: str
    rows: int
    columns: int
    pixel_spacing_mm: float  #: at the breast (ImagerPixelSpacing / magnification)
    chest_wall_side: str  #: "left" or "right" column side of the stored image
    breast_area_mm2: float
    dense_area_fraction: float
    nipple_px: tuple[float, float]
    clusters: tuple[ClusterInView, ...]
    positioner_primary_angle_deg: float = 0.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class StereoTarget:
    """Target of a stereotactic pair: one cluster's centre in the unit's coordinates."""

    cluster_id: int
    xyz_mm: tuple[float, float, float]  #: (X, Y, Z), unit coordinate system (docs/phantom.md)
    projected_px: dict[str, tuple[float, float]]  #: view name -> (col, row) of the target


@dataclasses.dataclass(frozen=True, kw_only=True)
class RiskLabel:
    """Simulated time-to-cancer label of the risk cohort (a simulation, not patient evidence)."""

    years_to_cancer: int | None  #: 1..5, or None when censored
    censored: bool
    followup_years: int
    hazard_per_year: float
    precursor: str | None  #: "faint_amorphous", "texture_asymmetry" or None
    precursor_laterality: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExamTruth:
    """Everything planted in one exam; written as ``truth.json`` next to its DICOM files."""

    schema_version: str
    generator: str
    seed: int
    exam_index: int
    kind: str  #: "screening" or "stereo"
    vendor: str
    density: Density
    study_instance_uid: str
    assessment: BiradsCategory
    breast_thickness_mm: dict[str, float]
    clusters: dict[str, tuple[ClusterTruth, ...]]  #: laterality -> clusters
    views: tuple[ViewTruth, ...]
    stereo_target: StereoTarget | None = None
    risk: RiskLabel | None = None


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return round(value, 4)
    if hasattr(value, "item"):  # numpy scalar
        return _plain(value.item())
    return value


def to_json(truth: ExamTruth) -> str:
    """Serialize an exam's truth (stable key order, floats rounded to 1e-4)."""
    return json.dumps(_plain(truth), indent=1)


def write_truth(truth: ExamTruth, path: Path) -> None:
    path.write_text(to_json(truth) + "\n")
