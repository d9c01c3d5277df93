"""The update state machine: download, verify, install into the other slot, start it on trial, check, commit.

Every transition is written to the state file before its step runs, so a power cut at any point
is resolved at the next start by :meth:`UpdateManager.boot`:

- before the switch (downloading ... installed): the half-installed slot is wiped; the old slot runs;
- on trial (starting-new, health-checking): the start is counted; past ``max_trial_starts`` the box
  rolls back, otherwise the health check (:meth:`UpdateManager.finish_trial`) decides;
- rolling-back: the rollback is finished;
- committed: each start is counted; ``crash_loop_starts`` within ``crash_loop_window_s`` roll back
  to the previous good slot.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .bundle import HostInfo, open_bundle, parse_version
from .errors import HealthCheckError, Rule, SlotError, UpdateError
from .install import Installer
from .slots import Link, Slot, SlotInfo, SlotStore
from .state import (
    BEFORE_SWITCH,
    RESTING,
    TRIAL,
    Outcome,
    StateFile,
    UpdateRecord,
    UpdateState,
    fsync_dir,
    write_durably,
)

log = logging.getLogger(__name__)

STATE_FILE = "update-state.json"
#: a slot's copy of the site configuration, migrated for its software
SLOT_CONFIG = "config.toml"


class BundleSource(Protocol):
    """Where a bundle comes from: puts the verified bundle file into ``dest`` and returns its path."""

    def fetch(self, dest: Path) -> Path: ...

    def newest_version(self) -> str:
        """The newest bundle version the source offers (signed metadata; nothing downloaded)."""
        ...


#: a step run against a slot directory (service start, health check); raises UpdateError on failure
SlotStep = Callable[[Path], None]
#: called after each durable transition (telemetry events, tests' fault injection)
StateHook = Callable[[UpdateRecord], None]


@dataclass(frozen=True, kw_only=True)
class SlotCommand:
    """A command run for a slot: ``{slot}`` in an argument is replaced by the slot directory."""

    argv: tuple[str, ...]
    timeout_s: float
    rule: Rule

    def __call__(self, slot_dir: Path) -> None:
        argv = [a.replace("{slot}", str(slot_dir)) for a in self.argv]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise HealthCheckError(self.rule,
                                   f"{Path(argv[0]).name} did not finish within {self.timeout_s:g} s") from None
        except OSError as exc:
            raise HealthCheckError(self.rule, f"{argv[0]} cannot run: {exc.strerror}") from None
        if out.returncode != 0:
            lines = (out.stdout + "\n" + out.stderr).strip().splitlines()
            tail = " | ".join([line for line in lines if "FAIL" in line][:3] or lines[-2:])
            raise HealthCheckError(self.rule, f"{Path(argv[0]).name} exited with {out.returncode}: {tail}")


@dataclass(frozen=True, kw_only=True)
class Policy:
    """Limits of the state machine (``[update]`` in the configuration)."""

    max_trial_starts: int = 3
    crash_loop_starts: int = 5
    crash_loop_window_s: float = 600.0
    max_bundle_bytes: int = 4 << 30


class UpdateManager:
    """The update state machine over a :class:`SlotStore` and its state file."""

    def __init__(self, root: Path, *, start: SlotStep, health: SlotStep, installer: Installer | None = None,
                 policy: Policy | None = None, host: HostInfo | None = None, on_state: StateHook | None = None,
                 clock: Callable[[], float] = time.time, config_file: Path | None = None) -> None:
        self.store = SlotStore(root)
        self.config_file = config_file
        self.state = StateFile(root / STATE_FILE)
        self.start = start
        self.health = health
        self.installer = installer or Installer()
        self.policy = policy or Policy()
        self.host = host or HostInfo.this_host()
        self.on_state = on_state
        self.clock = clock
        self.work = root / "work"

    # -- status ----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, *, wait: bool = True) -> Iterator[bool]:
        """Hold the update lock (one updater process at a time); yields False when ``wait`` is off and it is taken."""
        self.store.root.mkdir(parents=True, exist_ok=True)
        with open(self.store.root / "update.lock", "a+b") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def status(self) -> UpdateRecord:
        return self.state.load()

    def installed(self) -> SlotInfo | None:
        """The good slot's record (None on a box the updater has not provisioned)."""
        good = self.store.link(Link.GOOD)
        return None if good is None else self.store.info(good)

    # -- transitions -----------------------------------------------------------------------------------------
    def _enter(self, record: UpdateRecord, state: UpdateState) -> None:
        record.state = state
        self.state.save(record)
        log.info("update state %s", state.value)
        if self.on_state is not None:
            self.on_state(record)

    def provision(self, source: BundleSource) -> UpdateRecord:
        """First install (empty box): the bundle goes into slot a, which becomes current and good."""
        record = self.state.load()
        if record.good_slot is not None:
            raise UpdateError(Rule.BUSY, f"this box is already provisioned (good slot {record.good_slot})")
        manifest_dir = self._fresh_work()
        bundle = open_bundle(source.fetch(manifest_dir / "download"), manifest_dir / "unpacked",
                             max_bytes=self.policy.max_bundle_bytes)
        bundle.check_compatible(self.host)
        self.installer.install(self.store, Slot.A, manifest_dir / "unpacked", bundle, source_slot=None)
        self._slot_config(Slot.A, bundle.version, bundle.version)
        self.store.switch(Link.CURRENT, Slot.A)
        self.store.switch(Link.GOOD, Slot.A)
        record = UpdateRecord(good_slot=Slot.A.value, last_to_version=bundle.version)
        self._enter(record, UpdateState.IDLE)
        shutil.rmtree(self.work, ignore_errors=True)
        return record

    def seed(self, *, wheelhouse: Path, models: Path, version: str, requirements: Sequence[str],
             running_prefix: Path) -> UpdateRecord:
        """First install laid out by ``install.sh``: slot a's venv was built offline from ``wheelhouse`` and runs
        this process; its wheelhouse and models are copied beside it, the slot is sealed, and ``current`` and
        ``good`` point at it, so the box is updatable at once."""
        record = self.state.load()
        if record.good_slot is not None:
            raise UpdateError(Rule.BUSY, f"this box is already provisioned (good slot {record.good_slot})")
        root = self.store.path(Slot.A)
        if running_prefix.resolve() != (root / "venv").resolve():
            raise SlotError(Rule.NO_GOOD_SLOT, f"seed runs from slot a's own venv ({root / 'venv'}), not "
                                               f"{running_prefix}")
        ignore = shutil.ignore_patterns("__init__.py", "__pycache__", "*.pyc")
        for name, folder in (("wheelhouse", wheelhouse), ("models", models)):
            if not folder.is_dir():
                raise SlotError(Rule.INSTALL, f"{name} folder {folder} does not exist")
            shutil.rmtree(root / name, ignore_errors=True)
            shutil.copytree(folder, root / name, ignore=ignore)
        self.store.seal(Slot.A, version=version, software_version=version, kind="full",
                        manifest={"version": version, "software_version": version, "kind": "full",
                                  "requirements": list(requirements), "seeded_by": "install.sh"})
        self._slot_config(Slot.A, version, version)
        self.store.switch(Link.CURRENT, Slot.A)
        self.store.switch(Link.GOOD, Slot.A)
        record = UpdateRecord(good_slot=Slot.A.value, last_to_version=version)
        self._enter(record, UpdateState.IDLE)
        log.info("slot a seeded with mammoedge %s", version)
        return record

    def apply(self, source: BundleSource) -> UpdateRecord:
        """Run one update to its end: committed, or refused/rolled back with the old slot running."""
        record = self.state.load()
        if self.on_state is not None:
            self.on_state(record)
        if record.state not in RESTING:
            raise UpdateError(Rule.BUSY, f"an update is in state {record.state.value}; run 'mammoedge update boot' "
                                         f"or wait for it")
        good = self._good(record)
        installed = self.store.verify(good)
        try:
            offered = source.newest_version()
        except UpdateError as exc:  # refused metadata (or no repository): recorded, nothing touched
            record.target_slot = None
            return self._refuse(record, exc)
        if parse_version(offered) <= parse_version(installed.version):
            log.info("up to date: the newest signed bundle is %s, installed %s", offered, installed.version)
            return record
        target = good.other()
        record.target_slot, record.target_version, record.trial_starts = target.value, None, 0
        record.last_from_version, record.last_to_version = installed.version, None
        record.last_rule = record.last_message = None
        try:
            self._enter(record, UpdateState.DOWNLOADING)
            work = self._fresh_work()
            bundle_file = source.fetch(work / "download")
            manifest = open_bundle(bundle_file, work / "unpacked", max_bytes=self.policy.max_bundle_bytes)
            manifest.check_compatible(self.host)
            manifest.check_version(installed.version)
            record.target_version = record.last_to_version = manifest.version
            self._enter(record, UpdateState.VERIFIED)
            self._enter(record, UpdateState.INSTALLING)
            self.installer.install(self.store, target, work / "unpacked", manifest, source_slot=good)
            self._slot_config(target, installed.version, manifest.version)
            self._enter(record, UpdateState.INSTALLED)
        except Exception as exc:  # anything before the switch: the old slot still runs
            return self._refuse(record, exc)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        return self._trial(record)

    def _refuse(self, record: UpdateRecord, exc: Exception) -> UpdateRecord:
        rule = exc.rule if isinstance(exc, UpdateError) else Rule.INSTALL
        log.warning("update refused: %s", exc)
        self._discard_target(record)
        record.last_rule, record.last_message = rule.value, str(exc)
        record.conclude(Outcome.REFUSED)
        record.target_slot = record.target_version = None
        self._enter(record, UpdateState.FAILED)
        return record

    def _trial(self, record: UpdateRecord) -> UpdateRecord:
        target = Slot(str(record.target_slot))
        try:
            record.trial_starts = 1
            self._enter(record, UpdateState.STARTING_NEW)
            self.store.switch(Link.CURRENT, target)
            self.start(self.store.path(target))
        except Exception as exc:  # any failure on trial rolls back
            return self._rollback(record, exc, default=Rule.START)
        return self.finish_trial(record)

    def finish_trial(self, record: UpdateRecord | None = None) -> UpdateRecord:
        """The health check of a slot on trial: commit it, or roll back. Nothing to do when none is on trial."""
        record = record or self.state.load()
        if record.state not in TRIAL:
            return record
        target = Slot(str(record.target_slot))
        try:
            self._enter(record, UpdateState.HEALTH_CHECKING)
            self.store.verify(target)
            self.health(self.store.path(target))
        except Exception as exc:  # any failure on trial rolls back
            return self._rollback(record, exc, default=Rule.HEALTH)
        return self._commit(record, target)

    def _commit(self, record: UpdateRecord, target: Slot) -> UpdateRecord:
        self.store.switch(Link.GOOD, target)
        self._install_site_config(target)
        if record.good_slot != target.value:
            record.previous_good_slot = record.good_slot
        record.good_slot, record.target_slot, record.target_version = target.value, None, None
        record.trial_starts, record.starts = 0, []
        record.conclude(Outcome.COMMITTED)
        self._enter(record, UpdateState.COMMITTED)
        log.info("update committed: slot %s is good", target.value)
        return record

    def _rollback(self, record: UpdateRecord, exc: Exception | None, *, default: Rule, restart: bool = True,
                  message: str = "") -> UpdateRecord:
        rule = exc.rule if isinstance(exc, UpdateError) else default
        record.last_rule, record.last_message = rule.value, str(exc) if exc is not None else message
        log.warning("rolling back (%s): %s", rule.value, record.last_message)
        self._enter(record, UpdateState.ROLLING_BACK)
        return self._finish_rollback(record, restart=restart)

    def _finish_rollback(self, record: UpdateRecord, *, restart: bool) -> UpdateRecord:
        good = self._good(record)
        self.store.switch(Link.CURRENT, good)
        self.store.switch(Link.GOOD, good)
        if record.last_rule in (Rule.CRASH_LOOP.value, Rule.OPERATOR.value):  # back from a committed slot
            self._install_site_config(good)
        if restart:
            try:
                self.start(self.store.path(good))
            except UpdateError as exc:  # the old slot ran before the update; say so, keep the state consistent
                log.error("the good slot %s did not restart after the rollback: %s", good.value, exc)
        record.target_slot = record.target_version = None
        record.trial_starts = 0
        record.conclude(Outcome.ROLLED_BACK)
        self._enter(record, UpdateState.FAILED)
        return record

    # -- recovery at start -----------------------------------------------------------------------------------
    def boot(self, *, count_start: bool = True) -> UpdateRecord:
        """Resolve whatever a power cut left (run before the services start).

        ``count_start``: this is a start of the services (the worker's ExecStartPre), counted for the
        trial-start limit and the crash-loop rule; the boot unit resolves without counting.
        """
        record = self.state.load()
        if record.good_slot is None:
            return record
        state = record.state
        if state in BEFORE_SWITCH:
            self._discard_target(record)
            shutil.rmtree(self.work, ignore_errors=True)
            self._repair_links(record)
            record.target_slot = record.target_version = None
            record.last_rule = Rule.INTERRUPTED.value
            record.conclude(Outcome.INTERRUPTED)
            record.last_message = f"the update was interrupted in state {state.value}"
            self._enter(record, UpdateState.FAILED)
        elif state in TRIAL:
            record.trial_starts += int(count_start)
            target = Slot(str(record.target_slot))
            if record.trial_starts > self.policy.max_trial_starts:
                return self._rollback(record, None, default=Rule.TRIAL_STARTS, restart=False,
                                      message=f"slot {target.value} started {record.trial_starts - 1} times "
                                              f"without passing its health check")
            if self.store.info(target) is None:
                return self._rollback(record, None, default=Rule.NO_GOOD_SLOT, restart=False,
                                      message=f"slot {target.value} on trial is incomplete")
            self.store.switch(Link.CURRENT, target)
            self.state.save(record)
        elif state is UpdateState.ROLLING_BACK:
            return self._finish_rollback(record, restart=False)
        else:
            self._repair_links(record)
            if state is UpdateState.COMMITTED and count_start:
                return self._count_start(record)
        return record

    def _count_start(self, record: UpdateRecord) -> UpdateRecord:
        now = self.clock()
        record.starts = [t for t in record.starts if now - t < self.policy.crash_loop_window_s] + [round(now, 3)]
        previous = record.previous_good_slot
        if (len(record.starts) >= self.policy.crash_loop_starts and previous is not None
                and self.store.info(Slot(previous)) is not None):
            message = (f"{len(record.starts)} starts within {self.policy.crash_loop_window_s:g} s after the commit "
                       f"of slot {record.good_slot}")
            record.good_slot, record.previous_good_slot, record.starts = previous, None, []
            return self._rollback(record, None, default=Rule.CRASH_LOOP, restart=False, message=message)
        self.state.save(record)
        return record

    def _repair_links(self, record: UpdateRecord) -> None:
        good = self._good(record)
        for link in Link:
            if self.store.link(link) is not good:
                self.store.switch(link, good)

    # -- operator commands -----------------------------------------------------------------------------------
    def mark_good(self) -> UpdateRecord:
        """Commit the slot on trial without waiting for the health check (operator's decision)."""
        record = self.state.load()
        if record.state not in TRIAL:
            raise UpdateError(Rule.OPERATOR, f"no slot is on trial (state {record.state.value})")
        return self._commit(record, Slot(str(record.target_slot)))

    def rollback(self) -> UpdateRecord:
        """Go back: from a trial to the good slot, or from a committed slot to the previous good one."""
        record = self.state.load()
        if record.state in TRIAL:
            return self._rollback(record, None, default=Rule.OPERATOR, message="rollback requested by the operator")
        if record.state not in RESTING:
            raise UpdateError(Rule.BUSY, f"an update is in state {record.state.value}")
        previous = record.previous_good_slot
        if previous is None or self.store.info(Slot(previous)) is None:
            raise SlotError(Rule.NO_GOOD_SLOT, "there is no previous good slot to roll back to")
        record.good_slot, record.previous_good_slot = previous, record.good_slot
        return self._rollback(record, None, default=Rule.OPERATOR, message="rollback requested by the operator")

    # -- configuration ---------------------------------------------------------------------------------------
    def _slot_config(self, slot: Slot, installed: str, target: str) -> None:
        """The slot's ``config.toml``: the site configuration with the slot's migrations applied."""
        if self.config_file is None:
            return
        import tomllib

        from .migrate import dump_toml, load_migrations, migrate

        try:
            table = tomllib.loads(self.config_file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UpdateError(Rule.INSTALL, f"site configuration {self.config_file} cannot be read: {exc}") from None
        migrated = migrate(table, load_migrations(self.store.path(slot) / "migrations"), installed=installed,
                           target=target)
        write_durably(self.store.path(slot) / SLOT_CONFIG, dump_toml(migrated).encode())

    def _install_site_config(self, slot: Slot) -> None:
        """Replace the site configuration with the slot's (same mode and owner; rename over it)."""
        source = self.store.path(slot) / SLOT_CONFIG
        if self.config_file is None or not source.is_file():
            return
        data = source.read_bytes()
        if self.config_file.is_file() and self.config_file.read_bytes() == data:
            return
        tmp = self.config_file.with_name(f".{self.config_file.name}.update")
        tmp.write_bytes(data)
        if self.config_file.exists():
            st = self.config_file.stat()
            os.chmod(tmp, st.st_mode & 0o7777)
            if os.geteuid() == 0:
                os.chown(tmp, st.st_uid, st.st_gid)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.config_file)
        fsync_dir(self.config_file.parent)
        log.info("site configuration replaced by slot %s's", slot.value)

    # -- helpers ---------------------------------------------------------------------------------------------
    def _discard_target(self, record: UpdateRecord) -> None:
        """Wipe the target slot only if the install had begun; before that it still holds the previous good one."""
        if record.target_slot is None or record.state not in (UpdateState.INSTALLING, UpdateState.INSTALLED):
            return
        self.store.wipe(Slot(record.target_slot))
        if record.previous_good_slot == record.target_slot:
            record.previous_good_slot = None

    def _good(self, record: UpdateRecord) -> Slot:
        if record.good_slot is None:
            raise SlotError(Rule.NO_GOOD_SLOT, "no slot has been installed by the updater (run provisioning first)")
        return Slot(record.good_slot)

    def _fresh_work(self) -> Path:
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        return self.work


def slot_command(argv: Sequence[str], timeout_s: float, rule: Rule) -> SlotCommand:
    return SlotCommand(argv=tuple(argv), timeout_s=timeout_s, rule=rule)
