"""The risk stage's asymmetry windows in the DICOM results: TID 1410 image-region groups in the companion SR
(SCOORD on each side's source image) and an ``ASYMMETRY`` layer in the presentation states."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
from io import BytesIO

import numpy as np
import pydicom
import pytest
from mammoedge.runtime.dicom_results import DicomResultsError, ResultKind, build_dicom_results, write_dicom_results
from mammoedge.runtime.dicom_results.asymmetry import window_outline
from dciodvfy_helpers import dciodvfy_errors

KINDS = (ResultKind.SUMMARY_SR, ResultKind.GSPS)


def reread(ds: pydicom.Dataset) -> pydicom.Dataset:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def meaning(item) -> str:
    return item.ConceptNameCodeSequence[0].CodeMeaning


def groups(sr):
    """Every Measurement Group of the report's Imaging Measurements."""
    root = sr.ContentSequence
    measurements = next(c for c in root if "ConceptNameCodeSequence" in c and meaning(c) == "Imaging Measurements")
    return [g for g in measurements.ContentSequence if meaning(g) == "Measurement Group"]


def child(group, name):
    found = [c for c in group.ContentSequence if "ConceptNameCodeSequence" in c and meaning(c) == name]
    assert len(found) == 1, (name, len(found))
    return found[0]


def asymmetry_groups(sr):
    return [g for g in groups(sr) if child(g, "Tracking Identifier").TextValue.startswith("asymmetry ")]


def source_of(exam, laterality: str, view: str) -> pydicom.Dataset:
    return next(s for s, v in zip(exam.sources, exam.result.views)
                if v.laterality.value == laterality and v.view.value == view)


def with_above(result, projections):
    """The result with the operating-point decision of the findings set (score and place unchanged)."""
    risk = result.risk
    findings = tuple(dataclasses.replace(f, above_operating_point=f.projection.value in projections)
                     for f in risk.asymmetry)
    return dataclasses.replace(result, risk=dataclasses.replace(risk, asymmetry=findings))


@pytest.fixture(scope="module")
def summary(risk_exam):
    built = build_dicom_results(risk_exam.result, risk_exam.sources, None, kinds=[ResultKind.SUMMARY_SR])
    return reread(built[0].dataset)


def test_risk_exam_is_assessed_with_both_projections(risk_exam):
    risk = risk_exam.result.risk
    assert risk is not None and risk.status.value == "assessed"
    assert sorted(f.projection.value for f in risk.asymmetry) == ["CC", "MLO"]


def test_sr_has_an_image_region_group_per_projection_and_side(risk_exam, summary):
    found = asymmetry_groups(summary)
    assert len(found) == 2 * len(risk_exam.result.risk.asymmetry)
    uids = {}
    for finding in risk_exam.result.risk.asymmetry:
        for laterality, window in (("L", finding.left_window), ("R", finding.right_window)):
            source = source_of(risk_exam, laterality, finding.projection.value)
            group = next(g for g in found if child(g, "Tracking Identifier").TextValue
                         == f"asymmetry {finding.projection.value}"
                         and child(child(g, "Finding Site"), "Laterality").ConceptCodeSequence[0].CodeMeaning
                         == {"L": "Left", "R": "Right"}[laterality])
            assert group.ContentTemplateSequence[0].TemplateIdentifier == "1410"
            finding_type = child(group, "Finding").ConceptCodeSequence[0]
            assert (finding_type.CodeValue, finding_type.CodingSchemeDesignator) == ("129790003", "SCT")
            region = child(group, "Image Region")
            assert region.ValueType == "SCOORD" and region.GraphicType == "POLYLINE"
            image = region.ContentSequence[0]
            assert image.RelationshipType == "SELECTED FROM" and image.ValueType == "IMAGE"
            reference = image.ReferencedSOPSequence[0]
            assert reference.ReferencedSOPInstanceUID == source.SOPInstanceUID
            assert reference.ReferencedSOPClassUID == source.SOPClassUID
            points = np.asarray(region.GraphicData, dtype=np.float64).reshape(-1, 2)
            assert np.allclose(points, window_outline(window, source), atol=1e-2)
            assert np.allclose(points[0], points[-1]) and len(points) == 5
            score = child(group, "Left-right asymmetry score").MeasuredValueSequence[0]
            assert float(score.NumericValue) == pytest.approx(finding.score)
            for name, size in (("width", window.width_mm), ("height", window.height_mm)):
                side = child(group, f"Asymmetry window {name}").MeasuredValueSequence[0]
                assert float(side.NumericValue) == pytest.approx(size)
                assert side.MeasurementUnitsCodeSequence[0].CodeValue == "mm"
            above = child(group, "Above the asymmetry operating point").ConceptCodeSequence[0].CodeMeaning
            assert above == ("Yes" if finding.above_operating_point else "No")
            uids.setdefault(finding.projection, set()).add(child(group, "Tracking Unique Identifier").UID)
    # one finding seen in two images: one tracking UID per projection, a different one for the other projection
    assert all(len(u) == 1 for u in uids.values()) and len(set().union(*uids.values())) == len(uids)


def test_each_side_gets_its_own_rectangle_sized_through_its_own_breast_box(risk_exam):
    """The model's window is a square on the registered grid; on each view it is that breast box's rectangle:
    its size in mm on the stored pixels (their spacing at the breast) equals the record's, and a CC view's is
    taller than wide."""
    for finding in risk_exam.result.risk.asymmetry:
        for laterality, window in (("L", finding.left_window), ("R", finding.right_window)):
            source = source_of(risk_exam, laterality, finding.projection.value)
            image = next(v for v in risk_exam.images if v is not None and v.laterality.value == laterality
                         and v.view.value == finding.projection.value)
            row_mm, column_mm = image.transform.original_spacing_mm  # the detector's spacing / magnification
            x0, y0, x1, y1 = window.stored_box
            assert (x1 - x0) * column_mm == pytest.approx(window.width_mm, rel=0.03)
            assert (y1 - y0) * row_mm == pytest.approx(window.height_mm, rel=0.03)
            centre = finding.left_xy if laterality == "L" else finding.right_xy
            assert x0 < centre[0] < x1 and y0 < centre[1] < y1
            if finding.projection.value == "CC":
                assert window.height_mm > 1.2 * window.width_mm
        assert finding.left_window.width_mm != finding.right_window.width_mm  # two breasts, two boxes
    finding = risk_exam.result.risk.asymmetry[0]
    source = source_of(risk_exam, "L", finding.projection.value)
    corner = dataclasses.replace(finding.left_window, stored_box=(-20.0, -10.0, 30.0, 40.0))
    assert window_outline(corner, source).min() == 0.0  # clipped to the image
    with pytest.raises(DicomResultsError, match="window"):
        window_outline(dataclasses.replace(corner, stored_box=(5.0, 5.0, 5.0, 40.0)), source)


def gsps_by_laterality(result, sources):
    return {str(d.Laterality): reread(d) for d in
            (b.dataset for b in build_dicom_results(result, sources, None, kinds=[ResultKind.GSPS]))}


def test_gsps_draws_the_window_above_the_operating_point_on_its_layer(risk_exam):
    result = with_above(risk_exam.result, {"CC"})
    finding = next(f for f in result.risk.asymmetry if f.projection.value == "CC")
    for laterality, gsps in gsps_by_laterality(result, risk_exam.sources).items():
        layers = {item.GraphicLayer: item for item in gsps.GraphicLayerSequence}
        assert "ASYMMETRY" in layers and layers["ASYMMETRY"].GraphicLayerOrder == 2
        on_layer = [a for a in gsps.GraphicAnnotationSequence if a.GraphicLayer == "ASYMMETRY"]
        assert len(on_layer) == 1  # CC only: the MLO finding is not above the operating point
        source = source_of(risk_exam, laterality, "CC")
        annotation = on_layer[0]
        assert annotation.ReferencedImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
        graphic = annotation.GraphicObjectSequence[0]
        assert graphic.GraphicType == "POLYLINE" and graphic.GraphicAnnotationUnits == "PIXEL"
        window = finding.left_window if laterality == "L" else finding.right_window
        points = np.asarray(graphic.GraphicData, dtype=np.float64).reshape(-1, 2)
        assert np.allclose(points, window_outline(window, source), atol=1e-2)
        assert [t.UnformattedTextValue for t in annotation.TextObjectSequence] == ["asymmetry"]
        # the cluster marks stay on their own layer
        assert all(a.GraphicLayer in ("CAD_CALC", "ASYMMETRY") for a in gsps.GraphicAnnotationSequence)


def test_gsps_has_no_asymmetry_layer_when_no_projection_is_above(risk_exam, exam):
    for result, sources in ((with_above(risk_exam.result, set()), risk_exam.sources),
                            (exam.result, exam.sources)):  # assessed but below / risk stage not run
        for gsps in gsps_by_laterality(result, sources).values():
            assert all(item.GraphicLayer != "ASYMMETRY" for item in gsps.get("GraphicLayerSequence", []))
            assert all(a.GraphicLayer != "ASYMMETRY" for a in gsps.get("GraphicAnnotationSequence", []))


def test_no_asymmetry_rows_without_the_risk_stage(exam):
    built = build_dicom_results(exam.result, exam.sources, None, kinds=[ResultKind.SUMMARY_SR])
    assert asymmetry_groups(reread(built[0].dataset)) == []


def test_dciodvfy_and_dsrdump_pass_with_the_asymmetry(risk_exam, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    result = with_above(risk_exam.result, {"CC", "MLO"})
    written = write_dicom_results(result, risk_exam.sources, None, tmp_path, kinds=KINDS)
    assert sorted(i.kind.value for i, _ in written) == ["gsps", "gsps", "summary_sr"]
    for item, path in written:
        errors = dciodvfy_errors(path)
        assert not errors, (item.kind, errors)
    sr_path = next(p for i, p in written if i.kind is ResultKind.SUMMARY_SR)
    dump = subprocess.run(["dsrdump", "-v", str(sr_path)], capture_output=True, text=True)
    assert dump.returncode == 0, dump.stderr
    assert "E:" not in dump.stderr, dump.stderr
    assert dump.stdout.count('"Image Region")=(POLYLINE') == 4
    source = risk_exam.sources[0]
    for value in (str(source.PatientName), str(source.PatientID), source.StudyInstanceUID, source.SOPInstanceUID):
        assert value not in caplog.text


def test_no_asymmetry_rows_or_layer_for_an_exam_not_assessed(risk_exam):
    """A partial exam's status (here forced on the record, its findings kept) puts no region anywhere."""
    from mammoedge.runtime.risk.stage import RiskStatus

    result = with_above(risk_exam.result, {"CC", "MLO"})
    result = dataclasses.replace(result, risk=dataclasses.replace(result.risk, status=RiskStatus.NEEDS_FOUR_VIEWS))
    built = build_dicom_results(result, risk_exam.sources, None, kinds=KINDS)
    sr = reread(next(b.dataset for b in built if b.kind is ResultKind.SUMMARY_SR))
    assert asymmetry_groups(sr) == []
    for b in built:
        if b.kind is ResultKind.GSPS:
            assert all(item.GraphicLayer != "ASYMMETRY" for item in b.dataset.get("GraphicLayerSequence", []))


def test_gsps_draws_exactly_the_model_s_findings_above_its_operating_point(risk_exam):
    """The record as the risk stage made it: a window on each side for each projection above the point."""
    above = {f.projection.value for f in risk_exam.result.risk.asymmetry if f.above_operating_point}
    assert above, "the phantom exam has no asymmetry above the operating point: this test proves nothing"
    drawn = set()
    for laterality, gsps in gsps_by_laterality(risk_exam.result, risk_exam.sources).items():
        for annotation in gsps.GraphicAnnotationSequence:
            if annotation.GraphicLayer == "ASYMMETRY":
                uid = annotation.ReferencedImageSequence[0].ReferencedSOPInstanceUID
                view = next(v for s, v in zip(risk_exam.sources, risk_exam.result.views) if s.SOPInstanceUID == uid)
                assert view.laterality.value == laterality
                drawn.add((view.view.value, laterality))
    assert drawn == {(p, side) for p in above for side in ("L", "R")}
