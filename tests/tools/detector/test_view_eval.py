"""Cluster matching on hand-made views, the baseline behind the model interface, one exam end to end."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mammoedge.tools.detector.baseline_model import BaselineModel, PrewhitenedModel, prewhitened_z
from mammoedge.tools.detector.froc import ImageCase, drop_ignored, match, sensitivity_at
from mammoedge.tools.detector.view_eval import (CLUSTER_MARGIN_MM, found_and_missed, median_cnr, missed_clusters,
                                                view_cases)


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
    return {"x": x, "y": y, "length_mm": 0.4, "morphology": morph, "cluster_id": cid}


VIEW_TRUTH = {"file": "LCC.dcm", "clusters": [
    # suspicious cluster 0: bbox 100 px (10 mm) wide -> radius 0.5 * 10 mm diagonal-ish + margin
    {"cluster_id": 0, "bbox_px": [1000, 1000, 1100, 1000],
     "calcifications": [_calc(1000, 1000, "fine_pleomorphic", 0), _calc(1100, 1000, "fine_pleomorphic", 0)]},
    # benign cluster 1 (vascular) far away
    {"cluster_id": 1, "bbox_px": [3000, 3000, 3020, 3000],
     "calcifications": [_calc(3000, 3000, "vascular", 1), _calc(3020, 3000, "vascular", 1)]},
    # an isolated calcification: no cluster truth
    {"cluster_id": None, "bbox_px": [500, 500, 500, 500], "calcifications": [_calc(500, 500, "punctate", None)]},
]}
EXAM_TRUTH = {"exam_index": 7, "density": "c", "vendor": "ge", "clusters": {
    "L": [{"cluster_id": 0, "morphology": "fine_pleomorphic"}, {"cluster_id": 1, "morphology": "vascular"}],
    "R": []}}


def test_view_cases_cluster_rule_with_known_answers():
    reach_px = (5.0 + CLUSTER_MARGIN_MM) / 0.1  # half the 10 mm box + margin, in px from the centre (1050, 1000)
    analysis, normalized = _fake_view(
        clusters_det=[(1050 + reach_px - 5, 1000, 0.9),   # inside the rule: hit on cluster 0
                      (1050 + reach_px + 5, 1000, 0.95),  # just outside: false positive
                      (3010, 3000, 0.8),                  # on the benign cluster
                      (500, 500, 0.7)],                   # on an isolated calcification: false positive
        calcs_det=[(1000.3, 1000, 0.9), (1100, 1010, 0.5), (2000, 2000, 0.4)])
    cases = view_cases(analysis, normalized, VIEW_TRUTH, EXAM_TRUTH)
    # suspicious: one truth; the benign-cluster detection is ignored, two false positives remain
    assert len(cases.suspicious.truths) == 1
    scores, hits = match(cases.suspicious)
    assert sorted(zip(scores.tolist(), hits.tolist())) == [(0.7, False), (0.9, True), (0.95, False)]
    (label,) = cases.suspicious_labels
    assert {k: label[k] for k in ("morphology", "density", "vendor", "members", "exam", "view", "cluster_id")} == {
        "morphology": "fine_pleomorphic", "density": "c", "vendor": "ge", "members": 2, "exam": 7, "view": "LCC",
        "cluster_id": 0}
    assert 5.0 < label["cnr"] < 9.0  # median of ~8 and ~4 noise std, plus the noise at the peak
    # all clusters: two truths, the benign-cluster detection is a hit now
    scores, hits = match(cases.clusters)
    assert len(cases.clusters.truths) == 2 and int(hits.sum()) == 2
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


def test_prewhitened_filter_reaches_the_matched_filter_snr_on_white_noise():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:256, 0:256]
    dot = 0.12 * np.exp(-((xx - 130) ** 2 + (yy - 90) ** 2) / 2.0)  # Gaussian speck, sigma 1 px
    # template t = g1 - g3 (unit-area Gaussians, sigma 1 and 3 px); the dot is 0.12 * 2 pi g1:
    # <dot, t> = 0.12 * 2 pi (1/(4 pi) - 1/(20 pi)) = 0.048, ||t||^2 = (1/4 - 2/20 + 1/36) / pi
    expected = 0.048 / (0.05 * np.sqrt((0.25 - 0.1 + 1 / 36) / np.pi))  # 4.04
    z_background, z_dot = [], []
    for _ in range(20):
        noise = 0.5 + 0.05 * rng.standard_normal((256, 256))  # standardized breast: around 0.1-0.9
        z_background.append(prewhitened_z(noise.astype(np.float32)))
        z_dot.append(prewhitened_z((noise + dot).astype(np.float32))[90, 130])
    assert np.std(z_background) == pytest.approx(1.0, abs=0.05)  # calibrated: z is in noise sd
    assert np.mean(z_dot) == pytest.approx(expected, abs=0.35)
    # a tile half outside the breast (0 there): the noise is the breast half's, so z stays calibrated there
    edge = 0.5 + 0.05 * rng.standard_normal((256, 256))
    edge[:, 128:] = 0.0
    z = prewhitened_z(edge.astype(np.float32))
    assert np.std(z[:, 16:112]) == pytest.approx(1.0, abs=0.1)


def test_prewhitening_lifts_a_speck_out_of_power_law_anatomy():
    import cv2

    from mammoedge.tools.phantom.texture import power_law_field

    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:512, 0:512]
    anatomy = cv2.GaussianBlur(0.3 * power_law_field(rng, (512, 512), 0.1), (0, 0), 3.0)  # smooth, as rendered
    tile = (0.5 + anatomy + 0.01 * rng.standard_normal((512, 512))
            + 0.08 * np.exp(-((xx - 301) ** 2 + (yy - 205) ** 2) / 2.0)).astype(np.float32)
    inner = (slice(32, -32), slice(32, -32))  # what the runtime's stitching keeps of a tile (overlap 64)
    z = prewhitened_z(tile)[inner]
    assert np.unravel_index(np.argmax(z), z.shape) == (205 - 32, 301 - 32)  # the speck, not the anatomy
    assert tile[205, 301] < tile.max() - 0.3  # whose bright blobs outshine it in the raw tile
    prob = PrewhitenedModel().infer(tile[None, None])["prob"][0, 0][8:-8, 8:-8]
    assert np.unravel_index(np.argmax(prob), prob.shape) == (205 // 4 - 8, 301 // 4 - 8)


@pytest.mark.slow
def test_one_small_exam_through_the_runtime_path(tmp_path):
    from mammoedge.runtime.config import load_config
    from mammoedge.tools.detector.view_eval import evaluate_views
    from mammoedge.tools.phantom.exam import make_exam

    make_exam(tmp_path / "exam", seed=2_000_001, index=0, profile="ge", size="small", normal_fraction=0.0)
    config = load_config(None)
    report = evaluate_views([tmp_path / "exam"], {"baseline (DoG)": (BaselineModel(), None)}, config, tmp_path / "out",
                            bootstrap_samples=10, progress=False, scan_detector="baseline (DoG)")
    assert report["views"] == 4 and report["vendor"] == {"ge": 1}
    row = report["detectors"]["baseline (DoG)"]
    assert row["clusters"]["truths"] >= 1 and row["calcs"]["truths"] >= row["clusters"]["truths"]
    for name in ("baseline (DoG) evidence scan", "image contrast scan"):  # scan rows: clusters only
        scan = report["detectors"][name]
        assert "calcs" not in scan and scan["clusters"]["truths"] == row["clusters"]["truths"]
    assert (tmp_path / "out" / "froc-views.png").stat().st_size > 1000
    assert (tmp_path / "out" / "view-evaluation.json").exists()


def test_member_cnr_reads_contrast_over_the_ring_noise():
    normalized = SimpleNamespace(spacing_mm=0.1, transform=SimpleNamespace(from_original=lambda xy: np.asarray(xy)),
                                 image=_fake_image())
    strong = median_cnr(normalized, [{"x": 1000, "y": 1000}])
    faint = median_cnr(normalized, [{"x": 1100, "y": 1000}])
    assert 7.0 < strong < 10.0 and 4.0 < faint < 7.0 and strong > faint + 1.5  # the peak is a max: noise adds to it
    assert median_cnr(normalized, [{"x": 600, "y": 600}]) < 4.0  # no calcification: the noise's own maximum


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
