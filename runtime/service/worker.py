"""Analysis worker: claim an assembled exam, run the analyzer, write the result atomically, mark it done."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Callable

from .. import __version__
from ..errors import InputError, MammoedgeError
from ..intake.durable import write_durable
from ..jobs.queue import Job, JobQueue, JobState
from .exam_job import Analyzer

log = logging.getLogger(__name__)


def result_path(results_dir: Path, study_key: str) -> Path:
    return results_dir / f"{study_key}.json"


def run_job(job: Job, *, queue: JobQueue, analyzer: Analyzer, results_dir: Path,
            max_attempts: int, on_done: Callable[[dict], None] | None = None) -> JobState:
    """Analyze one claimed exam; the result file is written before the exam is marked done."""
    started = time.time()
    try:
        output = analyzer(list(job.instances), list(job.missing_views))
        document = {
            "study_key": job.study_key,
            "instances": len(job.instances),
            "missing_views": list(job.missing_views),
            "complete": not job.missing_views,
            "rejected": list(output.rejected),
            "software_version": __version__,
            "started_at": started,
            "completed_at": time.time(),
            "result": output.result,
        }
        data = json.dumps(document, indent=1, sort_keys=True).encode()
    except InputError as exc:
        log.warning("exam %s: analysis rejected an instance: %s", job.study_key[:8], exc.reason)
        return queue.fail(job, exc.reason, max_attempts=max_attempts)
    except MammoedgeError as exc:
        log.warning("exam %s: analysis failed: %s", job.study_key[:8], type(exc).__name__)
        return queue.fail(job, type(exc).__name__, max_attempts=max_attempts)
    except Exception as exc:  # a bug in an analyzer must not kill the worker
        log.exception("exam %s: analyzer raised %s", job.study_key[:8], type(exc).__name__)
        return queue.fail(job, f"crash:{type(exc).__name__}", max_attempts=max_attempts)
    path = result_path(results_dir, job.study_key)
    write_durable(path, data)
    state = queue.finish(job, path)
    log.info("exam %s analyzed (%d instances, missing %s) in %.2f s", job.study_key[:8], len(job.instances),
             ",".join(job.missing_views) or "none", time.time() - started)
    if on_done is not None:
        try:
            on_done(document)
        except Exception as exc:  # reporting must never fail an analyzed exam
            log.error("exam %s: result hook failed: %s", job.study_key[:8], type(exc).__name__)
    return state


class Worker(threading.Thread):
    """Loops over claimable jobs until ``stop`` is set; finishes the job in hand first."""

    def __init__(self, name: str, *, queue: JobQueue, analyzer: Analyzer, results_dir: Path,
                 max_attempts: int, wake: threading.Event, stop: threading.Event, poll_s: float = 0.5,
                 on_done: Callable[[dict], None] | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self.on_done = on_done
        self.queue, self.analyzer = queue, analyzer
        self.results_dir, self.max_attempts, self.wake, self.stop, self.poll_s = (
            results_dir, max_attempts, wake, stop, poll_s)
        self.last_error: str | None = None
        self.busy_since: float | None = None

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                job = self.queue.claim(max_attempts=self.max_attempts)
            except Exception as exc:
                self.last_error = type(exc).__name__
                log.error("queue claim failed: %s", type(exc).__name__)
                self.stop.wait(self.poll_s)
                continue
            if job is None:
                self.wake.wait(self.poll_s)
                self.wake.clear()
                continue
            self.busy_since = time.monotonic()
            try:
                run_job(job, queue=self.queue, analyzer=self.analyzer, results_dir=self.results_dir, max_attempts=self.max_attempts, on_done=self.on_done)
            except OSError as exc:  # result could not be written (disk full): retry later
                self.last_error = type(exc).__name__
                log.error("exam %s: result not written (%s); requeued", job.study_key[:8], exc.strerror)
                self.queue.requeue(job)
                self.stop.wait(self.poll_s)
            finally:
                self.busy_since = None
