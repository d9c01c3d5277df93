"""Target choice, uncertainty and warnings on synthetic detections from hand-made geometry (no detector)."""

from __future__ import annotations

import numpy as np
from biopsy_headers import header, stereo_headers

from mammoedge.runtime.biopsy.detect import DetectedCluster, Detection, ViewDetections
from mammoedge.runtime.biopsy.result import ChoiceRule, TargetWarning
from mammoedge.runtime.biopsy.stage import locate
from mammoedge.runtime.biopsy.stereo_set import StereoRole, recognise
from mammoedge.runtime.config import BiopsyConfig

CONFIG = BiopsyConfig()


def detections(stereo, clusters: dict[str, np.ndarray], score: float = 0.8, noise: float = 0.1,
               seed: int = 0) -> dict[StereoRole, ViewDetections]:
    rng = np.random.default_rng(seed)
    out = {}
    for image in stereo.images:
        dets, groups = [], []
        for points in clusters.values():
            start = len(dets)
            for x, y in image.geometry.project(points) + rng.normal(0, noise, (len(points), 2)):
                dets.append(Detection(x=float(x), y=float(y), score=score, diameter_mm=0.3))
            groups.append(DetectedCluster(members=tuple(range(start, len(dets))), suspicion=score,
                                          distribution="grouped"))
        out[image.role] = ViewDetections(detections=tuple(dets), clusters=tuple(groups), pixels=np.zeros((2, 2)))
    return out


def cluster(centre, n=6, radius=3.0, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.asarray(centre, float) + rng.uniform(-radius, radius, (n, 3)) * [1, 1, 0.6]


def test_target_is_the_centroid_of_the_matched_calcifications_with_an_uncertainty():
    stereo = recognise(stereo_headers(fixed=False, iso=15.0), CONFIG)
    points = cluster([4.0, -6.0, 25.0])
    result = locate(stereo, detections(stereo, {"a": points}), CONFIG)
    target = np.array([result.target.x_mm, result.target.y_mm, result.target.z_mm])
    assert np.linalg.norm(target - points.mean(axis=0)) < 0.05
    assert result.target.n_matches == 6 and result.warnings == ()
    # the standard error of the mean of 6 points spread over +-3 mm dominates the 0.1 px localisation noise
    sd = points.std(axis=0, ddof=1) / np.sqrt(6)
    assert np.allclose([result.target.sigma_x_mm, result.target.sigma_y_mm], sd[:2], rtol=0.1)


def test_at_chooses_the_nearest_cluster_and_evidence_the_default():
    stereo = recognise(stereo_headers(), CONFIG)
    big, small = cluster([-10.0, 5.0, 20.0], n=8), cluster([10.0, -8.0, 30.0], n=4, seed=2)
    found = detections(stereo, {"big": big, "small": small})
    assert abs(locate(stereo, found, CONFIG).target.x_mm - big.mean(axis=0)[0]) < 0.1
    assert stereo.scout is not None
    at = stereo.scout.geometry.project(small.mean(axis=0))[0]
    chosen = locate(stereo, found, CONFIG, at=(float(at[0]), float(at[1])))
    assert chosen.choice is ChoiceRule.NEAREST_POINT and abs(chosen.target.x_mm - small.mean(axis=0)[0]) < 0.1


def test_warnings_near_the_support_few_matches_and_no_scout():
    pair = [(n, header(a)) for n, a in (("p.dcm", 15.0), ("m.dcm", -15.0))]
    stereo = recognise(pair, CONFIG)
    low = np.array([[1.0, 1.0, 3.0], [2.5, 0.0, 3.5]])
    result = locate(stereo, detections(stereo, {"low": low}), CONFIG)
    assert set(result.warnings) == {TargetWarning.NEAR_SUPPORT, TargetWarning.FEW_MATCHES, TargetWarning.NO_SCOUT}
