"""Clusters and descriptors on hand-made point sets with known answers (positions in mm, spacing 0.1 mm)."""

import math

import numpy as np
import pytest

from analysis_helpers import SPACING, breast_mask
from mammoedge.runtime.analysis import Calcification, Distribution, find_clusters
from mammoedge.runtime.analysis.geometry import DepthThird
from mammoedge.runtime.codes import View
from mammoedge.runtime.config import AnalysisConfig

SHAPE = (1600, 1000)  # 160 x 100 mm
MASK = breast_mask(SHAPE, nipple_x=900)  # nipple at (90 mm, 79.95 mm)
NIPPLE = (900.0, (SHAPE[0] - 1) / 2)
CONFIG = AnalysisConfig()


def calcs(points_mm, score=0.9, diameter=0.3, contrast=0.5):
    return [Calcification(x=x / SPACING, y=y / SPACING, x_mm=x, y_mm=y, diameter_mm=diameter, contrast=contrast,
                          score=score) for x, y in points_mm]


def clusters_of(points_mm, view=View.CC, config=CONFIG, **kw):
    return find_clusters(calcs(points_mm, **kw), MASK, SPACING, view, config, nipple=NIPPLE)


def test_six_points_within_8_mm_are_grouped():
    points = [(40, 60), (43, 61), (41, 64), (46, 65), (44, 58), (47, 62)]
    (cluster,) = clusters_of(points)
    assert cluster.distribution is Distribution.GROUPED
    assert cluster.count == 6 and cluster.members == tuple(range(6))
    assert cluster.morphology is None  # not assessed: find_clusters knows no morphology
    assert cluster.extent_mm <= 8.0
    assert cluster.max_count_in_core == 6
    assert (cluster.centroid_x_mm, cluster.centroid_y_mm) == pytest.approx((43.5, 61.666666), abs=1e-4)
    assert cluster.distance_to_chest_wall_mm == pytest.approx(43.5)
    assert cluster.distance_to_nipple_mm == pytest.approx(math.hypot(90 - 43.5, 79.95 - 61.666666), abs=1e-4)
    assert cluster.depth is DepthThird.MIDDLE and cluster.side == "lateral"
    assert len(cluster.outline) >= 3
    assert cluster.suspicion == pytest.approx(0.9 * 0.85)


def test_four_points_are_not_a_cluster():
    assert clusters_of([(40, 60), (43, 61), (41, 64), (46, 65)]) == []


def test_five_points_linked_but_not_within_1_cm_are_not_grouped():
    chain = [(30, 70), (34.5, 73), (39, 70), (43.5, 73), (48, 70)]  # linked at < 5 mm, extent 18 mm
    assert clusters_of(chain) == []


def test_twenty_points_along_a_line_are_linear():
    rng = np.random.default_rng(1)
    t = np.linspace(0, 30, 20)
    points = np.stack([30 + t * 0.8, 50 + t * 0.6], axis=1) + rng.normal(0, 0.2, (20, 2))
    (cluster,) = clusters_of(points)
    assert cluster.distribution is Distribution.LINEAR
    assert cluster.linearity > 0.9
    assert cluster.mst_branch_points == 0
    assert cluster.extent_mm == pytest.approx(30, abs=1.5)
    assert cluster.mst_length_mm == pytest.approx(30, abs=3)


def test_branching_line_counts_its_branch_point():
    trunk = [(30 + i * 1.5, 60) for i in range(12)]
    branch = [(30 + 9 * 1.5 + i * 1.1, 60 + i * 1.1) for i in range(1, 6)]
    (cluster,) = clusters_of(trunk + branch)
    assert cluster.distribution is Distribution.LINEAR
    assert cluster.mst_branch_points == 1


def _spread(rng, count, x_range, y_range, min_gap):
    points = []
    while len(points) < count:
        x, y = rng.uniform(*x_range), rng.uniform(*y_range)
        inside = MASK[int(y / SPACING), int(x / SPACING)]
        if inside and all(math.hypot(x - a, y - b) > min_gap for a, b in points):
            points.append((x, y))
    return points


def test_sparse_points_over_the_whole_breast_are_no_finding():
    # the real-film failure: scattered detections everywhere formed one whole-breast "diffuse" group
    points = _spread(np.random.default_rng(7), 30, (5, 85), (15, 145), 8)
    assert clusters_of(points, score=0.95) == []


def test_a_regional_group_denser_than_the_rest_of_the_breast_is_found_and_counts_like_grouped():
    rng = np.random.default_rng(3)
    group = _spread(rng, 15, (20, 50), (30, 60), 5.5)  # 30 x 30 mm, members 5.5-12 mm apart: no 5-mm link
    background = [(70, 120), (30, 130), (80, 40), (15, 100), (60, 150)]
    (region,) = clusters_of(group + background, score=0.6)
    assert region.distribution is Distribution.REGIONAL and region.count == 15
    assert region.suspicion == pytest.approx(0.6 * 0.85)
    # the same 15 over the whole breast among the same background: not denser than it, no finding
    assert clusters_of(_spread(rng, 15, (5, 85), (15, 145), 12) + background, score=0.6) == []
    # without the wide linkage the group is only scattered calcifications
    assert clusters_of(group + background, config=AnalysisConfig(regional_link_distance_mm=5.0)) == []


def test_a_diffuse_group_needs_diffuse_min_count_and_density():
    # a 9-mm grid over the posterior half of the breast: linked only at the regional distance, hull >= 0.3
    grid = [(x, y) for x in np.arange(5, 50, 9.0) for y in np.arange(10, 150, 9.0) if MASK[int(y / SPACING), int(x / SPACING)]]
    (diffuse,) = clusters_of(grid, score=0.7)
    assert diffuse.distribution is Distribution.DIFFUSE and diffuse.count == len(grid)
    assert diffuse.suspicion == pytest.approx(0.7 * 0.85)
    assert clusters_of(grid, config=AnalysisConfig(diffuse_min_count=len(grid) + 1)) == []


def test_wedge_toward_the_nipple_is_segmental_and_round_blob_is_regional():
    rng = np.random.default_rng(2)
    # 45 mm long wedge along the nipple line (y = 80 mm), apex near the nipple
    u = rng.uniform(0, 1, 60)
    wedge = np.stack([80 - 45 * u, 80 + rng.uniform(-1, 1, 60) * 9 * u], axis=1)
    (segment,) = clusters_of(wedge)
    assert segment.distribution is Distribution.SEGMENTAL
    assert segment.axis_to_nipple_deg < 10
    angle = rng.uniform(0, 2 * np.pi, 60)
    radius = 16 * np.sqrt(rng.uniform(0, 1, 60))
    blob = np.stack([40 + radius * np.cos(angle), 80 + radius * np.sin(angle)], axis=1)
    (region,) = clusters_of(blob)
    assert region.distribution is Distribution.REGIONAL
    assert region.extent_mm > 20
    # the same wedge turned across the nipple line is regional, not segmental
    across = np.stack([50 + (wedge[:, 1] - 80), 80 + (80 - wedge[:, 0])], axis=1)
    (turned,) = clusters_of(across)
    assert turned.distribution is Distribution.REGIONAL


def test_two_groups_are_two_clusters_most_suspicious_first():
    a = [(20 + dx, 40 + dy) for dx, dy in [(0, 0), (2, 1), (1, 3), (3, 3), (2, -1)]]
    b = [(60 + dx, 120 + dy) for dx, dy in [(0, 0), (2, 1), (1, 3), (3, 3), (2, -1), (1, 1)]]
    scores = [0.6] * 5 + [0.95] * 6
    found = find_clusters(
        [Calcification(x=x / SPACING, y=y / SPACING, x_mm=x, y_mm=y, diameter_mm=0.3, contrast=0.5, score=s)
         for (x, y), s in zip(a + b, scores)], MASK, SPACING, View.MLO, CONFIG, nipple=NIPPLE)
    assert [c.id for c in found] == [1, 2]
    assert [c.count for c in found] == [6, 5]
    assert found[0].side == "inferior" and found[1].side == "superior"
    assert found[1].depth is DepthThird.POSTERIOR


def test_rule_is_configurable():
    points = [(40, 60), (43, 61), (41, 64), (45, 64)]
    (cluster,) = clusters_of(points, config=AnalysisConfig(min_cluster_count=4))
    assert cluster.distribution is Distribution.GROUPED
    spread = [(40, 60), (47, 60), (54, 60), (47, 66), (54, 66)]  # 7 mm apart: one group only if linked at 8 mm
    assert clusters_of(spread) == []
    (wide,) = clusters_of(spread, config=AnalysisConfig(link_distance_mm=8.0, grouped_core_mm=16.0))
    assert wide.count == 5


def test_size_and_contrast_statistics():
    points = [(40, 60), (43, 61), (41, 64), (45, 64), (44, 58)]
    items = [Calcification(x=x / SPACING, y=y / SPACING, x_mm=x, y_mm=y, diameter_mm=d, contrast=c, score=0.8)
             for (x, y), d, c in zip(points, [0.2, 0.3, 0.4, 0.5, 0.6], [1, 1, 2, 2, 4])]
    (cluster,) = find_clusters(items, MASK, SPACING, View.CC, CONFIG, nipple=NIPPLE)
    assert cluster.diameter_mean_mm == pytest.approx(0.4)
    assert cluster.diameter_sd_mm == pytest.approx(np.std([0.2, 0.3, 0.4, 0.5, 0.6]))
    assert cluster.contrast_mean == pytest.approx(2.0)
    assert cluster.score_max == pytest.approx(0.8)


def test_detections_near_the_skin_line_are_dropped_but_not_near_the_chest_wall():
    from mammoedge.runtime.analysis.view import away_from_skin

    mask = np.zeros((400, 300), bool)
    mask[50:350, :200] = True  # breast: chest wall at column 0, skin at rows 50/350 and column 200

    def calc(x, y):
        return Calcification(x=x, y=y, x_mm=x * 0.1, y_mm=y * 0.1, diameter_mm=0.3, contrast=0.1, score=0.9)

    kept = away_from_skin([calc(100, 200), calc(185, 200), calc(100, 60), calc(2, 200), calc(100, 90)],
                          mask, 0.1, margin_mm=3.0)
    assert [(c.x, c.y) for c in kept] == [(100, 200), (2, 200), (100, 90)]  # 1.5 and 1.0 mm from the skin dropped


# A compact group of 6 strong calcifications inside a wide chain of weak noise peaks 4 mm apart that single
# linkage joins into one wide group.
STRONG = [(60, 60), (62, 61), (61, 63), (63, 64), (64, 61), (62, 59)]
CHAIN = [(20 + 4 * i, 40 + 2 * i) for i in range(25)]  # 20..116 mm, passes 2 mm from the group


def chained_calcs():
    return calcs(STRONG, score=0.5) + calcs(CHAIN, score=0.12)


def test_noise_chained_to_a_group_hides_it_in_one_wide_group():
    config = AnalysisConfig(split_levels=())
    (wide,) = find_clusters(chained_calcs(), MASK, SPACING, View.CC, config, nipple=NIPPLE)
    assert wide.count == len(STRONG) + len(CHAIN) and wide.extent_mm > 90
    assert wide.distribution is not Distribution.GROUPED


def test_split_levels_recover_the_group_and_leave_the_noise_scattered():
    (cluster,) = find_clusters(chained_calcs(), MASK, SPACING, View.CC, CONFIG, nipple=NIPPLE)  # default levels
    assert cluster.distribution is Distribution.GROUPED and cluster.members == tuple(range(len(STRONG)))
    assert (cluster.centroid_x_mm, cluster.centroid_y_mm) == pytest.approx(np.mean(STRONG, axis=0))
    # a level above every score splits nothing off: the wide group stays as it was
    config = AnalysisConfig(split_levels=(0.6,))
    (wide,) = find_clusters(chained_calcs(), MASK, SPACING, View.CC, config, nipple=NIPPLE)
    assert wide.count == len(STRONG) + len(CHAIN)
