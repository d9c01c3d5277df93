"""The target as a Comprehensive 3D SR: read back, the SCOORD3D point, dcmtk and dicom3tools accept it."""

from __future__ import annotations

import shutil
import subprocess
from io import BytesIO

import pydicom
import pytest
from test_result import sample

from mammoedge.runtime.biopsy.errors import BiopsyError
from mammoedge.runtime.biopsy.sr import target_sr
from mammoedge.tools.phantom.stereo import make_stereo


@pytest.fixture(scope="module")
def evidence(tmp_path_factory):
    out = tmp_path_factory.mktemp("sr")
    make_stereo(out, seed=9, index=2, size="small")
    return [pydicom.dcmread(p) for p in sorted(out.glob("*.dcm"))]


def scoord3d(ds):
    for item in ds.ContentSequence:
        if item.ValueType == "SCOORD3D":
            yield item
        if "ContentSequence" in item:
            yield from scoord3d(item)


def test_round_trip_keeps_the_target_point(evidence, tmp_path):
    result = sample()
    sr = target_sr(result, evidence)
    buffer = BytesIO()
    sr.save_as(buffer)
    read = pydicom.dcmread(BytesIO(buffer.getvalue()))
    assert read.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    (point,) = list(scoord3d(read))
    assert point.GraphicType == "POINT"
    assert [float(v) for v in point.GraphicData] == pytest.approx([result.target.x_mm, result.target.y_mm,
                                                                   result.target.z_mm])
    assert point.ReferencedFrameOfReferenceUID == evidence[0].FrameOfReferenceUID
    assert read.StudyInstanceUID == evidence[0].StudyInstanceUID
    path = tmp_path / "sr.dcm"
    path.write_bytes(buffer.getvalue())
    for tool in ("dsrdump", "dciodvfy"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (dcmtk / dicom3tools)")
    assert subprocess.run(["dsrdump", str(path)], capture_output=True).returncode == 0
    report = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True).stderr
    assert not [line for line in report.splitlines() if line.startswith("Error")], report


def test_images_of_several_frames_are_refused(evidence):
    other = pydicom.Dataset()
    other.update(evidence[0])
    other.FrameOfReferenceUID = "1.2.3.999"
    with pytest.raises(BiopsyError, match="FrameOfReferenceUID"):
        target_sr(sample(), [evidence[1], other])
