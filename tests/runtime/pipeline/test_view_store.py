"""Views analyzed once: a stored view is reused for its exam only when its file and the pipeline's fingerprint
are the same (shipped INT8 models on a small phantom exam)."""

import dataclasses
import json

import pytest

from mammoedge.runtime.config import Config
from mammoedge.runtime.pipeline import ExamModels, ExamPipeline, ViewStore
from mammoedge.runtime.results import to_dict

KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def exam(tmp_path_factory):
    from mammoedge.tools.phantom import make_exam

    folder = tmp_path_factory.mktemp("exam") / "exam"
    make_exam(folder, seed=3, size="small", normal_fraction=0.0)
    return sorted(folder.glob("*.dcm"))


@pytest.fixture(scope="module")
def pipeline():
    config = Config()
    return ExamPipeline(ExamModels.load(config), config)


def comparable(result):
    document = to_dict(result)
    document.pop("created_utc"), document.pop("timings")
    for view in document["views"]:
        view.pop("timings"), view.pop("overlay")
        for cluster in view["clusters"]:
            if cluster["morphology"]:
                cluster["morphology"].pop("saliency")
    return document


def test_stored_views_are_reused_and_give_the_same_result(exam, pipeline, tmp_path):
    store = ViewStore(tmp_path / "views", pipeline.fingerprint)
    first = pipeline.analyze_files(exam, study_key=KEY, store=store)
    assert all(v is not None for v in first.views) and len(list((tmp_path / "views").glob("*.json"))) == 4
    again = pipeline.analyze_files(exam, study_key=KEY, store=store)
    assert all(v is None for v in again.views)  # nothing decoded: every view came from the store
    assert comparable(again.result) == comparable(first.result)
    assert any(c for v in again.result.views for c in v.clusters)  # the exam has clusters to compare
    result, path = pipeline.write_outputs(again, tmp_path / "out")  # read again for the pictures
    assert all((tmp_path / "out" / v.overlay).is_file() for v in result.views)
    saliency = [c.morphology.saliency for v in result.views for c in v.clusters if c.morphology]
    assert saliency and all((tmp_path / "out" / name).is_file() for name in saliency)
    assert json.loads(path.read_text())["study_key"] == KEY


def test_a_changed_option_or_file_or_a_damaged_record_is_analyzed_again(exam, pipeline, tmp_path):
    store = ViewStore(tmp_path / "views", pipeline.fingerprint)
    pipeline.analyze_files(exam, study_key=KEY, store=store)
    other = ExamPipeline(pipeline.models, dataclasses.replace(
        pipeline.config, analysis=dataclasses.replace(pipeline.config.analysis, peak_threshold=0.3)))
    assert other.fingerprint != pipeline.fingerprint
    run = other.analyze_files(exam, study_key=KEY, store=ViewStore(tmp_path / "views", other.fingerprint))
    assert all(v is not None for v in run.views)
    (tmp_path / "views" / f"{store.key(exam[0])}.json").write_text("{not json")
    run = pipeline.analyze_files(exam, study_key=KEY, store=store)
    assert [v is None for v in run.views] == [False, True, True, True]
