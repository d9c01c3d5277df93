"""Risk cohort: a SIMULATED time-to-cancer label per exam.

This is a simulation for building and testing the risk pipeline, not evidence
about real patients. Model: a constant yearly hazard
``h = h0 * density_factor * precursor_factor``; the time to cancer is drawn
from the exponential distribution with that hazard and reported in whole
years 1..5; anything later than the 5-year follow-up is censored. Precursors
are planted in the images so that a model can learn them: faint, small
amorphous calcifications (below typical recall threshold) or a local density
asymmetry in one breast.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .truth import Density, RiskLabel

FOLLOWUP_YEARS = 5
BASE_HAZARD = 0.02  #: per year, simulation constant (inflated so the cohort has events)
DENSITY_FACTOR = {Density.A: 0.6, Density.B: 1.0, Density.C: 1.6, Density.D: 2.2}
PRECURSOR_FACTOR = {"faint_amorphous": 5.0, "texture_asymmetry": 3.5, None: 1.0}
PRECURSOR_RATE = 0.25  #: share of cohort exams carrying a precursor


@dataclasses.dataclass(frozen=True, kw_only=True)
class CohortPlan:
    """What the risk simulation plants before rendering, and the label it produced."""

    label: RiskLabel
    precursor: str | None
    laterality: str | None


def plan(rng: np.random.Generator, density: Density) -> CohortPlan:
    precursor = None
    if rng.random() < PRECURSOR_RATE:
        precursor = str(rng.choice(["faint_amorphous", "texture_asymmetry"]))
    laterality = str(rng.choice(["L", "R"])) if precursor else None
    hazard = BASE_HAZARD * DENSITY_FACTOR[density] * PRECURSOR_FACTOR[precursor]
    t = float(rng.exponential(1.0 / hazard))
    years = math.ceil(t) if t <= FOLLOWUP_YEARS else None
    label = RiskLabel(years_to_cancer=years, censored=years is None, followup_years=FOLLOWUP_YEARS,
                      hazard_per_year=hazard, precursor=precursor, precursor_laterality=laterality)
    return CohortPlan(label=label, precursor=precursor, laterality=laterality)


def add_asymmetry(rng: np.random.Generator, volume: np.ndarray) -> np.ndarray:
    """A local, subtle rise of glandular propensity (a focal asymmetry) in a breast's 3-D volume."""
    nu, nv, nw = volume.shape
    cu, cv = rng.uniform(0.3, 0.7) * nu, rng.uniform(0.25, 0.75) * nv
    u = np.arange(nu)[:, None, None]
    v = np.arange(nv)[None, :, None]
    blob = np.exp(-(((u - cu) / (0.12 * nu)) ** 2 + ((v - cv) / (0.12 * nv)) ** 2))
    return (volume + 1.2 * blob).astype(np.float32)
