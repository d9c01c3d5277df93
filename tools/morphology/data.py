"""Cluster ROIs from phantom patches, with morphology, malignancy and distribution labels.

Morphologies are sampled balanced for the reported classes: half the ROIs
hold one of the four suspicious types, half a typically benign subtype; a
share of ROIs hold no calcification at all (the detector's false clusters)
and are trained towards a uniform class distribution (outlier exposure,
Hendrycks et al. 2019) so that such input reads as uncertain. Malignancy is
the phantom's own label, drawn from the morphology's PPV and the
distribution (tools/phantom/clusters.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mammoedge.runtime.codes import Distribution, Morphology, MorphologyClass
from mammoedge.runtime.morphology.roi import ROI_SIZE, crop_roi, standardize_roi

from ..training import intensity_augment

#: Output order of the model: the 12 morphologies (codes order), then the malignancy logit.
CLASSES: tuple[Morphology, ...] = tuple(Morphology)
OUTPUTS = len(CLASSES) + 1
SUSPICIOUS = [m for m in Morphology if m.suspicious]
BENIGN = [m for m in Morphology if not m.suspicious]
PATCH = 160
#: Benign subtypes the model confuses with fine pleomorphic (issue 23: punctate read as fine pleomorphic in 65 of
#: 78 ROIs): drawn this many times as often as the other benign subtypes by default (``hard_negative_weight``).
HARD_NEGATIVES = (Morphology.PUNCTATE, Morphology.ROUND)


@dataclass(frozen=True)
class RoiSet:
    images: np.ndarray  #: (N, 1, 96, 96) float32
    targets: np.ndarray  #: (N, 12) class target distribution (one-hot, or uniform for background)
    malignant: np.ndarray  #: (N,) 0/1
    morphology: list[Morphology | None]  #: None for background ROIs
    distribution: list[Distribution | None]

    @property
    def groups(self) -> list[MorphologyClass | None]:
        return [None if m is None else m.group for m in self.morphology]


def uniform_over_groups() -> np.ndarray:
    """Target of a background ROI: 1/5 per reported class, the benign fifth split over its subtypes."""
    target = np.array([0.2 if m.suspicious else 0.2 / len(BENIGN) for m in CLASSES], np.float32)
    return target / target.sum()


def benign_weights(hard_negative_weight: float = 1.0) -> np.ndarray:
    """Sampling probabilities of the benign subtypes (``BENIGN`` order): ``HARD_NEGATIVES`` weigh
    ``hard_negative_weight``, the others 1."""
    weights = np.array([hard_negative_weight if m in HARD_NEGATIVES else 1.0 for m in BENIGN])
    return weights / weights.sum()


def sample_roi(rng: np.random.Generator, background_fraction: float = 0.1, hard_negative_weight: float = 1.0
               ) -> tuple[np.ndarray, np.ndarray, int, Morphology | None, Distribution | None]:
    from mammoedge.tools.phantom import make_training_patch
    from mammoedge.tools.phantom.clusters import TYPICAL_DISTRIBUTIONS, malignancy_probability, pick

    if rng.random() < background_fraction:
        image, _ = make_training_patch(rng, size=PATCH, n_clusters=0, edge=False, label=False, marker=False)
        centre = rng.uniform(ROI_SIZE / 2, PATCH - ROI_SIZE / 2, 2)
        return standardize_roi(crop_roi(image, centre)), uniform_over_groups(), 0, None, None
    weights = benign_weights(hard_negative_weight)
    while True:
        if rng.random() < 0.5:
            morph = SUSPICIOUS[rng.integers(len(SUSPICIOUS))]
        elif hard_negative_weight == 1.0:
            morph = BENIGN[rng.integers(len(BENIGN))]  # the stream of the shipped 1.1.0 data
        else:
            morph = BENIGN[int(rng.choice(len(BENIGN), p=weights))]
        dist = pick(rng, TYPICAL_DISTRIBUTIONS[morph])
        image, truths = make_training_patch(rng, size=PATCH, n_clusters=1, morphology=morph, distribution=dist,
                                            label=False, marker=False, edge=morph is Morphology.SKIN)
        if truths:
            break
    points = np.array([(t.x, t.y) for t in truths])
    centre = points.mean(axis=0) if rng.random() < 0.5 else points[rng.integers(len(points))]
    centre = centre + rng.normal(0.0, 6.0, 2)
    target = np.zeros(len(CLASSES), np.float32)
    target[CLASSES.index(morph)] = 1.0
    malignant = int(rng.random() < malignancy_probability(morph, dist))
    return standardize_roi(crop_roi(image, centre)), target, malignant, morph, dist


def make_rois(count: int, seed: int, background_fraction: float = 0.1, progress: bool = False,
              hard_negative_weight: float = 1.0) -> RoiSet:
    """``count`` ROIs, deterministic for ``seed`` (``hard_negative_weight``: see ``benign_weights``; evaluation
    ROIs keep 1)."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    rows = [sample_roi(rng, background_fraction, hard_negative_weight) for _ in tqdm(range(count), desc="ROIs", unit="roi",
                                                                 disable=not progress)]
    return RoiSet(images=np.stack([r[0] for r in rows])[:, None], targets=np.stack([r[1] for r in rows]),
                  malignant=np.array([r[2] for r in rows], np.float32),
                  morphology=[r[3] for r in rows], distribution=[r[4] for r in rows])


def augment_roi(roi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vendor-like intensity changes (re-standardized, so only their non-linear part stays), a random
    90-degree turn and mirror (morphology has no orientation)."""
    out = np.rot90(standardize_roi(intensity_augment(roi, rng)), int(rng.integers(4)))
    return np.ascontiguousarray(out[:, ::-1] if rng.random() < 0.5 else out)
