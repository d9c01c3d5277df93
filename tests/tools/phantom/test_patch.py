"""Training-patch fast path: determinism, texture spectrum, calcification contrast, truth positions."""

from __future__ import annotations

import numpy as np
import pytest
from phantom_helpers import lands_on_object

from mammoedge.tools.phantom import Density, Morphology, make_training_patch
from mammoedge.tools.phantom.patch import LABEL_VALUE
from mammoedge.tools.phantom.realism import contrast_to_noise, spectrum_exponent

CLEAN = dict(edge=False, label=False, marker=False, pectoral=False)


def test_same_seed_same_patch_and_truth():
    a, ta = make_training_patch(np.random.default_rng(7))
    b, tb = make_training_patch(np.random.default_rng(7))
    c, _ = make_training_patch(np.random.default_rng(8))
    assert a.dtype == np.float32 and a.shape == (256, 256)
    assert np.array_equal(a, b) and ta == tb
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("density", list(Density))
def test_texture_power_spectrum_exponent_is_about_three(density):
    rng = np.random.default_rng(11)
    betas = [spectrum_exponent(make_training_patch(rng, density=density, n_clusters=0, **CLEAN)[0], 0.1,
                               f_min=0.1, f_max=1.0) for _ in range(6)]
    assert 2.5 <= float(np.mean(betas)) <= 3.5, betas


def test_dense_area_grows_with_density():
    fractions = []
    for density in Density:
        rng = np.random.default_rng(3)
        means = [float(np.mean(make_training_patch(rng, density=density, n_clusters=0, thickness_mm=50,
                                                   **CLEAN)[0])) for _ in range(6)]
        fractions.append(np.mean(means))
    assert fractions == sorted(fractions), fractions  # denser breast -> brighter (more attenuating) image


def _cnr_by_type(morph: Morphology, n: int = 6) -> list[float]:
    rng = np.random.default_rng([5, list(Morphology).index(morph)])
    values = []
    for _ in range(n):
        image, truth = make_training_patch(rng, density=Density.B, n_clusters=1, morphology=morph,
                                           distribution="grouped" if morph.suspicious else None, **CLEAN)
        for c in truth:
            values.append(contrast_to_noise(image, c.x, c.y, max(1.0, c.diameter_mm / 0.2)))
    return values


def test_calcification_contrast_by_type():
    cnr = {m: float(np.median(_cnr_by_type(m))) for m in (Morphology.AMORPHOUS, Morphology.FINE_PLEOMORPHIC,
                                                          Morphology.PUNCTATE, Morphology.ROUND)}
    # amorphous calcifications are the faint ones; round ones the most conspicuous
    assert cnr[Morphology.AMORPHOUS] < cnr[Morphology.FINE_PLEOMORPHIC] < cnr[Morphology.ROUND], cnr
    assert cnr[Morphology.FINE_PLEOMORPHIC] > 2.5, cnr  # noise here includes anatomical background
    assert cnr[Morphology.ROUND] > 6.0, cnr


def test_truth_positions_land_on_planted_calcifications():
    rng = np.random.default_rng(21)
    hits = total = 0
    for morph in (Morphology.FINE_PLEOMORPHIC, Morphology.COARSE_HETEROGENEOUS, Morphology.ROUND,
                  Morphology.PUNCTATE, Morphology.DYSTROPHIC):
        for _ in range(3):
            image, truth = make_training_patch(rng, density=Density.B, n_clusters=1, morphology=morph, **CLEAN)
            for c in truth:
                if c.diameter_mm >= 0.25:
                    total += 1
                    hits += lands_on_object(image, c.x, c.y)
    assert total >= 20 and hits / total >= 0.95, (hits, total)


def test_truth_fields_and_sizes():
    rng = np.random.default_rng(4)
    truths = [t for _ in range(20) for t in make_training_patch(rng, n_clusters=2, **CLEAN)[1]]
    assert truths
    for t in truths:
        assert 0 <= t.x < 256 and 0 <= t.y < 256
        assert 0.05 <= t.diameter_mm <= 5.0
        assert t.suspicious == t.morphology.suspicious
    fine = [t.diameter_mm for t in truths if t.morphology in (Morphology.FINE_PLEOMORPHIC, Morphology.AMORPHOUS)]
    assert not fine or max(fine) <= 0.5  # BI-RADS: < 0.5 mm


def test_edge_label_and_marker_options():
    img, _ = make_training_patch(np.random.default_rng(2), n_clusters=0, edge=True, label=False, marker=False)
    assert (img < 0.1).mean() > 0.05  # air beyond the skin line
    assert img[:, :20].mean() > img[:, -20:].mean()  # breast on the left (chest wall side)
    img, _ = make_training_patch(np.random.default_rng(2), n_clusters=0, edge=False, label=True, marker=False)
    assert np.isclose(img, LABEL_VALUE, atol=1e-3).sum() > 50
    with_muscle, _ = make_training_patch(np.random.default_rng(3), n_clusters=0, pectoral=True, **{
        k: v for k, v in CLEAN.items() if k != "pectoral"})
    without, _ = make_training_patch(np.random.default_rng(3), n_clusters=0, **CLEAN)
    corner = np.s_[:20, :20]
    assert with_muscle[corner].mean() - without[corner].mean() > 0.2  # pectoral muscle in the upper left
    assert abs(with_muscle[-20:, -20:].mean() - without[-20:, -20:].mean()) < 0.01


@pytest.mark.parametrize("kwargs", [dict(size=8), dict(spacing_mm=2.0), dict(density="e")])
def test_bad_options_are_rejected(kwargs):
    with pytest.raises(ValueError):
        make_training_patch(np.random.default_rng(0), **kwargs)
