"""The update state machine as a table: every state x {error, kill -9, hang} ends in one consistent slot that starts.

Each case runs a real update in a subprocess, faults it at one state (an exception, SIGKILL standing
for a power cut, or a hang ended by a timeout), then "reboots": a new process reloads the state from
disk, runs boot(), starts the current slot and finishes any trial. The box must then rest with
``current`` = ``good`` = the recorded good slot, that slot's files matching its record, and the
running software being that slot's version: the old one, or the committed new one, never a mix.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from firmware_helpers import DRIVER, Lab, fake_manager, repo_with, start_current
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
FAULTS = ("error", "kill", "hang")
CASES = [(state, fault) for state in UpdateState for fault in FAULTS]


def test_table_covers_every_state():
    assert set(TABLE) == set(UpdateState)


@pytest.fixture(scope="module")
def repos(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("repos")
    return {name: repo_with(lab, base / name, name).repo_dir for name in ("v2", "v2-unhealthy")}


def run_faulted(root: Path, repo: Path, state: UpdateState, fault: str) -> int:
    argv = [sys.executable, str(DRIVER), "apply", str(root), str(repo), state.value, fault]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if fault == "hang" and state not in (S.STARTING_NEW, S.HEALTH_CHECKING):
        deadline = time.monotonic() + 120
        while not (root / "reached").exists():
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the state was never reached"
            time.sleep(0.05)
        time.sleep(0.3)
        assert proc.poll() is None, "a hung step must still be running"
        proc.send_signal(signal.SIGKILL)  # the supervisor's timeout (systemd TimeoutStartSec)
    _, err = proc.communicate(timeout=180)
    assert (root / "reached").read_text() == state.value, err.decode()[-2000:]
    return proc.returncode


@pytest.mark.slow
@pytest.mark.parametrize(("state", "fault"), CASES, ids=[f"{s.value}-{f}" for s, f in CASES])
def test_fault_ends_in_a_consistent_startable_slot(box: Path, repos: dict[str, Path], state: UpdateState,
                                                  fault: str) -> None:
    bundle, *expected = TABLE[state]
    code = run_faulted(box, repos[bundle], state, fault)
    if fault in ("kill", "hang") and not (fault == "hang" and state in (S.STARTING_NEW, S.HEALTH_CHECKING)):
        assert code == -signal.SIGKILL
    # the reboot: a new process reloads the state from disk
    recover = subprocess.run([sys.executable, str(DRIVER), "recover", str(box)], capture_output=True, text=True,
                             timeout=180, check=False)
    assert recover.returncode == 0, recover.stderr[-2000:]

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
    repo = repo_with(lab, tmp_path / "repo", "v2").repo_dir
    manager = fake_manager(box)
    from firmware_helpers import source_for
    record = manager.apply(source_for(box, repo))
    assert record.state is S.COMMITTED and record.good_slot == "b" and record.previous_good_slot == "a"
    assert start_current(box) == NEW
    # the repository offers nothing newer: up to date, nothing changes (the timer runs this hourly)
    again = manager.apply(source_for(box, repo))
    assert again.state is S.COMMITTED and again.last_outcome is Outcome.COMMITTED and start_current(box) == NEW


@pytest.mark.parametrize("bundle", ["v2-unhealthy", "v2-crash"])
def test_bad_update_rolls_back_by_itself(box: Path, lab: Lab, tmp_path: Path, bundle: str) -> None:
    from firmware_helpers import source_for
    repo = repo_with(lab, tmp_path / "repo", bundle).repo_dir
    record = fake_manager(box).apply(source_for(box, repo))
    assert record.state is S.FAILED and record.last_outcome is Outcome.ROLLED_BACK
    assert record.last_rule == ("health-check-failed" if bundle == "v2-unhealthy" else "start-failed")
    assert start_current(box) == OLD and SlotStore(box).link(Link.GOOD) is Slot.A


def test_crash_loop_after_commit_rolls_back(box: Path, lab: Lab, tmp_path: Path) -> None:
    from firmware_helpers import source_for
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
    code = subprocess.run([sys.executable, str(DRIVER), "apply", str(box), str(repo), "health-checking", "kill"],
                          capture_output=True, check=False).returncode
    assert code == -signal.SIGKILL
    manager = fake_manager(box)
    for starts in (2, 3):
        record = manager.boot()
        assert record.state is S.HEALTH_CHECKING and record.trial_starts == starts
    record = manager.boot()
    assert record.state is S.FAILED and record.last_rule == "trial-start-limit"
    assert start_current(box) == OLD


def test_operator_rollback_and_fresh_status(box: Path, lab: Lab, tmp_path: Path) -> None:
    from firmware_helpers import source_for
    repo = repo_with(lab, tmp_path / "repo", "v2").repo_dir
    manager = fake_manager(box)
    manager.apply(source_for(box, repo))
    record = manager.rollback()
    assert record.good_slot == "a" and record.previous_good_slot == "b" and start_current(box) == OLD
    assert StateFile(tmp_path / "nowhere.json").load().state is S.IDLE  # fresh install: idle
