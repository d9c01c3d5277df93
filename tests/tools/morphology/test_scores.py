"""The issue-23 scoring of exam results: intervals and the hit/false-positive/flag rules on a hand-made exam."""

from types import SimpleNamespace

import pytest

from mammoedge.runtime.codes import BiradsCategory, Distribution, Laterality, Morphology, MorphologyClass, View
from mammoedge.runtime.morphology import MorphologyAssessment
from mammoedge.tools.morphology.scores import poisson_interval, score, wilson
from mammoedge.tools.phantom.truth import ClusterInView, ClusterTruth, Density, ExamTruth, ViewTruth


def test_wilson_and_poisson_intervals_on_known_values():
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(40, 58) == pytest.approx((0.5620, 0.7938), abs=1e-4)  # by hand: centre 0.6779, half 0.1159
    assert poisson_interval(0) == pytest.approx((0.0, 3.6889), abs=1e-3)
    assert poisson_interval(5) == pytest.approx((1.6235, 11.6683), abs=1e-3)


def planted(cid, morphology, distribution, n=8):
    return ClusterTruth(cluster_id=cid, morphology=morphology, distribution=distribution, n_calcifications=n,
                        malignant=False, malignancy_probability=0.1, assessment=BiradsCategory.SUSPICIOUS_LOW,
                        center_mm=(0.0, 0.0, 0.0), extent_mm=5.0)


def in_view(cid, box):
    return ClusterInView(cluster_id=cid, center_px=((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), bbox_px=box,
                         calcifications=())


def exam():
    """Right breast: a suspicious amorphous cluster (id 1) and a benign punctate one (id 2); left breast normal.
    Stored pixels of 0.1 mm, so the 5-mm margin is 50 px."""
    def view(lat, clusters):
        return ViewTruth(file=f"{lat}CC.dcm", sop_instance_uid="1.2", laterality=lat, view="CC", rows=100,
                         columns=100, pixel_spacing_mm=0.1, chest_wall_side="left", breast_area_mm2=1.0,
                         dense_area_fraction=0.5, nipple_px=(0.0, 0.0), clusters=clusters)
    return ExamTruth(schema_version="1.0.0", generator="test", seed=0, exam_index=0, kind="screening",
                     vendor="ge", density=Density.B, study_instance_uid="1.2.3",
                     assessment=BiradsCategory.SUSPICIOUS_LOW, breast_thickness_mm={"R": 50.0, "L": 50.0},
                     clusters={"R": (planted(1, Morphology.AMORPHOUS, Distribution.REGIONAL),
                                     planted(2, Morphology.PUNCTATE, Distribution.DIFFUSE))},
                     views=(view("R", (in_view(1, (100, 100, 200, 200)), in_view(2, (1000, 1000, 1100, 1100)))),
                            view("L", ())))


def cluster(x, y, suspicion, birads=BiradsCategory.SUSPICIOUS_LOW, uncertain=False):
    m = MorphologyAssessment(morphology=MorphologyClass.AMORPHOUS, probabilities={}, benign_subtype=None,
                             birads=birads, likelihood=0.5, uncertainty=0.1, uncertain=uncertain, rois=1)
    return SimpleNamespace(centroid_original_x=x, centroid_original_y=y, suspicion=suspicion, morphology=m)


def result(right, left, flagged_right, flagged_left):
    views = (SimpleNamespace(laterality=Laterality.RIGHT, view=View.CC, clusters=right),
             SimpleNamespace(laterality=Laterality.LEFT, view=View.CC, clusters=left))
    return SimpleNamespace(views=views, breasts=(SimpleNamespace(laterality=Laterality.RIGHT, flagged=flagged_right),
                                                 SimpleNamespace(laterality=Laterality.LEFT, flagged=flagged_left)))


def test_hits_false_positives_benign_and_breasts():
    right = [cluster(240, 150, 0.5),  # inside the amorphous box widened by 50 px: a hit
             cluster(1050, 1050, 0.6),  # on the punctate cluster: neither hit nor FP, but a benign one counted
             cluster(600, 600, 0.7),  # in no box: a false positive
             cluster(610, 610, 0.7, birads=BiradsCategory.BENIGN)]  # does not count toward the flag: not reported
    left = [cluster(10, 10, 0.2)]  # below the operating point: not counted
    report = score([(exam(), result(right, left, True, False))], operating_point=0.3, min_birads="4A",
                   flag_uncertain=True)
    assert report["suspicious_sensitivity"]["k"] == 1 and report["suspicious_sensitivity"]["n"] == 1
    assert report["by_distribution"]["regional"]["k"] == 1 and report["by_morphology"]["amorphous"]["n"] == 1
    assert report["fp_clusters_per_view"]["k"] == 1 and report["fp_clusters_per_view"]["value"] == 0.5
    assert report["benign_clusters_counted"]["punctate"]["k"] == 1
    assert report["breast_flag_sensitivity"]["k"] == 1 and report["breast_flag_specificity"]["k"] == 1
    assert report["reported_clusters_per_normal_view"] == 1.0


def test_a_cluster_just_outside_the_widened_box_misses():
    right = [cluster(251, 150, 0.9)]  # 51 px right of the box: more than 5 mm
    report = score([(exam(), result(right, [], False, False))], operating_point=0.3, min_birads="4A",
                   flag_uncertain=True)
    assert report["suspicious_sensitivity"]["k"] == 0 and report["fp_clusters_per_view"]["k"] == 1
    assert report["suspicious_ceiling_any_reported_cluster"]["k"] == 0
    assert report["breast_flag_sensitivity"]["k"] == 0 and report["missed"][0]["morphology"] == "amorphous"
