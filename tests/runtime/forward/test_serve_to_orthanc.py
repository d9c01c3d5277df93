"""A phantom exam sent by storescu to ``mammoedge serve`` ends as SR + GSPS + SCs in a real Orthanc."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pydicom
from pacs_helpers import free_port

MAMMOEDGE = Path(sys.executable).parent / "mammoedge"
KINDS = {"1.2.840.10008.5.1.4.1.1.88.50": "cad_sr", "1.2.840.10008.5.1.4.1.1.88.33": "summary_sr",
         "1.2.840.10008.5.1.4.1.1.11.1": "gsps", "1.2.840.10008.5.1.4.1.1.7": "sc"}


def serve_config(root: Path, orthanc, port: int) -> Path:
    config = root / "service.toml"
    config.write_text(f"""[service]
state_dir = "{root / 'state'}"
bind_address = "127.0.0.1"
port = {port}
settle_s = 3.0
shutdown_grace_s = 5.0

[forward]
calling_ae_title = "MAMMOEDGE"
retry_initial_s = 0.2
poll_s = 0.1

[[forward.destinations]]
name = "orthanc"
ae_title = "{orthanc.aet}"
host = "127.0.0.1"
port = {orthanc.dicom_port}
""")
    return config


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_storescu_to_serve_to_orthanc(exam, orthanc, tmp_path):
    orthanc.start()
    port = free_port()
    config = serve_config(tmp_path, orthanc, port)
    log = tmp_path / "serve.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([str(MAMMOEDGE), "-v", "--config", str(config), "serve"], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: subprocess.run(["echoscu", "-aec", "MAMMOEDGE", "127.0.0.1", str(port)],
                                        capture_output=True).returncode == 0, 60, "serve to listen")
        sent = subprocess.run(["storescu", "-aet", "MODALITY", "-aec", "MAMMOEDGE", "127.0.0.1", str(port),
                               *map(str, exam.paths)], capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        results = tmp_path / "state" / "results"
        (result,) = wait_for(lambda: sorted(results.glob("*.json")) if results.is_dir() else [], 120, "the result")
        gsps = len({(s.SeriesInstanceUID, s.ImageLaterality) for s in exam.sources})  # one per series and breast
        wait_for(lambda: len(orthanc.instances()) >= 2 + gsps + len(exam.paths), 60, "the objects in Orthanc")
        stored = orthanc.by_sop_uid().values()
        kinds = sorted(KINDS[str(ds.SOPClassUID)] for ds in stored)
        assert kinds == sorted(["cad_sr", "summary_sr"] + ["gsps"] * gsps + ["sc"] * len(exam.paths))
        assert {ds.StudyInstanceUID for ds in stored} == {exam.sources[0].StudyInstanceUID}
        document = wait_for(lambda: (d := json.loads(result.read_text())).get("forwarding") and d, 30,
                            "the forwarding record in the result")
        assert document["forwarding"]["objects"] == len(kinds) and document["forwarding"]["error"] is None
        assert {d["destination"] for d in document["forwarding"]["deliveries"]} == {"orthanc"}
        status = json.loads(subprocess.run([str(MAMMOEDGE), "--config", str(config), "status", "--json"],
                                           capture_output=True, text=True, check=True).stdout)
        assert status["forward"] == {"orthanc": {"delivered": len(kinds)}}
        text = subprocess.run([str(MAMMOEDGE), "--config", str(config), "status"], capture_output=True, text=True,
                              check=True).stdout
        assert f"forward orthanc: delivered {len(kinds)}" in text
    finally:
        proc.terminate()
        proc.wait(30)
    served = log.read_text()
    assert " analyzed (" in served  # INFO lines are in the log (-v) ...
    assert "decoded again" not in served  # ... and the SCs were drawn from the pixels the analysis already held
    header = pydicom.dcmread(exam.paths[0], stop_before_pixels=True)
    for value in (header.PatientName, header.PatientID, header.StudyInstanceUID, header.SOPInstanceUID):
        assert str(value) not in served
    for ds in stored:
        assert str(ds.SOPInstanceUID) not in served
