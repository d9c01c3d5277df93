"""Geometry from headers: hand-made units with known answers, both unit kinds, missing attributes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import BaseTag

from biopsy_headers import SID, header

from mammoedge.runtime.biopsy.errors import GeometryError
from mammoedge.runtime.biopsy.geometry import UnitKind, geometry_from_dataset
from mammoedge.runtime.biopsy.triangulate import triangulate
from mammoedge.tools.phantom.stereo import StereoGeometry


A = math.radians(15.0)
PITCH, CENTRE = 0.05, (1024 - 1) / 2


def to_px(u_mm: float, v_mm: float = 0.0) -> tuple[float, float]:
    return u_mm / PITCH + CENTRE, v_mm / PITCH + CENTRE


def test_detector_fixed_unit_known_answer_on_the_axis():
    """Fixed detector, axis at the support: a point (0, 0, z) lands at x = -+ S_x z / (S_z - z)."""
    z = 30.0
    sx, sz = SID * math.sin(A), SID * math.cos(A)
    x = sx * z / (sz - z)  # by similar triangles, by hand
    plus, minus = geometry_from_dataset(header(15.0)), geometry_from_dataset(header(-15.0))
    assert plus.unit is minus.unit is UnitKind.DETECTOR_FIXED
    assert np.allclose(plus.project(np.array([0.0, 0.0, z]))[0], to_px(-x))
    point, gap = triangulate([plus, minus], [to_px(-x), to_px(x)])
    assert np.allclose(point, [0.0, 0.0, z], atol=1e-9) and gap < 1e-9
    # the far-source tan rule is only an approximation of the exact answer (magnification)
    assert 2 * x / (2 * math.tan(A)) == pytest.approx(z * sz / (sz - z) / math.cos(A) * math.cos(A), rel=1e-9)


def test_isocentric_unit_known_answer_on_the_axis():
    """Detector turning with the tube about its own centre line: u = -+ z sin a SID / (SID - z cos a)."""
    z = 25.0
    u = z * math.sin(A) * SID / (SID - z * math.cos(A))
    plus = geometry_from_dataset(header(15.0, fixed=False))
    minus = geometry_from_dataset(header(-15.0, fixed=False))
    assert plus.unit is UnitKind.ISOCENTRIC
    assert np.allclose(plus.project(np.array([0.0, 0.0, z]))[0], to_px(-u))
    point, _ = triangulate([plus, minus], [to_px(-u), to_px(u)])
    assert np.allclose(point, [0.0, 0.0, z], atol=1e-9)


def test_isocentric_with_a_raised_axis_known_answer():
    """Axis 20 mm up: a point on the axis does not move between the views (parallax is about the axis)."""
    iso = 20.0
    plus = geometry_from_dataset(header(15.0, fixed=False, iso=iso))
    minus = geometry_from_dataset(header(-15.0, fixed=False, iso=iso))
    on_axis = np.array([0.0, 3.0, iso])
    # the detector turned about the axis: the point is SID - iso from the source along the normal
    assert np.allclose(plus.project(on_axis)[0], minus.project(on_axis)[0])
    v = 3.0 * SID / (SID - iso)
    assert np.allclose(plus.project(on_axis)[0], to_px(0.0, v))
    assert np.allclose(triangulate([plus, minus], [to_px(0.0, v)] * 2)[0], on_axis, atol=1e-9)


@pytest.mark.parametrize("unit", list(UnitKind))
@pytest.mark.parametrize("iso", [0.0, 12.5])
def test_agrees_with_the_phantom_geometry(unit, iso):
    """Two implementations (runtime from headers, phantom from its own parameters) project alike."""
    rng = np.random.default_rng(1)
    points = np.column_stack([rng.uniform(-20, 20, 50), rng.uniform(-20, 20, 50), rng.uniform(2, 70, 50)])
    phantom = StereoGeometry(unit=unit, isocenter_z_mm=iso)
    for angle in (15.0, -15.0, 0.0):
        runtime = geometry_from_dataset(header(angle, fixed=unit is UnitKind.DETECTOR_FIXED, iso=iso))
        assert np.allclose(runtime.project(points), phantom.project(points, angle), atol=1e-9)


@pytest.mark.parametrize("keyword", ["PositionerPrimaryAngle", "DistanceSourceToDetector", "ImagerPixelSpacing",
                                     "DetectorPrimaryAngle", "DistanceSourceToIsocenter", "Rows"])
def test_a_missing_attribute_is_named(keyword):
    ds = header(15.0)
    delattr(ds, keyword)
    with pytest.raises(GeometryError, match=keyword):
        geometry_from_dataset(ds)


def test_configuration_replaces_missing_unit_and_axis():
    ds = header(15.0, fixed=False)
    del ds.DetectorPrimaryAngle, ds.DistanceSourceToIsocenter
    g = geometry_from_dataset(ds, unit=UnitKind.ISOCENTRIC, isocenter_z_mm=10.0)
    assert g.unit is UnitKind.ISOCENTRIC and g.isocenter_z_mm == 10.0


def test_detector_angle_that_fits_neither_unit_is_refused():
    ds = header(15.0)
    ds.DetectorPrimaryAngle = "7.0"
    with pytest.raises(GeometryError, match="DetectorPrimaryAngle = 7"):
        geometry_from_dataset(ds)


def test_impossible_values_are_refused():
    ds = header(15.0)
    ds.DistanceSourceToDetector = "12"
    with pytest.raises(GeometryError, match="DistanceSourceToDetector = 12"):
        geometry_from_dataset(ds)
    ds = header(15.0)  # as read from a file: converted only on access
    raw = b"abc\\0.05"
    ds[0x00181164] = RawDataElement(BaseTag(0x00181164), "DS", len(raw), raw, 0, True, True)
    with pytest.raises(GeometryError, match="ImagerPixelSpacing is not a number"):
        geometry_from_dataset(ds)
