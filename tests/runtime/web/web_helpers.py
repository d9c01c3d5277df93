"""Fixtures of the page's tests: a phantom exam through the real intake and worker, ``mammoedge web`` as a
subprocess on 127.0.0.1, and Debian's headless Chromium driven by selenium."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import generate_uid

MAMMOEDGE = Path(sys.executable).parent / "mammoedge"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PASSWORD = "correct-horse-battery"
VIEWS = ("RCC", "LCC", "RMLO", "LMLO")
LOCKOUT = 3  #: [web] lockout_failures of the tests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class BoxState:
    """A service state directory with one analyzed phantom exam, and the means to add more."""

    root: Path
    config_file: Path
    config: Any
    exam_dir: Path  #: the phantom's DICOM files
    study_key: str
    identity: dict[str, str]  #: the phantom's patient name, ID, UIDs (must never show in URLs or logs)
    output: Any  #: the first exam's AnalyzerOutput (reused to write later results quickly)

    def queue(self) -> Any:
        from mammoedge.runtime.jobs.queue import JobQueue
        from mammoedge.runtime.service.paths import ServicePaths

        return JobQueue(ServicePaths.of(self.config.service).queue_db)

    def intake(self, queue: Any, folder: Path) -> str:
        """Spool and queue a folder of views the way the receiver does; its study key."""
        from mammoedge.runtime.intake.store import Intake
        from mammoedge.runtime.privacy import load_or_create_secret
        from mammoedge.runtime.service.paths import ServicePaths

        paths = ServicePaths.of(self.config.service)
        intake = Intake(spool_dir=paths.spool, quarantine_dir=paths.quarantine, queue=queue,
                        secret=load_or_create_secret(paths.secret), reader=self.config.reader)
        keys = {intake.accept((folder / f"{v}.dcm").read_bytes(), intake="test").study_key for v in VIEWS}
        assert len(keys) == 1
        return keys.pop()

    def clone(self, name: str) -> Path:
        """The phantom exam with fresh study/series/instance UIDs (another exam of the same pixels)."""
        folder = self.root / name
        folder.mkdir()
        study = generate_uid()
        for view in VIEWS:
            ds = pydicom.dcmread(self.exam_dir / f"{view}.dcm")
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, generate_uid(), generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.save_as(folder / f"{view}.dcm", enforce_file_format=True)
        return folder

    def finish_with_copy(self, queue: Any, key: str) -> float:
        """Assemble and claim exam ``key`` and let the real worker (``run_job``) write its result: the first
        exam's analysis under this key. Returns when the result file was written (its mtime: set before its
        fsync and rename, so a latency measured from it is an upper bound)."""
        from mammoedge.runtime.service.exam_job import AnalyzerOutput
        from mammoedge.runtime.service.paths import ServicePaths
        from mammoedge.runtime.service.worker import run_job

        queue.assemble(settle_s=0.0)
        job = queue.claim()
        assert job is not None and job.study_key == key
        output = AnalyzerOutput(result={**self.output.result, "study_key": key}, rejected=self.output.rejected)
        results = ServicePaths.of(self.config.service).results
        run_job(job, queue=queue, analyzer=lambda instances, missing: output, results_dir=results, max_attempts=3)
        return (results / f"{key}.json").stat().st_mtime  # written once (no pictures, no forwarding here)


def make_box_state(root: Path) -> BoxState:
    """One phantom exam (seed 3, clusters in both breasts) through the real intake and worker with the risk
    model, so its result has marks, saliency maps and asymmetry heatmaps."""
    from mammoedge.runtime.config import load_config
    from mammoedge.runtime.service.exam_job import analyze_instances
    from mammoedge.runtime.service.paths import ServicePaths
    from mammoedge.runtime.service.worker import run_job
    from mammoedge.tools.phantom import make_exam

    exam = root / "exam"
    make_exam(exam, seed=3, size="small", normal_fraction=0.0)
    config_file = root / "mammoedge.toml"
    config_file.write_text(f'[service]\nstate_dir = "{root / "state"}"\n[analysis]\nrisk_model = "risk-fourview"\n'
                           f'[web]\nport = {free_port()}\nlockout_failures = {LOCKOUT}\n')
    config = load_config(config_file, env={})
    ds = pydicom.dcmread(exam / "RCC.dcm", stop_before_pixels=True)
    identity = {"name": str(ds.PatientName), "name_spaced": str(ds.PatientName).replace("^", " "),
                "id": str(ds.PatientID), "study_uid": str(ds.StudyInstanceUID), "sop_uid": str(ds.SOPInstanceUID),
                "accession": str(ds.get("AccessionNumber", "")), "study_date": str(ds.StudyDate)}
    state = BoxState(root=root, config_file=config_file, config=config, exam_dir=exam, study_key="",
                     identity=identity, output=None)
    queue = state.queue()
    try:
        state.study_key = state.intake(queue, exam)
        queue.assemble(settle_s=0.0)
        job = queue.claim()
        captured: dict[str, Any] = {}

        def analyzer(instances: list[Path], missing: list[str]) -> Any:
            captured["output"] = analyze_instances(instances, missing, config=config)
            return captured["output"]

        ServicePaths.of(config.service).results.mkdir(parents=True, exist_ok=True)
        run_job(job, queue=queue, analyzer=analyzer, results_dir=ServicePaths.of(config.service).results,
                max_attempts=1)
        state.output = dataclasses.replace(captured["output"], outputs=None, after=None)
    finally:
        queue.close()
    return state


@pytest.fixture(scope="session")
def box_state(tmp_path_factory: pytest.TempPathFactory) -> BoxState:
    return make_box_state(tmp_path_factory.mktemp("web-box"))


def add_user(state: BoxState, name: str, role: str = "technologist", password: str = PASSWORD) -> None:
    """An account in the page's store (what ``mammoedge user add`` does; the CLI has its own test)."""
    from mammoedge.runtime.web import AccountStore, Role, web_dir

    store = AccountStore(web_dir(state.config) / "accounts.sqlite")
    try:
        store.add(name, password, Role(role))
    finally:
        store.close()


class Page:
    """``mammoedge web`` as a subprocess; its log (uvicorn's access log included) in ``log``."""

    def __init__(self, state: BoxState) -> None:
        self.state, self.port = state, state.config.web.port
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = state.root / "web.log"
        self._fh = open(self.log, "ab")
        self.proc = subprocess.Popen([str(MAMMOEDGE), "-v", "--config", str(state.config_file), "web"],
                                     stdout=self._fh, stderr=subprocess.STDOUT, env={**os.environ})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"mammoedge web exited: {self.log.read_text()[-2000:]}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("mammoedge web did not listen in time")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._fh.close()


@pytest.fixture(scope="module")
def page(box_state: BoxState) -> Iterator[Page]:
    served = Page(box_state)
    yield served
    served.stop()


def chrome(tmp: Path, *, width: int = 1280, height: int = 900) -> Any:
    """Debian's Chromium, headless, with its performance log on (the page's own request URLs)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium / chromium-driver not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp}", f"--window-size={width},{height}",
                 "--force-device-scale-factor=1", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = chrome(tmp_path_factory.mktemp("chromium"))
    yield driver
    driver.quit()
    shutil.rmtree(tmp_path_factory.getbasetemp() / "chromium", ignore_errors=True)


def request_urls(driver: Any) -> list[str]:
    """Every URL the page asked for since the last call (Chromium's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def add_biopsy(state: BoxState) -> str:
    """A stereotactic set (small phantom: scout, +15, -15 deg) through the real intake, and the result envelope
    the service is to write for it (``"kind": "biopsy"``, ``"biopsy"``: ``BiopsyResult.to_dict()``, from the
    real biopsy stage); the exam marked done. Returns the study key."""
    import functools

    from mammoedge.runtime.biopsy.detect import detect_view
    from mammoedge.runtime.biopsy.stage import run_biopsy
    from mammoedge.runtime.inference import Engine
    from mammoedge.runtime.intake.store import Intake
    from mammoedge.runtime.pipeline.models import load_detector
    from mammoedge.runtime.privacy import load_or_create_secret
    from mammoedge.runtime.service.paths import ServicePaths
    from mammoedge.runtime.service.worker import write_envelope
    from mammoedge.tools.phantom.stereo import make_stereo

    folder = state.root / "stereo"
    make_stereo(folder, seed=11, index=0, size="small")
    paths = ServicePaths.of(state.config.service)
    datasets = [(p.name, pydicom.dcmread(p)) for p in sorted(folder.glob("*.dcm"))]
    queue = state.queue()
    try:
        intake = Intake(spool_dir=paths.spool, quarantine_dir=paths.quarantine, queue=queue,
                        secret=load_or_create_secret(paths.secret), reader=state.config.reader)
        keys = {intake.accept((folder / name).read_bytes(), intake="test").study_key for name, _ in datasets}
        assert len(keys) == 1
        key = keys.pop()
        queue.assemble(settle_s=0.0)
        job = queue.claim()
        assert job is not None and job.study_key == key
        detector = load_detector(Engine(state.config.inference), state.config.analysis)
        started = time.time()
        result, _, _ = run_biopsy(datasets, functools.partial(detect_view, detector=detector, config=state.config),
                                  state.config)
        written = write_envelope(paths.results, {
            "study_key": key, "instances": len(datasets), "missing_views": [], "complete": True, "rejected": [],
            "software_version": "test", "started_at": started, "completed_at": time.time(), "analyzed": True,
            "not_analyzed": None, "result": None, "kind": "biopsy", "biopsy": result.to_dict()})
        queue.finish(job, written)
    finally:
        queue.close()
    return key


@pytest.fixture(scope="session")
def biopsy_key(box_state: BoxState) -> str:
    return add_biopsy(box_state)
