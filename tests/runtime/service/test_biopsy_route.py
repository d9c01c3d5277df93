"""Stereo sets sent by storescu to ``mammoedge serve``: routed to the biopsy stage, not to triage.

One service, three studies: a phantom stereo set (scout, +15, -15) -> an envelope with ``kind: biopsy`` and
the target, its Comprehensive 3D SR through the forward queue into dcmtk's storescp; the same set with one
image of the other breast -> refused with the reason, files kept; a study holding the set and four screening
views -> the target and the screening triage. Real peers: storescu, storescp, the shipped detector.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import jsonschema
import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from mammoedge.runtime.biopsy.geometry import UnitKind
from mammoedge.runtime.biopsy.result import SCHEMA_PATH as BIOPSY_SCHEMA
from mammoedge.runtime.biopsy.result import BiopsyResult
from mammoedge.runtime.service import worker
from mammoedge.runtime.telemetry import payloads
from mammoedge.runtime.telemetry.payloads import event_payload, exam_event
from mammoedge.tools.biopsy.seeds import SEEDS, StereoSplit
from mammoedge.tools.phantom.stereo import make_stereo

ENVELOPE_SCHEMA = json.loads((Path(worker.__file__).with_name("result_envelope.schema.json")).read_text())
EVENT_SCHEMA = json.loads((Path(payloads.__file__).parent / "schemas" / "event.schema.json").read_text())
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
#: A tuning-split exam (never held out) whose target the stage finds within 1 mm: a check of the route, not a figure.
SEED, INDEX = SEEDS[StereoSplit.TUNING][UnitKind.DETECTOR_FIXED], 900
FILES = ("scout.dcm", "plus15.dcm", "minus15.dcm")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def stereo_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stereo") / "set"
    truth = make_stereo(folder, seed=SEED, index=INDEX, size="small")
    return folder, np.array(truth.stereo_target.xyz_mm)


def copy_study(files: list[Path], out: Path, *, change: dict[str, dict[str, str]] | None = None) -> list[Path]:
    """The files under a new Study (and SOP) Instance UID; ``change``: file name -> attributes to set."""
    out.mkdir(parents=True)
    study, copies = generate_uid(), []
    for path in files:
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID = study
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        for keyword, value in (change or {}).get(path.name, {}).items():
            setattr(ds, keyword, value)
        copies.append(out / path.name)
        ds.save_as(copies[-1], enforce_file_format=True)
    return copies


@pytest.fixture
def storescp(tmp_path):
    """dcmtk's storescp on 127.0.0.1 (the PACS), storing into ``received/``."""
    port, received = free_port(), tmp_path / "received"
    received.mkdir()
    proc = subprocess.Popen(["storescp", "-aet", "PACS", "-od", str(received), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: subprocess.run(["echoscu", "-aec", "PACS", "127.0.0.1", str(port)],
                                        capture_output=True).returncode == 0, 20, "storescp to listen")
        yield port, received
    finally:
        proc.terminate()
        proc.wait(10)


def test_stereo_sets_go_to_the_biopsy_stage(stereo_set, phantom_exam, serve, storescp, tmp_path):
    folder, planted = stereo_set
    pacs_port, received = storescp
    stereo = [folder / name for name in FILES]
    good = copy_study(stereo, tmp_path / "good")
    other = {"L": "R", "R": "L"}[pydicom.dcmread(stereo[2], stop_before_pixels=True).ImageLaterality]
    other_breast = copy_study(stereo, tmp_path / "bad", change={"minus15.dcm": {"ImageLaterality": other}})
    screening = [phantom_exam / f"{v}.dcm" for v in ("RCC", "LCC", "RMLO", "LMLO")]
    mixed = copy_study(stereo + screening, tmp_path / "mixed")
    served = serve(options={"settle_s": 600.0})  # a marked stereo pair completes its exam: no waiting to settle
    served.config.write_text(served.config.read_text() + f"""
[forward]
retry_initial_s = 0.2
poll_s = 0.1

[[forward.destinations]]
name = "pacs"
ae_title = "PACS"
host = "127.0.0.1"
port = {pacs_port}
objects = ["biopsy_sr", "cad_sr"]
""")
    served.start()
    for files in (good, other_breast, mixed):  # one association per study; the screening views after the set
        sent = subprocess.run(["storescu", "-aet", "MODALITY", "-aec", "MAMMOEDGE", "127.0.0.1", str(served.port),
                               *map(str, files)], capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
    results = served.wait_results(3, timeout=180)  # well inside settle_s: assembled once the pair was in
    documents = []
    for path in results:  # the forwarding record is added after the flag
        document = wait_for(lambda p=path: d if (d := json.loads(p.read_text()))["analyzed"] is False
                            or "forwarding" in d else None, 30, "the forwarding record")
        jsonschema.validate(document, ENVELOPE_SCHEMA)
        documents.append(document)
    (refused,) = [d for d in documents if not d["analyzed"]]
    (target_only,) = [d for d in documents if d["analyzed"] and d["result"] is None]
    (both,) = [d for d in documents if d["analyzed"] and d["result"] is not None]

    # the set alone: the target, no triage, nothing "missing"; the SR queued and delivered
    assert target_only["kind"] == "biopsy" and target_only["missing_views"] == [] and target_only["complete"]
    jsonschema.validate(target_only["biopsy"], json.loads(BIOPSY_SCHEMA.read_text()))
    target = BiopsyResult.from_dict(target_only["biopsy"]).target
    assert np.linalg.norm(np.array([target.x_mm, target.y_mm, target.z_mm]) - planted) < 1.0
    deliveries = target_only["forwarding"]["deliveries"]
    assert [d["kind"] for d in deliveries] == ["biopsy_sr"] and target_only["forwarding"]["error"] is None

    def srs() -> list[pydicom.Dataset]:
        found = []
        for p in received.iterdir():
            try:
                ds = pydicom.dcmread(p)
            except Exception:  # storescp is still writing it
                return []
            found += [ds] if ds.SOPClassUID == COMPREHENSIVE_3D_SR else []
        return found if len(found) == 2 else []

    stored = wait_for(srs, 30, "both target SRs at the PACS")
    sources = {str(pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID) for p in (good[0], mixed[0])}
    assert {str(ds.StudyInstanceUID) for ds in stored} == sources

    # the event carries the target, no identifiers, and fits its schema
    event = json.loads(event_payload(exam_event(target_only)))
    jsonschema.validate(event, EVENT_SCHEMA)
    assert event["exam_kind"] == "biopsy" and event["biopsy"]["z_mm"] == round(target.z_mm, 2)

    # the set with one image of the other breast: refused with the reason, kept
    assert refused["kind"] == "biopsy" and refused["biopsy"] is None and refused["result"] is None
    assert refused["not_analyzed"]["reason"] == "stereo-set"
    assert "laterality" in refused["not_analyzed"]["message"]
    spooled = sorted((served.state / "spool" / refused["study_key"]).glob("*.dcm"))
    assert len(spooled) == 3

    # set + screening views in one study: the target, and the screening views still triaged
    assert both["kind"] == "biopsy" and both["biopsy"] is not None
    assert {v["view"] for v in both["result"]["views"]} == {"CC", "MLO"} and len(both["result"]["views"]) == 4
    assert "triage" in both["result"] and both["missing_views"] == []
    assert {d["kind"] for d in both["forwarding"]["deliveries"]} == {"biopsy_sr", "cad_sr"}

    served.terminate()
    text = served.log.read_text() + "".join(p.read_text() for p in results)
    for path in good + screening:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for value in (ds.PatientName, ds.PatientID, ds.StudyInstanceUID, ds.SOPInstanceUID):
            assert str(value) not in text
    shutil.rmtree(received)
