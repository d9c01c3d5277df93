"""Stereotactic pairs: geometry, truth target, DICOM tags."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from mammoedge.tools.phantom.stereo import StereoGeometry, make_stereo, triangulate


@pytest.fixture(scope="module")
def stereo(tmp_path_factory):
    out = tmp_path_factory.mktemp("stereo")
    truth = make_stereo(out, seed=4, index=0, size="small")
    return out, truth


def test_files_carry_the_biopsy_unit_tags(stereo):
    out, truth = stereo
    angles = {}
    for view in truth.views:
        ds = pydicom.dcmread(out / view.file)
        angles[view.file] = float(ds.PositionerPrimaryAngle)
        assert float(ds.DistanceSourceToDetector) == pytest.approx(650.0)
        assert float(ds.BodyPartThickness) == pytest.approx(next(iter(truth.breast_thickness_mm.values())), abs=0.1)
        assert float(ds.ImagerPixelSpacing[0]) == pytest.approx(view.pixel_spacing_mm)
    assert angles == {"scout.dcm": 0.0, "plus15.dcm": 15.0, "minus15.dcm": -15.0}
    if shutil.which("dciodvfy"):
        for view in truth.views:
            report = subprocess.run(["dciodvfy", str(out / view.file)], capture_output=True, text=True).stderr
            # dicom3tools (Debian 12) predates PS3.3 Table C.8-74a's STEREO_* terms for Image Type value 3
            assert not [line for line in report.splitlines() if line.startswith("Error")
                        and "value 3 of attribute <Image Type>" not in line]


def test_target_projection_matches_the_rendered_cluster(stereo):
    _, truth = stereo
    target = truth.stereo_target
    for view in truth.views:
        name = view.file.removesuffix(".dcm")
        cluster = view.clusters[0]
        calcs = np.array([(c.x, c.y) for c in cluster.calcifications])
        # the target is the centroid of the calcifications' 3-D centres; projection is nearly affine
        assert np.allclose(calcs.mean(axis=0), target.projected_px[name], atol=0.5)


def test_triangulation_recovers_the_target_and_tan_rule_beats_sin_rule(stereo):
    _, truth = stereo
    geo = StereoGeometry(pitch_mm=0.1, rows=512, columns=512)
    t = truth.stereo_target
    xyz = triangulate(geo, t.projected_px["plus15"], t.projected_px["minus15"])
    assert np.allclose(xyz, t.xyz_mm, atol=1e-6)
    dx = (t.projected_px["minus15"][0] - t.projected_px["plus15"][0]) * geo.pitch_mm
    z_tan = dx / (2 * np.tan(np.deg2rad(15)))
    z_sin = dx / (2 * np.sin(np.deg2rad(15)))
    z = t.xyz_mm[2]
    assert abs(z_tan - z) < abs(z_sin - z)
    assert abs(z_tan - z) / z < 0.06  # residual: magnification of a finite source distance


def test_rotating_detector_would_follow_the_sin_rule():
    """Cross-check of the docs: with the detector turning with the tube, parallax is 2 z sin(a)."""
    z = 20.0
    shifts = [np.array([0.0, z]) @ np.array([np.cos(a), -np.sin(a)]) for a in np.deg2rad([15, -15])]
    assert shifts[1] - shifts[0] == pytest.approx(2 * z * np.sin(np.deg2rad(15)))


def test_truth_json_written(stereo):
    out, truth = stereo
    data = json.loads((out / "truth.json").read_text())
    assert data["kind"] == "stereo" and len(data["stereo_target"]["xyz_mm"]) == 3
