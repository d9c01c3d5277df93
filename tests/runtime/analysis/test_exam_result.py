"""Four synthetic views through the real detector path into one validated exam result and overlays."""

import dataclasses
import datetime as dt
import json

import cv2
import numpy as np
import pytest

from analysis_helpers import synthetic_view
from mammoedge.runtime.analysis import (
    BreastAssessment, Calcification, Cluster, ClusterLocation, Distribution, StageTiming, Triage, ViewAnalysis,
    analyze_view, write_overlay,
)
from mammoedge.runtime.codes import SCREENING_VIEWS, Laterality, View
from mammoedge.runtime.config import AnalysisConfig, Config
from mammoedge.runtime.morphology import MorphologyAssessment
from mammoedge.runtime.results import (
    ExamResult, ModelProvenance, ResultError, build_exam_result, from_dict, read_result, schema, to_dict, to_json,
    validate, write_result, ViewNotAnalyzed,
)
from mammoedge.runtime.pipeline import ExamModels, ExamPipeline, write_exam_outputs

# the synthetic views are drawn for the fake "maxpool" detector at this peak threshold
CONFIG = AnalysisConfig(tile_size=128, tile_overlap=32, peak_threshold=0.3)
KEY = "0123456789abcdef0123456789abcdef"
# a grouped cluster 7 mm wide in the right breast, seen in both views (similar nipple distance)
GROUP = [(0, 0), (2.5, 1), (1, 3), (4, 3.5), (3, -1.5), (5.5, 1)]


def exam(flagged: bool, detector):
    views = []
    for laterality, view in SCREENING_VIEWS:
        points = []
        if flagged and laterality is Laterality.RIGHT:
            # CC: lateral (upper) half; MLO: superior half -> upper outer quadrant
            points = [(6 + dx, 18 + dy) for dx, dy in GROUP]
        if view is View.MLO:
            points += [(10, 50)]  # one lone calcification: never a cluster
        image, mask = synthetic_view(points_mm=points)
        views.append((image, mask, analyze_view(image, mask, spacing_mm=0.1, laterality=laterality, view=view,
                                                model=detector, config=CONFIG)))
    result = build_exam_result(study_key=KEY, views=[v[2] for v in views], models=[detector],
                               operating_point=CONFIG.triage_threshold,
                               timings=[StageTiming(stage="read", seconds=0.01)],
                               created=dt.datetime(2026, 11, 25, 4, 0, tzinfo=dt.UTC))
    return result, views


def test_suspicious_exam_is_flagged_with_located_cluster(detector):
    result, _ = exam(True, detector)
    assert result.triage.flagged and result.triage.operating_point == CONFIG.triage_threshold == 0.3
    right, left = result.breasts
    assert right.laterality is Laterality.RIGHT and right.flagged and not left.flagged
    rcc = next(v for v in result.views if v.laterality is Laterality.RIGHT and v.view is View.CC)
    (cluster,) = rcc.clusters
    assert cluster.distribution is Distribution.GROUPED and cluster.count == 6
    assert cluster.side == "lateral"
    (location,) = right.locations
    assert location.quadrant == "UOQ" and location.clock_hour in (10, 11)
    assert location.depth == "posterior"
    assert {t.stage for t in result.timings} == {"read", "inference", "postprocess"}
    (model,) = result.models
    assert (model.backend, model.device, model.name) == ("openvino", "CPU", "maxpool") and len(model.sha256) == 64


def test_normal_exam_raises_no_flag(detector):
    result, _ = exam(False, detector)
    assert not result.triage.flagged and result.triage.score == 0.0
    assert all(not v.clusters for v in result.views)
    assert sum(len(v.calcifications) for v in result.views) == 2  # the lone ones are still reported


def test_result_json_validates_and_has_no_identifiers(detector, tmp_path):
    result, _ = exam(True, detector)
    document = json.loads(to_json(result))
    validate(document)
    assert document["schema_version"] == 6 and document["study_key"] == KEY
    path = write_result(result, tmp_path)
    assert path.name == f"{KEY}.json" and json.loads(path.read_text()) == document
    document["patient_name"] = "DOE^JANE"
    with pytest.raises(ResultError, match=r"\(root\).*'patient_name' was unexpected"):
        validate(document)


def test_result_reads_back_as_the_typed_record(detector, tmp_path):
    result, _ = exam(True, detector)
    assert from_dict(ExamResult, to_dict(result)) == result
    assert read_result(write_result(result, tmp_path)) == result
    document = to_dict(result)
    document["views"][0]["clusters"][0]["distribution"] = "clustered"
    with pytest.raises(ResultError, match=r"distribution = 'clustered' is not one of"):
        from_dict(ExamResult, document)


@pytest.mark.parametrize(
    "change, needle",
    [
        (lambda d: d.update(study_key="1.2.840.113619.2.55"), "study_key"),
        (lambda d: d["triage"].update(score=1.5), "triage/score"),
        (lambda d: d["views"][0]["clusters"][0].update(distribution="clustered"), "distribution"),
        (lambda d: d["models"][0].update(sha256="x"), "sha256"),
    ],
)
def test_schema_rejects_bad_documents(detector, change, needle):
    document = to_dict(exam(True, detector)[0])
    change(document)
    with pytest.raises(ResultError, match=needle):
        validate(document)


def test_write_refuses_a_study_key_that_is_not_a_keyed_hash(detector, tmp_path):
    result = dataclasses.replace(exam(False, detector)[0], study_key="1.2.3.4")
    with pytest.raises(ResultError, match="'1.2.3.4' is not 32 lower-case hex digits"):
        write_result(result, tmp_path)


@pytest.mark.parametrize(
    "cls, definition",
    [
        (ExamResult, None), (Triage, "triage"), (BreastAssessment, "breast"), (ClusterLocation, "location"),
        (ViewAnalysis, "view"), (Cluster, "cluster"), (Calcification, "calcification"), (StageTiming, "timing"),
        (ModelProvenance, "model"), (MorphologyAssessment, "morphology"), (ViewNotAnalyzed, "not_analyzed"),
    ],
)
def test_schema_describes_every_field_and_nothing_else(cls, definition):
    part = schema() if definition is None else schema()["$defs"][definition]
    names = {f.name for f in dataclasses.fields(cls) if not f.metadata.get("transient")}
    assert set(part["properties"]) == names and set(part["required"]) == names
    assert part["additionalProperties"] is False


def test_overlay_outlines_and_labels_clusters(detector, tmp_path):
    result, views = exam(True, detector)
    image, mask, analysis = views[0]  # R CC
    path = write_overlay(tmp_path / "RCC.png", image, analysis, mask)
    png = cv2.imread(str(path))
    assert png.shape == (*image.shape, 3)
    (cluster,) = analysis.clusters
    x, y = np.round(cluster.outline[0]).astype(int)
    assert tuple(png[y, x]) == (0, 140, 255)  # grouped outline colour (BGR) on the hull vertex
    image, mask, analysis = views[1]  # L CC: no cluster
    plain = cv2.imread(str(write_overlay(tmp_path / "LCC.png", image, analysis, mask)))
    assert not (plain == (0, 140, 255)).all(axis=2).any()


@dataclasses.dataclass(frozen=True)
class FakeTransform:
    """Stands in for the reader's ViewTransform: original = normalized * 2 (a 0.05 mm original)."""

    def to_original(self, xy):
        return np.asarray(xy) * 2.0


@dataclasses.dataclass(frozen=True)
class Normalized:
    """The attributes of the reader's NormalizedView that analysis uses."""

    image: np.ndarray
    mask: np.ndarray
    spacing_mm: float
    laterality: Laterality
    view: View
    transform: FakeTransform


def run_exam(normalized, models: ExamModels, config: AnalysisConfig) -> ExamResult:
    pipeline = ExamPipeline(models, Config(analysis=config))
    return pipeline.exam([pipeline.view(v) for v in normalized], study_key=KEY)


def test_analyze_exam_and_write_outputs(detector, tmp_path):
    normalized = []
    for laterality, view in [*SCREENING_VIEWS, (Laterality.RIGHT, View.CC)]:
        points = [(6 + dx, 18 + dy) for dx, dy in GROUP] if laterality is Laterality.LEFT else []
        image, mask = synthetic_view(points_mm=points)
        normalized.append(Normalized(image, mask, 0.1, laterality, view, FakeTransform()))
    result = run_exam(normalized, ExamModels(detector), CONFIG)
    result, path = write_exam_outputs(result, normalized, tmp_path)
    assert result.triage.flagged and [b.flagged for b in result.breasts] == [False, True]
    assert [v.overlay for v in result.views] == [
        f"{KEY}_RCC.png", f"{KEY}_LCC.png", f"{KEY}_RMLO.png", f"{KEY}_LMLO.png", f"{KEY}_RCC_2.png"]
    assert all((tmp_path / v.overlay).is_file() for v in result.views)
    validate(json.loads(path.read_text()))
    lcc = result.views[1]
    (cluster,) = lcc.clusters
    assert cluster.centroid_original_x == pytest.approx(cluster.centroid_x * 2)
    assert all(c.original_x == pytest.approx(c.x * 2) for c in lcc.calcifications)
    assert "overlays" in {t.stage for t in result.timings}


def test_morphology_is_reported_per_cluster_with_saliency_and_steers_the_flag(detector, tmp_path):
    from mammoedge.runtime.config import InferenceConfig
    from mammoedge.runtime.inference import Engine
    from mammoedge.runtime.morphology import MorphologyClassifier

    morphology = MorphologyClassifier(Engine(InferenceConfig(num_threads=1)).load(CONFIG.morphology_model))
    normalized = []
    for laterality, view in SCREENING_VIEWS:
        points = [(6 + dx, 18 + dy) for dx, dy in GROUP] if laterality is Laterality.LEFT else []
        image, mask = synthetic_view(points_mm=points)
        normalized.append(Normalized(image, mask, 0.1, laterality, view, FakeTransform()))
    result = run_exam(normalized, ExamModels(detector, morphology=morphology), CONFIG)
    result, path = write_exam_outputs(result, normalized, tmp_path)
    document = json.loads(path.read_text())
    validate(document)
    assert [m["name"] for m in document["models"]] == ["maxpool", "calc-morphology"]
    assert "morphology" in {t.stage for t in result.timings}
    lcc = result.views[1]
    (cluster,) = lcc.clusters
    m = cluster.morphology
    assert m is not None and m.saliency == f"{KEY}_LCC_c1_saliency.png"
    assert (tmp_path / m.saliency).stat().st_size > 1000
    assert np.isclose(sum(m.probabilities.values()), 1.0, atol=1e-3) and 0 <= m.likelihood <= 1
    counts = m.birads.rank >= 3 or m.uncertain  # 4A or higher, or uncertain (the default rule)
    assert lcc.score == (cluster.suspicion if counts else 0.0)
    assert "BI-RADS >= 4A or its morphology is uncertain" in result.triage.rule
    # without the morphology model: not assessed, and every cluster counts
    plain = run_exam(normalized, ExamModels(detector), dataclasses.replace(CONFIG, morphology_model=""))
    assert plain.views[1].clusters[0].morphology is None and plain.views[1].score == cluster.suspicion


def test_large_views_are_drawn_at_a_display_scale(detector):
    from mammoedge.runtime.analysis import render_overlay
    from mammoedge.runtime.analysis.overlay import MAX_SIDE

    _, views = exam(True, detector)
    image, mask, analysis = views[0]  # R CC with its cluster
    big = np.zeros((4096, 3000), np.float32)  # a full-size view: only the drawing scale matters here
    big[: image.shape[0], : image.shape[1]] = image
    canvas = render_overlay(big, analysis)
    zoom = MAX_SIDE / 4096
    assert canvas.shape[:2] == (MAX_SIDE, round(3000 * zoom))
    x, y = np.round(np.array(analysis.clusters[0].outline[0]) * zoom).astype(int)
    assert tuple(canvas[y, x]) == (0, 140, 255)  # the outline drawn where the cluster is, scaled
