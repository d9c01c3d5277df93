import numpy as np
import pytest

from mammoedge.tools.detector.froc import (
    ImageCase,
    bootstrap,
    froc_curve,
    match,
    sensitivity_at,
    sensitivity_by_group,
    threshold_at,
)


def test_greedy_match_by_score_each_truth_once():
    case = ImageCase(detections=np.array([[0, 0, 0.9], [0.1, 0, 0.8], [10, 10, 0.7]]),
                     truths=np.array([[0, 0, 0.5], [10, 10.4, 0.5]]))
    scores, hits = match(case)
    assert hits.tolist() == [True, False, True]  # the second detection on the same truth is a false positive


def test_known_froc():
    # Image 1: two truths, detections: TP 0.9, FP 0.8, TP 0.3. Image 2: one truth never found, FP 0.6.
    cases = [ImageCase(detections=np.array([[0, 0, 0.9], [50, 50, 0.8], [20, 0, 0.3]]),
                       truths=np.array([[0, 0, 1], [20, 0, 1]])),
             ImageCase(detections=np.array([[90, 90, 0.6]]), truths=np.array([[5, 5, 1]]))]
    thresholds, sens, fpi = froc_curve(cases)
    assert thresholds.tolist() == [0.9, 0.8, 0.6, 0.3]
    assert sens.tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 2 / 3])
    assert fpi.tolist() == pytest.approx([0, 0.5, 1.0, 1.0])
    at = sensitivity_at(cases, (0.1, 0.5, 1.0))
    assert at == {0.1: pytest.approx(1 / 3), 0.5: pytest.approx(1 / 3), 1.0: pytest.approx(2 / 3)}


def test_no_detections_and_bootstrap_bounds():
    cases = [ImageCase(truths=np.array([[0, 0, 1]])) for _ in range(3)]
    assert sensitivity_at(cases) == {r: 0.0 for r in (0.1, 0.2, 0.5, 1.0, 2.0)}
    perfect = [ImageCase(detections=np.array([[0, 0, 0.9]]), truths=np.array([[0, 0, 1]])) for _ in range(5)]
    for value, low, high in bootstrap(perfect, samples=50).values():
        assert value == low == high == 1.0


def test_operating_point_and_breakdown_by_label():
    cases = [ImageCase(detections=np.array([[0, 0, 0.9], [50, 50, 0.8], [20, 0, 0.3]]),
                       truths=np.array([[0, 0, 1], [20, 0, 1]])),
             ImageCase(detections=np.array([[90, 90, 0.6]]), truths=np.array([[5, 5, 1]]))]
    assert threshold_at(cases, 1.0) == 0.3 and threshold_at(cases, 0.5) == 0.8
    groups = [["amorphous", "round"], ["amorphous"]]
    assert sensitivity_by_group(cases, groups, 0.3) == {"amorphous": (0.5, 2), "round": (1.0, 1)}
    assert sensitivity_by_group(cases, groups, 0.8) == {"amorphous": (0.5, 2), "round": (0.0, 1)}
