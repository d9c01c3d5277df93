"""Stereo-set recognition: roles from Image Type value 3 or the angle, refusals with their reason."""

from __future__ import annotations

import pytest
from biopsy_headers import header, stereo_headers

from mammoedge.runtime.biopsy.errors import GeometryError, Refusal, StereoSetError
from mammoedge.runtime.biopsy.geometry import UnitKind
from mammoedge.runtime.biopsy.stereo_set import StereoRole, recognise
from mammoedge.runtime.codes import Laterality
from mammoedge.runtime.config import BiopsyConfig, StereoUnit

CONFIG = BiopsyConfig()


@pytest.mark.parametrize("fixed, unit", [(True, UnitKind.DETECTOR_FIXED), (False, UnitKind.ISOCENTRIC)])
def test_a_set_is_recognised_with_its_unit(fixed, unit):
    stereo = recognise(stereo_headers(fixed=fixed, iso=10.0), CONFIG)
    assert stereo.unit is unit and stereo.theta_deg == 15.0 and stereo.laterality is Laterality.LEFT
    assert {i.role for i in stereo.images} == set(StereoRole)
    assert stereo.plus.name == "plus.dcm" and stereo.minus.name == "minus.dcm"
    assert stereo.scout is not None and stereo.scout.geometry.unit is unit
    assert stereo.plus.geometry.isocenter_z_mm == pytest.approx(10.0)


def test_a_bare_pair_without_image_type_is_recognised_from_the_angles():
    pair = [(n, header(a, role="")) for n, a in (("a.dcm", -15.0), ("b.dcm", 15.0))]
    stereo = recognise(pair, CONFIG)
    assert stereo.scout is None and stereo.plus.name == "b.dcm"


def refusal(images) -> Refusal:
    with pytest.raises(StereoSetError) as caught:
        recognise(images, CONFIG)
    assert caught.value.reason == "stereo-set"
    return caught.value.refusal


def test_different_laterality_is_refused():
    images = stereo_headers()
    images[2] = ("minus.dcm", header(-15.0, laterality="R"))
    assert refusal(images) is Refusal.LATERALITY


def test_different_thickness_is_refused():
    images = stereo_headers()
    images[1] = ("plus.dcm", header(15.0, thickness=52.0))
    with pytest.raises(StereoSetError, match=r"BodyPartThickness 52, 45, 45 mm; rule: one compression"):
        recognise(images, CONFIG)


def test_different_study_is_refused_without_quoting_uids():
    images = stereo_headers()
    images[1] = ("plus.dcm", header(15.0, study="9.9.9.9"))
    with pytest.raises(StereoSetError) as caught:
        recognise(images, CONFIG)
    assert caught.value.refusal is Refusal.STUDY and "9.9.9.9" not in str(caught.value)


def test_another_compression_is_refused():
    images = stereo_headers()
    images[0] = ("scout.dcm", header(0.0, frame="1.2.3.77"))
    assert refusal(images) is Refusal.COMPRESSION


@pytest.mark.parametrize("plus, minus", [(15.0, -10.0), (20.0, -15.0), (2.0, -2.0)])
def test_angles_that_are_not_plus_minus_theta_are_refused(plus, minus):
    images = [("plus.dcm", header(plus)), ("minus.dcm", header(minus))]
    assert refusal(images) is Refusal.ANGLES


def test_image_type_that_contradicts_the_angle_is_refused():
    images = stereo_headers()
    images[1] = ("plus.dcm", header(15.0, role="STEREO_MINUS"))
    assert refusal(images) is Refusal.ROLE


def test_two_plus_views_are_refused():
    images = stereo_headers() + [("plus2.dcm", header(15.0))]
    assert refusal(images) is Refusal.COUNT


def test_mixed_units_are_refused():
    images = stereo_headers()
    images[2] = ("minus.dcm", header(-15.0, fixed=False))
    assert refusal(images) is Refusal.GEOMETRY


def test_missing_thickness_is_a_geometry_error_naming_it():
    images = stereo_headers()
    del images[1][1].BodyPartThickness
    with pytest.raises(GeometryError, match="BodyPartThickness"):
        recognise(images, CONFIG)


def test_missing_geometry_names_the_file_and_attribute():
    images = stereo_headers()
    del images[2][1].DistanceSourceToDetector
    with pytest.raises(GeometryError, match="minus.dcm: DistanceSourceToDetector is missing"):
        recognise(images, CONFIG)


def test_configured_unit_serves_headers_without_detector_angle():
    images = stereo_headers(fixed=False)
    for _, ds in images:
        del ds.DetectorPrimaryAngle
    with pytest.raises(GeometryError, match="DetectorPrimaryAngle"):
        recognise(images, CONFIG)
    stereo = recognise(images, BiopsyConfig(unit=StereoUnit.ISOCENTRIC))
    assert stereo.unit is UnitKind.ISOCENTRIC
