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


def test_a_view_another_thread_is_analyzing_is_waited_for_not_analyzed_twice(exam, pipeline, tmp_path):
    import threading

    from mammoedge.runtime.pipeline import Step

    first = ViewStore(tmp_path / "first", pipeline.fingerprint, keep=4)
    done = pipeline.analyze_files(exam, study_key=KEY, store=first)
    store = ViewStore(tmp_path / "views", pipeline.fingerprint, keep=4)
    key = store.key(exam[0])
    assert store.begin(key) and not store.begin(key)  # taken: a second taker is told so
    steps: list[Step] = []
    others_done = threading.Event()

    def on_step(step: Step) -> None:
        steps.append(step)
        if steps.count(Step.DETECTED) == 3:
            others_done.set()

    runs = []
    worker = threading.Thread(target=lambda: runs.append(pipeline.analyze_files(
        exam, study_key=KEY, store=store, on_step=on_step, models_lock=threading.Lock(), readers=2)))
    worker.start()
    assert others_done.wait(120)  # the three other views are analyzed first (two read at a time) ...
    worker.join(0.5)
    assert worker.is_alive()  # ... then it waits for the view in hand elsewhere
    store.put(key, done.result.views[0], done.views[0])  # the other thread's result
    store.end(key)
    worker.join(60)
    (run,) = runs
    assert run.views[0] is done.views[0]  # taken from the store, not read again
    assert steps.count(Step.DETECTED) == 3 and steps.count(Step.REUSED) == 1 and steps[-1] is Step.EXAM_STEPS
    assert [p for p in run.paths] == list(exam)  # in the order of the files, whatever the order of the work
    assert comparable(run.result) == comparable(done.result)
