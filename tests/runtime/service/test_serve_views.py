"""Views in the service: analyzed as they arrive; one whose header is valid but whose pixels do not decode still
gets its exam a result that names it, the others analyzed, the status showing it (dcmtk storescu as the modality)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
import pydicom
from service_helpers import storescu
from pydicom.encaps import encapsulate, generate_fragments

from mammoedge.runtime.results import validate

ENVELOPE_SCHEMA = Path(__import__("mammoedge.runtime.service", fromlist=["x"]).__file__).with_name(
    "result_envelope.schema.json")


def corrupt_codestream(path: Path) -> None:
    """Overwrite the start of the JPEG 2000 codestream: the header stays valid, decoding fails."""
    ds = pydicom.dcmread(path)
    fragment = bytearray(next(generate_fragments(ds.PixelData)))
    fragment[:64] = b"\xff" * 64
    ds.PixelData = encapsulate([bytes(fragment)])
    ds.save_as(path)


def test_pixel_corrupt_view_gets_a_result_that_names_it(serve, tmp_path):
    from mammoedge.tools.phantom import make_exam

    exam = tmp_path / "exam"
    make_exam(exam, seed=21, profile="ge", size="small", normal_fraction=1.0)  # JPEG 2000 lossless
    corrupt_codestream(exam / "LCC.dcm")
    served = serve(options={"settle_s": 1.0}).start()
    sent = storescu(served.port, sorted(exam.glob("*.dcm")), extra=("-xv",))
    assert sent.returncode == 0 and sent.stderr.count("(Success)") == 4, sent.stderr
    (path,) = served.wait_results(1, timeout=60)
    document = json.loads(path.read_text())
    jsonschema.validate(document, json.loads(ENVELOPE_SCHEMA.read_text()))
    validate(document["result"])
    assert document["analyzed"] and document["not_analyzed"] is None
    assert sorted(v["laterality"] + v["view"] for v in document["result"]["views"]) == ["LMLO", "RCC", "RMLO"]
    (missing,) = document["result"]["views_not_analyzed"]
    assert missing["view"] == "LCC" and missing["reason"] == "pixel-decode"
    assert "1.2.840.10008.1.2.4.90" in missing["message"]  # names the transfer syntax it could not decode
    assert served.status()["errors_by_reason"] == {"view:pixel-decode": 1}


def test_views_are_analyzed_as_they_arrive(serve, phantom_exam, tmp_path):
    from service_helpers import clone_exams

    (exam,) = clone_exams(phantom_exam, tmp_path / "src", 1)
    served = serve(options={"settle_s": 60.0}).start()
    first, last = exam[:3], exam[3:]
    assert storescu(served.port, first).returncode == 0
    views = served.state / "views"
    deadline = time.monotonic() + 60
    while len(list(views.glob("*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(list(views.glob("*.json"))) == 3  # analyzed while the exam waits for its last view
    assert not served.result_files()
    assert storescu(served.port, last).returncode == 0
    (path,) = served.wait_results(1, timeout=60)
    document = json.loads(path.read_text())
    assert document["analyzed"] and len(document["result"]["views"]) == 4
    assert len(list(views.glob("*.json"))) == 4
    deadline = time.monotonic() + 30  # the flag is out first; the pictures are added to the result after it
    while not all(v["overlay"] for v in document["result"]["views"]) and time.monotonic() < deadline:
        time.sleep(0.1)
        document = json.loads(path.read_text())
    assert all((served.results / "exams" / v["overlay"]).is_file() for v in document["result"]["views"])
    jsonschema.validate(document, json.loads(ENVELOPE_SCHEMA.read_text()))
    steps = [mark["step"] for mark in document["timeline"]]  # where the time went after the last view came
    assert steps[0] == "claimed" and steps.count("reused") >= 3  # the three views analyzed while it waited
    assert steps.count("reused") + steps.count("detected") == 4  # each view analyzed once
    assert steps[-5:] == ["views", "exam-steps", "flag-written", "queue-done", "pictures"]
    times = [mark["at_s"] for mark in document["timeline"]]
    assert 0 <= times[0] and times == sorted(times)
