"""The DICOM results of a real analysed phantom exam: content equals the ExamResult, dciodvfy/dsrdump pass."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
from io import BytesIO

import numpy as np
import pydicom
import pytest
from mammoedge.runtime.dicom_results import (
    DicomResultsError,
    ResultKind,
    ResultSeries,
    build_dicom_results,
    write_dicom_results,
)
from mammoedge.runtime.dicom_results.cad_sr import counts
from dciodvfy_helpers import dciodvfy_errors

CAD_SR = "1.2.840.10008.5.1.4.1.1.88.50"


def reread(ds: pydicom.Dataset) -> pydicom.Dataset:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def walk(item, path=()):
    """(path of concept meanings, item) for every content item below ``item``."""
    for child in item.get("ContentSequence", []):
        if "ReferencedContentItemIdentifier" in child:  # by-reference: no concept of its own
            continue
        name = child.ConceptNameCodeSequence[0].CodeMeaning
        yield path + (name,), child
        yield from walk(child, path + (name,))


def children(item, meaning):
    return [c for c in item.get("ContentSequence", []) if "ConceptNameCodeSequence" in c
            and c.ConceptNameCodeSequence[0].CodeMeaning == meaning]


def one(item, meaning):
    found = children(item, meaning)
    assert len(found) == 1, (meaning, len(found))
    return found[0]


def num(item, meaning) -> float:
    return float(one(item, meaning).MeasuredValueSequence[0].NumericValue)


@pytest.fixture(scope="module")
def built(exam):
    return build_dicom_results(exam.result, exam.sources, exam.images)


def test_exam_has_findings_to_report(exam):
    """The phantom exam has clusters, paired in CC and MLO of one breast (else the content tests prove little)."""
    assert sum(len(v.clusters) for v in exam.result.views) >= 2
    assert any(b.locations for b in exam.result.breasts)


def test_one_of_each_and_one_sc_per_view(exam, built):
    kinds = [b.kind for b in built]
    assert kinds.count(ResultKind.CAD_SR) == 1 and kinds.count(ResultKind.SUMMARY_SR) == 1
    assert kinds.count(ResultKind.SC) == len(exam.result.views)
    assert kinds.count(ResultKind.GSPS) == len({(s.SeriesInstanceUID, v.laterality) for s, v in
                                                zip(exam.sources, exam.result.views)})
    assert len({b.sop_instance_uid for b in built}) == len(built)


def test_cad_sr_content_tree_equals_the_exam_result(exam, built):
    sr = reread(next(b.dataset for b in built if b.kind is ResultKind.CAD_SR))
    result = exam.result
    assert sr.SOPClassUID == CAD_SR and sr.ContentTemplateSequence[0].TemplateIdentifier == "4000"
    library = one(sr, "Image Library")
    entries = children(library, "Source")
    assert [e.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for e in entries] == [
        s.SOPInstanceUID for s in exam.sources]
    for entry, view, source in zip(entries, result.views, exam.sources):
        assert one(entry, "Image Laterality").ConceptCodeSequence[0].CodeValue == {"L": "7771000", "R": "24028007"}[
            view.laterality.value]
        assert one(entry, "Image View").ConceptCodeSequence[0].CodeValue == {"CC": "399162004", "MLO": "399368009"}[
            view.view.value]
        spacing = source.get("PixelSpacing") or source.ImagerPixelSpacing
        assert num(entry, "Horizontal Pixel Spacing") == pytest.approx(1000 * float(spacing[1]))
        assert one(entry, "Patient Orientation Row").TextValue == source.PatientOrientation[0]
    summary = one(sr, "CAD Processing and Findings Summary")
    assert summary.ConceptCodeSequence[0].CodeValue == "111242"  # all algorithms succeeded; with findings
    impressions = children(summary, "Individual Impression/Recommendation")
    assert impressions and {i.RelationshipType for i in impressions} == {"INFERRED FROM"}  # 111017 is a CODE item
    findings = [item for path, item in walk(summary) if path[-1] == "Single Image Finding"]
    assert len(findings) == sum(len(v.clusters) for v in result.views)
    by_uid = {s.SOPInstanceUID: (v, s) for v, s in zip(result.views, exam.sources)}
    matched = 0
    for finding in findings:
        centre = one(finding, "Center")
        assert centre.GraphicType == "POINT" and centre.ContentSequence[0].RelationshipType == "SELECTED FROM"
        view, source = by_uid[centre.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID]
        x, y = (float(v) for v in centre.GraphicData)
        cluster = min(view.clusters, key=lambda c: abs(c.centroid_original_x - x) + abs(c.centroid_original_y - y))
        assert (x, y) == pytest.approx((cluster.centroid_original_x, cluster.centroid_original_y), abs=1e-3)
        outline = np.array(one(finding, "Outline").GraphicData, dtype=float).reshape(-1, 2)
        assert np.allclose(outline[:len(cluster.outline_original)], cluster.outline_original, atol=1e-3)
        assert outline[0].tolist() == outline[-1].tolist()  # closed
        assert num(finding, "Number of calcifications") == cluster.count
        assert num(finding, "Certainty of Finding") == pytest.approx(100 * cluster.suspicion, abs=1e-6)
        assert num(finding, "Probability of cancer") == pytest.approx(100 * cluster.morphology.likelihood, abs=1e-6)
        distribution = one(finding, "Calcification Distribution").ConceptCodeSequence[0].CodeValue
        assert distribution == {"grouped": "129766004", "linear": "129765000", "segmental": "129768003",
                                "regional": "129767008", "diffuse": "129764001"}[cluster.distribution.value]
        required = counts(cluster, result, "4A", True)
        intent = one(finding, "Rendering Intent")
        assert intent.ConceptCodeSequence[0].CodeValue == ("111150" if required else "111151")
        assert num(intent, "CAD Operating Point") == (1 if required else 2)
        matched += 1
    assert matched == len(findings)
    composites = [item for path, item in walk(summary) if path[-1] == "Composite Feature"]
    assert len(composites) == sum(len(b.locations) for b in result.breasts)
    for composite in composites:
        assert len(children(composite, "Single Image Finding")) == 2
    names = {i.TextValue for p, i in walk(sr) if p[-1] == "Algorithm Name"}
    assert names == {m.name for m in result.models} | {"mammoedge cc-mlo correspondence",
                                                       "mammoedge overall assessment (highest category per breast)"}


def test_image_library_carries_view_modifiers(exam):
    """A spot-compression view keeps its view modifier (CID 4015) under Image View."""
    import copy

    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    sources = [copy.deepcopy(s) for s in exam.sources]
    modifier = Dataset()
    modifier.CodeValue, modifier.CodingSchemeDesignator, modifier.CodeMeaning = "399055006", "SCT", "spot compression"
    sources[0].ViewCodeSequence[0].ViewModifierCodeSequence = DicomSequence([modifier])
    sr = reread(build_dicom_results(exam.result, sources, exam.images, kinds=[ResultKind.CAD_SR])[0].dataset)
    first, second = children(one(sr, "Image Library"), "Source")[:2]
    item = one(one(first, "Image View"), "Image View Modifier")
    assert (item.RelationshipType, item.ConceptCodeSequence[0].CodeValue) == ("HAS CONCEPT MOD", "399055006")
    assert children(one(second, "Image View"), "Image View Modifier") == []


def test_summary_sr_holds_flag_and_case_scores(exam, built):
    sr = reread(next(b.dataset for b in built if b.kind is ResultKind.SUMMARY_SR))
    groups = [i for p, i in walk(sr) if p[-1] == "Measurement Group"]
    assert len(groups) == 1 + len(exam.result.breasts)
    values = {}
    for group in groups:
        label = one(group, "Tracking Identifier").TextValue
        values[label] = (num(group, "Case score"), one(group, "Triage flag").ConceptCodeSequence[0].CodeMeaning)
    triage = exam.result.triage
    assert values["exam"] == (pytest.approx(triage.score), "Yes" if triage.flagged else "No")
    for breast in exam.result.breasts:
        assert values[f"breast {breast.laterality.value}"] == (pytest.approx(breast.case_score),
                                                               "Yes" if breast.flagged else "No")


def test_identity_series_and_derived_marking(exam, built):
    source = exam.sources[0]
    for item in built:
        ds = item.dataset
        for keyword in ("PatientName", "PatientID", "PatientBirthDate", "StudyInstanceUID", "AccessionNumber"):
            assert (ds.get(keyword) or "") == (source.get(keyword) or ""), (item.kind, keyword)
        assert ds.SeriesNumber == ResultSeries[item.kind.name].value
        assert ds.SeriesInstanceUID not in {s.SeriesInstanceUID for s in exam.sources}
        assert 101 <= ds.InstanceNumber < 200
    for item in (b for b in built if b.kind is ResultKind.SC):
        assert "NOT FOR PRIMARY DIAGNOSIS" in item.dataset.SeriesDescription
        assert list(item.dataset.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert item.dataset.BurnedInAnnotation == "YES"


def test_gsps_outlines_every_cluster_on_its_image(exam, built):
    by_uid = {s.SOPInstanceUID: v for v, s in zip(exam.result.views, exam.sources)}
    seen = 0
    for item in (b for b in built if b.kind is ResultKind.GSPS):
        ds = reread(item.dataset)
        for annotation in ds.get("GraphicAnnotationSequence", []):
            view = by_uid[annotation.ReferencedImageSequence[0].ReferencedSOPInstanceUID]
            assert len(annotation.GraphicObjectSequence) == len(view.clusters)
            for obj, cluster in zip(annotation.GraphicObjectSequence, view.clusters):
                data = np.array(obj.GraphicData, dtype=float).reshape(-1, 2)
                assert np.allclose(data[:len(cluster.outline_original)], cluster.outline_original, atol=1e-2)
            assert [t.UnformattedTextValue.split()[0] for t in annotation.TextObjectSequence] == [
                f"#{c.id}" for c in view.clusters]
            seen += len(view.clusters)
    assert seen == sum(len(v.clusters) for v in exam.result.views)


def test_dciodvfy_and_dsrdump_pass(exam, tmp_path):
    written = write_dicom_results(exam.result, exam.sources, exam.images, tmp_path)
    for item, path in written:
        errors = dciodvfy_errors(path)
        assert not errors, (item.kind, errors)
    sr_path = next(p for i, p in written if i.kind is ResultKind.CAD_SR)
    dump = subprocess.run(["dsrdump", "-v", str(sr_path)], capture_output=True, text=True)
    assert dump.returncode == 0, dump.stderr
    assert "Mammography CAD SR Document" in dump.stdout
    assert "E:" not in dump.stderr and "Invalid" not in dump.stderr, dump.stderr  # relationship checks pass
    assert "Calcification Cluster" in dump.stdout


def test_reanalysis_makes_new_instances_that_supersede(exam, tmp_path):
    first = write_dicom_results(exam.result, exam.sources, exam.images, tmp_path)
    second = write_dicom_results(exam.result, exam.sources, exam.images, tmp_path)
    a = {i.kind: i.dataset for i, _ in first}
    b = {i.kind: i.dataset for i, _ in second}
    for kind in (ResultKind.CAD_SR, ResultKind.SUMMARY_SR):
        assert b[kind].SOPInstanceUID != a[kind].SOPInstanceUID
        assert b[kind].SeriesInstanceUID == a[kind].SeriesInstanceUID
        assert b[kind].InstanceNumber // 100 == 2
        previous = b[kind].PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence
        assert [r.ReferencedSOPInstanceUID for r in previous] == [a[kind].SOPInstanceUID]
        assert b[kind].SeriesDescription.endswith("(v2 supersedes v1)")
    assert len(list(tmp_path.glob("*.dcm"))) == 2 * len(first)


def test_mismatched_sources_are_a_typed_error_without_identifiers(exam):
    with pytest.raises(DicomResultsError, match="rule") as info:
        build_dicom_results(exam.result, exam.sources[:-1], exam.images)
    swapped = [exam.sources[i] for i in (2, 3, 0, 1)] if len(exam.sources) == 4 else exam.sources[::-1]
    lateralities = [v.laterality.value for v in exam.result.views]
    if [s.ImageLaterality for s in swapped] != lateralities:
        with pytest.raises(DicomResultsError, match="laterality"):
            build_dicom_results(exam.result, swapped, exam.images)
    view = next(v for v in exam.result.views if v.clusters)
    broken = dataclasses.replace(view, clusters=tuple(dataclasses.replace(c, centroid_original_x=None)
                                                      for c in view.clusters))
    result = dataclasses.replace(exam.result, views=tuple(broken if v is view else v for v in exam.result.views))
    with pytest.raises(DicomResultsError, match="original image") as info2:
        build_dicom_results(result, exam.sources, exam.images)
    for message in (str(info.value), str(info2.value)):
        assert str(exam.sources[0].PatientID) not in message and exam.sources[0].SOPInstanceUID not in message


def test_no_patient_data_in_logs(exam, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    write_dicom_results(exam.result, exam.sources, exam.images, tmp_path)
    text = caplog.text
    source = exam.sources[0]
    for value in (str(source.PatientName), str(source.PatientID), source.StudyInstanceUID, source.SOPInstanceUID):
        assert value not in text


def test_summary_sr_carries_the_risk_stage(risk_exam):
    """With the risk model configured, the companion SR holds its figures (a simulated-cohort model)."""
    risk = risk_exam.result.risk
    assert risk is not None and risk.status.value == "assessed"
    sr = reread(build_dicom_results(risk_exam.result, risk_exam.sources, None, kinds=[ResultKind.SUMMARY_SR])[0]
                .dataset)
    group = next(g for p, g in walk(sr) if p[-1] == "Measurement Group"
                 and one(g, "Tracking Identifier").TextValue == "risk (simulated cohort)")
    for year, value in zip(risk.years, risk.risk):
        assert num(group, f"{year}-year risk (simulated cohort)") == pytest.approx(100 * value)
    assert num(group, "Left-right asymmetry score") == pytest.approx(risk.asymmetry_score)
    density = one(group, "Breast composition (BI-RADS density)").ConceptCodeSequence[0].CodeValue
    assert density == f"density-{risk.density.category.value}"
