"""``mammoedge analyze`` end to end on phantom exams with the shipped INT8 detector."""

import json
import shutil
import subprocess
import sys

import pytest

from mammoedge.runtime.results.serialize import validate
from mammoedge.tools.phantom import make_exam


def _analyze(args, tmp_path):
    cmd = [sys.executable, "-m", "mammoedge.runtime.cli", "analyze", *map(str, args), "--out", str(tmp_path / "out"),
           "--secret-file", str(tmp_path / "secret")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def normal_exam(tmp_path_factory):
    root = tmp_path_factory.mktemp("normal")
    make_exam(root / "exam", seed=21, profile="ge", size="full", normal_fraction=1.0)
    return root / "exam"


def test_normal_exam_raises_no_flag_and_result_is_valid(normal_exam, tmp_path):
    out = _analyze([normal_exam], tmp_path)
    results = list((tmp_path / "out").glob("*.json"))
    assert len(results) == 1, out.stderr
    document = json.loads(results[0].read_text())
    validate(document)
    assert document["triage"]["flagged"] is False
    assert len(document["views"]) == 4
    assert {m["precision"] for m in document["models"]} == {"int8"}
    assert {m["backend"] for m in document["models"]} <= {"openvino", "onnxruntime"}
    overlays = [p for p in (tmp_path / "out").glob("*.png") if not p.name.endswith("_saliency.png")]
    assert len(overlays) == 4  # one overlay per view
    clusters = [c for v in document["views"] for c in v["clusters"]]  # (a normal exam may hold benign groups)
    saliency = {p.name for p in (tmp_path / "out").glob("*_saliency.png")}
    assert saliency == {c["morphology"]["saliency"] for c in clusters}  # one heat map per cluster
    # truth.json beside the images is skipped with one line; nothing was refused
    assert out.returncode == 0 and "truth.json: not a DICOM file" in out.stderr
    assert "no flag" in out.stdout
    text = results[0].read_text() + out.stdout + out.stderr
    import pydicom

    ds = pydicom.dcmread(normal_exam / "LCC.dcm")
    for identifier in (str(ds.PatientName), ds.PatientID, ds.StudyInstanceUID, ds.SOPInstanceUID):
        assert identifier not in text


def test_mixed_folder_with_bad_files(normal_exam, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(normal_exam, folder)
    (folder / "truth.json").unlink()
    (folder / "junk.dcm").write_bytes(b"\0" * 200)
    (folder / "cut.dcm").write_bytes((normal_exam / "RCC.dcm").read_bytes()[:5000])
    out = _analyze([folder], tmp_path)
    assert out.returncode == 1
    assert "junk.dcm: [not-dicom]" in out.stderr and "cut.dcm: [truncated]" in out.stderr
    assert len(list((tmp_path / "out").glob("*.json"))) == 1  # the good files were analyzed


def test_sidecar_named_explicitly_is_an_error(normal_exam, tmp_path):
    out = _analyze([normal_exam / "truth.json", normal_exam / "LCC.dcm"], tmp_path)
    assert out.returncode == 1 and "truth.json: [not-dicom]" in out.stderr


def test_same_study_same_key_and_forced_missing_device_fails(normal_exam, tmp_path):
    out = _analyze([normal_exam / "LCC.dcm", "--device", "NPU", "--force"], tmp_path)
    assert out.returncode == 1 and "NPU" in out.stderr
    first = _analyze([normal_exam / "LCC.dcm", "--device", "NOSUCH"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "fallbacks" in first.stdout  # fell back from the absent device, and said so
