"""The health check a slot on trial must pass before it is marked good.

Run with the NEW slot's own interpreter (``<slot>/venv/bin/mammoedge update health-check``), so it
checks the software that will run: models load with their sha256 and compile on this box's
device, a small synthetic (phantom-free) mammogram goes through the reader and the whole exam
analysis and gives the result recorded for these models in the bundle (``models/health.json``,
written by the lab), C-ECHO on our own DICOM port answers, and the broker accepts us when
telemetry is on.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from mammoedge.runtime.config import Config

log = logging.getLogger(__name__)

REFERENCE_NAME = "health.json"


class Check(enum.StrEnum):
    """The health check's parts."""

    MODELS = "models"
    EXAM = "exam"
    ECHO = "c-echo"
    BROKER = "broker"


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    check: Check
    passed: bool
    skipped: bool = False
    detail: str = ""
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class HealthReport:
    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed or r.skipped for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed,
                "checks": [dict(dataclasses.asdict(r), check=r.check.value) for r in self.results]}


def synthetic_mammogram(path: Path, *, seed: int = 0) -> Path:
    """A small MG "For Presentation" CC view: a smooth breast with a planted group of bright specks."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    rng = np.random.default_rng(seed)
    rows, cols = 640, 512
    yy, xx = np.mgrid[0:rows, 0:cols]
    breast = ((xx / (cols * 0.75)) ** 2 + ((yy - rows / 2) / (rows * 0.45)) ** 2) <= 1.0
    image = np.full((rows, cols), 0.04)
    image[breast] = 0.45 + 0.02 * rng.standard_normal(int(breast.sum()))
    for dy, dx in rng.integers(-30, 30, size=(8, 2)):  # eight specks within 6 mm
        y, x = rows // 2 + int(dy), cols // 3 + int(dx)
        image[y - 1:y + 2, x - 1:x + 2] = 0.95
    top = 4095
    pixels = np.clip(np.round(image * 0.9 * top + 0.05 * top), 0, top).astype(np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    sop = UID("1.2.840.10008.5.1.4.1.1.1.2")
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = sop
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.Manufacturer, ds.PresentationIntentType = "MG", "MAMMOEDGE-HEALTH", "FOR PRESENTATION"
    ds.PatientName, ds.PatientID = "Health^Check", "HEALTH-CHECK"
    ds.ImageLaterality, ds.ViewPosition, ds.PatientOrientation = "L", "CC", ["A", "R"]
    code = Dataset()
    code.CodeValue, code.CodeMeaning, code.CodingSchemeDesignator = "399162004", "cranio-caudal", "SCT"
    ds.ViewCodeSequence = Sequence([code])
    ds.ImagerPixelSpacing = [0.1, 0.1]
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, cols, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2048, 3700
    ds.PixelData = pixels.tobytes()
    ds["PixelData"].VR = "OW"
    ds.save_as(path, enforce_file_format=True)
    return path


def exam_summary(config: Config) -> dict[str, Any]:
    """What the exam pipeline says about the synthetic mammogram (no identifiers)."""
    from mammoedge.runtime.pipeline import ExamModels, ExamPipeline
    from mammoedge.runtime.results.serialize import to_dict

    pipeline = ExamPipeline(ExamModels.load(config), config)
    with tempfile.TemporaryDirectory() as tmp:
        run = pipeline.analyze_files([synthetic_mammogram(Path(tmp) / "health.dcm")], study_key="0" * 32)
    if run.rejected:
        raise RuntimeError(f"the reader rejected the synthetic mammogram: {run.rejected[0].reason}")
    document = to_dict(run.result)
    clusters = [c for v in document.get("views", []) for c in v.get("clusters", [])]
    return {"flagged": bool(document.get("triage", {}).get("flagged", False)), "clusters": len(clusters),
            "models": sorted(f"{m['name']} {m['version']}" for m in document.get("models", []))}


def _timed(check: Check, step: Callable[[], str]) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = step()
    except Exception as exc:  # a health check reports every failure, it never crashes
        return CheckResult(check=check, passed=False, detail=f"{type(exc).__name__}: {exc}",
                           seconds=round(time.perf_counter() - started, 3))
    return CheckResult(check=check, passed=True, detail=detail, seconds=round(time.perf_counter() - started, 3))


def _models(config: Config) -> str:
    from mammoedge.runtime.inference import Engine

    engine = Engine(config.inference)
    loaded = []
    for name in engine.registry.names():
        compiled = engine.load(name)
        loaded.append(f"{name} on {compiled.backend}/{compiled.device}")
    if not loaded:
        raise RuntimeError("the model registry is empty")
    return "; ".join(loaded)


def _exam(config: Config, models_dir: Path) -> str:
    summary = exam_summary(config)
    reference_file = models_dir / REFERENCE_NAME
    if not reference_file.is_file():
        return f"analysis ran ({summary}); no reference in {REFERENCE_NAME} to compare with"
    reference = json.loads(reference_file.read_text())
    if summary != reference:
        raise RuntimeError(f"synthetic exam gave {summary}; the bundle's reference is {reference}")
    return f"synthetic exam matches the reference ({summary})"


def _echo(config: Config, timeout_s: float) -> str:
    from pynetdicom import AE

    ae = AE(ae_title="MAMMOEDGE-HC")
    ae.add_requested_context("1.2.840.10008.1.1")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    assoc = ae.associate("127.0.0.1", config.service.port, ae_title=config.service.ae_title)
    if not assoc.is_established:
        raise RuntimeError(f"no association with {config.service.ae_title} on port {config.service.port}")
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if not status or status.Status != 0:
        raise RuntimeError(f"C-ECHO status {getattr(status, 'Status', 'none')}")
    return f"C-ECHO answered on port {config.service.port}"


def _broker(config: Config, timeout_s: float) -> str:
    import threading

    import paho.mqtt.client as mqtt

    t = config.telemetry
    connected = threading.Event()
    codes: list[str] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", clean_session=True)

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        codes.append(str(reason))
        connected.set()

    client.on_connect = on_connect
    if t.username:
        client.username_pw_set(t.username, t.password)
    if t.ca_file:
        client.tls_set(ca_certs=t.ca_file, certfile=t.cert_file or None, keyfile=t.key_file or None)
    client.connect(t.host, t.port, keepalive=10)
    client.loop_start()
    try:
        if not connected.wait(timeout_s):
            raise RuntimeError(f"no CONNACK from {t.host}:{t.port} within {timeout_s:g} s")
    finally:
        client.disconnect()
        client.loop_stop()
    if codes[0] != "Success":
        raise RuntimeError(f"broker refused the connection: {codes[0]}")
    return f"broker {t.host}:{t.port} accepted the connection"


def run_health_check(config: Config, *, models_dir: Path, timeout_s: float = 10.0) -> HealthReport:
    """Every check against ``models_dir`` (the slot's models) and the configured ports."""
    config = dataclasses.replace(config, inference=dataclasses.replace(config.inference, models_dir=models_dir))
    results = [_timed(Check.MODELS, lambda: _models(config)),
               _timed(Check.EXAM, lambda: _exam(config, models_dir))]
    if config.service.port:
        results.append(_timed(Check.ECHO, lambda: _echo(config, timeout_s)))
    else:
        results.append(CheckResult(check=Check.ECHO, passed=False, skipped=True, detail="DICOM receiver is off"))
    if config.telemetry.enabled:
        results.append(_timed(Check.BROKER, lambda: _broker(config, timeout_s)))
    else:
        results.append(CheckResult(check=Check.BROKER, passed=False, skipped=True, detail="telemetry is off"))
    report = HealthReport(results=tuple(results))
    for result in report.results:
        log.info("health %s: %s", result.check.value, "skipped" if result.skipped else
                 "pass" if result.passed else "FAIL")
    return report
