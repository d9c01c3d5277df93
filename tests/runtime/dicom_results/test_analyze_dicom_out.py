"""``mammoedge analyze --dicom-out DIR`` writes the objects, and dciodvfy passes them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pydicom
from dciodvfy_helpers import dciodvfy_errors


def test_analyze_dicom_out_writes_valid_objects(exam, tmp_path):
    exe = Path(sys.executable).with_name("mammoedge")
    out = subprocess.run([str(exe), "analyze", str(exam.paths[0].parent), "--out", str(tmp_path / "results"),
                          "--dicom-out", str(tmp_path / "dicom"), "--secret-file", str(tmp_path / "secret")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    files = sorted((tmp_path / "dicom").glob("*.dcm"))
    classes = [str(pydicom.dcmread(f, stop_before_pixels=True).SOPClassUID) for f in files]
    assert classes.count("1.2.840.10008.5.1.4.1.1.88.50") == 1  # Mammography CAD SR
    assert classes.count("1.2.840.10008.5.1.4.1.1.88.33") == 1  # Comprehensive SR (exam-level)
    assert classes.count("1.2.840.10008.5.1.4.1.1.11.1") >= 1  # GSPS
    assert classes.count("1.2.840.10008.5.1.4.1.1.7") == len(exam.paths)  # one SC per view
    for f in files:
        assert not dciodvfy_errors(f), f.name
    assert f"{len(files)} DICOM object(s)" in out.stdout
