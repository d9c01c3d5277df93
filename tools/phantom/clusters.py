"""Clusters: where calcifications sit (BI-RADS distribution) and the labels a cluster carries.

Malignancy rates by morphology (positive predictive value at biopsy) are the
figures quoted in the ACR BI-RADS Atlas, 5th ed. (2013), mammography section,
which summarises Liberman et al. (AJR 171:35, 1998), Burnside et al.
(Radiology 242:388, 2007) and Bent et al. (AJR 194:1378, 2010):
amorphous ~20 %, coarse heterogeneous ~13 %, fine pleomorphic ~29 %,
fine linear / fine-linear branching ~70 %. Typically benign types are
modelled at 0 %. The distribution multipliers below are this phantom's own
heuristic (linear/segmental raise suspicion, diffuse lowers it, as the Atlas
describes qualitatively), not published figures.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .calcifications import CalcShape, make_calcification
from .truth import BiradsCategory, Distribution, Morphology

#: PPV by morphology (BI-RADS Atlas 5th ed.; see module docstring).
MORPHOLOGY_PPV: dict[Morphology, float] = {
    Morphology.AMORPHOUS: 0.20,
    Morphology.COARSE_HETEROGENEOUS: 0.13,
    Morphology.FINE_PLEOMORPHIC: 0.29,
    Morphology.FINE_LINEAR_BRANCHING: 0.70,
}

#: Heuristic multiplier of the PPV by distribution (phantom's own model).
DISTRIBUTION_FACTOR: dict[Distribution, float] = {
    Distribution.GROUPED: 1.0,
    Distribution.LINEAR: 1.3,
    Distribution.SEGMENTAL: 1.3,
    Distribution.REGIONAL: 0.7,
    Distribution.DIFFUSE: 0.1,
    Distribution.SINGLE: 0.3,
}

#: Which distributions each morphology is planted in (with weights).
TYPICAL_DISTRIBUTIONS: dict[Morphology, dict[Distribution, float]] = {
    Morphology.AMORPHOUS: {Distribution.GROUPED: 0.6, Distribution.REGIONAL: 0.2, Distribution.DIFFUSE: 0.1,
                           Distribution.SEGMENTAL: 0.1},
    Morphology.COARSE_HETEROGENEOUS: {Distribution.GROUPED: 0.8, Distribution.REGIONAL: 0.1,
                                      Distribution.SEGMENTAL: 0.1},
    Morphology.FINE_PLEOMORPHIC: {Distribution.GROUPED: 0.6, Distribution.LINEAR: 0.15,
                                  Distribution.SEGMENTAL: 0.15, Distribution.REGIONAL: 0.1},
    Morphology.FINE_LINEAR_BRANCHING: {Distribution.GROUPED: 0.3, Distribution.LINEAR: 0.35,
                                       Distribution.SEGMENTAL: 0.35},
    Morphology.VASCULAR: {Distribution.SINGLE: 1.0},
    Morphology.COARSE_POPCORN: {Distribution.SINGLE: 1.0},
    Morphology.LARGE_ROD_LIKE: {Distribution.REGIONAL: 0.6, Distribution.SINGLE: 0.4},
    Morphology.ROUND: {Distribution.SINGLE: 0.3, Distribution.GROUPED: 0.3, Distribution.DIFFUSE: 0.4},
    Morphology.PUNCTATE: {Distribution.GROUPED: 0.5, Distribution.DIFFUSE: 0.3, Distribution.SINGLE: 0.2},
    Morphology.RIM: {Distribution.SINGLE: 1.0},
    Morphology.DYSTROPHIC: {Distribution.SINGLE: 1.0},
    Morphology.SKIN: {Distribution.REGIONAL: 0.5, Distribution.SINGLE: 0.5},
}

#: Population mix of planted findings (a screening population: benign types dominate).
FINDING_MIX: dict[Morphology, float] = {
    Morphology.AMORPHOUS: 0.14, Morphology.COARSE_HETEROGENEOUS: 0.08, Morphology.FINE_PLEOMORPHIC: 0.14,
    Morphology.FINE_LINEAR_BRANCHING: 0.08, Morphology.VASCULAR: 0.09, Morphology.COARSE_POPCORN: 0.05,
    Morphology.LARGE_ROD_LIKE: 0.04, Morphology.ROUND: 0.09, Morphology.PUNCTATE: 0.11,
    Morphology.RIM: 0.05, Morphology.DYSTROPHIC: 0.06, Morphology.SKIN: 0.07,
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlantedCluster:
    """A cluster in 3-D: calcification shapes and their offsets (mm) from the cluster centre."""

    morphology: Morphology
    distribution: Distribution
    offsets_mm: np.ndarray  #: (N, 3) relative to the cluster centre
    shapes: tuple[CalcShape, ...]
    malignant: bool
    malignancy_probability: float
    assessment: BiradsCategory

    @property
    def extent_mm(self) -> float:
        if len(self.offsets_mm) < 2:
            return float(max(s.diameter_mm for s in self.shapes))
        diff = self.offsets_mm[:, None, :] - self.offsets_mm[None, :, :]
        return float(np.sqrt((diff ** 2).sum(-1)).max())


def pick(rng: np.random.Generator, weights: dict) -> object:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def malignancy_probability(morph: Morphology, dist: Distribution) -> float:
    base = MORPHOLOGY_PPV.get(morph, 0.0)
    return float(min(0.95, base * DISTRIBUTION_FACTOR[dist]))


def assessment_for(morph: Morphology, dist: Distribution, probability: float) -> BiradsCategory:
    """BI-RADS category from the likelihood of malignancy (Atlas 5th ed. ranges)."""
    if not morph.suspicious:
        return BiradsCategory.BENIGN
    if morph is Morphology.FINE_LINEAR_BRANCHING and dist in (Distribution.LINEAR, Distribution.SEGMENTAL):
        return BiradsCategory.HIGHLY_SUGGESTIVE
    if probability <= 0.02:
        return BiradsCategory.PROBABLY_BENIGN
    if probability <= 0.10:
        return BiradsCategory.SUSPICIOUS_LOW
    if probability <= 0.50:
        return BiradsCategory.SUSPICIOUS_MODERATE
    if probability < 0.95:
        return BiradsCategory.SUSPICIOUS_HIGH
    return BiradsCategory.HIGHLY_SUGGESTIVE


def _layout(rng: np.random.Generator, dist: Distribution, axis: np.ndarray) -> np.ndarray:
    """Calcification offsets (mm) for a distribution; ``axis`` points along the ducts (to the nipple)."""
    if dist is Distribution.SINGLE:
        return np.zeros((1, 3))
    if dist is Distribution.GROUPED:  # >= 5 within 1 cm, up to 2 cm (Atlas)
        n = int(rng.integers(5, 16))
        radius = rng.uniform(2.0, 6.0)
        return rng.normal(0, radius / 2, (n, 3)).clip(-radius, radius) * np.array([1.0, 1.0, 0.8])
    if dist is Distribution.LINEAR:
        n = int(rng.integers(6, 16))
        length = rng.uniform(8.0, 25.0)
        t = np.sort(rng.uniform(-length / 2, length / 2, n))
        return t[:, None] * axis[None, :] + rng.normal(0, 0.4, (n, 3))
    if dist is Distribution.SEGMENTAL:  # a duct and its branches: a wedge pointing to the nipple
        pts = []
        for _ in range(int(rng.integers(3, 6))):
            branch = axis + rng.normal(0, 0.35, 3)
            branch /= np.linalg.norm(branch)
            t = rng.uniform(0, rng.uniform(15, 35), int(rng.integers(4, 9)))
            pts.append(t[:, None] * branch[None, :])
        out = np.vstack(pts)
        return out - out.mean(axis=0)
    if dist is Distribution.REGIONAL:  # > 2 cm, not duct-shaped
        n = int(rng.integers(8, 25))
        return rng.uniform(-1, 1, (n, 3)) * np.array([rng.uniform(12, 25), rng.uniform(12, 25), 10.0])
    if dist is Distribution.DIFFUSE:  # scattered through the breast: caller spreads them widely
        n = int(rng.integers(15, 40))
        return rng.uniform(-1, 1, (n, 3)) * np.array([45.0, 45.0, 18.0])
    raise ValueError(f"Distribution {dist!r} unknown; known: {[d.value for d in Distribution]}")


def plant_cluster(rng: np.random.Generator, morph: Morphology | None = None,
                  dist: Distribution | None = None, axis: np.ndarray | None = None) -> PlantedCluster:
    """A cluster with labels; morphology and distribution drawn from the mixes unless given."""
    morph = Morphology(morph) if morph is not None else pick(rng, FINDING_MIX)
    dist = Distribution(dist) if dist is not None else pick(rng, TYPICAL_DISTRIBUTIONS[morph])
    axis = np.array([1.0, 0.0, 0.0]) if axis is None else np.asarray(axis, float)
    offsets = _layout(rng, dist, axis)
    mineral = rng.uniform(0.6, 1.3)  # calcifications differ in mineral density from cluster to cluster
    shapes = tuple(dataclasses.replace(s, excess_mu=s.excess_mu * mineral)
                   for s in (make_calcification(rng, morph, axis) for _ in range(len(offsets))))
    p = malignancy_probability(morph, dist)
    return PlantedCluster(morphology=morph, distribution=dist, offsets_mm=offsets, shapes=shapes,
                          malignant=bool(rng.random() < p), malignancy_probability=p,
                          assessment=assessment_for(morph, dist, p))
