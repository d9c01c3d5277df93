"""The exam-level risk stage: 1-5-year risk, left-right asymmetry per projection and breast density.

One inference of the risk model (``models/risk-*.md``) over an exam's four normalized views gives the
cumulative risk logits, the density logits and the two asymmetry heatmaps. The risk is calibrated per year
with the manifest's ``calibration`` (``logit(p_cal) = a_t * logit(p) + b_t``, fitted on the calibration split)
and kept non-decreasing in t. The result says which risk factors were used and where each came from.

The model was trained on a SIMULATED cohort (the phantom's): its numbers are not clinical risk estimates.
A partial exam gets a status (``needs-four-views``, ``needs-both-sides``) and no numbers.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..codes import Laterality, View
from ..errors import ModelError
from ..inference import CompiledModel
from ..preprocess import NormalizedView
from .input import VIEW_ORDER, BreastBox, Projection, register_view

log = logging.getLogger(__name__)

YEARS = (1, 2, 3, 4, 5)


class RiskStatus(enum.StrEnum):
    """Whether the exam could be assessed."""

    ASSESSED = "assessed"
    NEEDS_FOUR_VIEWS = "needs-four-views"  #: both sides present, a projection missing
    NEEDS_BOTH_SIDES = "needs-both-sides"  #: one breast has no view at all


class DensityCategory(enum.StrEnum):
    """BI-RADS (5th ed.) breast composition."""

    A = "a"
    B = "b"
    C = "c"
    D = "d"


class FactorName(enum.StrEnum):
    AGE = "age"
    DENSITY = "density"


class FactorSource(enum.StrEnum):
    """Where a risk factor's value came from."""

    DICOM_HEADER = "dicom-header"
    IMAGE_ESTIMATE = "image-estimate"
    ABSENT = "absent"


@dataclass(frozen=True, kw_only=True)
class RiskFactor:
    """One risk factor: its value, where it came from and whether the model used it (and why not)."""

    name: FactorName
    value: str | None  #: density: "a".."d"; age: whole years as text; None when absent
    source: FactorSource
    used: bool
    note: str


@dataclass(frozen=True, kw_only=True)
class DensityAssessment:
    category: DensityCategory
    probabilities: dict[str, float]  #: a..d -> probability (sums to 1)


@dataclass(frozen=True, kw_only=True)
class AsymmetryWindow:
    """The model's top window on one side's view. It is a square on the registered input grid, and each breast box
    is stretched over that grid on its own along rows and columns, so on each view it is a rectangle of its own
    (taller than wide on a CC view, whose box is about twice as high as it is deep)."""

    view_box: tuple[float, float, float, float]  #: (x0, y0, x1, y1) on the normalized view (px, chest wall left)
    stored_box: tuple[float, float, float, float]  #: (x0, y0, x1, y1) in the stored file's (column, row) pixels
    width_mm: float  #: along the normalized view's columns
    height_mm: float  #: along its rows


@dataclass(frozen=True, kw_only=True)
class AsymmetryFinding:
    """The most left-right dissimilar window of one projection."""

    projection: Projection
    score: float  #: the heatmap's maximum
    above_operating_point: bool  #: score above the model's operating point (manifest ``asymmetry_threshold``)
    x: float  #: window centre on the left normalized view (px; the input grid is registered per breast box)
    y: float
    left_xy: tuple[float, float]  #: the centre in the left view's stored pixels (column, row)
    right_xy: tuple[float, float]  #: the centre in the right view's stored pixels (column, row)
    left_window: AsymmetryWindow  #: the window on the left view
    right_window: AsymmetryWindow  #: the window on the (mirrored) right view, through its own breast box
    picture: str | None = None  #: asymmetry PNG next to the result (outputs), when written
    #: (h, w) float32 in score units over the input grid (not serialized: outputs draw it as a picture)
    heatmap: np.ndarray | None = field(default=None, compare=False, metadata={"transient": True})
    #: heatmap geometry: a cell spans ``window`` encoder cells of ``stride`` input pixels (not serialized)
    window: int = field(default=3, compare=False, metadata={"transient": True})
    stride: int = field(default=16, compare=False, metadata={"transient": True})
    #: the left and right views' breast boxes the input grid was registered with (not serialized)
    boxes: tuple[BreastBox, BreastBox] | None = field(default=None, compare=False, metadata={"transient": True})


@dataclass(frozen=True, kw_only=True)
class RiskAssessment:
    """What the risk stage says about one exam (numbers only when ``status`` is ``assessed``)."""

    status: RiskStatus
    message: str
    years: tuple[int, ...] = YEARS
    risk: tuple[float, ...] | None = None  #: calibrated cumulative risk by year 1..5, non-decreasing
    factors: tuple[RiskFactor, ...] = ()
    asymmetry: tuple[AsymmetryFinding, ...] = ()
    asymmetry_score: float | None = None  #: the exam's: max over projections
    density: DensityAssessment | None = None


def calibrate(risk_logits: np.ndarray, a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    """Per-year Platt calibration of cumulative logits (N, 5) -> probabilities, non-decreasing in t."""
    z = np.asarray(a, np.float64)[None] * np.asarray(risk_logits, np.float64) + np.asarray(b, np.float64)[None]
    return np.maximum.accumulate(1.0 / (1.0 + np.exp(-z)), axis=1)


class RiskModel:
    """The compiled risk model with its manifest parameters (calibration, operating point, grid)."""

    def __init__(self, model: CompiledModel) -> None:
        params = model.entry.parameters
        try:
            self.a = tuple(float(v) for v in params["calibration"]["a"])
            self.b = tuple(float(v) for v in params["calibration"]["b"])
            self.asymmetry_threshold = float(params["asymmetry_threshold"])
            self.window = int(params["asymmetry_window"])
            self.stride = int(params["asymmetry_stride"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model {model.entry.name} {model.entry.version}: manifest parameters need "
                             f"'calibration' (a, b per year), 'asymmetry_threshold', 'asymmetry_window' and "
                             f"'asymmetry_stride': {exc!r}") from None
        if len(self.a) != len(YEARS) or len(self.b) != len(YEARS):
            raise ModelError(f"model {model.entry.name}: calibration needs {len(YEARS)} values of a and b, "
                             f"got {len(self.a)} and {len(self.b)}")
        self.model = model

    def assess(self, views: Sequence[NormalizedView], *, age_years: int | None = None) -> RiskAssessment:
        """Risk, asymmetry and density of an exam's views (any order); a partial exam gets a status only."""
        by_key: dict[tuple[Laterality, View], NormalizedView] = {}
        for view in views:
            by_key.setdefault((view.laterality, view.view), view)
        missing = [f"{lat.value}{v.value}" for lat, v in VIEW_ORDER if (lat, v) not in by_key]
        if missing:
            sides = {lat for lat, _ in by_key if (lat, View.CC) in by_key or (lat, View.MLO) in by_key}
            if len({s for s in sides if s in (Laterality.LEFT, Laterality.RIGHT)}) < 2:
                return RiskAssessment(status=RiskStatus.NEEDS_BOTH_SIDES,
                                      message=f"risk needs both breasts (R and L, CC and MLO); missing "
                                              f"{', '.join(missing)}")
            return RiskAssessment(status=RiskStatus.NEEDS_FOUR_VIEWS,
                                  message=f"risk needs four views (RCC, LCC, RMLO, LMLO); missing "
                                          f"{', '.join(missing)}")
        ordered = [by_key[key] for key in VIEW_ORDER]
        registered = [register_view(v.image, v.mask) for v in ordered]
        batch = np.stack([pixels for pixels, _ in registered])[None]
        boxes = [box for _, box in registered]
        out = self.model.infer(batch)
        risk = calibrate(out["risk_logits"], self.a, self.b)[0]
        density_p = _softmax(out["density_logits"][0])
        maps = out["asymmetry"][0]
        density = DensityAssessment(category=list(DensityCategory)[int(np.argmax(density_p))],
                                    probabilities={c.value: round(float(p), 4)
                                                   for c, p in zip(DensityCategory, density_p)})
        findings = tuple(self._finding(projection, maps[k], (ordered[1 + 2 * k], boxes[1 + 2 * k]),
                                       (ordered[2 * k], boxes[2 * k])) for k, projection in enumerate(Projection))
        factors = (
            RiskFactor(name=FactorName.DENSITY, value=density.category.value, source=FactorSource.IMAGE_ESTIMATE,
                       used=True, note="the model's own density probabilities are an input of its hazard head"),
            RiskFactor(name=FactorName.AGE, value=None if age_years is None else str(age_years),
                       source=FactorSource.DICOM_HEADER if age_years is not None else FactorSource.ABSENT,
                       used=False, note="not used: the model has no age input (its simulated training cohort's "
                                        "hazard does not depend on age)"),
        )
        return RiskAssessment(status=RiskStatus.ASSESSED, message="assessed (model trained on a simulated cohort)",
                              risk=tuple(round(float(r), 5) for r in risk), factors=factors, asymmetry=findings,
                              asymmetry_score=max(f.score for f in findings), density=density)

    def _finding(self, projection: Projection, heatmap: np.ndarray, left: tuple[NormalizedView, BreastBox],
                 right: tuple[NormalizedView, BreastBox]) -> AsymmetryFinding:
        """The top window of ``heatmap`` mapped back through each view's breast box onto its pixels."""
        row, col = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
        # a heatmap cell covers encoder cells row..row+window-1; an encoder cell covers `stride` input pixels
        centre_r = (row + self.window / 2) * self.stride
        centre_c = (col + self.window / 2) * self.stride
        score = float(heatmap[row, col])
        x, y = left[1].to_view(centre_r, centre_c)

        def stored(view: NormalizedView, box: BreastBox) -> tuple[float, float]:
            point = view.transform.to_original(np.array([box.to_view(centre_r, centre_c)]))[0]
            return round(float(point[0]), 1), round(float(point[1]), 1)

        half = self.window * self.stride / 2

        def window(view: NormalizedView, box: BreastBox) -> AsymmetryWindow:
            corners = np.array([box.to_view(centre_r - half, centre_c - half),
                                box.to_view(centre_r + half, centre_c + half)])
            original = view.transform.to_original(corners)  # flips only: still an axis-aligned rectangle

            def ordered(points: np.ndarray) -> tuple[float, float, float, float]:
                low, high = points.min(axis=0), points.max(axis=0)
                return (round(float(low[0]), 1), round(float(low[1]), 1), round(float(high[0]), 1),
                        round(float(high[1]), 1))

            (x0, y0), (x1, y1) = corners
            return AsymmetryWindow(view_box=ordered(corners), stored_box=ordered(original),
                                   width_mm=round(float(x1 - x0) * view.spacing_mm, 1),
                                   height_mm=round(float(y1 - y0) * view.spacing_mm, 1))

        return AsymmetryFinding(projection=projection, score=round(score, 5),
                                above_operating_point=score > self.asymmetry_threshold,
                                x=round(x, 1), y=round(y, 1), left_xy=stored(*left), right_xy=stored(*right),
                                left_window=window(*left), right_window=window(*right),
                                heatmap=heatmap.astype(np.float32), window=self.window, stride=self.stride,
                                boxes=(left[1], right[1]))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return np.asarray(e / e.sum())
