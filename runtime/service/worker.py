"""Analysis worker: claim an assembled exam, run the analyzer, write the result atomically, mark it done."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

from .. import __version__
from ..errors import InputError, MammoedgeError
from ..intake.durable import write_durable
from ..jobs.queue import Job, JobQueue, JobState
from ..jobs import ViewState
from ..biopsy.errors import BiopsyError
from .biopsy_job import ExamKind
from . import timeline
from .exam_job import Analyzer, AnalyzerOutput, ViewAnalyzer

log = logging.getLogger(__name__)


def result_path(results_dir: Path, study_key: str) -> Path:
    return results_dir / f"{study_key}.json"


def envelope(job: Job, started: float, *, output: AnalyzerOutput | None = None,
             not_analyzed: tuple[str, str] | None = None, kind: ExamKind = ExamKind.SCREENING) -> dict[str, Any]:
    """The service's result document (result_envelope.schema.json): the exam result, or why there is none."""
    kind = output.kind if output is not None else kind
    # a stereo set alone is a whole biopsy exam: no screening view is missing from it
    missing = [] if kind is ExamKind.BIOPSY and (output is None or output.result is None) else list(job.missing_views)
    return {
        "study_key": job.study_key,
        "kind": kind.value,
        "biopsy": output.biopsy if output is not None else None,
        "instances": len(job.instances),
        "missing_views": missing,
        "complete": not missing,
        "rejected": list(output.rejected) if output is not None else [],
        "software_version": __version__,
        "started_at": started,
        "completed_at": time.time(),
        "analyzed": output is not None,
        "not_analyzed": None if not_analyzed is None else {"reason": not_analyzed[0], "message": not_analyzed[1]},
        "result": output.result if output is not None else None,
    }


def write_envelope(results_dir: Path, document: dict[str, Any]) -> Path:
    path = result_path(results_dir, document["study_key"])
    write_durable(path, json.dumps(document, indent=1, sort_keys=True).encode())
    return path


def give_up(job: Job, *, queue: JobQueue, results_dir: Path, reason: str, message: str, started: float,
            max_attempts: int, kind: ExamKind = ExamKind.SCREENING) -> JobState:
    """Fail the exam for good with a "not analyzed" result that says why (the give-up is logged)."""
    log.error("exam %s: not analyzed, given up after %d attempt(s) and %d interruption(s): %s", job.study_key[:8],
              job.attempt, job.interruptions, reason)
    path = write_envelope(results_dir, envelope(job, started, not_analyzed=(reason, message), kind=kind))
    return queue.fail(job, reason, max_attempts=max_attempts, final=True, result_path=path)


def run_job(job: Job, *, queue: JobQueue, analyzer: Analyzer, results_dir: Path,
            max_attempts: int, on_done: Callable[[dict[str, Any]], None] | None = None) -> JobState:
    """Analyze one claimed exam; the result file is written before the exam is marked done."""
    started = time.time()
    row = queue.exam(job.study_key)
    steps = timeline.begin(row["last_received_at"] if row is not None else started)
    try:
        return _run_job(job, queue=queue, analyzer=analyzer, results_dir=results_dir, max_attempts=max_attempts,
                        on_done=on_done, started=started, steps=steps)
    finally:
        timeline.end()


def _run_job(job: Job, *, queue: JobQueue, analyzer: Analyzer, results_dir: Path, max_attempts: int,
             on_done: Callable[[dict[str, Any]], None] | None, started: float,
             steps: timeline.Timeline) -> JobState:
    if job.given_up:
        return give_up(job, queue=queue, results_dir=results_dir, reason="interrupted", started=started,
                       max_attempts=max_attempts,
                       message=f"the service stopped {job.interruptions} times while analyzing this exam (kill, "
                               f"crash or power cut); it is given up as the likely cause")
    try:
        output = analyzer(list(job.instances), list(job.missing_views))
        document = envelope(job, started, output=output)
    except InputError as exc:  # the exam's own data: trying again gives the same answer
        log.warning("exam %s: no view could be analyzed: %s", job.study_key[:8], exc.reason)
        return give_up(job, queue=queue, results_dir=results_dir, reason=exc.reason, message=str(exc),
                       started=started, max_attempts=max_attempts,
                       kind=ExamKind.BIOPSY if isinstance(exc, BiopsyError) else ExamKind.SCREENING)
    except Exception as exc:  # a bug or a failing model must not kill the worker
        reason = type(exc).__name__ if isinstance(exc, MammoedgeError) else f"crash:{type(exc).__name__}"
        log.warning("exam %s: analysis failed (attempt %d of %d): %s", job.study_key[:8], job.attempt,
                    max_attempts, reason, exc_info=not isinstance(exc, MammoedgeError))
        if job.attempt >= max_attempts:
            return give_up(job, queue=queue, results_dir=results_dir, reason=reason, started=started,
                           max_attempts=max_attempts,
                           message=f"analysis failed {job.attempt} times ({reason}); see the service log")
        return queue.fail(job, reason, max_attempts=max_attempts)
    for rejected in output.rejected:
        queue.record_event("view", rejected["reason"])
    path = write_envelope(results_dir, {**document, "timeline": steps.as_list()})  # the flag first ...
    timeline.mark(timeline.Step.FLAG_WRITTEN)
    state = queue.finish(job, path)
    timeline.mark(timeline.Step.QUEUE_DONE)
    flagged_s = time.time() - started
    if on_done is not None:
        try:
            on_done(document)
            timeline.mark(timeline.Step.EVENT_QUEUED)
        except Exception as exc:  # reporting must never fail an analyzed exam
            log.error("exam %s: result hook failed: %s", job.study_key[:8], type(exc).__name__)
    if output.after is not None:  # ... then the DICOM results for the PACS ([forward]), recorded in the result
        try:
            forwarding = output.after()
        except Exception as exc:  # never fails the analysed exam; the result says what went wrong
            log.error("exam %s: forwarding failed: %s", job.study_key[:8], type(exc).__name__)
            forwarding = {"objects": 0, "deliveries": [], "error": type(exc).__name__}
        if forwarding is not None:
            document = {**document, "forwarding": forwarding}
            write_envelope(results_dir, {**document, "timeline": steps.as_list()})
    if output.outputs is not None:  # ... then the pictures, added to the result
        try:
            result = output.outputs()
            write_envelope(results_dir, {**document, "result": result, "completed_at": time.time(),
                                         "timeline": steps.as_list()})
        except Exception as exc:  # the flag is out; a picture that cannot be written is logged
            log.error("exam %s: outputs not written: %s", job.study_key[:8], type(exc).__name__)
    log.info("exam %s analyzed (%d instances, missing %s, %d view(s) not analyzed): flag in %.2f s, all in %.2f s",
             job.study_key[:8], len(job.instances), ",".join(job.missing_views) or "none", len(output.rejected),
             flagged_s, time.time() - started)
    return state


class Worker(threading.Thread):
    """Loops over claimable jobs until ``stop`` is set; finishes the job in hand first."""

    def __init__(self, name: str, *, queue: JobQueue, analyzer: Analyzer, results_dir: Path,
                 max_attempts: int, max_interruptions: int, wake: threading.Event, stop: threading.Event,
                 poll_s: float = 0.5, on_done: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self.on_done = on_done
        self.queue, self.analyzer = queue, analyzer
        self.results_dir, self.max_attempts, self.max_interruptions = results_dir, max_attempts, max_interruptions
        self.wake, self.stop, self.poll_s = wake, stop, poll_s
        self.last_error: str | None = None
        self.busy_since: float | None = None

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                job = self.queue.claim(max_interruptions=self.max_interruptions)
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
                run_job(job, queue=self.queue, analyzer=self.analyzer, results_dir=self.results_dir,
                        max_attempts=self.max_attempts, on_done=self.on_done)
            except OSError as exc:  # result could not be written (disk full): retry later
                self.last_error = type(exc).__name__
                log.error("exam %s: result not written (%s); requeued", job.study_key[:8], exc.strerror)
                self.queue.requeue(job)
                self.stop.wait(self.poll_s)
            finally:
                self.busy_since = None


class ViewWorker(threading.Thread):
    """Analyzes each spooled view as it arrives (while the modality sends the next), so an exam's analysis
    finds its views done; an exam being analyzed is left to the exam worker."""

    def __init__(self, *, queue: JobQueue, analyze: ViewAnalyzer, wake: threading.Event, stop: threading.Event,
                 poll_s: float = 0.2, name: str = "view-worker") -> None:
        super().__init__(name=name, daemon=True)
        self.queue, self.analyze, self.wake, self.stop, self.poll_s = queue, analyze, wake, stop, poll_s

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                claimed = self.queue.claim_view()
            except Exception as exc:
                log.error("view claim failed: %s", type(exc).__name__)
                self.stop.wait(self.poll_s)
                continue
            if claimed is None:
                self.wake.wait(self.poll_s)
                self.wake.clear()
                continue
            instance_key, path = claimed
            try:
                refused = self.analyze(path)
            except Exception as exc:  # the exam's own analysis tries again and reports
                log.warning("view %s: analysis on arrival failed: %s", instance_key[:8], type(exc).__name__)
                refused = type(exc).__name__
            self.queue.finish_view(instance_key, ViewState.FAILED if refused else ViewState.DONE)
