"""Cluster matching on hand-made views, the baseline behind the model interface, one exam end to end."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from mammoedge.runtime.codes import BiradsCategory, Distribution, Morphology
from mammoedge.tools.detector.baseline_model import BaselineModel
from mammoedge.tools.detector.froc import ImageCase, drop_ignored, match, sensitivity_at
from mammoedge.tools.detector.view_eval import (
    CLUSTER_MARGIN_MM,
    found_and_missed,
    median_cnr,
    missed_clusters,
    pipeline,
    split_level_rows,
    view_cases,
)
from mammoedge.tools.phantom.truth import (
    SCHEMA_VERSION,
    CalcTruth,
    ClusterInView,
    ClusterTruth,
    Density,
    ExamTruth,
    ViewTruth,
)


def test_drop_ignored_keeps_hits_and_drops_only_false_positives_in_regions():
    case = ImageCase(detections=np.array([[0, 0, 0.9], [50, 50, 0.8], [80, 0, 0.7], [1, 0, 0.6]]),
                     truths=np.array([[0, 0, 5]]))
    kept = drop_ignored(case, np.array([[50, 50, 5], [0, 0, 10]]))
    # (50,50) is an unmatched detection on a benign region: gone; (1,0) is a duplicate on the truth that also
    # lies in an ignore region: gone; (80,0) is a real false positive: kept.
    np.testing.assert_array_equal(kept.detections[:, 2], [0.9, 0.7])
    scores, hits = match(kept)
    assert hits.tolist() == [True, False]
    assert drop_ignored(case, np.zeros((0, 3))) is case


def _fake_image():
    """Noise (std 0.01) with the suspicious cluster's two members at 8 and 4 noise std."""
    image = (0.5 + 0.01 * np.random.default_rng(0).standard_normal((1200, 1200))).astype(np.float32)
    yy, xx = np.mgrid[0:1200, 0:1200]
    for x, peak in ((1000, 0.08), (1100, 0.04)):
        image += (peak * np.exp(-((xx - x) ** 2 + (yy - 1000) ** 2) / (2 * 1.5 ** 2))).astype(np.float32)
    return image


def _fake_view(clusters_det, calcs_det):
    normalized = SimpleNamespace(spacing_mm=0.1, transform=SimpleNamespace(from_original=lambda xy: np.asarray(xy)),
                                 image=_fake_image())
    analysis = SimpleNamespace(
        clusters=[SimpleNamespace(centroid_x=x, centroid_y=y, suspicion=s) for x, y, s in clusters_det],
        calcifications=[SimpleNamespace(x=x, y=y, score=s) for x, y, s in calcs_det])
    return analysis, normalized


def _calc(x, y, morph, cid):
    m = Morphology(morph)
    return CalcTruth(x=x, y=y, diameter_mm=0.3, length_mm=0.4, morphology=m, cluster_id=cid, suspicious=m.suspicious)


def _in_view(cid, bbox, calcs):
    return ClusterInView(cluster_id=cid, center_px=(0.5 * (bbox[0] + bbox[2]), 0.5 * (bbox[1] + bbox[3])),
                         bbox_px=bbox, calcifications=calcs)


def _cluster(cid, morph, distribution, n):
    return ClusterTruth(cluster_id=cid, morphology=Morphology(morph), distribution=Distribution(distribution),
                        n_calcifications=n, malignant=False, malignancy_probability=0.1,
                        assessment=BiradsCategory.BENIGN, center_mm=(0.0, 0.0, 0.0), extent_mm=1.0)


VIEW_TRUTH = ViewTruth(
    file="LCC.dcm", sop_instance_uid="1.2.3", laterality="L", view="CC", rows=4000, columns=4000,
    pixel_spacing_mm=0.1, chest_wall_side="left", breast_area_mm2=1.0, dense_area_fraction=0.5,
    nipple_px=(3500.0, 2000.0), clusters=(
        # suspicious cluster 0: bbox 100 px (10 mm) wide -> radius 0.5 * 10 mm diagonal-ish + margin
        _in_view(0, (1000.0, 1000.0, 1100.0, 1000.0),
                 (_calc(1000, 1000, "fine_pleomorphic", 0), _calc(1100, 1000, "fine_pleomorphic", 0))),
        # benign cluster 1 (vascular) far away
        _in_view(1, (3000.0, 3000.0, 3020.0, 3000.0),
                 (_calc(3000, 3000, "vascular", 1), _calc(3020, 3000, "vascular", 1))),
        # an isolated calcification (distribution single): a benign cluster of one
        _in_view(2, (500.0, 500.0, 500.0, 500.0), (_calc(500, 500, "punctate", 2),)),
    ))
EXAM_TRUTH = ExamTruth(
    schema_version=SCHEMA_VERSION, generator="test", seed=0, exam_index=7, kind="screening", vendor="ge",
    density=Density.C, study_instance_uid="1.2", assessment=BiradsCategory.SUSPICIOUS_MODERATE,
    breast_thickness_mm={"L": 50.0},
    clusters={"L": (_cluster(0, "fine_pleomorphic", "grouped", 2), _cluster(1, "vascular", "linear", 2),
                    _cluster(2, "punctate", "single", 1)), "R": ()},
    views=(VIEW_TRUTH,))


def test_view_cases_cluster_rule_with_known_answers():
    reach_px = (5.0 + CLUSTER_MARGIN_MM) / 0.1  # half the 10 mm box + margin, in px from the centre (1050, 1000)
    analysis, normalized = _fake_view(
        clusters_det=[(1050 + reach_px - 5, 1000, 0.9),   # inside the rule: hit on cluster 0
                      (1050 + reach_px + 5, 1000, 0.95),  # just outside: false positive
                      (3010, 3000, 0.8),                  # on the benign cluster: ignored
                      (500, 500, 0.7),                    # on the isolated calcification: ignored too
                      (2000, 500, 0.6)],                  # on nothing: false positive
        calcs_det=[(1000.3, 1000, 0.9), (1100, 1010, 0.5), (2000, 2000, 0.4)])
    cases = view_cases(analysis, normalized, VIEW_TRUTH, EXAM_TRUTH)
    # suspicious: one truth; the benign-cluster detection is ignored, two false positives remain
    assert len(cases.suspicious.truths) == 1
    scores, hits = match(cases.suspicious)
    assert sorted(zip(scores.tolist(), hits.tolist())) == [(0.6, False), (0.9, True), (0.95, False)]
    (label,) = cases.suspicious_labels
    assert {k: label[k] for k in ("morphology", "density", "vendor", "members", "exam", "view", "cluster_id")} == {
        "morphology": "fine_pleomorphic", "density": "c", "vendor": "ge", "members": 2, "exam": 7, "view": "LCC",
        "cluster_id": 0}
    assert 5.0 < label["cnr"] < 9.0  # median of ~8 and ~4 noise std, plus the noise at the peak
    # all clusters: three truths (the isolated calcification is a cluster of one); every benign one is a hit now
    scores, hits = match(cases.clusters)
    assert len(cases.clusters.truths) == 3 and int(hits.sum()) == 3
    # calcifications (5 truths incl. the isolated one): 1000.3 within 0.5 mm; (1100, 1010) is 1 mm away: miss
    assert sensitivity_at([cases.calcs], (10.0,))[10.0] == pytest.approx(1 / 5)
    assert cases.calc_morphology.count("vascular") == 2


def test_baseline_model_marks_a_bright_dot_at_stride_4():
    rng = np.random.default_rng(0)
    tile = (0.5 + 0.01 * rng.standard_normal((128, 128))).astype(np.float32)
    yy, xx = np.mgrid[0:128, 0:128]
    tile += 0.2 * np.exp(-((xx - 70) ** 2 + (yy - 41) ** 2) / (2 * 1.5 ** 2)).astype(np.float32)
    prob = BaselineModel().infer(tile[None, None])["prob"]
    assert prob.shape == (1, 1, 32, 32)
    row, col = np.unravel_index(np.argmax(prob[0, 0]), (32, 32))
    assert (row, col) == (41 // 4, 70 // 4)
    away = prob[0, 0].copy()
    away[row - 1:row + 2, col - 1:col + 2] = 0
    assert prob[0, 0, row, col] > 0.5 > 0.2 > away.max()  # the dot stands out; noise stays low


@pytest.mark.slow
def test_one_small_exam_through_the_runtime_path(tmp_path):
    from mammoedge.runtime.config import load_config
    from mammoedge.tools.detector.view_eval import evaluate_views
    from mammoedge.tools.phantom.exam import make_exam

    make_exam(tmp_path / "exam", seed=2_000_001, index=0, profile="ge", size="small", normal_fraction=0.0)
    config = load_config(None)
    rows = {"baseline (DoG)": pipeline(BaselineModel(), config),
            "baseline, peak 0.9": pipeline(BaselineModel(), config,
                                           dataclasses.replace(config.analysis, peak_threshold=0.9))}
    report = evaluate_views([tmp_path / "exam"], rows, config, tmp_path / "out", bootstrap_samples=10,
                            progress=False)
    assert report["views"] == 4 and report["vendor"] == {"ge": 1}
    row = report["detectors"]["baseline (DoG)"]
    assert row["clusters"]["truths"] >= 1 and row["calcs"]["truths"] >= row["clusters"]["truths"]
    strict = report["detectors"]["baseline, peak 0.9"]  # a row's own analysis options apply to it alone
    assert strict["calcs"]["truths"] == row["calcs"]["truths"]
    assert report["row_analysis"]["baseline, peak 0.9"]["peak_threshold"] == 0.9
    assert strict["calcs"]["sensitivity_at_fp"]["2.0"][0] <= row["calcs"]["sensitivity_at_fp"]["2.0"][0]
    for kind in ("suspicious", "clusters", "calcs"):  # every reported detection: the curve's far end
        reported = row[kind]["all_reported"]
        assert reported["false_per_view"] >= 0 and reported["sensitivity"] >= row[kind]["sensitivity_at_fp"]["0.1"][0]
        assert strict[kind]["all_reported"]["false_per_view"] <= reported["false_per_view"]
    assert strict["calcs"]["all_reported"]["sensitivity"] <= row["calcs"]["all_reported"]["sensitivity"]
    assert (tmp_path / "out" / "froc-views.png").stat().st_size > 1000
    assert (tmp_path / "out" / "view-evaluation.json").exists()


def test_member_cnr_reads_contrast_over_the_ring_noise():
    normalized = SimpleNamespace(spacing_mm=0.1, transform=SimpleNamespace(from_original=lambda xy: np.asarray(xy)),
                                 image=_fake_image())
    strong = median_cnr(normalized, [_calc(1000, 1000, "amorphous", 0)])
    faint = median_cnr(normalized, [_calc(1100, 1000, "amorphous", 0)])
    assert 7.0 < strong < 10.0 and 4.0 < faint < 7.0 and strong > faint + 1.5  # the peak is a max: noise adds to it
    assert median_cnr(normalized, [_calc(600, 600, "amorphous", 0)]) < 4.0  # no calcification: the noise's own maximum


def test_found_and_missed_splits_truths_at_the_threshold():
    def case(score, label):
        return SimpleNamespace(suspicious=ImageCase(detections=np.array([[0, 0, score]]), truths=np.array([[0, 0, 5]])),
                               suspicious_labels=(label,))

    faint = {"morphology": "amorphous", "members": 6, "cnr": 1.5}
    bright = {"morphology": "amorphous", "members": 12, "cnr": 3.0}
    cases = [case(0.2, faint), case(0.9, bright), case(0.1, faint)]
    summary = found_and_missed(cases, threshold=0.5)
    assert summary == {"amorphous": {"found": {"clusters": 1, "median_members": 12.0, "median_cnr": 3.0},
                                     "missed": {"clusters": 2, "median_members": 6.0, "median_cnr": 1.5}}}
    missed = missed_clusters(cases, threshold=0.5)
    assert [m["members"] for m in missed] == [6, 6] and missed[0]["morphology"] == "amorphous"
    assert missed_clusters(cases, threshold=0.05) == []


def test_split_level_rows_pair_each_detector_with_and_without_the_levels():
    from mammoedge.runtime.config import load_config

    config = load_config(None)
    analysis = config.analysis
    assert analysis.split_levels  # shipped on
    model = BaselineModel()
    rows = split_level_rows({"INT8 openvino": pipeline(model, config), "baseline (DoG)": pipeline(model, config)},
                            analysis)
    levels = ", ".join(str(v) for v in analysis.split_levels)
    assert list(rows) == [f"INT8 openvino, split_levels {levels}", "INT8 openvino, no split_levels"]
    on, off = rows.values()
    assert on.models.detector is off.models.detector is model and on.config.analysis == analysis
    assert off.config.analysis.split_levels == ()
    assert dataclasses.replace(off.config.analysis, split_levels=analysis.split_levels) == analysis
