"""Candidate clusters mined from phantom exams through the runtime's own path, labelled against the truth.

Each view is read, normalized and analyzed as the appliance does (detector,
peaks at the candidate threshold, clustering, no verifier); every cluster it
forms becomes a sample: its ROIs (``roi_centres``, as at run time), its
features, and its label by the detector evaluation's matching rule
(``view_eval``): suspicious, benign, or false (matches no true cluster).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from mammoedge.runtime.morphology.roi import MAX_ROIS, crop_roi, roi_centres, standardize_roi

from ..detector.view_eval import SUSPICIOUS, _truth_regions

FALSE, BENIGN, SUSPICIOUS_LABEL = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class MinedSet:
    rois: np.ndarray  #: (N, MAX_ROIS, 96, 96) float32, standardized; unused slots repeat the first ROI
    roi_count: np.ndarray  #: (N,) ROIs actually cut per cluster
    label: np.ndarray  #: (N,) FALSE / BENIGN / SUSPICIOUS_LABEL
    suspicion: np.ndarray  #: (N,) the runtime's detection suspicion
    count: np.ndarray  #: (N,) members
    exam: np.ndarray  #: (N,) exam index (split by exam, never by cluster)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **dataclasses.asdict(self))
        return path

    @classmethod
    def load(cls, path: Path) -> "MinedSet":
        with np.load(path) as data:
            return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})

    def subset(self, keep: np.ndarray) -> "MinedSet":
        return MinedSet(**{f.name: getattr(self, f.name)[keep] for f in dataclasses.fields(self)})


def label_clusters(analysis: Any, normalized: Any, view_truth: dict, exam_truth: dict) -> list[int]:
    """Per detected cluster: SUSPICIOUS_LABEL / BENIGN if its centroid matches a true cluster, else FALSE."""
    morph = {c["cluster_id"]: c["morphology"] for lat in exam_truth["clusters"].values() for c in lat}
    regions = _truth_regions(view_truth, normalized)
    labels = []
    for cluster in analysis.clusters:
        centroid = np.array([cluster.centroid_x, cluster.centroid_y])
        hits = [morph.get(rec["cluster_id"]) in SUSPICIOUS for rec, centre, radius in regions
                if float(np.hypot(*(centroid - centre))) * normalized.spacing_mm <= radius]
        labels.append(SUSPICIOUS_LABEL if any(hits) else BENIGN if hits else FALSE)
    return labels


def cluster_rois(image: np.ndarray, analysis: Any) -> tuple[np.ndarray, np.ndarray]:
    """(N, MAX_ROIS, 96, 96) standardized ROIs per cluster, as the runtime cuts them, and how many are real."""
    stacks, counts = [], []
    for cluster in analysis.clusters:
        members = analysis.calcifications
        points = np.array([(members[i].x, members[i].y) for i in cluster.members])
        scores = np.array([members[i].score for i in cluster.members])
        rois = [standardize_roi(crop_roi(image, c)) for c in roi_centres(points, scores)]
        counts.append(len(rois))
        stacks.append(np.stack(rois + [rois[0]] * (MAX_ROIS - len(rois))))
    return np.stack(stacks) if stacks else np.zeros((0, MAX_ROIS, 96, 96), np.float32), np.array(counts, int)


def mine(exam_dirs: list[Path], model: Any, config: Any, *, progress: bool = True) -> MinedSet:
    """Every candidate cluster of every view of ``exam_dirs`` (``config.analysis`` sets the peak threshold)."""
    from tqdm import tqdm

    from mammoedge.runtime.analysis.view import analyze_normalized
    from mammoedge.runtime.dicom import read_mammogram
    from mammoedge.runtime.preprocess import normalize

    parts: dict[str, list] = {f.name: [] for f in dataclasses.fields(MinedSet)}
    for index, folder in enumerate(tqdm(exam_dirs, desc="mine exams", unit="exam", disable=not progress)):
        truth = json.loads((folder / "truth.json").read_text())
        for view_truth in truth["views"]:
            normalized = normalize(read_mammogram(folder / view_truth["file"], config.reader), config.preprocess)
            analysis = analyze_normalized(normalized, model, config.analysis)
            rois, counts = cluster_rois(normalized.image, analysis)
            parts["rois"].append(rois)
            parts["roi_count"].append(counts)
            parts["label"].append(np.array(label_clusters(analysis, normalized, view_truth, truth), int))
            parts["suspicion"].append(np.array([c.suspicion for c in analysis.clusters], float))
            parts["count"].append(np.array([c.count for c in analysis.clusters], int))
            parts["exam"].append(np.full(len(analysis.clusters), index, int))
    return MinedSet(**{k: np.concatenate(v) for k, v in parts.items()})
