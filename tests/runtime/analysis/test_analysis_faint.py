"""Faint clusters from sub-threshold evidence: window counts against the view's rate of low peaks."""

import dataclasses

import numpy as np
import pytest

from mammoedge.runtime.analysis.faint import evidence_groups, evidence_suspicion, window_p_values
from mammoedge.runtime.analysis.tiling import ProbabilityMap
from mammoedge.runtime.analysis.view import analyze_map
from mammoedge.runtime.codes import Distribution
from mammoedge.runtime.config import AnalysisConfig

from analysis_helpers import SPACING, breast_mask

STRIDE = 4
SHAPE = (1200, 800)  # 120 x 80 mm at 0.1 mm


def _map(rng, noise_peaks=40, group_at_mm=None, group_count=8, score=0.12):
    """A stride-4 map over a half-ellipse breast: ``noise_peaks`` isolated sub-threshold peaks spread over the
    breast, plus ``group_count`` of them within 3 mm of ``group_at_mm`` (x, y)."""
    mask = breast_mask(SHAPE)
    prob = np.zeros((SHAPE[0] // STRIDE, SHAPE[1] // STRIDE), np.float32)
    inside = np.argwhere(mask[STRIDE // 2::STRIDE, STRIDE // 2::STRIDE])
    for r, c in inside[rng.choice(len(inside), noise_peaks, replace=False)]:
        prob[r, c] = score
    if group_at_mm is not None:
        cx, cy = (np.asarray(group_at_mm) / SPACING - (STRIDE - 1) / 2) / STRIDE
        for _ in range(group_count):
            angle, radius = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 3.0) / SPACING / STRIDE
            prob[int(round(cy + radius * np.sin(angle))), int(round(cx + radius * np.cos(angle)))] = score + 0.01
    return prob, mask


def _groups(prob, mask, **kw):
    options = {"low": 0.05, "radius_mm": 4.0, "max_p": 1e-4, "min_count": 5, "nms_distance_mm": 0.3}
    return evidence_groups(prob, STRIDE, mask, SPACING, **(options | kw))


def test_window_p_values_count_the_neighbours_and_follow_poisson():
    points = np.array([[0, 0], [1, 0], [0, 1], [50, 50]], float)
    counts, p, expected = window_p_values(points, rate_per_mm2=0.01, radius_mm=2.0)
    assert counts.tolist() == [3, 3, 3, 1]
    assert expected == pytest.approx(0.01 * np.pi * 4)
    assert p[3] == 1.0 and p[0] < p[3]  # a lone point proves nothing


def test_a_dense_group_of_sub_threshold_peaks_is_found_and_scattered_noise_is_not():
    rng = np.random.default_rng(3)
    prob, mask = _map(rng, noise_peaks=60, group_at_mm=(40, 60), group_count=9)
    groups = _groups(prob, mask)
    assert len(groups) == 1
    found = groups[0]
    centre = ((found.peaks[:, ::-1] * STRIDE + (STRIDE - 1) / 2) * SPACING).mean(axis=0)
    assert np.hypot(*(centre - (40, 60))) < 3.0 and found.count >= 8 and found.p_value <= 1e-4
    for seed in range(5):  # pure noise, the same number of peaks: no group
        prob, mask = _map(np.random.default_rng(10 + seed), noise_peaks=70)
        assert _groups(prob, mask) == []


def test_peaks_below_low_and_peaks_near_a_cluster_already_found_are_not_counted():
    prob, mask = _map(np.random.default_rng(4), noise_peaks=30, group_at_mm=(40, 60), group_count=9, score=0.12)
    assert _groups(prob, mask, low=0.15) == []
    assert _groups(prob, mask, claimed_mm=np.array([[40.0, 60.0]])) == []
    assert len(_groups(prob, mask, claimed_mm=np.array([[10.0, 10.0]]))) == 1
    assert _groups(prob, mask, allowed=lambda xy: xy[:, 0] * SPACING > 60) == []


def test_evidence_suspicion_grows_with_significance():
    assert evidence_suspicion(1e-3, 10.0) == pytest.approx(0.3)
    assert evidence_suspicion(1e-12, 10.0) == 1.0 and evidence_suspicion(0.5, 10.0) < 0.04


def test_analyze_map_adds_a_faint_grouped_cluster_only_when_the_stage_is_on():
    prob, mask = _map(np.random.default_rng(3), noise_peaks=60, group_at_mm=(40, 60), group_count=9)
    image = np.where(mask, 0.2, 0.0).astype(np.float32)
    for r, c in np.argwhere(prob > 0):
        y, x = r * STRIDE + 1.5, c * STRIDE + 1.5
        image[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2] += 0.5
    off = AnalysisConfig()
    on = dataclasses.replace(off, faint_low_threshold=0.05, faint_window_mm=8.0, faint_max_p=1e-4)

    def run(config):
        return analyze_map(ProbabilityMap(prob=prob.copy(), stride=STRIDE), image, mask, spacing_mm=SPACING,
                           laterality="L", view="CC", config=config)

    assert run(off).clusters == () and run(off).calcifications == ()
    view = run(on)
    assert len(view.clusters) == 1
    cluster = view.clusters[0]
    assert cluster.distribution is Distribution.GROUPED and cluster.count >= 8
    assert np.hypot(cluster.centroid_x_mm - 40, cluster.centroid_y_mm - 60) < 3.0
    assert cluster.suspicion >= 0.4 > cluster.score_max  # its evidence, not its members' scores
    assert all(view.calcifications[i].score < off.peak_threshold for i in cluster.members)
