"""Cluster matching on full views: planted clusters mapped into the normalized frame, in mm."""

from types import SimpleNamespace

import numpy as np

from mammoedge.runtime.codes import Laterality, View
from mammoedge.runtime.preprocess.transform import ViewTransform
from mammoedge.tools.detector.exam_eval import MATCH_MARGIN_MM, _view_cases


def test_planted_cluster_maps_into_the_view_and_matches_a_nearby_detection():
    transform = ViewTransform(original_shape=(200, 100), original_spacing_mm=(0.05, 0.05), shape=(100, 50),
                              spacing_mm=0.1, flip_horizontal=True, flip_vertical=False)
    view = SimpleNamespace(laterality=Laterality.RIGHT, view=View.CC, spacing_mm=0.1, transform=transform)
    # five calcifications around stored (col 80, row 40): normalized x = (99 - 80 + 0.5) / 2 - 0.5 = 9.25
    calcs = [{"x": 80 + dx, "y": 40 + dy} for dx, dy in ((0, 0), (2, 0), (-2, 0), (0, 2), (0, -2))]
    truth = {"clusters": {"R": [{"cluster_id": 0, "morphology": "amorphous"}, {"cluster_id": 1, "morphology": "round"}]},
             "views": [{"laterality": "R", "view": "CC",
                        "clusters": [{"cluster_id": 0, "calcifications": calcs},
                                     {"cluster_id": 1, "calcifications": calcs[:1]}]}]}  # 1 calc: not a cluster
    cluster = SimpleNamespace(centroid_x_mm=0.925 + 3.0, centroid_y_mm=1.975, suspicion=0.7)
    far = SimpleNamespace(centroid_x_mm=40.0, centroid_y_mm=1.975, suspicion=0.9)
    result = SimpleNamespace(views=[SimpleNamespace(clusters=[cluster, far])])
    cases = _view_cases(result, [view], truth)
    (case,) = cases["suspicious"]
    assert case.truths.shape == (1, 3)
    assert np.allclose(case.truths[0, :2], [0.925, 1.975], atol=1e-6)
    assert case.truths[0, 2] == np.float64(0.1) + MATCH_MARGIN_MM  # half-extent 0.1 mm + margin
    from mammoedge.tools.detector.froc import match

    scores, hits = match(case)
    assert hits.tolist() == [True, False]  # 3 mm away matches; 40 mm away is a false positive
