"""The wide-group density test: Poisson tail and the regional/diffuse significance rule."""

import math

import numpy as np
import pytest

from mammoedge.runtime.analysis.density import density_test, hull_perimeter, poisson_tail


def test_poisson_tail_matches_the_direct_sum():
    for count, mean in [(0, 2.0), (1, 0.5), (5, 1.2), (15, 1.0), (40, 30.0)]:
        direct = 1.0 - sum(math.exp(-mean) * mean ** k / math.factorial(k) for k in range(count))
        assert poisson_tail(count, mean) == pytest.approx(direct, abs=1e-12)
    assert 0 < poisson_tail(60, 1.0) < 1e-60  # tiny tails stay positive and exact in log space
    assert poisson_tail(3, 0.0) == 0.0


def test_hull_perimeter_of_a_square_and_of_a_segment():
    assert hull_perimeter(np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)) == pytest.approx(40.0)
    assert hull_perimeter(np.array([[0, 0], [3, 4]], float)) == pytest.approx(10.0)


def test_dense_group_is_significant_scattered_one_is_not():
    rng = np.random.default_rng(0)
    group = rng.uniform(0, 30, (15, 2))  # 15 in 9 cm^2
    background = rng.uniform(0, 100, (5, 2)) + [0, 100]  # 5 elsewhere in a 200 cm^2 breast
    points = np.vstack([group, background])
    test = density_test(points, np.arange(15), 20_000.0, margin_mm=6.0, min_outside_fraction=0.25)
    region = test.region_mm2  # hull + perimeter x 6 mm + pi 36 mm^2: about 30 x 30 mm widened
    assert 900 < region < 42 * 42
    assert test.outside_count == 5 and test.expected == pytest.approx(6 / (20_000.0 - region) * region)
    assert test.significant(1e-3)
    # the same count among 40 others spread as densely: not significant
    crowd = np.vstack([group, rng.uniform(0, 30, (40, 2)) + [0, 40]])
    assert not density_test(crowd, np.arange(15), 2_000.0, margin_mm=6.0, min_outside_fraction=0.25).significant(1e-3)


def test_a_group_covering_the_breast_has_no_background_and_is_not_significant():
    points = np.random.default_rng(1).uniform(0, 100, (30, 2))
    test = density_test(points, np.arange(30), 10_000.0, margin_mm=6.0, min_outside_fraction=0.25)
    assert test.p_value == 1.0 and not test.significant(0.5)
