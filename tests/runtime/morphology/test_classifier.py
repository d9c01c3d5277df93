"""The shipped morphology model through the runtime classifier: calls, calibration parameters, saliency, OOD."""

import dataclasses

import numpy as np
import pytest

from mammoedge.runtime.codes import Distribution, MorphologyClass
from mammoedge.runtime.config import InferenceConfig
from mammoedge.runtime.errors import ModelError
from mammoedge.runtime.inference import Engine
from mammoedge.runtime.morphology import MorphologyClassifier, render_saliency, suggest
from mammoedge.runtime.morphology.roi import ROI_SIZE
from mammoedge.tools.detector.data import standardize_patch
from mammoedge.tools.phantom import make_training_patch


@pytest.fixture(scope="module")
def engine():
    return Engine(InferenceConfig())


@pytest.fixture(scope="module")
def classifiers(engine):
    return {precision: MorphologyClassifier(engine.load(name, backend="openvino", force=True))
            for precision, name in (("int8", "calc-morphology"), ("fp32", "calc-morphology-fp32"))}


def _clusters(morphology, count, seed):
    """Standardized phantom patches, each with one cluster: (image, member xy, scores)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        image, truths = make_training_patch(rng, size=256, n_clusters=1, morphology=morphology,
                                            distribution="grouped", label=False, marker=False, edge=False)
        if len(truths) >= 3:
            out.append((standardize_patch(image), np.array([(t.x, t.y) for t in truths]), np.ones(len(truths))))
    return out


def _assess(classifier, cases):
    results = []
    for image, points, scores in cases:
        (a,), (s,) = classifier.assess(image, [points], [scores], [Distribution.GROUPED], [1])
        results.append((a, s))
    return results


def test_assessment_is_consistent_and_the_saliency_sits_on_the_calcifications(classifiers):
    cases = _clusters("fine_linear_branching", 4, seed=11) + _clusters("coarse_popcorn", 2, seed=12)
    for (a, s), (_image, _points, _) in zip(_assess(classifiers["int8"], cases), cases):
        assert np.isclose(sum(a.probabilities.values()), 1.0, atol=1e-3)
        assert a.morphology.value == max(a.probabilities, key=a.probabilities.get)
        assert a.birads is suggest(a.morphology, Distribution.GROUPED, a.benign_subtype)
        assert (a.benign_subtype is None) == (a.morphology is not MorphologyClass.TYPICALLY_BENIGN)
        assert 0 <= a.likelihood <= 1 and 0 <= a.uncertainty <= 1 and 1 <= a.rois <= 3
        assert s.heat.shape == (ROI_SIZE, ROI_SIZE) and np.isclose(s.heat.max(), 1.0)
        picture = render_saliency(s, a)
        assert picture.shape[1] == 4 * ROI_SIZE and picture.ndim == 3
    fine = [a for a, _ in _assess(classifiers["int8"], cases[:4])]
    assert sum(a.morphology is MorphologyClass.FINE_LINEAR_BRANCHING for a in fine) >= 3


def test_saliency_is_hotter_on_calcifications_than_on_background(classifiers):
    hot, cold = [], []
    for (_a, s), (_image, points, _) in zip(_assess(classifiers["int8"], _clusters("coarse_heterogeneous", 4, 21)),
                                          _clusters("coarse_heterogeneous", 4, 21)):
        offset = np.array([s.centre_x, s.centre_y]) - ROI_SIZE // 2
        inside = [(int(round(y - offset[1])), int(round(x - offset[0]))) for x, y in points]
        inside = [(r, c) for r, c in inside if 0 <= r < ROI_SIZE and 0 <= c < ROI_SIZE]
        hot.append(np.mean([s.heat[r, c] for r, c in inside]))
        cold.append(s.heat.mean())
    assert np.mean(hot) > np.mean(cold)


def test_noise_is_more_uncertain_than_typical_clusters(classifiers):
    typical = [a.uncertainty for a, _ in _assess(classifiers["int8"], _clusters("fine_pleomorphic", 3, 31)
                                                 + _clusters("round", 3, 32))]
    rng = np.random.default_rng(0)
    noise = []
    for _ in range(6):
        image = rng.uniform(0, 1, (256, 256)).astype(np.float32)
        points = rng.uniform(100, 156, (6, 2))
        (a,), _ = classifiers["int8"].assess(image, [points], [np.ones(6)], [Distribution.GROUPED], [1])
        noise.append(a.uncertainty)
    assert np.mean(noise) > np.mean(typical)


def test_int8_agrees_with_fp32(classifiers):
    cases = (_clusters("amorphous", 3, 41) + _clusters("fine_pleomorphic", 3, 42) + _clusters("punctate", 3, 43)
             + _clusters("coarse_heterogeneous", 3, 44))
    int8 = [a for a, _ in _assess(classifiers["int8"], cases)]
    fp32 = [a for a, _ in _assess(classifiers["fp32"], cases)]
    same = np.mean([a.morphology is b.morphology for a, b in zip(int8, fp32)])
    assert same >= 0.8
    assert np.mean([abs(a.likelihood - b.likelihood) for a, b in zip(int8, fp32)]) < 0.05


def test_manifest_parameters_are_required(engine):
    model = engine.load("calc-morphology", backend="onnxruntime", force=True)
    broken = dataclasses.replace(model.entry, parameters={"classes": ["amorphous"]})
    model.entry = broken
    with pytest.raises(ModelError, match="temperature"):
        MorphologyClassifier(model)
