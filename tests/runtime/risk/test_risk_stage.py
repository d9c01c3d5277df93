"""The shipped risk model through the runtime stage and the exam pipeline: a four-view phantom exam read by the
runtime, typed records, the result schema (version 5) read back, partial exams, factors, and no risk values in
the MQTT event."""

import dataclasses
import json

import numpy as np
import pytest

from mammoedge.runtime.codes import Laterality, View
from mammoedge.runtime.config import Config, InferenceConfig, load_config
from mammoedge.runtime.dicom.header import _age_years
from mammoedge.runtime.errors import ModelError
from mammoedge.runtime.inference import Engine
from mammoedge.runtime.pipeline import ExamModels, ExamPipeline
from mammoedge.runtime.results import SCHEMA_VERSION
from mammoedge.runtime.results.serialize import from_dict, to_dict, validate
from mammoedge.runtime.results.exam import ExamResult
from mammoedge.runtime.risk import INPUT_SHAPE, FactorName, FactorSource, Projection, RiskModel, RiskStatus
from mammoedge.runtime.telemetry.payloads import event_payload, exam_event
from mammoedge.tools.phantom.exam import make_exam

RISK_MODEL = "risk-fourview"


@pytest.fixture(scope="module")
def engine():
    return Engine(InferenceConfig())


@pytest.fixture(scope="module")
def pipeline(engine):
    config = dataclasses.replace(Config(), analysis=dataclasses.replace(Config().analysis, risk_model=RISK_MODEL,
                                                                        morphology_model=""))
    return ExamPipeline(ExamModels.load(config, engine=engine), config)


@pytest.fixture(scope="module")
def normalized(pipeline, tmp_path_factory):
    folder = tmp_path_factory.mktemp("exam")
    make_exam(folder, seed=424242, index=0, profile="ge", size="small", with_cohort=True)
    return [pipeline.read(folder / f"{name}.dcm") for name in ("RCC", "LCC", "RMLO", "LMLO")]


def test_four_views_give_monotone_risks_factors_density_and_asymmetry_on_the_breast(pipeline, normalized):
    assessment = pipeline.models.risk.assess(list(reversed(normalized)))  # any order
    assert assessment.status is RiskStatus.ASSESSED
    risk = np.array(assessment.risk)
    assert risk.shape == (5,) and (risk >= 0).all() and (risk <= 1).all() and (np.diff(risk) >= 0).all()
    factors = {f.name: f for f in assessment.factors}
    assert factors[FactorName.DENSITY].used and factors[FactorName.DENSITY].source is FactorSource.IMAGE_ESTIMATE
    assert factors[FactorName.DENSITY].value == assessment.density.category.value
    assert factors[FactorName.AGE].source is FactorSource.ABSENT and not factors[FactorName.AGE].used
    assert sum(assessment.density.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
    assert [f.projection for f in assessment.asymmetry] == list(Projection)
    by_key = {(v.laterality, v.view): v for v in normalized}
    for finding in assessment.asymmetry:
        left = by_key[(Laterality.LEFT, View(finding.projection.value))]
        h, w = left.image.shape
        assert 0 <= finding.x < w and 0 <= finding.y < h and finding.heatmap.shape == (27, 21)
        assert finding.score == pytest.approx(float(finding.heatmap.max()), rel=1e-3)
        right = by_key[(Laterality.RIGHT, View(finding.projection.value))]
        # the window centre is inside both breasts: read back from each stored view's pixels
        for view, stored in ((left, finding.left_xy), (right, finding.right_xy)):
            x, y = view.transform.from_original(np.array([stored]))[0]
            assert view.mask[int(round(y)), int(round(x))], (finding.projection, view.laterality)
        # the same relative place in each breast's box (registration): chest wall to nipple, top to bottom
        lbox, rbox = finding.boxes
        rx, ry = right.transform.from_original(np.array([finding.right_xy]))[0]
        assert rx / rbox.right == pytest.approx(finding.x / lbox.right, abs=0.01)
        assert (ry - rbox.top) / rbox.rows == pytest.approx((finding.y - lbox.top) / lbox.rows, abs=0.01)
        # the window: the model's square on the registered grid, a rectangle of its own on each view
        side = finding.window * finding.stride
        for view, box, window in ((left, lbox, finding.left_window), (right, rbox, finding.right_window)):
            x0, y0, x1, y1 = window.view_box
            assert x1 - x0 == pytest.approx(side * box.right / INPUT_SHAPE[1], abs=0.2)
            assert y1 - y0 == pytest.approx(side * box.rows / INPUT_SHAPE[0], abs=0.2)
            assert window.width_mm == pytest.approx((x1 - x0) * view.spacing_mm, abs=0.1)
            assert window.height_mm == pytest.approx((y1 - y0) * view.spacing_mm, abs=0.1)
            corners = view.transform.to_original(np.array([[x0, y0], [x1, y1]]))
            assert np.allclose(np.sort(corners, axis=0), np.array(window.stored_box).reshape(2, 2), atol=0.1)
    assert assessment.asymmetry_score == max(f.score for f in assessment.asymmetry)


def test_the_exam_result_carries_risk_validates_against_schema_5_and_reads_back(pipeline, normalized):
    result = pipeline.exam([], study_key="0" * 32, normalized=normalized)
    assert result.schema_version == SCHEMA_VERSION == 6 and result.risk.status is RiskStatus.ASSESSED
    assert "risk" in {t.stage for t in result.timings} and RISK_MODEL in {m.name for m in result.models}
    document = json.loads(json.dumps(to_dict(result)))
    validate(document)
    back = from_dict(ExamResult, document)
    assert back.risk.risk == result.risk.risk and back.risk.density == result.risk.density
    assert back.risk.asymmetry[0].heatmap is None and back.risk.asymmetry[0].left_xy == result.risk.asymmetry[0].left_xy
    assert back.risk.asymmetry[1].right_window == result.risk.asymmetry[1].right_window
    # the fleet event carries counts and timings, never a risk value
    payload = json.loads(event_payload(exam_event({"study_key": "0" * 32, "result": document})))
    text = json.dumps(payload)
    assert "risk\"" not in text.replace('"risk": ', "") and "density" not in text and "asymmetry" not in text
    assert set(payload) >= {"study_key", "flag"} and all(isinstance(v, float) for v in payload["latency_s"].values())


def test_a_partial_exam_gets_a_status_and_no_numbers(pipeline, normalized):
    three = pipeline.models.risk.assess(normalized[:3])
    assert three.status is RiskStatus.NEEDS_FOUR_VIEWS and "LMLO" in three.message
    assert three.risk is None and three.density is None and three.asymmetry == ()
    left = pipeline.models.risk.assess([normalized[1], normalized[3]])
    assert left.status is RiskStatus.NEEDS_BOTH_SIDES and "RCC" in left.message and left.risk is None
    result = pipeline.exam([], study_key="0" * 32, normalized=normalized[:2])
    validate(json.loads(json.dumps(to_dict(result))))


def test_age_from_the_header_is_reported_as_a_factor_the_model_does_not_use(pipeline, normalized):
    aged = [dataclasses.replace(v, header=dataclasses.replace(v.header, patient_age_years=56)) for v in normalized]
    age = next(f for f in pipeline.models.risk.assess(aged, age_years=56).factors if f.name is FactorName.AGE)
    assert age.value == "56" and age.source is FactorSource.DICOM_HEADER and not age.used and "no age input" in age.note
    assert pipeline.exam([], study_key="0" * 32, normalized=aged).risk.factors[1].value == "56"
    assert [_age_years(v) for v in ("056Y", "018M", "", None, "56Y", "abcY", "030W")] == [56, 1, None, None, None,
                                                                                          None, 0]


def test_the_model_is_off_unless_configured_and_bad_parameters_are_a_model_error(engine):
    assert load_config(None).analysis.risk_model == ""
    model = engine.load(RISK_MODEL)
    broken = dataclasses.replace(model.entry, parameters={"calibration": {"a": [1.0], "b": [0.0]}})
    model.entry = broken
    with pytest.raises(ModelError, match="asymmetry_threshold"):
        RiskModel(model)


def test_outputs_write_one_asymmetry_picture_per_projection_named_in_the_result(pipeline, normalized, tmp_path):
    import cv2

    from mammoedge.runtime.pipeline import write_exam_outputs
    from mammoedge.runtime.results import read_result

    result = pipeline.exam([pipeline.view(v) for v in normalized], study_key="0" * 32, normalized=normalized)
    written, path = write_exam_outputs(result, normalized, tmp_path)
    names = [f.picture for f in written.risk.asymmetry]
    assert names == [f"{'0' * 32}_asymmetry_CC.png", f"{'0' * 32}_asymmetry_MLO.png"]
    for name in names:
        picture = cv2.imread(str(tmp_path / name))
        assert picture is not None and picture.shape[1] == 2 * 2 * 208 and picture.std() > 5
    assert [f.picture for f in read_result(path).risk.asymmetry] == names
