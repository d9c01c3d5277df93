"""The SQLite job queue: states, duplicates, settle time, late instances, crash resume, retention."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mammoedge.runtime.config import ServiceConfig
from mammoedge.runtime.jobs import JobQueue, JobState
from mammoedge.runtime.service.exam_job import AnalyzerOutput
from mammoedge.runtime.service.paths import ServicePaths
from mammoedge.runtime.service.retention import prune
from mammoedge.runtime.service.worker import run_job


def _add(q: JobQueue, study: str, view: str, now: float, key: str | None = None) -> bool:
    return q.add_instance(instance_key=key or f"{study}-{view}", study_key=study, path=Path(f"/spool/{study}/{view}"),
                          view_name=view, intake="test", now=now)


def test_complete_exam_assembles_at_once_partial_after_settle(tmp_path):
    q = JobQueue(tmp_path / "q.sqlite")
    for view in ("RCC", "LCC", "RMLO", "LMLO"):
        assert _add(q, "full", view, now=100.0)
    assert _add(q, "half", "RCC", now=100.0)
    assert not _add(q, "half", "RCC", now=101.0)  # same SOPInstanceUID: duplicate
    assert q.assemble(settle_s=30, now=101.0) == ["full"]
    assert q.assemble(settle_s=30, now=129.0) == []
    assert q.assemble(settle_s=30, now=131.0) == ["half"]
    first, second = q.claim(now=132.0), q.claim(now=132.0)
    assert first.study_key == "full" and first.missing_views == () and len(first.instances) == 4
    assert second.study_key == "half" and second.missing_views == ("LCC", "RMLO", "LMLO")
    assert q.claim() is None
    assert q.stats(now=140.0).queue_depth == 2


def test_crash_resume_retry_and_failure(tmp_path):
    db = tmp_path / "q.sqlite"
    q = JobQueue(db)
    _add(q, "s", "RCC", now=1.0)
    q.assemble(settle_s=0, now=2.0)
    job = q.claim()
    assert job.attempt == 1
    q.close()  # as if killed while analyzing
    q = JobQueue(db)
    assert q.requeue_interrupted() == 1
    assert q.requeue_interrupted() == 0
    job = q.claim()
    assert job.attempt == 1 and job.interruptions == 1  # the kill was no attempt
    assert q.fail(job, "pixel-decode", max_attempts=3) == JobState.ASSEMBLED
    assert q.fail(q.claim(), "pixel-decode", max_attempts=3) == JobState.ASSEMBLED
    job = q.claim()
    assert job.attempt == 3 and q.fail(job, "pixel-decode", max_attempts=3) == JobState.FAILED
    assert q.claim() is None
    stats = q.stats()
    assert stats.exams_by_state == {"failed": 1} and stats.errors_by_reason == {"analysis:pixel-decode": 3}


def test_instance_arriving_during_analysis_reopens_the_exam(tmp_path):
    q = JobQueue(tmp_path / "q.sqlite")
    _add(q, "s", "RCC", now=1.0)
    q.assemble(settle_s=0, now=2.0)
    job = q.claim()
    _add(q, "s", "LCC", now=3.0)
    assert q.finish(job, tmp_path / "r.json") == JobState.RECEIVED
    q.assemble(settle_s=0, now=4.0)
    job = q.claim()
    assert len(job.instances) == 2
    assert q.finish(job, tmp_path / "r.json") == JobState.DONE


def test_worker_writes_result_before_done_and_survives_analyzer_bugs(tmp_path):
    q = JobQueue(tmp_path / "q.sqlite")
    _add(q, "a", "RCC", now=1.0)
    _add(q, "b", "RCC", now=1.0)
    q.assemble(settle_s=0, now=2.0)

    def analyzer(instances, missing):
        if "/b/" in str(instances[0]):
            raise ZeroDivisionError("bug")
        return AnalyzerOutput(result={"n": len(instances), "missing": missing})

    results = tmp_path / "results"
    kwargs = dict(queue=q, analyzer=analyzer, results_dir=results, max_attempts=1)
    assert run_job(q.claim(), **kwargs) == JobState.DONE
    assert run_job(q.claim(), **kwargs) == JobState.FAILED  # max_attempts=1: given up with a result
    doc = json.loads((results / "a.json").read_text())
    assert doc["result"] == {"n": 1, "missing": ["LCC", "RMLO", "LMLO"]} and doc["complete"] is False
    failed = json.loads((results / "b.json").read_text())
    assert failed["analyzed"] is False and failed["not_analyzed"]["reason"] == "crash:ZeroDivisionError"
    assert q.exam("b")["error"] == "crash:ZeroDivisionError"


def test_retention_never_prunes_unfinished_exams(tmp_path):
    config = ServiceConfig(state_dir=tmp_path, retention_days=1.0)
    paths = ServicePaths.of(config)
    q = JobQueue(paths.queue_db)
    for study in ("old-done", "old-waiting"):
        (paths.spool / study).mkdir(parents=True)
        (paths.spool / study / "i.dcm").write_bytes(b"x" * 10)
        _add(q, study, "RCC", now=0.0)
    q.assemble(settle_s=0, now=1.0)
    job = q.claim(now=1.0)
    assert job.study_key == "old-done"
    (paths.results / "exams").mkdir(parents=True)
    result = paths.results / "old-done.json"
    result.write_text("{}")
    outputs = [paths.results / "exams" / name for name in ("old-done.json", "old-done_RCC.png")]
    for output in outputs:
        output.write_bytes(b"x")
    paths.views.mkdir()
    (paths.views / "old.json").write_text("{}")
    os.utime(paths.views / "old.json", (0, 0))
    (paths.views / "new.json").write_text("{}")
    q.finish(job, result, now=2.0)
    report = prune(q, paths, config, now=10 * 86400)
    assert report.exams == 1
    assert not (paths.spool / "old-done").exists() and not result.exists()
    assert not any(o.exists() for o in outputs)  # the exam's result, overlays and saliency go with it
    assert not (paths.views / "old.json").exists() and (paths.views / "new.json").exists()
    assert (paths.spool / "old-waiting" / "i.dcm").exists()
    assert q.exam("old-waiting")["state"] == JobState.ASSEMBLED


@pytest.mark.parametrize("cap_mb,expected_left", [(0.0, 2), (0.000015, 1)])
def test_spool_size_cap_prunes_oldest_finished_first(tmp_path, cap_mb, expected_left):
    config = ServiceConfig(state_dir=tmp_path, retention_days=0, spool_max_mb=cap_mb)
    paths = ServicePaths.of(config)
    q = JobQueue(paths.queue_db)
    for i, study in enumerate(("first", "second")):
        (paths.spool / study).mkdir(parents=True)
        (paths.spool / study / "i.dcm").write_bytes(b"x" * 10)
        _add(q, study, "RCC", now=float(i))
        q.assemble(settle_s=0, now=float(i))
        q.finish(q.claim(), paths.results / f"{study}.json", now=float(i))
    prune(q, paths, config, now=100.0)
    left = sorted(p.name for p in paths.spool.iterdir())
    assert len(left) == expected_left and left[-1] == "second"


def test_service_config_rejects_bad_values():
    from mammoedge.runtime.config import load_config
    from mammoedge.runtime.errors import ConfigError

    with pytest.raises(ConfigError, match="service.port = 70000 must be <= 65535"):
        load_config(env={"MAMMOEDGE__SERVICE__PORT": "70000"})
    with pytest.raises(ConfigError, match="service.workers = 0 must be >= 1"):
        load_config(env={"MAMMOEDGE__SERVICE__WORKERS": "0"})
    config = load_config(env={"MAMMOEDGE__SERVICE__ALLOWED_CALLING_AETS": "MOD1,MOD2"})
    assert config.service.allowed_calling_aets == ("MOD1", "MOD2")


def test_a_kill_during_analysis_is_no_attempt_and_sends_the_exam_behind_the_others(tmp_path):
    q = JobQueue(tmp_path / "q.sqlite")
    _add(q, "a", "RCC", now=1.0)
    _add(q, "b", "RCC", now=2.0)
    q.assemble(settle_s=0, now=3.0)
    assert q.claim(max_interruptions=3).study_key == "a"
    assert q.requeue_interrupted() == 1  # the service died while analyzing "a"
    assert q.exam("a")["attempts"] == 0 and q.exam("a")["interruptions"] == 1
    job = q.claim(max_interruptions=3)
    assert job.study_key == "b" and not job.given_up  # "a" goes behind
    again = q.claim(max_interruptions=3)
    assert again.study_key == "a" and again.attempt == 1 and again.interruptions == 1 and not again.given_up


def test_exam_that_keeps_killing_the_service_is_given_up_with_a_result(tmp_path):
    q = JobQueue(tmp_path / "q.sqlite")
    _add(q, "poison", "RCC", now=1.0)
    q.assemble(settle_s=0, now=2.0)
    for _ in range(2):  # the process dies during the analysis, twice
        assert not q.claim(max_interruptions=2).given_up
        q.requeue_interrupted()
    job = q.claim(max_interruptions=2)
    assert job.given_up and job.interruptions == 2
    results = tmp_path / "results"

    def analyzer(instances, missing):
        raise AssertionError("a given-up exam is not analyzed again")

    assert run_job(job, queue=q, analyzer=analyzer, results_dir=results, max_attempts=3) == JobState.FAILED
    document = json.loads((results / "poison.json").read_text())
    assert document["analyzed"] is False and document["result"] is None
    assert document["not_analyzed"]["reason"] == "interrupted" and "stopped 2 times" in document["not_analyzed"]["message"]
    exam = q.exam("poison")
    assert exam["state"] == JobState.FAILED and exam["error"] == "interrupted"
    assert exam["result_path"] == str(results / "poison.json")


def test_an_exam_whose_views_all_fail_is_failed_at_once_with_a_result(tmp_path):
    from mammoedge.runtime.pipeline import NoViewError

    q = JobQueue(tmp_path / "q.sqlite")
    _add(q, "bad", "RCC", now=1.0)
    q.assemble(settle_s=0, now=2.0)

    def analyzer(instances, missing):
        raise NoViewError("none of the study's 1 file(s) could be read")

    results = tmp_path / "results"
    assert run_job(q.claim(), queue=q, analyzer=analyzer, results_dir=results, max_attempts=3) == JobState.FAILED
    document = json.loads((results / "bad.json").read_text())
    assert document["not_analyzed"] == {"reason": "no-view-readable",
                                        "message": "none of the study's 1 file(s) could be read"}


def test_an_exam_resumed_after_a_late_instance_names_the_views_it_has_now(tmp_path):
    q = JobQueue(tmp_path / "q.sqlite")
    for view in ("RCC", "LCC", "RMLO"):
        _add(q, "s", view, now=1.0)
    q.assemble(settle_s=0, now=2.0)  # settled without LMLO
    assert q.claim().missing_views == ("LMLO",)
    _add(q, "s", "LMLO", now=3.0)  # the last view arrives during the analysis ...
    q.requeue_interrupted()  # ... and the service is killed
    job = q.claim()
    assert job.missing_views == () and len(job.instances) == 4
