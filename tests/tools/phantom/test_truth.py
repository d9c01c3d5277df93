"""Typed truth both ways: what make_exam / make_stereo write reads back as the same typed record."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from mammoedge.runtime.codes import Morphology
from mammoedge.runtime.errors import MammoedgeError
from mammoedge.tools.phantom.errors import TruthError
from mammoedge.tools.phantom.exam import make_exam, plan_exam
from mammoedge.tools.phantom.stereo import make_stereo
from mammoedge.tools.phantom.truth import ClusterInView, Density, ExamTruth, RiskLabel, StereoTarget, ViewTruth, to_json


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("truth")
    make_exam(root / "cohort", seed=3, index=1, profile="ge", size="small", normal_fraction=0.0, with_cohort=True)
    make_stereo(root / "stereo", seed=3, index=0, size="small")
    return {"cohort": root / "cohort", "stereo": root / "stereo"}


@pytest.mark.parametrize("kind", ["cohort", "stereo"])
def test_written_truth_reads_back_typed_and_writes_the_same_file(folders, kind):
    path = folders[kind] / "truth.json"
    truth = ExamTruth.read(path)
    assert to_json(truth) + "\n" == path.read_text()  # the round trip is exact
    assert ExamTruth.from_dict(json.loads(to_json(truth))) == truth
    assert isinstance(truth.density, Density) and truth.views and isinstance(truth.views[0], ViewTruth)
    for view in truth.views:
        assert (folders[kind] / view.file).exists()
        for cluster in view.clusters:
            assert isinstance(cluster, ClusterInView) and len(cluster.bbox_px) == 4
            assert all(isinstance(c.morphology, Morphology) for c in cluster.calcifications)
    if kind == "cohort":
        assert isinstance(truth.risk, RiskLabel) and truth.stereo_target is None
    else:
        assert isinstance(truth.stereo_target, StereoTarget) and truth.kind == "stereo"
        assert all(len(xy) == 2 for xy in truth.stereo_target.projected_px.values())


def test_typed_truth_equals_the_planned_one_up_to_the_written_rounding(folders):
    """The reader rebuilds the generator's own record: the plan's clusters, by id and morphology."""
    truth = ExamTruth.read(folders["cohort"] / "truth.json")
    plan = plan_exam(seed=3, index=1, profile="ge", size="small", normal_fraction=0.0, with_cohort=True)
    assert truth.morphology_of() == {c.cluster_id: c.morphology for side in plan.clusters.values() for c in side}
    assert truth.morphology_of()  # normal_fraction 0: something is planted


def _document(folders) -> dict:
    return json.loads((folders["cohort"] / "truth.json").read_text())


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("vendor"), "truth: missing key 'vendor'"),
    (lambda d: d.update(extra=1), "truth: unknown key 'extra'"),
    (lambda d: d.update(density="e"), "truth.density: not one of a, b, c, d"),
    (lambda d: d["views"][0].update(rows="many"), "truth.views[0].rows: must be int"),
    (lambda d: d["views"][0].update(nipple_px=[1.0]), "truth.views[0].nipple_px: must hold 2 values, holds 1"),
    (lambda d: d.update(schema_version="0.9"), "truth.schema_version '0.9' is not"),
])
def test_a_truth_that_breaks_the_schema_names_the_field_and_the_rule(folders, change, message):
    document = _document(folders)
    change(document)
    with pytest.raises(TruthError) as error:
        ExamTruth.from_dict(document)
    assert str(error.value).startswith(message)
    assert isinstance(error.value, MammoedgeError)
    assert document["study_instance_uid"] not in str(error.value)  # no identifier in the message


def test_a_file_that_is_not_json_is_a_truth_error(tmp_path):
    (tmp_path / "truth.json").write_text("{not json")
    with pytest.raises(TruthError, match="not JSON"):
        ExamTruth.read(tmp_path / "truth.json")


def test_optional_records_stay_none_and_defaults_apply(folders):
    document = _document(folders)
    document.pop("risk")
    document.pop("stereo_target")
    for view in document["views"]:
        view.pop("positioner_primary_angle_deg")
    truth = ExamTruth.from_dict(document)
    assert truth.risk is None and truth.stereo_target is None
    assert {v.positioner_primary_angle_deg for v in truth.views} == {0.0}
    assert dataclasses.replace(truth, risk=None) == truth
