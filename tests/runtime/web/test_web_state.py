"""The worklist read from the service's queue (read-only) and result envelopes: every status, newest first."""

from __future__ import annotations

import json
import time
from pathlib import Path

from mammoedge.runtime.config import Config, ServiceConfig
from mammoedge.runtime.jobs.queue import JobQueue
from mammoedge.runtime.service.paths import ServicePaths
from mammoedge.runtime.web.state import ExamStatus, ServiceState


def _exam(queue: JobQueue, key: str, views: list[str], now: float) -> None:
    for i, view in enumerate(views):
        queue.add_instance(instance_key=f"{key[:30]}{i:02d}", study_key=key, path=Path(f"/spool/{key}/{i}.dcm"),
                           view_name=view, intake="test", now=now + i)


def test_worklist_statuses(tmp_path):
    config = Config(service=ServiceConfig(state_dir=tmp_path))
    paths = ServicePaths.of(config.service)
    queue = JobQueue(paths.queue_db)
    now = time.time() - 60
    keys = {name: (f"{i:x}" * 32)[:32] for i, name in enumerate(["receiving", "waiting", "analyzing", "failed", "done"],
                                                                 start=10)}
    _exam(queue, keys["failed"], ["RCC", "LCC", "RMLO", "LMLO"], now)
    queue.assemble(settle_s=0, now=now + 5)
    job = queue.claim(now=now + 5)
    queue.fail(job, "pixel-decode", max_attempts=1, final=True)
    _exam(queue, keys["done"], ["RCC", "LCC", "RMLO", "LMLO"], now + 10)
    queue.assemble(settle_s=0, now=now + 15)
    job = queue.claim(now=now + 15)
    paths.results.mkdir(parents=True)
    result = {"triage": {"flagged": True, "score": 0.71},
              "breasts": [{"laterality": "R", "case_score": 0.71, "flagged": True},
                          {"laterality": "L", "case_score": 0.1, "flagged": False}],
              "views": [{"clusters": [{}, {}]}, {"clusters": [{}]}]}
    (paths.results / f"{keys['done']}.json").write_text(json.dumps(
        {"study_key": keys["done"], "analyzed": True, "result": result, "completed_at": now + 16}))
    queue.finish(job, paths.results / f"{keys['done']}.json")
    _exam(queue, keys["analyzing"], ["RCC", "LCC", "RMLO", "LMLO"], now + 20)
    queue.assemble(settle_s=0, now=now + 25)
    queue.claim(now=now + 25)
    _exam(queue, keys["waiting"], ["RCC", "LCC", "RMLO"], now + 30)
    queue.assemble(settle_s=0, now=now + 40)  # settled with a view missing
    _exam(queue, keys["receiving"], ["RCC", "LCC"], now + 50)
    old = "f" * 32  # finished three days ago: not today's
    _exam(queue, old, ["RCC", "LCC", "RMLO", "LMLO"], now - 3 * 86400)
    queue.assemble(settle_s=0, now=now - 3 * 86400 + 5)
    queue.finish(queue.claim(now=now - 3 * 86400 + 5), paths.results / f"{old}.json")
    queue.close()

    rows = {r.study_key: r for r in ServiceState(config).worklist()}
    order = [r.study_key for r in ServiceState(config).worklist()]
    assert order == [keys[n] for n in ("receiving", "waiting", "analyzing", "done", "failed")]  # newest first
    assert rows[keys["receiving"]].status is ExamStatus.RECEIVING and rows[keys["receiving"]].views == 2
    assert rows[keys["waiting"]].status is ExamStatus.WAITING and rows[keys["waiting"]].views == 3
    assert rows[keys["analyzing"]].status is ExamStatus.ANALYZING and rows[keys["analyzing"]].flagged is None
    failed = rows[keys["failed"]]
    assert failed.status is ExamStatus.FAILED and failed.reason == "pixel-decode" and not failed.analyzed
    done = rows[keys["done"]]
    assert done.status is ExamStatus.DONE and done.flagged is True and done.score == 0.71
    assert done.breasts == {"R": 0.71, "L": 0.1} and done.breasts_flagged == ["R"] and done.clusters == 3
    assert done.kind == "screening" and done.reason is None


def test_worklist_without_a_queue_is_empty(tmp_path):
    assert ServiceState(Config(service=ServiceConfig(state_dir=tmp_path))).worklist() == []
