"""``mammoedge batch`` on a local Ray (started once for the module, 2 CPUs on 127.0.0.1): the same results as
``mammoedge analyze``, a rerun that skips everything, refused files listed with their reason, a killed run resumed."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mammoedge.runtime.cli import main
from mammoedge.runtime.results import read_result
from mammoedge.tools.batch.engine import LEDGER_FILE, BatchSettings, FailureKind, run_batch, start_ray
from mammoedge.tools.batch.table import CLUSTERS_FILE, EXAMS_FILE, cluster_rows, exam_row, read_rows, sort_rows
from mammoedge.tools.phantom import make_exam

MAMMOEDGE = Path(sys.executable).parent / "mammoedge"
VOLATILE = ("created_utc", "timings", "seconds")  # when it ran and how long it took


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


@pytest.fixture(scope="module")
def ray_address():
    import ray

    start_ray(None, 2)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Three small phantom exams; one with a cut copy of a view; a file of zeros beside them."""
    root = tmp_path_factory.mktemp("archive")
    for index in range(3):
        make_exam(root / "in" / f"exam{index}", seed=26, index=index, size="small")  # 26: clusters in all three
    (root / "in" / "exam2" / "cut.dcm").write_bytes((root / "in" / "exam2" / "RCC.dcm").read_bytes()[:5000])
    (root / "in" / "junk.dcm").write_bytes(b"\0" * 200)
    (root / "secret").write_bytes(os.urandom(32))
    assert main(["analyze", str(root / "in"), "--out", str(root / "analyze"), "--secret-file",
                 str(root / "secret")]) == 1  # 1: the junk and the cut file were refused
    return root


def settings(archive, out, **kw):
    return BatchSettings(paths=(archive / "in",), out=out, secret=(archive / "secret").read_bytes(), **kw)


@pytest.fixture(scope="module")
def first_run(ray_address, archive):
    from mammoedge.runtime.config import Config

    out = archive / "batch"
    return out, run_batch(settings(archive, out, workers=2, pictures=True), Config())


def test_three_exams_match_analyze(archive, first_run):
    out, report = first_run
    expected = sorted(p.name for p in (archive / "analyze").glob("*.json"))
    assert len(expected) == 3 and sorted(p.name for p in out.glob("*.json") if p.name != "failures.json") == expected
    assert (report.exams, report.done, report.skipped, report.failed, report.workers) == (3, 3, 0, 0, 2)
    for name in expected:
        assert strip(json.loads((out / name).read_text())) == strip(json.loads((archive / "analyze" / name).read_text()))
    assert sorted(p.name for p in out.glob("*.png")) == sorted(p.name for p in (archive / "analyze").glob("*.png"))
    analyzed = [read_result(archive / "analyze" / name) for name in expected]
    exams = sort_rows(read_rows(out / EXAMS_FILE))
    assert strip(exams) == strip(sort_rows([exam_row(r, report.fingerprint) for r in analyzed]))
    clusters = sort_rows(read_rows(out / CLUSTERS_FILE))
    assert clusters and clusters == sort_rows([row for r in analyzed for row in cluster_rows(r, report.fingerprint)])
    assert {m["name"] for m in exams[0]["models"]} >= {"calc-detector"}
    assert all(len(m["sha256"]) == 64 and m["version"] for row in exams for m in row["models"])
    assert exams[0]["software_version"] and len(report.fingerprint) == 64


def test_refused_files_are_listed_with_their_reason(archive, first_run):
    out, report = first_run
    by_name = {Path(f.path).name: f for f in report.failures if f.path}
    assert by_name["junk.dcm"].kind is FailureKind.REFUSED_FILE and by_name["junk.dcm"].reason == "not-dicom"
    assert (by_name["cut.dcm"].kind, by_name["cut.dcm"].reason) == (FailureKind.REFUSED_FILE, "pixel-length")
    listed = json.loads((out / "failures.json").read_text())
    assert {(Path(f["path"]).name, f["reason"]) for f in listed} == {("junk.dcm", "not-dicom"), ("cut.dcm", "pixel-length")}
    import pydicom

    ds = pydicom.dcmread(archive / "in" / "exam2" / "RCC.dcm")
    text = (out / "failures.json").read_text()
    assert str(ds.PatientName) not in text and ds.StudyInstanceUID not in text and ds.PatientID not in text


def test_a_rerun_skips_every_exam(archive, first_run):
    """(The rerun groups the files in Ray tasks of 4 files: the same exams and refusals come out.)"""
    from mammoedge.runtime.config import Config

    out, first = first_run
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    again = run_batch(settings(archive, out, workers=2, pictures=True, scan_chunk=4), Config())
    assert sorted((Path(f.path).name, f.reason) for f in again.failures) == sorted(
        (Path(f.path).name, f.reason) for f in first.failures)
    assert (again.exams, again.done, again.skipped, again.failed, again.fingerprint) == (3, 0, 3, 0, first.fingerprint)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.json") if p.name != "failures.json"} == {
        k: v for k, v in stamps.items() if k != "failures.json"}
    assert len(read_rows(out / EXAMS_FILE)) == 3


def test_a_killed_run_resumes(ray_address, archive):
    """The command on the module's Ray (--address), killed (-9) once an exam is recorded; the next run does only
    the rest, and the tables hold every exam once."""
    from mammoedge.runtime.config import Config

    out = archive / "killed"
    proc = subprocess.Popen([str(MAMMOEDGE), "batch", str(archive / "in"), "--out", str(out), "--address", ray_address,
                             "--workers", "1", "--secret-file", str(archive / "secret")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / LEDGER_FILE).exists():
                with sqlite3.connect(out / LEDGER_FILE) as db:
                    try:
                        done = db.execute("SELECT count(*) FROM exams WHERE status = 'done'").fetchone()[0]
                    except sqlite3.OperationalError:  # the table is not made yet
                        done = 0
                if done:
                    break
            time.sleep(0.05)
        assert proc.poll() is None and done >= 1, proc.stderr.read().decode()[-2000:] if proc.poll() is not None else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    before = len(list(out.glob("*.json")))
    assert before < 3
    resumed = run_batch(settings(archive, out, workers=1), Config())
    assert resumed.skipped >= done and resumed.done + resumed.skipped == 3 and resumed.failed == 0
    keys = sorted(r["study_key"] for r in read_rows(out / EXAMS_FILE))
    assert keys == sorted(p.stem for p in (archive / "analyze").glob("*.json"))
    for name in (p.name for p in (archive / "analyze").glob("*.json")):
        assert strip(json.loads((out / name).read_text()))["triage"] == strip(
            json.loads((archive / "analyze" / name).read_text()))["triage"]


def test_without_the_extra_the_command_says_which(tmp_path):
    """With ray hidden, ``mammoedge batch`` names the cluster extra and exits 2."""
    code = ("import sys, importlib.util as u; real = u.find_spec; "
            "u.find_spec = lambda n, *a: None if n == 'ray' else real(n, *a); "
            "from mammoedge.runtime.cli import main; sys.exit(main(['batch', '.']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "pip install 'mammoedge[cluster]'" in result.stderr
