"""The health check against real peers: a DICOM Verification SCP on 127.0.0.1 and a mosquitto broker."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from mammoedge.firmware.health import (
    REFERENCE_NAME,
    Check,
    exam_summary,
    run_health_check,
)
from mammoedge.runtime.config import Config, load_config
from mammoedge.runtime.inference import shipped_models_dir
from mqtt_helpers import Broker, free_port
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]


@pytest.fixture
def scp() -> Iterator[int]:
    ae = AE(ae_title="MAMMOEDGE")
    ae.add_supported_context(Verification)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False)
    yield port
    server.shutdown()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path).start()
    yield b
    b.stop()


def _config(dicom_port: int, broker_port: int) -> Config:
    c = load_config(env={})
    return dataclasses.replace(
        c, service=dataclasses.replace(c.service, port=dicom_port),
        telemetry=dataclasses.replace(c.telemetry, enabled=True, host="127.0.0.1", port=broker_port))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped models with the lab's reference result for the synthetic exam."""
    folder = tmp_path_factory.mktemp("models") / "models"
    shutil.copytree(shipped_models_dir(), folder, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    c = load_config(env={})
    ref = exam_summary(dataclasses.replace(c, inference=dataclasses.replace(c.inference, models_dir=folder)))
    (folder / REFERENCE_NAME).write_text(json.dumps(ref))
    return folder


def test_healthy_slot_passes_every_check(models: Path, scp: int, broker: Broker) -> None:
    report = run_health_check(_config(scp, broker.port), models_dir=models)
    assert report.passed, report.as_dict()
    by_check = {r.check: r for r in report.results}
    assert set(by_check) == set(Check) and not any(r.skipped for r in report.results)
    assert "matches the reference" in by_check[Check.EXAM].detail


def test_bad_model_dead_port_and_broker_fail(models: Path, tmp_path: Path) -> None:
    bad = tmp_path / "models"
    shutil.copytree(models, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    model_file = bad / manifest["models"][0]["file"]
    data = bytearray(model_file.read_bytes())
    data[-1] ^= 0x01
    model_file.write_bytes(bytes(data))
    report = run_health_check(_config(free_port(), free_port()), models_dir=bad, timeout_s=2)
    assert not report.passed
    failed = {r.check: r.detail for r in report.results if not r.passed}
    assert set(failed) == set(Check)
    assert "does not match the manifest" in failed[Check.MODELS]


def test_reference_mismatch_fails_the_exam_check(models: Path, tmp_path: Path) -> None:
    other = tmp_path / "models"
    shutil.copytree(models, other)
    reference = json.loads((other / REFERENCE_NAME).read_text())
    reference["flagged"] = not reference["flagged"]
    (other / REFERENCE_NAME).write_text(json.dumps(reference))
    c = load_config(env={})
    c = dataclasses.replace(c, service=dataclasses.replace(c.service, port=0))
    report = run_health_check(c, models_dir=other)
    exam = next(r for r in report.results if r.check is Check.EXAM)
    assert not report.passed and not exam.passed and "reference" in exam.detail
