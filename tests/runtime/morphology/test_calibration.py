"""Temperature scaling fixes a known over-confident toy model, and the ECE says so."""

import numpy as np

from mammoedge.runtime.morphology.calibration import (
    calibrated, expected_calibration_error, fit_temperature, reliability, sigmoid,
)


def _overconfident(n=20000, factor=3.0, seed=0):
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(0.0, 1.5, n)
    labels = (rng.random(n) < sigmoid(true_logit)).astype(float)
    return true_logit * factor, labels  # logits three times too large


def test_temperature_recovers_the_overconfidence_factor_and_lowers_ece():
    logits, labels = _overconfident()
    temperature = fit_temperature(logits, labels)
    assert 2.7 < temperature < 3.3
    before = expected_calibration_error(sigmoid(logits), labels)
    after = expected_calibration_error(calibrated(logits, temperature), labels)
    assert before > 0.05 and after < 0.02 and after < before / 3


def test_a_calibrated_model_keeps_temperature_near_one():
    logits, labels = _overconfident(factor=1.0, seed=1)
    assert 0.9 < fit_temperature(logits, labels) < 1.1


def test_reliability_bins_cover_every_case():
    logits, labels = _overconfident(n=500)
    points = reliability(sigmoid(logits), labels)
    assert sum(count for _, _, count in points) == 500
    assert all(0 <= p <= 1 and 0 <= o <= 1 for p, o, _ in points)


def test_fit_refuses_mismatched_input():
    import pytest

    with pytest.raises(ValueError, match="same, non-empty shape"):
        fit_temperature(np.zeros(3), np.zeros(4))
