"""Mammography CAD SR rows checked against PS3.16 (TID 4000-4020) one template family at a time: for every
item emitted, its relationship, value type, concept name code and how often it occurs; values equal the result.

Each family has a table ``concept code -> (relationship, value type, min, max)`` of the rows this software
emits; a child that is not in its table, or occurs too often or too rarely, fails."""

from __future__ import annotations

import dataclasses
import subprocess
from collections import Counter
from io import BytesIO

import pydicom
import pytest
from mammoedge.runtime.codes import BiradsCategory, Laterality
from mammoedge.runtime.dicom_results import ResultKind, build_dicom_results, write_dicom_results
from mammoedge.runtime.dicom_results import codes as C

N = 10**6  # "n"
#: TID 4019 CAD Algorithm Identification (included with the including row's relationship)
ALGORITHM = {("111001", "DCM"): ("TEXT", 1, 1), ("111003", "DCM"): ("TEXT", 1, 1), ("111002", "DCM"): ("TEXT", 0, N)}
#: TID 4002 Impression/Recommendation Body rows emitted: Assessment Category 1-n, Impression Description 1
BODY = {("111005", "DCM"): ("CODE", 1, N), ("111033", "DCM"): ("TEXT", 1, 1), **ALGORITHM}


def reread(ds: pydicom.Dataset) -> pydicom.Dataset:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def code(item) -> tuple[str, str]:
    c = item.ConceptNameCodeSequence[0]
    return str(c.CodeValue), str(c.CodingSchemeDesignator)


def value(item) -> tuple[str, str]:
    c = item.ConceptCodeSequence[0]
    return str(c.CodeValue), str(c.CodingSchemeDesignator)


def by_value(item) -> list:
    return [c for c in item.get("ContentSequence", []) if "ReferencedContentItemIdentifier" not in c]


def rows(item, table: dict[tuple[str, str], tuple[str, str, int, int]]) -> dict[tuple[str, str], list]:
    """The by-value children of ``item`` grouped by concept, each checked against ``table``."""
    found: dict[tuple[str, str], list] = {}
    for child in by_value(item):
        key = code(child)
        assert key in table, f"row {key} ({child.ConceptNameCodeSequence[0].CodeMeaning}) is not in the template"
        relationship, value_type, _, _ = table[key]
        assert (child.RelationshipType, child.ValueType) == (relationship, value_type), key
        found.setdefault(key, []).append(child)
    for key, (_, _, low, high) in table.items():
        assert low <= len(found.get(key, [])) <= high, (key, len(found.get(key, [])))
    return found


def with_rel(table: dict, relationship: str) -> dict:
    return {k: (relationship, *v) for k, v in table.items()}


def resolve(root, identifier) -> pydicom.Dataset:
    """The content item at a by-reference identifier (1 = root, then 1-based child positions)."""
    assert int(identifier[0]) == 1
    item = root
    for position in identifier[1:]:
        item = item.ContentSequence[int(position) - 1]
    return item


@pytest.fixture(scope="module")
def sr(exam):
    return reread(build_dicom_results(exam.result, exam.sources, exam.images, kinds=[ResultKind.CAD_SR])[0].dataset)


def top(sr, key):
    (item,) = [c for c in sr.ContentSequence if code(c) == key]
    return item


def test_assessment_codes_are_cid_6026():
    """Every category the morphology stage can suggest has its CID 6026 (CID 6027) code; 4A-4C are BI-RADS
    scheme codes of version 4.0, the rest SNOMED CT."""
    assert set(C.ASSESSMENT) == set(BiradsCategory)
    for category, concept in C.ASSESSMENT.items():
        assert concept.meaning.startswith(category.value + " - ")
        if category.value.startswith("4") and len(category.value) == 2:
            assert (concept.scheme_designator, concept.scheme_version) == ("BI", "4.0")
            assert concept.value == f"MA.II.A.5.{category.value}"
        else:
            assert concept.scheme_designator == "SCT"


def test_root_tid_4000(sr):
    assert code(sr) == ("111036", "DCM") and sr.ValueType == "CONTAINER"
    rows(sr, {("121049", "DCM"): ("HAS CONCEPT MOD", "CODE", 1, 1), ("111028", "DCM"): ("CONTAINS", "CONTAINER", 1, 1),
              ("111017", "DCM"): ("CONTAINS", "CODE", 1, 1), ("111064", "DCM"): ("CONTAINS", "CODE", 1, 1),
              ("111065", "DCM"): ("CONTAINS", "CODE", 1, 1)})
    assert [code(c) for c in sr.ContentSequence] == [("121049", "DCM"), ("111028", "DCM"), ("111017", "DCM"),
                                                     ("111064", "DCM"), ("111065", "DCM")]  # order significant


def test_image_library_tid_4020(exam, sr):
    library = top(sr, ("111028", "DCM"))
    entries = by_value(library)
    assert len(entries) == len(exam.result.views) and {e.ValueType for e in entries} == {"IMAGE"}
    acq = "HAS ACQ CONTEXT"
    for entry, view in zip(entries, exam.result.views):
        found = rows(entry, {("111027", "DCM"): (acq, "CODE", 1, 1), ("111031", "DCM"): (acq, "CODE", 1, 1),
                             ("111044", "DCM"): (acq, "TEXT", 1, 1), ("111043", "DCM"): (acq, "TEXT", 1, 1),
                             ("111060", "DCM"): (acq, "DATE", 1, 1), ("111061", "DCM"): (acq, "TIME", 0, 1),
                             ("111026", "DCM"): (acq, "NUM", 1, 1), ("111066", "DCM"): (acq, "NUM", 1, 1)})
        assert value(found[("111027", "DCM")][0]) == (C.LATERALITY[view.laterality].value, "SCT")
        assert value(found[("111031", "DCM")][0]) == (C.view_code(view.view).value, "SCT")


def test_overall_impression_tid_4001_4002(exam, sr):
    """111017 (a CODE, CID 6047) HAS PROPERTIES the overall body: one coded Assessment Category per breast with
    clusters, the highest its clusters suggest, modified by its Laterality; then the impressions."""
    summary = top(sr, ("111017", "DCM"))
    assert value(summary) == ("111242", "DCM")  # all algorithms succeeded; with findings
    table = {**with_rel(BODY, "HAS PROPERTIES"), ("111034", "DCM"): ("INFERRED FROM", "CONTAINER", 1, N)}
    found = rows(summary, table)
    relationships = [c.RelationshipType for c in summary.ContentSequence]
    assert relationships == sorted(relationships, key=lambda r: r != "HAS PROPERTIES")  # the body comes first
    expected = {}
    for view in exam.result.views:
        for cluster in view.clusters:
            best = expected.get(view.laterality)
            if best is None or cluster.morphology.birads.rank > best.rank:
                expected[view.laterality] = cluster.morphology.birads
    got = {}
    for category in found[("111005", "DCM")]:
        (side,) = rows(category, {("272741003", "SCT"): ("HAS CONCEPT MOD", "CODE", 1, 1)})[("272741003", "SCT")]
        laterality = {"24028007": Laterality.RIGHT, "7771000": Laterality.LEFT}[value(side)[0]]
        got[laterality] = value(category)
    assert got == {lat: (C.ASSESSMENT[c].value, C.ASSESSMENT[c].scheme_designator) for lat, c in expected.items()}
    assert found[("111001", "DCM")][0].TextValue.startswith("mammoedge overall assessment")


def test_individual_impressions_tid_4003_and_bodies(exam, sr):
    """Each TID 4003 container: Rendering Intent (CID 6034), the lesion's body (its coded category, the
    morphology model), then one composite feature or one single image finding."""
    summary = top(sr, ("111017", "DCM"))
    impressions = [c for c in by_value(summary) if code(c) == ("111034", "DCM")]
    morphology = next(m for m in exam.result.models if "morphology" in m.name)
    table = {("111056", "DCM"): ("HAS CONCEPT MOD", "CODE", 1, 1), **with_rel(BODY, "CONTAINS"),
             ("111015", "DCM"): ("CONTAINS", "CODE", 0, N), ("111059", "DCM"): ("CONTAINS", "CODE", 0, N)}
    lesions = 0
    for impression in impressions:
        found = rows(impression, table)
        findings = found.get(("111015", "DCM"), []) + found.get(("111059", "DCM"), [])
        assert len(findings) == 1  # one lesion per impression
        assert value(found[("111056", "DCM")][0]) in {("111150", "DCM"), ("111151", "DCM")}
        assert found[("111001", "DCM")][0].TextValue == morphology.name
        assert found[("111003", "DCM")][0].TextValue == morphology.version
        lesions += 1
    paired = sum(len(b.locations) for b in exam.result.breasts)
    assert lesions == sum(len(v.clusters) for v in exam.result.views) - paired


FINDING = {("111056", "DCM"): ("HAS CONCEPT MOD", "CODE", 1, 1), ("111009", "DCM"): ("HAS PROPERTIES", "CODE", 1, N),
           ("111008", "DCM"): ("HAS PROPERTIES", "CODE", 0, 1), ("111038", "DCM"): ("HAS PROPERTIES", "NUM", 1, 1),
           ("111010", "DCM"): ("HAS PROPERTIES", "SCOORD", 1, 1), ("111041", "DCM"): ("HAS PROPERTIES", "SCOORD", 1, 1),
           ("111012", "DCM"): ("HAS PROPERTIES", "NUM", 1, 1), ("111047", "DCM"): ("HAS PROPERTIES", "NUM", 1, 1),
           **with_rel(ALGORITHM, "HAS PROPERTIES")}


def findings_of(sr):
    def walk(item):
        for child in by_value(item):
            if code(child) == ("111059", "DCM"):
                yield child
            yield from walk(child)
    return list(walk(top(sr, ("111017", "DCM"))))


def test_single_image_findings_tid_4006(exam, sr):
    """Value Calcification Cluster (SCT, CID 6014); Rendering Intent with the CAD Operating Point under it;
    each SCOORD SELECTED FROM one IMAGE; the detector identified (TID 4019)."""
    findings = findings_of(sr)
    assert len(findings) == sum(len(v.clusters) for v in exam.result.views)
    detector = next(m for m in exam.result.models if "detector" in m.name)
    for finding in findings:
        assert value(finding) == ("129769006", "SCT")
        found = rows(finding, FINDING)
        (intent,) = found[("111056", "DCM")]
        (point,) = rows(intent, {("111071", "DCM"): ("HAS PROPERTIES", "NUM", 1, 1)})[("111071", "DCM")]
        assert float(point.MeasuredValueSequence[0].NumericValue) == (1 if value(intent)[0] == "111150" else 2)
        for key in (("111010", "DCM"), ("111041", "DCM")):
            (scoord,) = found[key]
            (image,) = by_value(scoord)
            assert (image.RelationshipType, image.ValueType) == ("SELECTED FROM", "IMAGE")
        assert found[("111001", "DCM")][0].TextValue == detector.name


def test_composite_features_tid_4004(exam, sr):
    summary = top(sr, ("111017", "DCM"))
    composites = [f for i in by_value(summary) for f in by_value(i) if code(f) == ("111015", "DCM")]
    assert len(composites) == sum(len(b.locations) for b in exam.result.breasts) >= 1
    for composite in composites:
        assert value(composite) == ("129769006", "SCT")
        found = rows(composite, {("111056", "DCM"): ("HAS CONCEPT MOD", "CODE", 1, 1),
                                 ("111016", "DCM"): ("HAS PROPERTIES", "CODE", 1, 1),
                                 ("111048", "DCM"): ("HAS PROPERTIES", "CODE", 1, 1),
                                 **with_rel(ALGORITHM, "HAS PROPERTIES"),
                                 ("111059", "DCM"): ("INFERRED FROM", "CODE", 2, 2)})
        assert value(found[("111016", "DCM")][0]) == ("111154", "DCM")  # related spatially


def test_detections_and_analyses_performed_tid_4015_to_4018(exam, sr):
    """Summary (CID 6042) INFERRED FROM the Successful container; each Detection/Analysis Performed names its
    algorithm (TID 4019) and references, by reference, the Image Library IMAGE items it operated on."""
    library = top(sr, ("111028", "DCM"))
    library_uids = [e.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for e in by_value(library)]
    performed = {}
    for summary_code, container_code, item_code in ((("111064", "DCM"), ("111063", "DCM"), ("111022", "DCM")),
                                                    (("111065", "DCM"), ("111062", "DCM"), ("111004", "DCM"))):
        summary = top(sr, summary_code)
        assert value(summary) == ("111222", "DCM")  # Succeeded
        (container,) = rows(summary, {container_code: ("INFERRED FROM", "CONTAINER", 1, 1)})[container_code]
        for entry in rows(container, {item_code: ("CONTAINS", "CODE", 1, N)})[item_code]:
            rows(entry, with_rel(ALGORITHM, "HAS PROPERTIES"))
            references = [c for c in entry.ContentSequence if "ReferencedContentItemIdentifier" in c]
            assert references and {c.RelationshipType for c in references} == {"HAS PROPERTIES"}
            targets = [resolve(sr, c.ReferencedContentItemIdentifier) for c in references]
            assert {t.ValueType for t in targets} == {"IMAGE"}
            uids = [t.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for t in targets]
            assert set(uids) <= set(library_uids)
            performed[value(entry)] = uids
    with_clusters = [s.SOPInstanceUID for s, v in zip(exam.sources, exam.result.views) if v.clusters]
    assert performed[("129769006", "SCT")] == library_uids  # the detector ran on every view
    assert performed[("111233", "DCM")] == with_clusters  # the morphology model where it found clusters
    assert performed[("111234", "DCM")] == with_clusters
    assert performed[("133884007", "SCT")] == library_uids  # both breasts have CC and MLO


def test_without_morphology_no_assessment_is_claimed(exam):
    """No morphology model: no Assessment Category anywhere, and the analysis is not listed as performed."""
    views = tuple(dataclasses.replace(v, clusters=tuple(dataclasses.replace(c, morphology=None) for c in v.clusters))
                  for v in exam.result.views)
    result = dataclasses.replace(exam.result, views=views,
                                 models=tuple(m for m in exam.result.models if "morphology" not in m.name))
    sr = reread(build_dicom_results(result, exam.sources, None, kinds=[ResultKind.CAD_SR])[0].dataset)
    summary = top(sr, ("111017", "DCM"))
    assert all(code(c) == ("111034", "DCM") for c in by_value(summary))
    for impression in by_value(summary):
        assert ("111005", "DCM") not in {code(c) for c in by_value(impression)}
    analyses = Counter(value(e) for c in by_value(top(sr, ("111065", "DCM"))) for e in by_value(c))
    assert analyses == Counter({("133884007", "SCT"): 1})
    for finding in findings_of(sr):
        rows(finding, {**FINDING, ("111009", "DCM"): ("HAS PROPERTIES", "CODE", 0, 0),
                       ("111047", "DCM"): ("HAS PROPERTIES", "NUM", 0, 0)})


def test_dsrdump_resolves_every_reference(exam, tmp_path):
    """dcmtk reads the tree with its Mammography CAD SR relationship table and finds every by-reference
    target (a missing target is a warning it prints)."""
    ((_, path),) = write_dicom_results(exam.result, exam.sources, exam.images, tmp_path, kinds=[ResultKind.CAD_SR])
    dump = subprocess.run(["dsrdump", "-v", str(path)], capture_output=True, text=True)
    assert dump.returncode == 0, dump.stderr
    assert "E:" not in dump.stderr and "does not exist" not in dump.stderr, dump.stderr
    assert dump.stdout.count("<has properties 1.2.") >= len(exam.result.views)
    assert "Assessment Category" in dump.stdout
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    assert not [line for line in (out.stdout + out.stderr).splitlines() if line.startswith(("Error", "Warning"))]
