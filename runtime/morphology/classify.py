"""Morphology of each cluster in a view: ROIs, one batched inference, calibrated likelihood, uncertainty, saliency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..codes import BiradsCategory, Distribution, Morphology, MorphologyClass
from ..errors import ModelError
from ..inference import CompiledModel
from .birads import suggest
from .calibration import calibrated
from .roi import ROI_SIZE, crop_roi, roi_centres, standardize_roi

REPORTED = tuple(MorphologyClass)


@dataclass(frozen=True, kw_only=True)
class MorphologyAssessment:
    """What the morphology model says about one cluster."""

    morphology: MorphologyClass  #: most probable reported class
    probabilities: dict[str, float]  #: reported class -> probability (sums to 1)
    benign_subtype: Morphology | None  #: most probable typically benign subtype, when that class wins
    birads: BiradsCategory  #: suggested by morphology x distribution (birads.py)
    likelihood: float  #: calibrated malignancy likelihood
    uncertainty: float  #: entropy of ``probabilities`` / log(5), 0 (sure) to 1 (no idea)
    uncertain: bool  #: uncertainty above the model's threshold: look harder
    rois: int  #: ROIs averaged (centroid + top members)
    saliency: str | None = None  #: heat-map PNG next to the result


@dataclass(frozen=True, kw_only=True)
class Saliency:
    """Class activation map of the winning class over the cluster's centroid ROI."""

    cluster_id: int
    centre_x: float  #: ROI centre in the normalized view (px)
    centre_y: float
    roi: np.ndarray  #: (96, 96) standardized image
    heat: np.ndarray  #: (96, 96) in [0, 1]


class MorphologyClassifier:
    """Wraps the compiled morphology model and the run-time parameters of its manifest entry."""

    def __init__(self, model: CompiledModel) -> None:
        params = model.entry.parameters
        try:
            self.classes = tuple(Morphology(c) for c in params["classes"])
            self.temperature = float(params["temperature"])
            self.uncertainty_threshold = float(params["uncertainty_threshold"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model {model.entry.name} {model.entry.version}: manifest parameters need 'classes' "
                             f"(morphology names), 'temperature' and 'uncertainty_threshold': {exc!r}") from None
        if self.temperature <= 0:
            raise ModelError(f"model {model.entry.name}: temperature {self.temperature} must be > 0")
        self.model = model
        self._group = np.array([[m.group is g for g in REPORTED] for m in self.classes], float)  # (12, 5)

    def assess(self, image: np.ndarray, points_xy: Sequence[np.ndarray], scores: Sequence[np.ndarray],
               distributions: Sequence[Distribution], cluster_ids: Sequence[int]
               ) -> tuple[list[MorphologyAssessment], list[Saliency]]:
        """One assessment and one saliency map per cluster (member positions in normalized px, scores)."""
        if not len(points_xy):
            return [], []
        centres = [roi_centres(p, s) for p, s in zip(points_xy, scores)]
        rois = np.stack([standardize_roi(crop_roi(image, c)) for cs in centres for c in cs])[:, None]
        out = self.model.infer(rois)
        logits, maps = out["logits"], out["maps"]
        n = len(self.classes)
        assessments, saliencies, start = [], [], 0
        for cs, distribution, cid in zip(centres, distributions, cluster_ids):
            stop = start + len(cs)
            fine = _softmax(logits[start:stop, :n]).mean(axis=0)
            reported = fine @ self._group
            top = int(np.argmax(reported))
            morphology = REPORTED[top]
            benign = [i for i, m in enumerate(self.classes) if not m.suspicious]
            subtype = self.classes[max(benign, key=lambda i: fine[i])] if morphology is MorphologyClass.TYPICALLY_BENIGN else None
            uncertainty = float(-(reported * np.log(np.clip(reported, 1e-12, 1))).sum() / np.log(len(REPORTED)))
            assessments.append(MorphologyAssessment(
                morphology=morphology,
                probabilities={g.value: round(float(p), 4) for g, p in zip(REPORTED, reported)},
                benign_subtype=subtype,
                birads=suggest(morphology, distribution, subtype),
                likelihood=float(calibrated(float(logits[start:stop, n].mean()), self.temperature)),
                uncertainty=uncertainty, uncertain=uncertainty > self.uncertainty_threshold, rois=len(cs)))
            best = int(np.argmax(fine * self._group[:, top]))
            saliencies.append(Saliency(cluster_id=cid, centre_x=float(cs[0][0]), centre_y=float(cs[0][1]),
                                       roi=rois[start, 0], heat=_heat(maps[start, best])))
            start = stop
        return assessments, saliencies


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _heat(cam: np.ndarray) -> np.ndarray:
    """The class map, positive part, upsampled to the ROI and scaled to [0, 1]."""
    heat = cv2.resize(np.maximum(cam, 0).astype(np.float32), (ROI_SIZE, ROI_SIZE), interpolation=cv2.INTER_LINEAR)
    top = float(heat.max())
    return heat / top if top > 0 else heat
