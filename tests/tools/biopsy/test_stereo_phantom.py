"""The phantom's stereo sets: Image Type value 3, both unit geometries, header geometry the runtime reads."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from mammoedge.runtime.biopsy.geometry import UnitKind, geometry_from_dataset
from mammoedge.tools.phantom.stereo import StereoGeometry, make_stereo, triangulate


#: dicom3tools in Debian 12 predates PS3.3's Table C.8-74a (Enumerated Values of Image Type Value 3 for
#: stereotactic mammography: STEREO_SCOUT, STEREO_MINUS, STEREO_PLUS, ...) and calls them unrecognized.
STEREO_TERM_ERROR = re.compile(r"^Error - Unrecognized enumerated value <STEREO_(SCOUT|PLUS|MINUS)> for value 3 "
                               r"of attribute <Image Type>$")


def errors_besides_stereo_terms(report: str) -> list[str]:
    return [line for line in report.splitlines() if line.startswith("Error") and not STEREO_TERM_ERROR.match(line)]


@pytest.fixture(scope="module", params=list(UnitKind))
def stereo(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param.value)
    geometry = StereoGeometry(unit=request.param, isocenter_z_mm=15.0, pitch_mm=0.1, rows=512, columns=512)
    return out, make_stereo(out, seed=9, index=1, geometry=geometry), geometry


def test_image_type_and_geometry_attributes(stereo):
    out, truth, geometry = stereo
    for view in truth.views:
        ds = pydicom.dcmread(out / view.file)
        angle = float(ds.PositionerPrimaryAngle)
        assert ds.ImageType[2] == {0.0: "STEREO_SCOUT", 15.0: "STEREO_PLUS", -15.0: "STEREO_MINUS"}[angle]
        fixed = geometry.unit is UnitKind.DETECTOR_FIXED
        assert float(ds.DetectorPrimaryAngle) == pytest.approx(-angle if fixed else 0.0)
        assert float(ds.DistanceSourceToDetector) - float(ds.DistanceSourceToIsocenter) == pytest.approx(15.0)
    if shutil.which("dciodvfy") is None:
        pytest.fail("dciodvfy (dicom3tools) is not installed")
    for view in truth.views:
        report = subprocess.run(["dciodvfy", str(out / view.file)], capture_output=True, text=True).stderr
        assert not errors_besides_stereo_terms(report), report


def test_rendered_calcifications_sit_where_the_header_geometry_projects_them(stereo):
    """The runtime's geometry, read from the headers, projects the planted target onto the rendered cluster."""
    out, truth, geometry = stereo
    for view in truth.views:
        read = geometry_from_dataset(pydicom.dcmread(out / view.file))
        projected = read.project(np.array(truth.stereo_target.xyz_mm))[0]
        calcs = np.array([(c.x, c.y) for c in view.clusters[0].calcifications])
        assert np.allclose(calcs.mean(axis=0), projected, atol=0.6)  # centroid of rendered masses vs 3-D centre
        assert np.allclose(projected, truth.stereo_target.projected_px[view.file.removesuffix(".dcm")], atol=1e-6)


def test_phantom_triangulation_inverts_both_geometries(stereo):
    _, truth, geometry = stereo
    t = truth.stereo_target
    xyz = triangulate(geometry, t.projected_px["plus15"], t.projected_px["minus15"])
    assert np.allclose(xyz, t.xyz_mm, atol=1e-6)


def test_parallax_follows_each_units_far_source_rule(stereo):
    """Fixed detector: dx = 2 z tan 15 (height above the detector, wherever the tube's axis is); isocentric:
    du = 2 (z - z_iso) sin 15 (height above the rotation axis)."""
    _, truth, geometry = stereo
    t = truth.stereo_target
    shift = (t.projected_px["minus15"][0] - t.projected_px["plus15"][0]) * geometry.pitch_mm
    fixed = geometry.unit is UnitKind.DETECTOR_FIXED
    height = shift / (2 * (np.tan if fixed else np.sin)(np.deg2rad(15.0)))
    assert height == pytest.approx(t.xyz_mm[2] - (0.0 if fixed else geometry.isocenter_z_mm), rel=0.1)
