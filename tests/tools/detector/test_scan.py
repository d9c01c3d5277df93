"""Scan-statistic cluster candidates on hand-made maps with known answers."""

import numpy as np

from mammoedge.tools.detector.scan import contrast_to_noise_map, max_pool, scan_candidates

CELL_MM = 0.4


def _background(shape=(200, 200), seed=0):
    """Detector-like map: mostly tiny values, one isolated noise peak per ~400 cells."""
    rng = np.random.default_rng(seed)
    values = 0.01 * rng.random(shape)
    spots = rng.random(shape) < 1 / 400
    values[spots] = rng.uniform(0.1, 0.3, spots.sum())
    return values.astype(np.float32)


def test_a_spread_of_faint_evidence_outranks_single_bright_cells():
    values = _background()
    values[40, 160] = 0.9  # one bright isolated cell
    rng = np.random.default_rng(1)
    members = np.array([120, 60]) + rng.integers(-6, 7, size=(20, 2))  # 20 faint members within ~2.5 mm
    values[members[:, 0], members[:, 1]] = 0.15
    cells = np.ones(values.shape, bool)
    found = scan_candidates(values, cells, CELL_MM)
    assert found.shape[1] == 3 and len(found) >= 1
    assert np.hypot(found[0, 0] - 120, found[0, 1] - 60) <= 4  # the faint cluster first
    assert found[1, :2].tolist() == [40, 160] and found[0, 2] > 1.5 * found[1, 2]  # then the bright cell
    assert (np.diff(found[:, 2]) <= 0).all()


def test_candidates_respect_the_window_the_floor_and_the_cells():
    values = np.zeros((200, 200), np.float32)
    values[0:200:2, 0:200:2] = 0.001 * np.random.default_rng(2).random((100, 100))
    values[100, 50] = values[100, 56] = 1.0  # 2.4 mm apart: one candidate in a 10 mm window
    values[100, 150] = 1.0
    cells = np.ones(values.shape, bool)
    found = scan_candidates(values, cells, CELL_MM, z_min=10)
    assert len(found) == 2
    assert sorted(int(c) for c in found[:, 1]) == [53, 150]
    cells[:, 120:] = False  # cells that do not count give no candidate
    found = scan_candidates(values, cells, CELL_MM, z_min=10)
    assert len(found) == 1 and abs(found[0, 1] - 53) <= 1
    assert len(scan_candidates(values, cells, CELL_MM, z_min=1e9)) == 0
    assert scan_candidates(values, np.zeros_like(cells), CELL_MM).shape == (0, 3)


def test_contrast_to_noise_reads_a_dot_over_the_noise():
    rng = np.random.default_rng(3)
    image = (0.5 + 0.01 * rng.standard_normal((300, 300))).astype(np.float32)
    yy, xx = np.mgrid[0:300, 0:300]
    image += (0.06 * np.exp(-((xx - 150) ** 2 + (yy - 150) ** 2) / (2 * 1.5 ** 2))).astype(np.float32)
    cnr = contrast_to_noise_map(image, 0.1)
    assert 5.0 < cnr[150, 150] < 9.0  # 6 noise std plus the max's positive bias
    assert np.median(cnr[:100, :100]) < 3.0


def test_max_pool_keeps_the_largest_of_each_cell_and_pads():
    values = np.arange(30, dtype=np.float32).reshape(5, 6)
    pooled = max_pool(values, 2, (3, 3))
    np.testing.assert_array_equal(pooled, [[7, 9, 11], [19, 21, 23], [25, 27, 29]])
