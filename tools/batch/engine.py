"""A batch run: find the exams, skip those already done, analyze the rest on Ray actors, record every outcome.

The driver lists the files and groups them by study (``runtime/pipeline/files.py``), keys each study with the
same secret as ``mammoedge analyze`` (so the keys agree), and hands exams to actors of ``ExamAnalyzer``: one per
core, each with the models compiled once (``ExamModels.load``) and the one ``ExamPipeline``. Each finished exam
is written as ``<study key>.json`` (the schema of ``analyze``) and then recorded in a SQLite ledger
(``batch.sqlite``) with the pipeline fingerprint and a digest of its input files; a later run skips an exam whose
ledger row says done with the same fingerprint and inputs and whose JSON is there, so a killed run resumes and a
repeated run does nothing. At the end the Parquet tables are written from every done exam of the ledger.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mammoedge.runtime.config import Config
from mammoedge.runtime.errors import InputError, MammoedgeError
from mammoedge.runtime.pipeline import ExamModels, ExamPipeline, Rejected, group_by_study, list_files
from mammoedge.runtime.privacy import study_key
from mammoedge.runtime.results import ExamResult, from_dict, read_result, to_dict, write_result

from .table import write_tables

log = logging.getLogger(__name__)

LEDGER_FILE = "batch.sqlite"
FAILURES_FILE = "failures.json"
#: Ray's switch that makes a local node use the loopback address (it exists for Windows/macOS, works on Linux)
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class BatchError(MammoedgeError):
    """The batch cannot run: Ray is unreachable, no worker could load the models, an option is out of range."""


class FailureKind(enum.StrEnum):
    """Where an input failed."""

    REFUSED_FILE = "refused-file"  #: the reader refused the file's header: it belongs to no exam
    REFUSED_VIEW = "refused-view"  #: a view of an analyzed exam was refused (the exam's other views were analyzed)
    EXAM_FAILED = "exam-failed"  #: no result for the exam (typed reason from the pipeline)
    WORKER_LOST = "worker-lost"  #: the actor died while analyzing it (crash, out of memory)


@dataclass(frozen=True, kw_only=True)
class Failure:
    """One input that gave no (complete) result, and why: the typed reason and its message (no patient data)."""

    kind: FailureKind
    reason: str
    message: str
    path: str | None = None  #: as found under the folders given (the archive's own naming)
    study_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class Exam:
    study_key: str
    paths: tuple[str, ...]
    inputs: str  #: digest of the files (path, size, mtime): a changed or added file makes the exam due again


@dataclass(kw_only=True)
class BatchReport:
    exams: int = 0  #: exams found
    done: int = 0  #: analyzed in this run
    skipped: int = 0  #: already done for the same fingerprint and inputs
    failed: int = 0  #: exams without a result in this run
    refused_files: int = 0
    workers: int = 0
    fingerprint: str = ""
    start_s: float = 0.0  #: Ray start or connect, and every worker's model load
    scan_s: float = 0.0  #: listing and grouping the files
    analysis_s: float = 0.0  #: first exam handed out to last result recorded
    worker_cpu_s: float = 0.0  #: CPU seconds the workers spent in their analyses
    tables_s: float = 0.0
    driver_cpu_s: float = 0.0  #: this process: scan, ledger, result files, tables
    failures: list[Failure] = field(default_factory=list)

    @property
    def exams_per_s(self) -> float:
        return self.done / self.analysis_s if self.analysis_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["exams_per_s"] = round(self.exams_per_s, 4)
        out["failures"] = [{**dataclasses.asdict(f), "kind": f.kind.value} for f in self.failures]
        return out


def inputs_digest(paths: Sequence[Path]) -> str:
    parts = []
    for path in sorted(paths):
        stat = path.stat()
        parts.append([os.fspath(path.resolve()), stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class ExamAnalyzer:
    """A worker: the models compiled once, then one exam at a time through ``ExamPipeline.analyze_files``.

    Ray runs it as an actor (``ray.remote(num_cpus=threads)(ExamAnalyzer)``); it is a plain class too.
    """

    def __init__(self, config: Config, threads: int = 1, overrides: dict[str, Any] | None = None) -> None:
        import cv2

        cv2.setNumThreads(threads)  # one core per actor: OpenCV and the inference engine alike
        config = dataclasses.replace(config, inference=dataclasses.replace(config.inference, num_threads=threads))
        self.pipeline = ExamPipeline(ExamModels.load(config, **(overrides or {})), config)

    def fingerprint(self) -> str:
        return self.pipeline.fingerprint

    def cpu_seconds(self) -> float:
        times = os.times()
        return times.user + times.system

    def analyze(self, exam: Exam, pictures_dir: str | None = None) -> dict[str, Any]:
        """The exam's result as a JSON document (or its failure); with ``pictures_dir``, the overlays, saliency
        pictures and result JSON are written there as ``analyze`` writes them."""
        cpu = self.cpu_seconds()
        out: dict[str, Any] = {"study_key": exam.study_key, "fingerprint": self.pipeline.fingerprint,
                               "result": None, "rejected": [], "failure": None}
        try:
            run = self.pipeline.analyze_files([Path(p) for p in exam.paths], study_key=exam.study_key)
            result = run.result
            if pictures_dir is not None:
                result, _ = self.pipeline.write_outputs(run, Path(pictures_dir))
            out["result"] = to_dict(result)
            out["rejected"] = [{"path": os.fspath(r.path), "reason": r.reason, "message": r.message}
                               for r in run.rejected]
        except InputError as exc:
            out["failure"] = {"reason": exc.reason, "message": str(exc)}
        except MammoedgeError as exc:
            out["failure"] = {"reason": type(exc).__name__, "message": str(exc)}
        except Exception as exc:  # a bug: named by type only (its text could quote a file's values)
            log.exception("exam %s failed", exam.study_key[:8])
            out["failure"] = {"reason": "internal-error", "message": f"{type(exc).__name__} in the pipeline"}
        out["cpu_s"] = self.cpu_seconds() - cpu
        return out


class Ledger:
    """``batch.sqlite``: the outcome of each exam by study key (written by the driver only)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS exams (study_key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, "
                        "inputs TEXT NOT NULL, status TEXT NOT NULL, reason TEXT, finished_utc TEXT NOT NULL)")

    def is_done(self, exam: Exam, fingerprint: str, directory: Path) -> bool:
        row = self.db.execute("SELECT fingerprint, inputs, status FROM exams WHERE study_key = ?",
                              (exam.study_key,)).fetchone()
        return (row is not None and tuple(row) == (fingerprint, exam.inputs, "done")
                and (directory / f"{exam.study_key}.json").exists())

    def record(self, exam: Exam, fingerprint: str, status: str, reason: str | None = None) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO exams VALUES (?, ?, ?, ?, ?, ?)",
                            (exam.study_key, fingerprint, exam.inputs, status, reason,
                             time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))

    def done(self) -> list[tuple[str, str]]:
        """(study key, fingerprint) of every exam done, in key order."""
        return [tuple(r) for r in self.db.execute(
            "SELECT study_key, fingerprint FROM exams WHERE status = 'done' ORDER BY study_key")]

    def close(self) -> None:
        self.db.close()


@dataclass(frozen=True, kw_only=True)
class BatchSettings:
    paths: tuple[Path, ...]
    out: Path
    secret: bytes
    address: str | None = None  #: None: a local Ray on 127.0.0.1; else a running cluster's address
    workers: int | None = None  #: None: one per CPU the cluster has
    threads: int = 1  #: cores (and inference threads) per worker
    pictures: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    scan_chunk: int = 2000  #: files per Ray task when grouping by study; fewer files are grouped by the driver


def find_exams(settings: BatchSettings, config: Config, report: BatchReport) -> list[Exam]:
    """Every study under the paths, keyed; files the reader refuses go to the report's failures."""
    found = list_files(list(settings.paths))
    for path, why in found.skipped:
        log.info("skipped %s: %s", path, why)
    studies, rejected = _group(list(found.files), config, settings.scan_chunk)
    for r in rejected:
        report.failures.append(Failure(kind=FailureKind.REFUSED_FILE, reason=r.reason, message=r.message,
                                       path=os.fspath(r.path)))
    report.refused_files = len(rejected)
    exams = [Exam(study_key=study_key(uid, settings.secret), paths=tuple(os.fspath(p) for p in sorted(paths)),
                  inputs=inputs_digest(paths)) for uid, paths in studies.items()]
    return sorted(exams, key=lambda e: e.study_key)


def _group(files: list[Path], config: Config, chunk: int) -> tuple[dict[str, list[Path]], list[Rejected]]:
    """``group_by_study`` over the files: by the driver for one chunk or less, else one Ray task per chunk (a
    header read per file is the driver's slowest step on a large archive)."""
    if len(files) <= chunk:
        return group_by_study(files, config.reader)
    import ray

    task = ray.remote(num_cpus=1)(group_by_study)
    parts = ray.get([task.remote(files[i:i + chunk], config.reader) for i in range(0, len(files), chunk)])
    studies: dict[str, list[Path]] = {}
    rejected: list[Rejected] = []
    for part_studies, part_rejected in parts:
        for uid, paths in part_studies.items():
            studies.setdefault(uid, []).extend(paths)
        rejected += part_rejected
    return studies, rejected


def start_ray(address: str | None, num_cpus: int | None) -> None:
    """Connect to the cluster at ``address``, or start a local one bound to 127.0.0.1 (no dashboard)."""
    if address is None or address.split(":")[0] in ("127.0.0.1", "localhost"):
        os.environ.setdefault(LOOPBACK_ENV, "0")  # read when ray is imported: this node uses 127.0.0.1
    import ray

    if ray.is_initialized():
        return
    try:
        if address is None:
            ray.init(address="local", include_dashboard=False, num_cpus=num_cpus, log_to_driver=False,
                     logging_level=logging.WARNING)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise BatchError(f"Ray at {address or 'local'} cannot be started or reached: {type(exc).__name__}") from None


def run_batch(settings: BatchSettings, config: Config,
              progress: Callable[[int, int], None] | None = None) -> BatchReport:
    """Analyze every exam not yet done; ``progress(done_or_failed, due)`` after each one."""
    import ray
    from ray.exceptions import RayActorError

    if settings.threads < 1 or (settings.workers is not None and settings.workers < 1) or settings.scan_chunk < 1:
        raise BatchError("--workers, --threads-per-worker and the scan chunk must be >= 1")
    report = BatchReport()
    cpu = sum(os.times()[:2])
    settings.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    start_ray(settings.address, settings.workers * settings.threads if settings.workers else None)
    ray_s = time.perf_counter() - started
    started = time.perf_counter()
    exams = find_exams(settings, config, report)
    report.exams, report.scan_s = len(exams), time.perf_counter() - started

    started = time.perf_counter() - ray_s
    workers = settings.workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // settings.threads)
    remote = ray.remote(num_cpus=settings.threads, max_restarts=1, max_task_retries=0)(ExamAnalyzer)
    actors = [remote.remote(config, settings.threads, settings.overrides) for _ in range(workers)]
    try:
        fingerprints = ray.get([a.fingerprint.remote() for a in actors])
    except RayActorError as exc:
        raise BatchError(f"no worker could load the models: {exc.__class__.__name__}") from None
    fingerprint = fingerprints[0]
    report.workers, report.fingerprint, report.start_s = workers, fingerprint, time.perf_counter() - started
    if len(set(fingerprints)) > 1:
        log.warning("workers run different pipelines (%d fingerprints): their results are recorded with each",
                    len(set(fingerprints)))

    ledger = Ledger(settings.out / LEDGER_FILE)
    try:
        due = [e for e in exams if not ledger.is_done(e, fingerprint, settings.out)]
        report.skipped = len(exams) - len(due)
        _analyze(due, actors, ledger, settings, report, progress, RayActorError)
        started = time.perf_counter()
        write_tables(_done_results(ledger, settings.out), settings.out)
        report.tables_s = time.perf_counter() - started
    finally:
        ledger.close()
        for actor in actors:
            ray.kill(actor)
    _write_failures(report, settings.out)
    report.driver_cpu_s = sum(os.times()[:2]) - cpu
    return report


def _analyze(due: list[Exam], actors: list[Any], ledger: Ledger, settings: BatchSettings, report: BatchReport,
             progress: Callable[[int, int], None] | None, actor_error: type[Exception]) -> None:
    """Two exams in flight per actor (the next one waits at the actor while it works), results as they come."""
    import ray

    pictures = os.fspath(settings.out) if settings.pictures else None
    queue = list(reversed(due))
    running: dict[Any, tuple[Exam, Any]] = {}

    def hand_out(actor: Any) -> None:
        if queue:
            exam = queue.pop()
            running[actor.analyze.remote(exam, pictures)] = (exam, actor)

    started = time.perf_counter()
    for actor in actors:
        hand_out(actor)
        hand_out(actor)
    finished = 0
    while running:
        (ref,), _ = ray.wait(list(running), num_returns=1)
        exam, actor = running.pop(ref)
        try:
            outcome = ray.get(ref)
        except actor_error as exc:
            outcome = {"fingerprint": report.fingerprint, "result": None, "rejected": [], "cpu_s": 0.0,
                       "failure": {"reason": "worker-died", "message": f"the worker ended ({type(exc).__name__})"},
                       "lost": True}
        _record(exam, outcome, ledger, settings, report)
        finished += 1
        if progress is not None:
            progress(finished, len(due))
        hand_out(actor)
    report.analysis_s = time.perf_counter() - started


def _record(exam: Exam, outcome: dict[str, Any], ledger: Ledger, settings: BatchSettings,
            report: BatchReport) -> None:
    report.worker_cpu_s += float(outcome.get("cpu_s", 0.0))
    for r in outcome["rejected"]:
        report.failures.append(Failure(kind=FailureKind.REFUSED_VIEW, reason=r["reason"], message=r["message"],
                                       path=r["path"], study_key=exam.study_key))
    failure = outcome["failure"]
    if failure is not None:
        kind = FailureKind.WORKER_LOST if outcome.get("lost") else FailureKind.EXAM_FAILED
        report.failures.append(Failure(kind=kind, reason=failure["reason"], message=failure["message"],
                                       study_key=exam.study_key))
        report.failed += 1
        ledger.record(exam, outcome["fingerprint"], "failed", failure["reason"])
        return
    if not settings.pictures:  # with pictures the worker wrote the JSON beside them
        write_result(from_dict(ExamResult, outcome["result"]), settings.out)
    ledger.record(exam, outcome["fingerprint"], "done")
    report.done += 1


def _done_results(ledger: Ledger, directory: Path) -> Iterator[tuple[ExamResult, str]]:
    """Every exam the ledger says is done, read back from its JSON (one removed or damaged since is left out)."""
    for key, fingerprint in ledger.done():
        try:
            yield read_result(directory / f"{key}.json"), fingerprint
        except (OSError, ValueError, MammoedgeError) as exc:
            log.warning("result %s left out of the tables (%s)", key[:8], type(exc).__name__)


def _write_failures(report: BatchReport, directory: Path) -> None:
    path = directory / FAILURES_FILE
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report.as_dict()["failures"], indent=1), encoding="utf-8")
    temporary.replace(path)
