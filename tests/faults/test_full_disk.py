"""A full state file system (a 48 MB tmpfs, mounted as root): 0xA700, the service keeps running, restarts on a
full disk, and resumes by itself when space returns (issue 16 item 2). Peers: ``mammoedge serve``, storescu,
echoscu. Without root the mount fails and so does this test (a missing peer fails, it is not skipped).
"""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from mgfactory import make_dataset
from pydicom.uid import generate_uid

_spec = importlib.util.spec_from_file_location(
    "service_conftest", Path(__file__).resolve().parent.parent / "runtime" / "service" / "service_helpers.py")
assert _spec is not None and _spec.loader is not None
service = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(service)

OPTIONS = {"min_free_mb": 2.0, "reserve_mb": 1.0, "settle_s": 1.0}


def _exam(folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    study = generate_uid()
    files = []
    for i, (lat, view) in enumerate((("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))):
        ds, _ = make_dataset(laterality=lat, view=view, seed=i, study_uid=study)
        files.append(folder / f"{lat}{view}.dcm")
        ds.save_as(files[-1], enforce_file_format=True)
    return files


def _fill(path: Path) -> None:
    """Write ``path`` until the file system is full (it may be full already: then even the open fails)."""
    try:
        with open(path, "ab") as fh:
            while True:
                fh.write(bytes(65536))
                fh.flush()
    except OSError:
        pass


def _echo(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["echoscu", "-aec", "MAMMOEDGE", "127.0.0.1", str(port)], capture_output=True, text=True,
                          timeout=30)


def _refusals(port: int, files: list[Path]) -> int:
    """Send each file on its own association (storescu stops at the first refusal); count 0xA700 answers."""
    return sum(service.storescu(port, [f]).stderr.count("Received Store Response (Refused: OutOfResources)")
               for f in files)


def _disk_full_rows(db: Path) -> tuple[int, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT COUNT(*), COALESCE(SUM(count), 0) FROM events WHERE reason='disk-full'").fetchone()


@pytest.fixture
def tiny_state(tmp_path: Path):
    root = tmp_path / "svc"
    state = root / "state"
    state.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(state)], capture_output=True,
                             text=True)
    assert mounted.returncode == 0, f"a 48 MB tmpfs cannot be mounted (needs root): {mounted.stderr.strip()}"
    yield root
    subprocess.run(["umount", "-l", str(state)], capture_output=True)


def test_full_disk_refuses_keeps_running_restarts_and_resumes(tiny_state: Path, tmp_path: Path) -> None:
    served = service.Served(tiny_state, options=OPTIONS)
    try:
        served.start()
        state = served.state
        assert (state / "space-reserve").stat().st_size == 1024 * 1024
        first = _exam(tmp_path / "a")
        sent = service.storescu(served.port, first)
        assert sent.stderr.count("Received Store Response (Success)") == 4, sent.stderr[-1500:]
        served.wait_results(1, timeout=60)

        # The disk fills up while the service runs: refused with 0xA700, still answering, few event rows.
        _fill(state / "filler")
        second = _exam(tmp_path / "b")
        for _ in range(3):
            assert _refusals(served.port, second) == 4
        assert served.proc.poll() is None
        assert _echo(served.port).returncode == 0
        rows, _ = _disk_full_rows(state / "queue.sqlite")
        assert rows <= 2, f"{rows} event rows for 12 refusals"

        # Space comes back: accepted again without a restart, and the refusals are counted.
        (state / "filler").unlink(missing_ok=True)
        sent = service.storescu(served.port, second)
        assert sent.stderr.count("Received Store Response (Success)") == 4, sent.stderr[-1500:]
        served.wait_results(2, timeout=60)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _disk_full_rows(state / "queue.sqlite")[1] < 12:
            time.sleep(0.2)
        assert _disk_full_rows(state / "queue.sqlite")[1] == 12
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (state / "space-reserve").exists():
            time.sleep(0.2)
        assert (state / "space-reserve").exists()  # the reserve is made again
        assert served.terminate() == 0

        # A restart on a file system full to the last byte, with an exam left 'analyzing' by a crash.
        with sqlite3.connect(state / "queue.sqlite") as conn:
            (key,) = conn.execute("SELECT study_key FROM exams ORDER BY rowid LIMIT 1").fetchone()
            conn.execute("UPDATE exams SET state='analyzing' WHERE study_key=?", (key,))
        _fill(state / "filler")
        result = served.results / f"{key}.json"
        before = result.stat().st_mtime
        served.start()  # fails here before the fix: sqlite3.OperationalError, the process exits
        assert _echo(served.port).returncode == 0
        third = _exam(tmp_path / "c")
        assert _refusals(served.port, third) == 4
        deadline = time.monotonic() + 30  # the interrupted exam is analyzed again in the released reserve
        while time.monotonic() < deadline and result.stat().st_mtime == before:
            time.sleep(0.2)
        assert result.stat().st_mtime > before, served.log.read_text()[-2000:]
        assert served.proc.poll() is None
        (state / "filler").unlink(missing_ok=True)
        sent = service.storescu(served.port, third)
        assert sent.stderr.count("Received Store Response (Success)") == 4, sent.stderr[-1500:]
        served.wait_results(3, timeout=60)
        assert not list(state.rglob(".tmp-*"))
        assert served.terminate() == 0
    finally:
        if served.proc is not None and served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait(10)
