"""The update state machine as a table: every state x {error, kill -9, hang} ends in one consistent slot that starts.

Each case runs a real update of a tiny wheel, faults it at one state, then "reboots": a new manager
reloads the state from disk, runs boot(), starts the current slot and finishes any trial. The box
must then rest with ``current`` = ``good`` = the recorded good slot, that slot's files matching its
record, and the running software being that slot's version: the old one, or the committed new one,
never a mix.

Where each fault runs:

- **kill** (all 10 states): a power cut. The update runs in a forked child process that SIGKILLs itself
  right after the state is on disk, so nothing after it runs (no ``finally``, no cleanup).
- **hang** in the 8 states whose step the manager does not bound itself: a forked child blocks in
  the step and is SIGKILLed as systemd's ``TimeoutStartSec`` would, once seen hung.
- **hang** in starting-new / health-checking: the slot's own start or check command hangs and the
  manager's timeout ends it; in the test process (no kill is involved).
- **error** (all 10 states): an exception from the step; in the test process (nothing is killed, and a
  process that dies of an exception leaves the same files as one whose caller catches it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest
from firmware_helpers import (
    FAULT_TIMEOUT_S,
    SELF_TIMED,
    Fault,
    Lab,
    apply_in_child,
    fake_manager,
    fault_hook,
    recover,
    repo_with,
    source_for,
    start_current,
)
from mammoedge.firmware.install import Installer
from mammoedge.firmware.slots import Link, Slot, SlotStore
from mammoedge.firmware.state import RESTING, Outcome, StateFile, UpdateState

OLD, NEW = "1.0.0", "2.0.0"
S = UpdateState
#: state -> (bundle that reaches it, version running after error, after kill, after hang)
TABLE = {
    S.IDLE: ("v2", OLD, OLD, OLD),
    S.DOWNLOADING: ("v2", OLD, OLD, OLD),
    S.VERIFIED: ("v2", OLD, OLD, OLD),
    S.INSTALLING: ("v2", OLD, OLD, OLD),
    S.INSTALLED: ("v2", OLD, OLD, OLD),
    S.STARTING_NEW: ("v2", OLD, NEW, OLD),  # a kill on trial: the next start continues the trial, which passes
    S.HEALTH_CHECKING: ("v2", OLD, NEW, OLD),
    S.COMMITTED: ("v2", NEW, NEW, NEW),
    S.ROLLING_BACK: ("v2-unhealthy", OLD, OLD, OLD),
    S.FAILED: ("v2-unhealthy", OLD, OLD, OLD),
}
FAULTS = (Fault.ERROR, Fault.KILL, Fault.HANG)
CASES = [(state, fault) for state in UpdateState for fault in FAULTS]


def test_table_covers_every_state():
    assert set(TABLE) == set(UpdateState)


@pytest.fixture(scope="module")
def repos(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("repos")
    return {name: repo_with(lab, base / name, name).repo_dir for name in ("v2", "v2-unhealthy")}


def in_process(root: Path, repo: Path, state: UpdateState, fault: str) -> None:
    """An error, or a self-timed hang, at ``state`` in this process."""
    manager = fake_manager(root, timeout_s=FAULT_TIMEOUT_S, on_state=fault_hook(root, state, fault))
    try:
        with contextlib.suppress(RuntimeError):
            manager.apply(source_for(root, repo))
    finally:
        os.environ.pop("FAKEAPP_HANG", None)


@pytest.mark.parametrize(("state", "fault"), CASES, ids=[f"{s.value}-{f}" for s, f in CASES])
def test_fault_ends_in_a_consistent_startable_slot(box: Path, repos: dict[str, Path], state: UpdateState,
                                                  fault: str) -> None:
    bundle, *expected = TABLE[state]
    if fault == Fault.KILL or (fault == Fault.HANG and state not in SELF_TIMED):
        assert apply_in_child(box, repos[bundle], state, fault) == -signal.SIGKILL
    else:
        in_process(box, repos[bundle], state, fault)
    assert (box / "reached").read_text() == state.value
    recover(box)  # the reboot: a new manager reloads the state from disk

    record = StateFile(box / "update-state.json").load()
    store = SlotStore(box)
    assert record.state in RESTING
    good = Slot(str(record.good_slot))
    assert store.link(Link.CURRENT) is good and store.link(Link.GOOD) is good
    info = store.verify(good)  # every file of the running slot matches its record
    want = expected[FAULTS.index(fault)]
    assert info.version == want
    assert start_current(box) == want  # the software that runs is the slot's own version
    other = store.info(good.other())
    if want == OLD:
        assert record.last_outcome is not Outcome.COMMITTED
        assert good is Slot.A
    else:
        assert record.state is S.COMMITTED and record.last_outcome is Outcome.COMMITTED
        assert good is Slot.B and other is not None and other.version == OLD  # the old slot stays for a rollback


def test_good_update_commits_and_a_second_update_uses_the_other_slot(box: Path, lab: Lab, tmp_path: Path) -> None:
    """With the plain Installer (the appliance's): the slot's venv is built by venv + its own pip install --no-index
    from its wheelhouse; that pip is there for the next update, which runs from this slot once it is good."""
    repo = repo_with(lab, tmp_path / "repo", "v2").repo_dir
    manager = fake_manager(box, installer=Installer())
    record = manager.apply(source_for(box, repo))
    assert record.state is S.COMMITTED and record.good_slot == "b" and record.previous_good_slot == "a"
    assert start_current(box) == NEW
    own_pip = subprocess.run([str(box / "slots" / "b" / "venv" / "bin" / "python"), "-m", "pip", "--version"],
                             capture_output=True, text=True, timeout=60, check=False)
    assert own_pip.returncode == 0 and str(box / "slots" / "b" / "venv") in own_pip.stdout, own_pip.stderr
    # the repository offers nothing newer: up to date, nothing changes (the timer runs this hourly)
    again = manager.apply(source_for(box, repo))
    assert again.state is S.COMMITTED and again.last_outcome is Outcome.COMMITTED and start_current(box) == NEW


@pytest.mark.parametrize("bundle", ["v2-unhealthy", "v2-crash"])
def test_bad_update_rolls_back_by_itself(box: Path, lab: Lab, tmp_path: Path, bundle: str) -> None:
    repo = repo_with(lab, tmp_path / "repo", bundle).repo_dir
    record = fake_manager(box).apply(source_for(box, repo))
    assert record.state is S.FAILED and record.last_outcome is Outcome.ROLLED_BACK
    assert record.last_rule == ("health-check-failed" if bundle == "v2-unhealthy" else "start-failed")
    assert start_current(box) == OLD and SlotStore(box).link(Link.GOOD) is Slot.A


def test_crash_loop_after_commit_rolls_back(box: Path, lab: Lab, tmp_path: Path) -> None:
    repo = repo_with(lab, tmp_path / "repo", "v2").repo_dir
    now = [1000.0]
    manager = fake_manager(box)
    manager.clock = lambda: now[0]
    assert manager.apply(source_for(box, repo)).state is S.COMMITTED
    for _ in range(2):  # crash_loop_starts = 3 within 600 s
        now[0] += 10
        assert manager.boot().state is S.COMMITTED
    now[0] += 10
    record = manager.boot()
    assert record.state is S.FAILED and record.last_rule == "crash-loop" and record.good_slot == "a"
    assert start_current(box) == OLD


def test_trial_start_limit_rolls_back(box: Path, lab: Lab, tmp_path: Path) -> None:
    """A new slot that never gets through its health check (killed each time) is abandoned after 3 starts."""
    repo = repo_with(lab, tmp_path / "repo", "v2").repo_dir
    assert apply_in_child(box, repo, S.HEALTH_CHECKING, Fault.KILL) == -signal.SIGKILL
    manager = fake_manager(box)
    for starts in (2, 3):
        record = manager.boot()
        assert record.state is S.HEALTH_CHECKING and record.trial_starts == starts
    record = manager.boot()
    assert record.state is S.FAILED and record.last_rule == "trial-start-limit"
    assert start_current(box) == OLD


def test_operator_rollback_and_fresh_status(box: Path, lab: Lab, tmp_path: Path) -> None:
    repo = repo_with(lab, tmp_path / "repo", "v2").repo_dir
    manager = fake_manager(box)
    manager.apply(source_for(box, repo))
    record = manager.rollback()
    assert record.good_slot == "a" and record.previous_good_slot == "b" and start_current(box) == OLD
    assert StateFile(tmp_path / "nowhere.json").load().state is S.IDLE  # fresh install: idle
