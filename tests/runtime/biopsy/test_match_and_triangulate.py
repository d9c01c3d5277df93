"""Triangulation and epipolar matching on hand-made geometries with known 3-D points."""

from __future__ import annotations

import numpy as np
import pytest
from biopsy_headers import SID, header

from mammoedge.runtime.biopsy.geometry import geometry_from_dataset
from mammoedge.runtime.biopsy.match import match
from mammoedge.runtime.biopsy.triangulate import closest_point, point_covariance, triangulate
from mammoedge.runtime.config import BiopsyConfig

CONFIG = BiopsyConfig()


def views(fixed: bool, iso: float = 0.0):
    return [geometry_from_dataset(header(a, fixed=fixed, iso=iso)) for a in (15.0, -15.0, 0.0)]


def test_closest_point_of_two_skew_rays_is_the_midpoint_of_their_common_normal():
    origins = np.array([[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]])
    directions = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # x-axis at y=-1, z-axis at y=+1
    point, rms = closest_point(origins, directions)
    assert np.allclose(point, [0.0, 0.0, 0.0]) and rms == pytest.approx(1.0)


@pytest.mark.parametrize("fixed", [True, False])
def test_one_pixel_in_one_view_moves_depth_as_derived_by_hand(fixed):
    """On the axis: fixed, dx = 2 S_x z / (S_z - z), so dz = pitch (S_z - z)^2 / (2 S_x S_z); isocentric,
    du = 2 z sin(a) SID / (SID - z cos a), so dz = pitch (SID - z cos a)^2 / (2 sin(a) SID^2). Both are
    below the far-source rules pitch / (2 tan a) and pitch / (2 sin a) (magnification)."""
    plus, minus, _ = views(fixed)
    z, a, pitch = 30.0, np.deg2rad(15.0), 0.05
    p = np.array([0.0, 0.0, z])
    u, v = plus.project(p)[0], minus.project(p)[0]
    base = triangulate([plus, minus], [u, v])[0]
    moved = triangulate([plus, minus], [(u[0] + 1.0, u[1]), v])[0]
    if fixed:
        sx, sz = SID * np.sin(a), SID * np.cos(a)
        expected, rule = pitch * (sz - z) ** 2 / (2 * sx * sz), pitch / (2 * np.tan(a))
    else:
        expected, rule = pitch * (SID - z * np.cos(a)) ** 2 / (2 * np.sin(a) * SID ** 2), pitch / (2 * np.sin(a))
    assert np.allclose(base, p, atol=1e-9)
    assert abs(moved[2] - base[2]) == pytest.approx(expected, rel=0.01)
    assert abs(moved[2] - base[2]) < rule


def test_covariance_puts_more_uncertainty_in_depth_than_across():
    plus, minus, _ = views(True)
    cov = point_covariance([plus, minus], np.array([0.0, 0.0, 30.0]), sigma_px=1.0)
    sx, sy, sz = np.sqrt(np.diag(cov))
    assert sz > 1.5 * sx and sx > 0 and sy > 0


@pytest.mark.parametrize("fixed, iso", [(True, 0.0), (False, 0.0), (False, 20.0)])
def test_matching_recovers_the_true_pairs_among_false_detections(fixed, iso):
    rng = np.random.default_rng(3)
    plus, minus, scout = views(fixed, iso)
    points = np.column_stack([rng.uniform(-4, 4, 10), rng.uniform(-4, 4, 10), rng.uniform(20, 28, 10)])
    noise = lambda n: rng.normal(0, 0.2, (n, 2))  # noqa: E731
    false = lambda: rng.uniform(0, 1023, (30, 2))  # noqa: E731
    px_plus = np.vstack([plus.project(points) + noise(10), false()])
    px_minus = np.vstack([minus.project(points) + noise(10), false()])
    px_scout = np.vstack([scout.project(points) + noise(10), false()])
    order = rng.permutation(len(px_minus))  # the minus list in another order
    px_minus = px_minus[order]
    found = match(plus, minus, px_plus, px_minus, 45.0, CONFIG, scout, px_scout)
    true_pairs = {(i, int(np.nonzero(order == i)[0][0])) for i in range(10)}
    got = {(m.plus, m.minus) for m in found if m.scout is not None}
    assert true_pairs <= got
    assert len(got - true_pairs) <= 1  # a chance triple is rare


def test_two_calcifications_on_one_epipolar_line_are_ambiguous_without_a_scout():
    plus, minus, _ = views(True)
    # same Y; depth and X traded so that both pairings are geometrically possible
    points = np.array([[0.0, 5.0, 20.0], [3.0, 5.0, 24.0]])
    px_plus, px_minus = plus.project(points), minus.project(points)
    found = match(plus, minus, px_plus, px_minus, 45.0, CONFIG)
    assert len(found) == 2 and all(m.ambiguous for m in found)


def test_candidates_outside_the_breast_are_not_matched():
    plus, minus, _ = views(True)
    above = np.array([[0.0, 0.0, 60.0]])  # above a 45 mm compression
    assert match(plus, minus, plus.project(above), minus.project(above), 45.0, CONFIG) == []
