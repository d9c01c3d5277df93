"""Blood vessels in the phantom's texture (tools/phantom/texture.py: vessels, structures)."""

import numpy as np

from mammoedge.tools.phantom.texture import NOMINAL_THICKNESS_MM, structures, vessels


def test_a_vessel_projects_as_a_cylinder_chord():
    tube = vessels(np.random.default_rng(0), (300, 300), 0.1, count=1)
    assert 0 < tube.max() <= 2 * 1.5 / NOMINAL_THICKNESS_MM + 1e-6
    row = int(np.argmax(tube.max(axis=1)))
    profile = tube[row]
    peak = int(np.argmax(profile))
    # the chord falls off from the centreline on both sides and ends within the largest radius (15 px)
    assert profile[peak] > profile[max(peak - 3, 0)] > 0 or profile[peak] > profile[min(peak + 3, 299)] > 0
    assert (tube > 0).mean() < 0.2


def test_no_vessels_when_count_is_zero_and_more_with_a_larger_count():
    rng = np.random.default_rng(1)
    assert not vessels(rng, (128, 128), 0.1, count=0).any()
    few, many = ((vessels(np.random.default_rng(2), (400, 400), 0.2, count=n) > 0).sum() for n in (2, 10))
    assert many > 2 * few > 0


def test_vessels_run_toward_the_nipple():
    left = vessels(np.random.default_rng(3), (400, 400), 0.2, toward=(0, 200), count=12)
    right = vessels(np.random.default_rng(3), (400, 400), 0.2, toward=(399, 200), count=12)
    cols = np.arange(400)[None, :]
    assert (right * cols).sum() / right.sum() > (left * cols).sum() / left.sum()


def test_vessels_leave_the_rest_of_a_seeds_phantom_unchanged():
    gland = np.zeros((256, 256), np.float32)
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    with_vessels = structures(a, gland.shape, 0.1, gland, vessel_count=3)
    without = structures(b, gland.shape, 0.1, gland, vessel_count=0)
    assert a.random() == b.random()  # the parent stream is not consumed by the vessels
    extra = with_vessels - without
    assert extra.min() >= -1e-7 and extra.max() > 0
