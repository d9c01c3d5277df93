"""The training patch and a full view share one intensity scale and orientation (before vendor encoding)."""

from __future__ import annotations

import dataclasses

import numpy as np

from mammoedge.tools.phantom import Density, make_training_patch, physics
from mammoedge.tools.phantom import anatomy, views


def test_patch_values_match_the_interior_of_a_full_view():
    rng = np.random.default_rng(12)
    breast = dataclasses.replace(anatomy.make_breast(rng, Density.B), thickness_mm=50.0)
    view = views.render_view(rng, breast, "CC", Density.B, (1024, 832), 0.28, [], physics.Detector())
    yy, xx = np.nonzero(view.inside)
    interior = view.image[view.inside & (np.arange(832)[None, :] < 0.6 * xx.max())]
    patches = [make_training_patch(rng, density=Density.B, thickness_mm=50.0, n_clusters=0, edge=False,
                                   label=False, marker=False)[0] for _ in range(12)]
    patch_median = float(np.median(np.concatenate([p.ravel() for p in patches])))
    assert abs(float(np.median(interior)) - patch_median) < 0.25, (np.median(interior), patch_median)
    # orientation: chest wall (tissue) on the left, air on the right
    assert view.image[:, :50].mean() > view.image[:, -50:].mean()
    assert float(np.median(view.image[~view.inside])) < 0.05


def test_full_view_texture_spectrum_exponent():
    """A 25.6 mm ROI inside a rendered CC view (0.1 mm) has beta in 2.5-3.5, like the patches."""
    from mammoedge.tools.phantom.realism import spectrum_exponent

    betas = []
    for seed, density in ((0, Density.B), (1, Density.C)):
        rng = np.random.default_rng(seed)
        breast = anatomy.make_breast(rng, density)
        view = views.render_view(rng, breast, "CC", density, (2400, 1800), 0.1, [], physics.Detector())
        rows, cols = np.nonzero(view.inside)
        cy, cx = int(rows.mean()), int(cols.max() * 0.4)
        betas.append(spectrum_exponent(view.image[cy - 128:cy + 128, cx - 128:cx + 128], 0.1))
    assert 2.5 <= float(np.mean(betas)) <= 3.5, betas


def test_rendered_views_density_bands_and_area():
    """Dense-area fraction of CC views falls in the BI-RADS bands; fatty breasts are larger."""
    bands = {Density.A: (0.0, 0.25), Density.B: (0.25, 0.5), Density.C: (0.5, 0.75), Density.D: (0.75, 1.0)}
    areas = []
    for density, (low, high) in bands.items():
        fractions, area = [], []
        for seed in range(3):
            rng = np.random.default_rng(seed)
            breast = anatomy.make_breast(rng, density)
            view = views.render_view(rng, breast, "CC", density, (1024, 832), 0.28, [], physics.Detector())
            fractions.append(view.dense_area_fraction)
            area.append(view.breast_area_mm2)
        assert low - 0.03 <= float(np.mean(fractions)) <= high + 0.03, (density, fractions)
        areas.append(float(np.mean(area)))
    assert areas == sorted(areas, reverse=True), areas
