"""The service: receiver + hot folder + assembler + workers + retention, with sd_notify and SIGTERM.

Roles let the receiver and the inference run as separate systemd units that
share ``state_dir`` (the queue is SQLite WAL): ``intake`` (receiver, hot folder,
assembler, retention), ``worker`` (analysis), ``all`` (both, one process).
"""

from __future__ import annotations


import enum
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..config import Config
from ..errors import StateError
from ..intake.durable import ensure_dir, remove_stale_tmp
from ..intake.hot_folder import HotFolder
from ..intake.receiver import Receiver, install_thread_excepthook
from ..intake.space import SpaceGuard
from ..intake.store import Intake
from ..jobs.queue import JobQueue
from ..privacy import load_or_create_secret
from . import sdnotify
from .exam_job import Analyzer, ViewAnalyzer, default_analyzer, default_view_analyzer
from .health import HealthSnapshot, snapshot_from_queue
from .memory import reuse_freed_image_buffers
from .paths import ServicePaths
from .retention import prune
from .worker import ViewWorker, Worker

if TYPE_CHECKING:
    from ..forward import SenderThread
    from ..telemetry import OutboxSink, Reporter

log = logging.getLogger(__name__)
RETENTION_EVERY_S = 600.0
#: threads analyzing views as they arrive (they share the compiled models, one at a time)
VIEW_WORKERS = 2


class Role(enum.StrEnum):
    ALL = "all"
    INTAKE = "intake"
    WORKER = "worker"


class Service:
    """Build with a configuration, :meth:`start`, then :meth:`run_until_stopped` or :meth:`stop`."""

    def __init__(self, config: Config, *, role: Role = Role.ALL, analyzer: Analyzer | None = None,
                 view_analyzer: ViewAnalyzer | None = None) -> None:
        self.config, self.role = config, role
        self.paths = ServicePaths.of(config.service)
        for d in (self.paths.state_dir, self.paths.spool, self.paths.quarantine, self.paths.results):
            ensure_dir(d)
        cfg = config.service
        self.space = SpaceGuard(state_dir=self.paths.state_dir, paths=(self.paths.spool, self.paths.results),
                                min_free_mb=cfg.min_free_mb, reserve_mb=cfg.reserve_mb)
        self.queue = self._open_queue()
        self._requeue_pending = False
        self.stopping = threading.Event()
        self._wake_assembler = threading.Event()
        self._wake_workers = threading.Event()
        self._threads: list[threading.Thread] = []
        self.workers: list[Worker] = []
        self.receiver: Receiver | None = None
        self.hot_folder: HotFolder | None = None
        self.intake: Intake | None = None
        self._analyzer = analyzer
        self.reporter: Reporter | OutboxSink | None = None
        self.sender: SenderThread | None = None  # when [forward] has destinations
        if config.telemetry.enabled and role is Role.WORKER:  # no network: events go to the shared outbox
            from ..telemetry import OutboxSink

            self.reporter = OutboxSink(config.telemetry, self.paths.state_dir)
        elif config.telemetry.enabled:  # intake (sends what a worker unit queued) or all
            from ..telemetry import Reporter
            from ..telemetry.inventory import status_fields, update_fields

            from .health import forward_fields

            self.reporter = Reporter(config.telemetry, self.paths.state_dir, queue=self.queue,
                                     status_source=lambda: status_fields(config),
                                     health_source=lambda: {**update_fields(config), **forward_fields(config)},
                                     update_state=config.update.root / "update-state.json")
        if role in (Role.ALL, Role.WORKER) and analyzer is None:
            self._analyzer = default_analyzer(config)
            view_analyzer = view_analyzer or default_view_analyzer(config)
        self._view_analyzer = view_analyzer
        self._wake_views = threading.Event()

    def _open_queue(self) -> JobQueue:
        """Open the queue; on a full file system (SQLite cannot even open in WAL mode) release the reserve first."""
        try:
            return JobQueue(self.paths.queue_db)
        except sqlite3.OperationalError as exc:
            log.error("queue database cannot be opened (%s): releasing the space reserve", exc)
            if not self.space.release():
                raise StateError(f"queue database cannot be opened ({exc}) and no space reserve is left to "
                                 f"release; rule: service.state_dir needs free space") from None
        try:
            return JobQueue(self.paths.queue_db)
        except sqlite3.OperationalError as exc:
            raise StateError(f"queue database cannot be opened even after releasing the space reserve ({exc}); "
                             f"rule: service.state_dir needs free space") from None

    def _requeue(self) -> None:
        """Exams left ``analyzing`` by the last run go back to the queue (retried later if the disk is full)."""
        try:
            resumed = self.queue.requeue_interrupted()
        except sqlite3.OperationalError as exc:
            if self.space.release():
                self._requeue()
                return
            log.error("exams interrupted by the last shutdown cannot be requeued yet (%s): retried", exc)
            self._requeue_pending = True
            return
        self._requeue_pending = False
        if resumed:
            log.info("resuming %d exam(s) interrupted by the last shutdown", resumed)

    @property
    def runs_intake(self) -> bool:
        return self.role in (Role.ALL, Role.INTAKE)

    @property
    def runs_workers(self) -> bool:
        return self.role in (Role.ALL, Role.WORKER)

    def start(self) -> None:
        cfg = self.config.service
        install_thread_excepthook()
        reuse_freed_image_buffers()
        self.space.maintain()
        if self.runs_intake:
            removed = remove_stale_tmp(self.paths.spool) + remove_stale_tmp(self.paths.quarantine)
            if removed:
                log.info("removed %d temporary files left by an interrupted write", removed)
            secret = load_or_create_secret(self.paths.secret)
            self.intake = Intake(spool_dir=self.paths.spool, quarantine_dir=self.paths.quarantine, queue=self.queue,
                                 secret=secret, reader=self.config.reader, on_stored=self._stored,
                                 space=self.space)
            self._recover_orphans()
            if cfg.hot_folder is not None:
                ensure_dir(cfg.hot_folder)
                self.hot_folder = HotFolder(cfg.hot_folder, self.intake, stable_s=cfg.hot_folder_stable_s)
                self._spawn("hot-folder", self._hot_folder_loop)
            self._spawn("assembler", self._assembler_loop)
            if cfg.port:
                self.receiver = Receiver(cfg, self.intake)
                self.receiver.start()
        if self.runs_workers:
            remove_stale_tmp(self.paths.results)
            remove_stale_tmp(self.paths.views)
            self._requeue()
            analyzer = self._analyzer
            assert analyzer is not None  # set for every role that runs workers
            for i in range(max(1, cfg.workers)):
                worker = Worker(f"worker-{i}", queue=self.queue, analyzer=analyzer,
                                results_dir=self.paths.results,
                                max_attempts=cfg.max_attempts, max_interruptions=cfg.max_interruptions,
                                wake=self._wake_workers, stop=self.stopping,
                                on_done=self._report_exam if self.reporter is not None else None)
                worker.start()
                self.workers.append(worker)
            if self._view_analyzer is not None:
                for i in range(VIEW_WORKERS):  # one reads the next view while the other runs the models
                    view_worker = ViewWorker(queue=self.queue, analyze=self._view_analyzer, wake=self._wake_views,
                                             stop=self.stopping, name=f"view-worker-{i}")
                    view_worker.start()
                    self._threads.append(view_worker)
        if self.runs_intake and self.config.forward.destinations:
            from ..forward import SendQueue, SenderThread, forward_paths

            where = forward_paths(self.config.forward, self.config.service)
            self.sender = SenderThread(self.config.forward, SendQueue(where.queue))
            self.sender.start()
        if self.reporter is not None:
            self.reporter.start()

    def _stored(self) -> None:
        """A new instance is spooled: assemble its exam, and analyze the view now."""
        self._wake_assembler.set()
        self._wake_views.set()

    def _report_exam(self, document: dict[str, Any]) -> None:
        from ..telemetry import exam_event

        if self.reporter is not None:
            self.reporter.exam_analyzed(exam_event(document))

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _recover_orphans(self) -> None:
        """Spool files durably written but not queued (crash between the two) are queued now."""
        known = self.queue.known_paths()
        intake = self.intake
        assert intake is not None  # built before orphans are recovered
        for path in sorted(self.paths.spool.glob("*/*.dcm")):
            if str(path) not in known:
                result = intake.accept(path, intake="recovered")
                log.info("recovered spooled instance: %s", result.outcome)

    def _hot_folder_loop(self) -> None:
        while not self.stopping.wait(self.config.service.hot_folder_poll_s):
            try:
                if self.hot_folder is not None:
                    self.hot_folder.scan()
            except Exception as exc:
                log.error("hot folder scan failed: %s", type(exc).__name__)

    def _assembler_loop(self) -> None:
        settle = self.config.service.settle_s
        while not self.stopping.is_set():
            try:
                if self.queue.assemble(settle_s=settle):
                    self._wake_workers.set()
                next_at = self.queue.next_settle_at(settle)
            except Exception as exc:
                log.error("assembler failed: %s", type(exc).__name__)
                next_at = None
            timeout = 1.0 if next_at is None else min(1.0, max(0.05, next_at - time.time()))
            self._wake_assembler.wait(timeout)
            self._wake_assembler.clear()

    def health(self) -> HealthSnapshot:
        """The health snapshot (see :mod:`.health`), for telemetry."""
        return snapshot_from_queue(self.queue, self.config)

    def _status_line(self) -> str:
        snap = self.health()
        busy = sum(w.busy_since is not None for w in self.workers)
        return f"queue {snap.queue_depth}, analyzing {busy}, exams done {snap.exams_by_state.get('done', 0)}"

    def run_until_stopped(self) -> None:
        """Watchdog, status and retention until :meth:`stop` is called (e.g. from a SIGTERM handler)."""
        sdnotify.notify("READY=1\nSTATUS=" + self._status_line())
        watchdog = sdnotify.watchdog_interval_s()
        tick = min(watchdog, 5.0) if watchdog else 5.0
        next_retention = time.monotonic()
        while not self.stopping.wait(tick):
            self._look_after_space()
            if self._healthy():
                sdnotify.notify("WATCHDOG=1\nSTATUS=" + self._status_line())
            if self.runs_intake and time.monotonic() >= next_retention:
                next_retention = time.monotonic() + RETENTION_EVERY_S
                try:
                    prune(self.queue, self.paths, self.config.service)
                except Exception as exc:
                    log.error("retention failed: %s", type(exc).__name__)
        self._shutdown()

    def _look_after_space(self) -> None:
        """Keep or release the space reserve, retry a requeue the full disk stopped, write counted refusals."""
        try:
            self.space.maintain()
            if self._requeue_pending and self.runs_workers:
                self._requeue()
            if self.intake is not None:
                self.intake.flush_disk_full_count()
        except Exception as exc:
            log.error("free-space upkeep failed: %s", type(exc).__name__)

    def _healthy(self) -> bool:
        """Ping the watchdog only while every thread is alive and no analysis hangs."""
        limit = time.monotonic() - self.config.service.analysis_timeout_s
        hung = [w for w in self.workers if w.busy_since is not None and w.busy_since < limit]
        if hung:
            log.error("%d analysis(es) running longer than %.0f s: watchdog not pinged", len(hung),
                      self.config.service.analysis_timeout_s)
        return not hung and all(t.is_alive() for t in self._threads) and all(w.is_alive() for w in self.workers)

    def stop(self) -> None:
        self.stopping.set()

    def _shutdown(self) -> None:
        sdnotify.notify("STOPPING=1\nSTATUS=stopping")
        if self.receiver is not None:
            self.receiver.stop()
        self._wake_workers.set()
        deadline = time.monotonic() + self.config.service.shutdown_grace_s
        for worker in self.workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        unfinished = sum(w.is_alive() for w in self.workers)
        if unfinished:
            log.warning("%d analysis(es) still running at shutdown: resumed at the next start", unfinished)
        for thread in self._threads:
            thread.join(1.0)
        if self.sender is not None:
            self.sender.stop(5.0)
        if self.reporter is not None:
            self.reporter.stop()
        if not unfinished:
            self.queue.close()
        log.info("service stopped")
