"""Temperature scaling of a logit (Guo et al. 2017) and the expected calibration error."""

from __future__ import annotations

import numpy as np

#: Equal-width probability bins for the expected calibration error.
ECE_BINS = 10


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


def calibrated(logit: np.ndarray | float, temperature: float) -> np.ndarray:
    """Probability from a logit divided by the fitted temperature."""
    return sigmoid(np.asarray(logit, float) / temperature)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature (0.05-20) minimizing the binary negative log-likelihood, by golden-section search
    on log T (the NLL is unimodal in it)."""
    logits, labels = np.asarray(logits, float), np.asarray(labels, float)
    if logits.shape != labels.shape or not len(logits):
        raise ValueError(f"{logits.shape} logits for {labels.shape} labels: need the same, non-empty shape")

    def nll(log_t: float) -> float:
        p = np.clip(calibrated(logits, float(np.exp(log_t))), 1e-12, 1 - 1e-12)
        return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))

    lo, hi = np.log(0.05), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    return float(np.exp((lo + hi) / 2))


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Sum over equal-width bins of (share of cases) x |observed rate - mean predicted probability|."""
    probabilities, labels = np.asarray(probabilities, float), np.asarray(labels, float)
    which = np.minimum((probabilities * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(labels[inside].mean() - probabilities[inside].mean())
    return float(error)


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> list[tuple[float, float, int]]:
    """(mean predicted, observed rate, count) per non-empty bin: the reliability diagram's points."""
    probabilities, labels = np.asarray(probabilities, float), np.asarray(labels, float)
    which = np.minimum((probabilities * bins).astype(int), bins - 1)
    return [(float(probabilities[which == b].mean()), float(labels[which == b].mean()), int((which == b).sum()))
            for b in range(bins) if (which == b).any()]
