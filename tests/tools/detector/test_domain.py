"""Domain randomization of the detector's training crops (tools/training.py: draw_look, apply_look)."""

import dataclasses

import numpy as np
import pytest

from mammoedge.tools.detector.data import PhantomPatches, make_set
from mammoedge.tools.training import DomainLook, Look, apply_look, domain_augment, draw_look, resample_at


@pytest.fixture(scope="module")
def patch():
    images, _, truths = make_set(PhantomPatches(), 1, seed=11)
    return images[0, 0]


PLAIN = DomainLook(look=Look.DIGITAL, spacing_mm=0.1, mtf_sigma_mm=0.0, quantum_noise=0.0, grain_noise=0.0,
                   grain_sigma_px=1.0, gamma=1.0, levels=100_000, scratches=0, fibres=0, specks=0, film_edge=False)


def _high_frequency_power(image):
    spectrum = np.abs(np.fft.rfft2(image - image.mean())) ** 2
    h = image.shape[0]
    return float(spectrum[h // 4: 3 * h // 4, image.shape[1] // 4:].sum())


def test_looks_cover_film_and_digital_ranges():
    rng = np.random.default_rng(0)
    looks = [draw_look(rng) for _ in range(400)]
    film = [lk for lk in looks if lk.look is Look.FILM]
    digital = [lk for lk in looks if lk.look is Look.DIGITAL]
    assert 150 < len(film) < 250
    assert min(lk.spacing_mm for lk in film) < 0.05 and max(lk.spacing_mm for lk in film) > 0.18
    assert all(0.05 <= lk.spacing_mm <= 0.1 for lk in digital)
    assert any(lk.levels < 256 for lk in film) and all(lk.levels >= 1500 for lk in digital)
    assert all(lk.grain_noise == 0 and lk.scratches == lk.specks == 0 for lk in digital)
    assert sum(lk.specks for lk in film) > 100 and sum(lk.scratches for lk in film) > 40


def test_coarse_spacing_removes_fine_detail_and_keeps_positions(patch):
    coarse = resample_at(patch, 0.2)
    assert coarse.shape == patch.shape
    assert _high_frequency_power(coarse) < 0.3 * _high_frequency_power(patch)
    assert resample_at(patch, 0.05) is patch
    spot = np.zeros((64, 64), np.float32)
    spot[30:32, 40:42] = 1.0
    assert np.unravel_index(np.argmax(resample_at(spot, 0.2)), spot.shape) in {(30, 40), (30, 41), (31, 40), (31, 41)}


def test_eight_bit_quantization_leaves_few_grey_levels(patch):
    rng = np.random.default_rng(1)
    coarse = apply_look(patch, dataclasses.replace(PLAIN, levels=100), rng)
    fine = apply_look(patch, PLAIN, rng)
    assert len(np.unique(coarse)) < 400 < len(np.unique(fine))


def test_grain_and_quantum_noise_add_texture(patch):
    rng = np.random.default_rng(2)
    plain = apply_look(patch, PLAIN, rng)
    noisy = apply_look(patch, dataclasses.replace(PLAIN, look=Look.FILM, quantum_noise=0.03, grain_noise=0.04), rng)
    assert float(np.std(noisy - plain)) > 0.02


def test_artefacts_are_drawn(patch):
    rng = np.random.default_rng(3)
    plain = apply_look(patch, PLAIN, rng)
    marked = apply_look(patch, dataclasses.replace(PLAIN, scratches=2, fibres=1, specks=5), rng)
    changed = np.abs(marked - plain) > 0.05
    assert 50 < changed.sum() < 0.2 * changed.size
    edge = apply_look(patch, dataclasses.replace(PLAIN, film_edge=True), rng)
    assert np.ptp(edge[:, -3:], axis=1).max() < 1e-3 < np.ptp(plain[:, -3:], axis=1).max()  # clear film: flat


def test_gamma_changes_contrast_and_output_is_standardized(patch):
    rng = np.random.default_rng(4)
    low, high = (apply_look(patch, dataclasses.replace(PLAIN, gamma=g), rng) for g in (0.6, 1.7))
    for out in (low, high):
        assert out.dtype == np.float32 and np.isfinite(out).all() and out.min() >= 0
    assert not np.allclose(low, high, atol=0.02)


def test_domain_augment_is_seeded_and_off_at_zero(patch):
    a = domain_augment(patch, np.random.default_rng(7), 1.0)
    b = domain_augment(patch, np.random.default_rng(7), 1.0)
    assert np.array_equal(a, b) and not np.allclose(a, patch)
    rng = np.random.default_rng(7)
    assert domain_augment(patch, rng, 0.0) is patch
    assert rng.random() == np.random.default_rng(7).random()  # draws nothing: the v1.0 recipe is unchanged
