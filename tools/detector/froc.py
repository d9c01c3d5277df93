"""Free-response ROC: sensitivity against false positives per image, with bootstrap intervals.

Matching (per image, greedy by descending score): a detection is a true
positive when it lies within the truth's match radius of a truth not matched
yet; any other detection is a false positive. For individual calcifications
the radius is max(0.5 mm, half the calcification's length); for clusters it is
the true cluster's half-extent plus 5 mm (documented in docs/detector.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Sequence

import numpy as np

FP_RATES = (0.1, 0.2, 0.5, 1.0, 2.0)


@dataclass(frozen=True, kw_only=True)
class ImageCase:
    """Detections (x, y, score) and truths (x, y, match radius), one image, same units (mm)."""

    detections: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    truths: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))


def match(case: ImageCase) -> tuple[np.ndarray, np.ndarray]:
    """Scores of detections with a TP flag each: (scores, is_true_positive)."""
    scores, matched = match_indices(case)
    return scores, matched >= 0


def match_indices(case: ImageCase) -> tuple[np.ndarray, np.ndarray]:
    """Scores of detections and the index of the truth each one matched (-1: false positive)."""
    det = np.asarray(case.detections, float).reshape(-1, 3)
    truths = np.asarray(case.truths, float).reshape(-1, 3)
    order = np.argsort(-det[:, 2], kind="stable")
    taken = np.zeros(len(truths), bool)
    hit = np.full(len(det), -1)
    for i in order:
        if not len(truths):
            break
        d = np.hypot(truths[:, 0] - det[i, 0], truths[:, 1] - det[i, 1])
        d[taken | (d > truths[:, 2])] = np.inf
        j = int(np.argmin(d))
        if np.isfinite(d[j]):
            taken[j] = True
            hit[i] = j
    return det[:, 2], hit


@dataclass(frozen=True)
class Matched:
    """One image after matching: detection scores, their TP flags, and the number of truths."""

    scores: np.ndarray
    hits: np.ndarray
    n_truth: int


def _matched(cases: Sequence[ImageCase | Matched]) -> list[Matched]:
    return [c if isinstance(c, Matched) else Matched(*match(c), len(np.asarray(c.truths).reshape(-1, 3)))
            for c in cases]


def froc_curve(cases: Sequence[ImageCase | Matched]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, sensitivity, false positives per image), thresholds descending."""
    matched = _matched(cases)
    scores = np.concatenate([m.scores for m in matched]) if matched else np.zeros(0)
    hits = np.concatenate([m.hits for m in matched]) if matched else np.zeros(0, bool)
    n_truth = sum(m.n_truth for m in matched)
    order = np.argsort(-scores, kind="stable")
    scores, hits = scores[order], hits[order]
    tp = np.cumsum(hits)
    fp = np.cumsum(~hits)
    sens = tp / max(1, n_truth)
    fpi = fp / max(1, len(cases))
    return scores, sens, fpi


def sensitivity_at(cases: Sequence[ImageCase | Matched], rates: Sequence[float] = FP_RATES) -> dict[float, float]:
    """Highest sensitivity reached with at most ``rate`` false positives per image."""
    _, sens, fpi = froc_curve(cases)
    out = {}
    for rate in rates:
        ok = fpi <= rate + 1e-12
        out[rate] = float(sens[ok].max()) if ok.any() else 0.0
    return out


def bootstrap(cases: Sequence[ImageCase], rates: Sequence[float] = FP_RATES, samples: int = 500,
              seed: int = 0) -> dict[float, tuple[float, float, float]]:
    """Per rate: (sensitivity, 2.5th, 97.5th percentile) over images resampled with replacement."""
    rng = np.random.default_rng(seed)
    matched = _matched(cases)  # match once; resampling reuses the matches
    point = sensitivity_at(matched, rates)
    draws: dict[float, list[float]] = {rate: [] for rate in rates}
    for _ in range(samples):
        pick = [matched[i] for i in rng.integers(0, len(matched), len(matched))]
        for rate, value in sensitivity_at(pick, rates).items():
            draws[rate].append(value)
    return {rate: (point[rate], float(np.percentile(draws[rate], 2.5)), float(np.percentile(draws[rate], 97.5)))
            for rate in rates}


def threshold_at(cases: Sequence[ImageCase | Matched], rate: float) -> float:
    """The lowest score threshold whose false positives per image stay within ``rate``."""
    thresholds, _, fpi = froc_curve(cases)
    ok = fpi <= rate + 1e-12
    return float(thresholds[ok].min()) if ok.any() else float("inf")


def sensitivity_by_group(cases: Sequence[ImageCase], groups: Sequence[Sequence[str]], threshold: float
                         ) -> dict[str, tuple[float, int]]:
    """Per truth label: (share of truths found with score >= threshold, number of truths).

    ``groups[i][k]`` labels truth k of image i; the threshold comes from the overall curve
    (``threshold_at``), so every group is read at the same operating point.
    """
    found: dict[str, int] = {}
    total: dict[str, int] = {}
    for case, labels in zip(cases, groups):
        hit = found_truths(case, threshold)
        for k, label in enumerate(labels):
            total[label] = total.get(label, 0) + 1
            found[label] = found.get(label, 0) + bool(hit[k])
    return {label: (found[label] / total[label], total[label]) for label in sorted(total)}


def found_truths(case: ImageCase, threshold: float) -> np.ndarray:
    """Per truth of ``case``: whether a detection scoring at least ``threshold`` matched it."""
    scores, matched = match_indices(case)
    found = np.zeros(len(np.asarray(case.truths).reshape(-1, 3)), bool)
    found[matched[(matched >= 0) & (scores >= threshold)]] = True
    return found


def drop_ignored(case: ImageCase, ignore: np.ndarray) -> ImageCase:
    """``case`` without the false positives that fall within an ignore region (x, y, radius).

    Used for the suspicious-cluster FROC: a detected cluster on a true benign cluster
    (vascular, skin, popcorn...) is a real cluster, neither a hit nor a false positive;
    telling it apart is the morphology stage's job. Detections matching a truth stay.
    """
    regions = np.asarray(ignore, float).reshape(-1, 3)
    det = np.asarray(case.detections, float).reshape(-1, 3)
    if not len(regions) or not len(det):
        return case
    _, hit = match_indices(case)
    d = np.hypot(det[:, None, 0] - regions[None, :, 0], det[:, None, 1] - regions[None, :, 1])
    inside = (d <= regions[None, :, 2]).any(axis=1)
    return ImageCase(detections=det[(hit >= 0) | ~inside], truths=case.truths)
