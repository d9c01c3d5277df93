"""Fixtures for service tests: phantom exams, and ``mammoedge serve`` run as a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

MAMMOEDGE = Path(sys.executable).parent / "mammoedge"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def phantom_exam(tmp_path_factory) -> Path:
    """One small four-view phantom exam (RCC, LCC, RMLO, LMLO)."""
    from mammoedge.tools.phantom import make_exam

    out = tmp_path_factory.mktemp("phantom") / "exam"
    make_exam(out, seed=7, size="small")
    return out


def clone_exams(source: Path, out_dir: Path, count: int, *, views: tuple[str, ...] = ("RCC", "LCC", "RMLO", "LMLO")
                ) -> list[list[Path]]:
    """``count`` copies of ``source`` with fresh Study/Series/SOP Instance UIDs, one folder each."""
    exams = []
    datasets = {v: pydicom.dcmread(source / f"{v}.dcm") for v in views}
    for i in range(count):
        folder = out_dir / f"exam{i:02d}"
        folder.mkdir(parents=True)
        study = generate_uid()
        files = []
        for view, ds in datasets.items():
            ds.StudyInstanceUID = study
            ds.SeriesInstanceUID = generate_uid()
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            path = folder / f"{view}.dcm"
            ds.save_as(path, enforce_file_format=True)
            files.append(path)
        exams.append(files)
    return exams


def dataset_bytes(path: Path) -> bytes:
    """The data set of a Part 10 file without preamble and file meta (what travels over DICOM)."""
    with open(path, "rb") as fh:
        pydicom.filereader.read_preamble(fh, False)
        pydicom.filereader._read_file_meta_info(fh)
        return fh.read()


class Served:
    """``mammoedge serve`` as a subprocess on 127.0.0.1 with its own state dir and TOML config."""

    def __init__(self, root: Path, *, port: int | None = None, options: dict | None = None) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.state = root / "state"
        self.port = port or free_port()
        self.config = root / "service.toml"
        opts = {"state_dir": str(self.state), "bind_address": "127.0.0.1", "port": self.port,
                "settle_s": 3.0, "acse_timeout_s": 3.0, "dimse_timeout_s": 5.0, "network_timeout_s": 5.0,
                "shutdown_grace_s": 5.0}
        opts.update(options or {})
        lines = ["[service]"] + [f"{k} = {json.dumps(v)}" for k, v in opts.items()]
        self.config.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None
        self.log = root / "serve.log"

    @property
    def results(self) -> Path:
        return self.state / "results"

    def start(self, env: dict | None = None, wait: bool = True, role: str = "all") -> Served:
        self._log_fh = open(self.log, "ab")
        self.proc = subprocess.Popen([str(MAMMOEDGE), "-v", "--config", str(self.config), "serve", "--role", role],
                                     stdout=self._log_fh, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"serve exited {self.proc.returncode}: {self.log.read_text()[-2000:]}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("mammoedge serve did not listen in time")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 20.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def result_files(self) -> list[Path]:
        return sorted(self.results.glob("*.json")) if self.results.is_dir() else []

    def wait_results(self, count: int, timeout: float = 60.0) -> list[Path]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            files = self.result_files()
            if len(files) >= count:
                return files
            assert self.proc.poll() is None, f"serve exited: {self.log.read_text()[-2000:]}"
            time.sleep(0.1)
        raise AssertionError(f"{len(self.result_files())} of {count} results after {timeout} s; "
                             f"log: {self.log.read_text()[-2000:]}")

    def status(self) -> dict:
        out = subprocess.run([str(MAMMOEDGE), "--config", str(self.config), "status", "--json"],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout)


@pytest.fixture
def serve(tmp_path):
    """Factory: ``serve(options=...)`` starts ``mammoedge serve``; all are stopped at teardown."""
    started: list[Served] = []

    def factory(root: Path | None = None, **kwargs) -> Served:
        served = Served(root or tmp_path / f"serve{len(started)}", **kwargs)
        started.append(served)
        return served

    yield factory
    for served in started:
        if served.proc is not None and served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait(10)


def storescu(port: int, files: list[Path], *, calling: str = "MODALITY", called: str = "MAMMOEDGE",
             extra: tuple[str, ...] = (), timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(["storescu", "-v", "-aet", calling, "-aec", called, *extra, "127.0.0.1", str(port),
                           *map(str, files)], capture_output=True, text=True, timeout=timeout)
