"""Cluster labels (PPV, BI-RADS category), risk cohort simulation, breast anatomy statistics."""

from __future__ import annotations

import numpy as np
import pytest

from mammoedge.tools.phantom import anatomy, cohort
from mammoedge.tools.phantom.clusters import MORPHOLOGY_PPV, assessment_for, plant_cluster
from mammoedge.tools.phantom.texture import DENSITY_MODELS
from mammoedge.tools.phantom.truth import BiradsCategory, Density, Distribution, Morphology


@pytest.mark.parametrize("morph", list(MORPHOLOGY_PPV))
def test_malignancy_rate_follows_the_morphology_ppv(morph):
    rng = np.random.default_rng(1)
    draws = [plant_cluster(rng, morph, Distribution.GROUPED).malignant for _ in range(400)]
    p = MORPHOLOGY_PPV[morph]
    assert abs(np.mean(draws) - p) < 4 * np.sqrt(p * (1 - p) / len(draws))


def test_benign_types_are_never_malignant_and_get_birads_2():
    rng = np.random.default_rng(2)
    for morph in (Morphology.VASCULAR, Morphology.COARSE_POPCORN, Morphology.RIM, Morphology.ROUND):
        for _ in range(30):
            c = plant_cluster(rng, morph)
            assert not c.malignant and c.assessment is BiradsCategory.BENIGN


def test_assessment_categories():
    assert assessment_for(Morphology.FINE_LINEAR_BRANCHING, Distribution.SEGMENTAL, 0.9) is BiradsCategory.HIGHLY_SUGGESTIVE
    assert assessment_for(Morphology.FINE_PLEOMORPHIC, Distribution.GROUPED, 0.29) is BiradsCategory.SUSPICIOUS_MODERATE
    assert assessment_for(Morphology.AMORPHOUS, Distribution.DIFFUSE, 0.02) is BiradsCategory.PROBABLY_BENIGN
    assert assessment_for(Morphology.FINE_LINEAR_BRANCHING, Distribution.GROUPED, 0.7) is BiradsCategory.SUSPICIOUS_HIGH


def test_grouped_clusters_fit_birads_definition():
    rng = np.random.default_rng(3)
    for _ in range(50):
        c = plant_cluster(rng, Morphology.FINE_PLEOMORPHIC, Distribution.GROUPED)
        assert len(c.shapes) >= 5 and c.extent_mm <= 20.0


def test_breast_area_falls_with_density():
    rng = np.random.default_rng(4)
    areas = {}
    for d in Density:
        breasts = [anatomy.make_breast(rng, d) for _ in range(60)]
        areas[d] = np.mean([np.pi / 2 * b.nipple_distance_mm * b.half_width_mm for b in breasts])
        assert areas[d] == pytest.approx(DENSITY_MODELS[d].area_mm2_mean, rel=0.12)
    assert areas[Density.A] > areas[Density.B] > areas[Density.C] > areas[Density.D]


def test_left_and_right_breasts_similar_not_identical():
    rng = np.random.default_rng(5)
    left = anatomy.make_breast(rng, Density.C, np.random.default_rng(50))
    right = anatomy.make_breast(rng, Density.C, np.random.default_rng(50), like=left)
    other = anatomy.make_breast(rng, Density.C, np.random.default_rng(51))
    assert right.nipple_distance_mm == pytest.approx(left.nipple_distance_mm, rel=0.2)
    assert not np.array_equal(left.volume, right.volume)
    corr_pair = np.corrcoef(left.volume.ravel(), right.volume.ravel())[0, 1]
    corr_other = np.corrcoef(left.volume.ravel(), other.volume.ravel())[0, 1]
    assert corr_pair > corr_other + 0.2


def test_cohort_hazard_rises_with_precursors_and_density():
    rng = np.random.default_rng(6)
    plans = [(d, cohort.plan(rng, d)) for d in Density for _ in range(1500)]
    def event_rate(select):
        chosen = [p.label for d, p in plans if select(d, p)]
        return np.mean([not lab.censored for lab in chosen])
    with_precursor = event_rate(lambda d, p: p.precursor is not None)
    without = event_rate(lambda d, p: p.precursor is None)
    assert with_precursor > 2 * without
    assert event_rate(lambda d, p: d is Density.D and p.precursor is None) > \
        event_rate(lambda d, p: d is Density.A and p.precursor is None)
    for _, p in plans[:200]:
        lab = p.label
        assert lab.censored == (lab.years_to_cancer is None)
        assert lab.censored or 1 <= lab.years_to_cancer <= 5
