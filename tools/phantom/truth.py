"""Ground-truth records of the phantom: enums, frozen dataclasses, JSON output.

The JSON layout is versioned (``SCHEMA_VERSION``) and described by
``truth.schema.json`` next to this file; docs/phantom.md explains every field.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from mammoedge.runtime.codes import BiradsCategory, Distribution, Morphology

from .errors import TruthError

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

    @classmethod
    def from_dict(cls, data: Any) -> ExamTruth:
        """The typed truth of a ``truth.json`` document (``TruthError`` naming the first field that breaks the
        schema: a missing or unknown key, a wrong type, a value outside its enum, another schema version)."""
        truth = _record(cls, data, "truth")
        if truth.schema_version != SCHEMA_VERSION:
            raise TruthError(f"truth.schema_version {truth.schema_version!r} is not {SCHEMA_VERSION!r}, the version "
                             "this reader knows")
        return truth

    @classmethod
    def read(cls, path: str | Path) -> ExamTruth:
        """``from_dict`` of the JSON file at ``path`` (an exam folder's ``truth.json``)."""
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as error:
            raise TruthError(f"{Path(path).name} is not JSON (line {error.lineno}): a truth must be") from None
        return cls.from_dict(data)

    def morphology_of(self) -> dict[int, Morphology]:
        """Cluster id -> its morphology, over both breasts."""
        return {c.cluster_id: c.morphology for side in self.clusters.values() for c in side}


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


R = TypeVar("R")


def _record(cls: type[R], data: Any, where: str) -> R:
    """An instance of the frozen dataclass ``cls`` from its plain form (as ``_plain`` writes it)."""
    if not isinstance(data, dict):
        raise TruthError(f"{where}: must be an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise TruthError(f"{where}: unknown key {unknown[0]!r} (not in {cls.__name__})")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        if name in data:
            values[name] = _typed(hints[name], data[name], f"{where}.{name}")
        elif field.default is dataclasses.MISSING:
            raise TruthError(f"{where}: missing key {name!r} (required by {cls.__name__})")
    return cls(**values)


def _typed(hint: Any, value: Any, where: str) -> Any:
    """``value`` as the type ``hint`` (dataclass, enum, tuple, dict, optional, str, int, float, bool)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _typed(inner, value, where)
    if dataclasses.is_dataclass(hint):
        return _record(hint, value, where)  # type: ignore[arg-type]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise TruthError(f"{where}: not one of {', '.join(str(m.value) for m in hint)}") from None
    if origin is tuple:
        if not isinstance(value, list):
            raise TruthError(f"{where}: must be a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise TruthError(f"{where}: must hold {len(args)} values, holds {len(value)}")
        return tuple(_typed(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict:
        if not isinstance(value, dict):
            raise TruthError(f"{where}: must be an object")
        return {str(k): _typed(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and type(value) is hint:
        return value
    raise TruthError(f"{where}: must be {getattr(hint, '__name__', hint)}")


def to_json(truth: ExamTruth) -> str:
    """Serialize an exam's truth (stable key order, floats rounded to 1e-4)."""
    return json.dumps(_plain(truth), indent=1)


def write_truth(truth: ExamTruth, path: Path) -> None:
    path.write_text(to_json(truth) + "\n")
