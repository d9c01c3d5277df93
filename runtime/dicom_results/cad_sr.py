"""Mammography CAD SR (SOP class 1.2.840.10008.5.1.4.1.1.88.50, root template TID 4000).

highdicom has no class for TID 4000: the tree is composed from its generic content items and put on a
highdicom ``SOPClass`` dataset (patient and study copied from the source images). The tree (docs/outputs.md):

    CONTAINER Mammography CAD Report (TID 4000)
      HAS CONCEPT MOD  Language
      CONTAINS  CONTAINER Image Library: one IMAGE per view (TID 4020) with its acquisition context
      CONTAINS  CODE CAD Processing and Findings Summary (CID 6047)
        INFERRED FROM  CONTAINER Individual Impression/Recommendation (TID 4003), one per lesion
          HAS CONCEPT MOD  Rendering Intent (required when the cluster counts toward the flag at the
                           operating point, else optional)
          CONTAINS  TEXT Impression Description (the BI-RADS category suggested)
          CONTAINS  CODE Composite Feature (TID 4004) when the CC and MLO clusters pair, INFERRED FROM both:
          CONTAINS  CODE Single Image Finding = Calcification Cluster (TID 4006)
            HAS PROPERTIES  Calcification Type, Calcification Distribution, Number of calcifications,
                            Center (SCOORD POINT) and Outline (SCOORD POLYLINE) SELECTED FROM the IMAGE,
                            Certainty of Finding (%), Probability of cancer (%), CAD Operating Point
      CONTAINS  CODE Summary of Detections (TID 4015) / CODE Summary of Analyses (TID 4016)
        INFERRED FROM  CONTAINER Successful Detections / Analyses
          CONTAINS  CODE Detection / Analysis Performed, HAS PROPERTIES Algorithm Name, Version (TID 4019)
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from highdicom.base import SOPClass
from highdicom.sr import (
    CodeContentItem,
    CodedConcept,
    ContainerContentItem,
    ContentItem,
    DateContentItem,
    GraphicTypeValues,
    ImageContentItem,
    NumContentItem,
    PixelOriginInterpretationValues,
    ScoordContentItem,
    TextContentItem,
    TimeContentItem,
)
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.valuerep import DA, TM

from ..analysis import Cluster, ClusterLocation, ViewAnalysis, counts_toward_flag
from ..codes import Distribution, View
from ..results.exam import ExamResult
from . import codes as C
from .errors import DicomResultsError
from .tree import attach

DCM = C.DCM
RENDER_REQUIRED = CodedConcept("111150", "DCM", "Presentation Required: Rendering device is expected to present")
RENDER_OPTIONAL = CodedConcept("111151", "DCM", "Presentation Optional: Rendering device may present")
#: CAD operating points (PS3.17 E.4): marks at 1 are the ones the triage rule counts; 2 adds the rest.
OPERATING_POINT_REQUIRED = 1
OPERATING_POINT_ALL = 2


@dataclass(frozen=True, kw_only=True)
class SeriesPlacement:
    """Where one new object goes: its series and instance, and what it supersedes."""

    series_instance_uid: str
    series_number: int
    sop_instance_uid: str
    instance_number: int
    series_description: str
    predecessors: tuple[Dataset, ...] = ()  #: earlier objects of the same kind for this study (headers)


def _num(name: CodedConcept, value: float, unit: CodedConcept, rel: str) -> NumContentItem:
    return NumContentItem(name=name, value=float(value), unit=unit, relationship_type=rel)


def _image_item(source: Dataset, rel: str, name: CodedConcept = C.SOURCE_IMAGE) -> ImageContentItem:
    return ImageContentItem(name=name, referenced_sop_class_uid=source.SOPClassUID,
                            referenced_sop_instance_uid=source.SOPInstanceUID, relationship_type=rel)


def spacing_of(source: Dataset) -> tuple[float, float]:
    """(row, column) spacing in mm: PixelSpacing, else ImagerPixelSpacing (as the header states it)."""
    value = source.get("PixelSpacing") or source.get("ImagerPixelSpacing")
    if not value or len(value) != 2:
        raise DicomResultsError("source image has neither PixelSpacing nor ImagerPixelSpacing (2 values); "
                                "rule: the image library states each image's pixel spacing")
    return float(value[0]), float(value[1])


def view_modifiers(source: Dataset) -> list[ContentItem]:
    """The source's view modifiers (ViewCodeSequence > ViewModifierCodeSequence, CID 4015) as Image View
    Modifier items."""
    items: list[ContentItem] = []
    for view_code in source.get("ViewCodeSequence", []):
        for code in view_code.get("ViewModifierCodeSequence", []):
            if code.get("CodeValue") and code.get("CodingSchemeDesignator") and code.get("CodeMeaning"):
                items.append(CodeContentItem(
                    name=DCM.ImageViewModifier, relationship_type="HAS CONCEPT MOD",
                    value=CodedConcept(str(code.CodeValue), str(code.CodingSchemeDesignator), str(code.CodeMeaning))))
    return items


def library_entry(view: ViewAnalysis, source: Dataset) -> ImageContentItem:
    """TID 4020: one analysed image with its acquisition context."""
    item = _image_item(source, "CONTAINS")
    acq = "HAS ACQ CONTEXT"
    context: list[ContentItem] = [
        CodeContentItem(name=DCM.ImageLaterality, value=C.LATERALITY[view.laterality], relationship_type=acq),
        attach(CodeContentItem(name=DCM.ImageView, value=C.view_code(view.view), relationship_type=acq),
               view_modifiers(source)),
    ]
    orientation = source.get("PatientOrientation")
    if orientation and len(orientation) == 2:
        context += [TextContentItem(name=DCM.PatientOrientationRow, value=str(orientation[0]), relationship_type=acq),
                    TextContentItem(name=DCM.PatientOrientationColumn, value=str(orientation[1]),
                                    relationship_type=acq)]
    if source.get("StudyDate"):
        context.append(DateContentItem(name=DCM.StudyDate, value=source.StudyDate, relationship_type=acq))
    if source.get("StudyTime"):
        context.append(TimeContentItem(name=DCM.StudyTime, value=source.StudyTime, relationship_type=acq))
    row_mm, column_mm = spacing_of(source)
    context += [_num(DCM.HorizontalPixelSpacing, column_mm * 1000.0, C.MICROMETRE, acq),
                _num(DCM.VerticalPixelSpacing, row_mm * 1000.0, C.MICROMETRE, acq)]
    return attach(item, context)


def _points(cluster: Cluster) -> tuple[np.ndarray, np.ndarray]:
    """Centre (1, 2) and closed outline (n, 2) in the source image's (column, row) pixels."""
    if cluster.centroid_original_x is None or cluster.centroid_original_y is None or not cluster.outline_original:
        raise DicomResultsError(f"cluster {cluster.id} has no position in the source image "
                                "(centroid_original_x/y, outline_original); rule: CAD marks are placed on the "
                                "original image")
    centre = np.array([[cluster.centroid_original_x, cluster.centroid_original_y]], dtype=np.float64)
    outline = np.asarray(cluster.outline_original, dtype=np.float64)
    if len(outline) < 3:  # a 1-2 point hull (collinear members): draw around the centre instead
        outline = np.vstack([outline, centre])
    if not np.array_equal(outline[0], outline[-1]):
        outline = np.vstack([outline, outline[:1]])
    return centre, outline


def counts(cluster: Cluster, result: ExamResult, min_birads: str, flag_uncertain: bool) -> bool:
    """Whether the triage rule counts this cluster at the exam's operating point (its mark is required)."""
    return (counts_toward_flag(cluster, min_birads, flag_uncertain)
            and cluster.suspicion >= result.triage.operating_point)


def single_image_finding(cluster: Cluster, source: Dataset, required: bool) -> CodeContentItem:
    """TID 4006: one calcification cluster on one image."""
    finding = CodeContentItem(name=DCM.SingleImageFinding, value=DCM.CalcificationCluster,
                              relationship_type="CONTAINS")
    prop = "HAS PROPERTIES"
    centre, outline = _points(cluster)
    children: list[ContentItem] = [
        CodeContentItem(name=DCM.RenderingIntent, value=RENDER_REQUIRED if required else RENDER_OPTIONAL,
                        relationship_type="HAS CONCEPT MOD"),
    ]
    if cluster.morphology is not None:
        m = cluster.morphology
        kind = (C.BENIGN_SUBTYPE.get(m.benign_subtype, C.MORPHOLOGY_CLASS[m.morphology])
                if m.benign_subtype is not None else C.MORPHOLOGY_CLASS[m.morphology])
        children.append(CodeContentItem(name=DCM.CalcificationType, value=kind, relationship_type=prop))
    if cluster.distribution is not Distribution.SINGLE:
        children.append(CodeContentItem(name=DCM.CalcificationDistribution, value=C.DISTRIBUTION[cluster.distribution],
                                        relationship_type=prop))
    children.append(_num(DCM.NumberOfCalcifications, cluster.count, C.NO_UNITS, prop))
    for name, graphic, data in ((DCM.Center, GraphicTypeValues.POINT, centre),
                                (DCM.Outline, GraphicTypeValues.POLYLINE, outline)):
        scoord = ScoordContentItem(name=name, graphic_type=graphic, graphic_data=data.astype(np.float32),
                                   pixel_origin_interpretation=PixelOriginInterpretationValues.VOLUME,
                                   relationship_type=prop)
        children.append(attach(scoord, [_image_item(source, "SELECTED FROM")]))
    children.append(_num(DCM.CertaintyOfFinding, 100.0 * cluster.suspicion, C.PERCENT, prop))
    if cluster.morphology is not None:
        children.append(_num(DCM.ProbabilityOfCancer, 100.0 * cluster.morphology.likelihood, C.PERCENT, prop))
    children.append(_num(DCM.CADOperatingPoint, OPERATING_POINT_REQUIRED if required else OPERATING_POINT_ALL,
                         C.NO_UNITS, prop))
    return attach(finding, children)


def _impression(findings: list[ContentItem], required: bool, described: str | None) -> ContainerContentItem:
    """TID 4003 around one lesion's findings."""
    container = ContainerContentItem(name=C.INDIVIDUAL_IMPRESSION,
                                     relationship_type="INFERRED FROM")
    children: list[ContentItem] = [
        CodeContentItem(name=DCM.RenderingIntent, value=RENDER_REQUIRED if required else RENDER_OPTIONAL,
                        relationship_type="HAS CONCEPT MOD")]
    if described:
        children.append(TextContentItem(name=DCM.ImpressionDescription, value=described, relationship_type="CONTAINS"))
    return attach(container, children + findings)


def _birads_text(*clusters: Cluster) -> str | None:
    assessed = [c.morphology for c in clusters if c.morphology is not None]
    if not assessed:
        return None
    top = max(assessed, key=lambda m: m.birads.rank)
    return (f"BI-RADS {top.birads.value} suggested (morphology {top.morphology.value.replace('_', ' ')} x "
            f"distribution); malignancy likelihood {top.likelihood:.2f}" + ("; uncertain" if top.uncertain else ""))


def composite_feature(pair: ClusterLocation, cc: tuple[Cluster, Dataset], mlo: tuple[Cluster, Dataset],
                      required: bool) -> CodeContentItem:
    """TID 4004: the same cluster seen in CC and MLO (spatially related), with its quadrant."""
    feature = CodeContentItem(name=DCM.CompositeFeature,
                              value=CodedConcept("129769006", "SCT", "Calcification Cluster"),
                              relationship_type="CONTAINS")
    children: list[ContentItem] = [
        CodeContentItem(name=DCM.RenderingIntent, value=RENDER_REQUIRED if required else RENDER_OPTIONAL,
                        relationship_type="HAS CONCEPT MOD"),
        CodeContentItem(name=DCM.CompositeType, value=DCM.TargetContentItemsAreRelatedSpatially,
                        relationship_type="HAS PROPERTIES"),
        CodeContentItem(name=DCM.QuadrantLocation, value=C.QUADRANT[pair.quadrant], relationship_type="HAS PROPERTIES"),
    ]
    for cluster, source in (cc, mlo):
        item = single_image_finding(cluster, source, required)
        item.RelationshipType = "INFERRED FROM"
        children.append(item)
    return attach(feature, children)


def findings_summary(result: ExamResult, sources: Sequence[Dataset], min_birads: str,
                     flag_uncertain: bool) -> CodeContentItem:
    """CAD Processing and Findings Summary (TID 4001) with one Individual Impression per lesion."""
    impressions: list[ContentItem] = []
    paired: set[tuple[int, int]] = set()  # (view index, cluster id)
    index = {(v.laterality, v.view): i for i, v in enumerate(result.views)}
    for breast in result.breasts:
        for pair in breast.locations:
            i_cc, i_mlo = index.get((breast.laterality, View.CC)), index.get((breast.laterality, View.MLO))
            if i_cc is None or i_mlo is None:
                continue
            a = next((c for c in result.views[i_cc].clusters if c.id == pair.cc_cluster), None)
            b = next((c for c in result.views[i_mlo].clusters if c.id == pair.mlo_cluster), None)
            if a is None or b is None:
                continue
            required = (counts(a, result, min_birads, flag_uncertain) or counts(b, result, min_birads, flag_uncertain))
            feature = composite_feature(pair, (a, sources[i_cc]), (b, sources[i_mlo]), required)
            impressions.append(_impression([feature], required, _birads_text(a, b)))
            paired |= {(i_cc, a.id), (i_mlo, b.id)}
    for i, view in enumerate(result.views):
        for cluster in view.clusters:
            if (i, cluster.id) in paired:
                continue
            required = counts(cluster, result, min_birads, flag_uncertain)
            impressions.append(_impression([single_image_finding(cluster, sources[i], required)], required,
                                           _birads_text(cluster)))
    value = (DCM.AllAlgorithmsSucceededWithFindings if impressions else DCM.AllAlgorithmsSucceededWithoutFindings)
    summary = CodeContentItem(name=DCM.CADProcessingAndFindingsSummary, value=value, relationship_type="CONTAINS")
    return attach(summary, impressions)


def _algorithm(name: str, version: str, parameters: Sequence[str]) -> list[ContentItem]:
    """TID 4019 CAD Algorithm Identification."""
    items: list[ContentItem] = [
        TextContentItem(name=DCM.AlgorithmName, value=name, relationship_type="HAS PROPERTIES"),
        TextContentItem(name=DCM.AlgorithmVersion, value=version, relationship_type="HAS PROPERTIES")]
    items += [TextContentItem(name=DCM.AlgorithmParameters, value=p, relationship_type="HAS PROPERTIES")
              for p in parameters]
    return items


def performed(result: ExamResult) -> list[ContentItem]:
    """Summary of Detections (TID 4015) and of Analyses (TID 4016): which models ran (all succeeded)."""
    parameters = [f"software mammoedge {result.software_version}",
                  f"triage operating point {result.triage.operating_point:g}"]
    detectors = [m for m in result.models if "morphology" not in m.name]
    analysers = [m for m in result.models if "morphology" in m.name]
    out: list[ContentItem] = []
    for summary_name, container_name, item_name, item_value, models in (
            (DCM.SummaryOfDetections, DCM.SuccessfulDetections, DCM.DetectionPerformed, DCM.CalcificationCluster,
             detectors),
            (DCM.SummaryOfAnalyses, DCM.SuccessfulAnalyses, DCM.AnalysisPerformed,
             C.INDIVIDUAL_IMPRESSION_ANALYSIS, analysers)):
        summary = CodeContentItem(name=summary_name, value=DCM.Succeeded if models else DCM.NotAttempted,
                                  relationship_type="CONTAINS")
        if models:
            container = ContainerContentItem(name=container_name, relationship_type="INFERRED FROM")
            entries = [attach(CodeContentItem(name=item_name, value=item_value, relationship_type="CONTAINS"),
                              _algorithm(m.name, m.version, [*parameters, f"{m.precision} on {m.backend}/{m.device}"]))
                       for m in models]
            attach(summary, [attach(container, entries)])
        out.append(summary)
    return out


def content_tree(result: ExamResult, sources: Sequence[Dataset], min_birads: str,
                 flag_uncertain: bool) -> ContainerContentItem:
    """The TID 4000 root container."""
    root = ContainerContentItem(name=DCM.MammographyCADReport, template_id="4000")
    library = ContainerContentItem(name=DCM.ImageLibrary, relationship_type="CONTAINS")
    attach(library, [library_entry(v, s) for v, s in zip(result.views, sources)])
    language = CodeContentItem(name=DCM.LanguageOfContentItemAndDescendants, value=C.ENGLISH,
                               relationship_type="HAS CONCEPT MOD")
    return attach(root, [language, library, findings_summary(result, sources, min_birads, flag_uncertain),
                         *performed(result)])


def evidence(sources: Sequence[Dataset]) -> DicomSequence:
    """Current Requested Procedure Evidence: study > series > instances of the analysed images."""
    by_study: dict[str, dict[str, list[Dataset]]] = {}
    for s in sources:
        by_study.setdefault(s.StudyInstanceUID, {}).setdefault(s.SeriesInstanceUID, []).append(s)
    studies = []
    for study_uid, series in by_study.items():
        study = Dataset()
        study.StudyInstanceUID = study_uid
        items = []
        for series_uid, instances in series.items():
            entry = Dataset()
            entry.SeriesInstanceUID = series_uid
            refs = []
            for s in instances:
                ref = Dataset()
                ref.ReferencedSOPClassUID = s.SOPClassUID
                ref.ReferencedSOPInstanceUID = s.SOPInstanceUID
                refs.append(ref)
            entry.ReferencedSOPSequence = DicomSequence(refs)
            items.append(entry)
        study.ReferencedSeriesSequence = DicomSequence(items)
        studies.append(study)
    return DicomSequence(studies)


def build_cad_sr(result: ExamResult, sources: Sequence[Dataset], placement: SeriesPlacement, *,
                 min_birads: str, flag_uncertain: bool, manufacturer: str = "mammoedge",
                 now: _dt.datetime | None = None) -> Dataset:
    """The exam's Mammography CAD SR; ``sources`` are the analysed images' headers, in ``result.views`` order."""
    now = now or _dt.datetime.now(_dt.UTC)
    first = sources[0]
    sr = SOPClass(study_instance_uid=first.StudyInstanceUID, series_instance_uid=placement.series_instance_uid,
                  series_number=placement.series_number, sop_instance_uid=placement.sop_instance_uid,
                  sop_class_uid=C.MAMMOGRAPHY_CAD_SR, instance_number=placement.instance_number, modality="SR",
                  manufacturer=manufacturer, transfer_syntax_uid=ExplicitVRLittleEndian,
                  series_description=placement.series_description, software_versions=result.software_version,
                  manufacturer_model_name="mammoedge")
    sr.copy_patient_and_study_information(first)
    sr.InstanceCreationDate, sr.InstanceCreationTime = DA(now.strftime("%Y%m%d")), TM(now.strftime("%H%M%S"))
    sr.ContentDate, sr.ContentTime = DA(now.strftime("%Y%m%d")), TM(now.strftime("%H%M%S"))
    sr.CompletionFlag, sr.VerificationFlag = "COMPLETE", "UNVERIFIED"
    sr.PerformedProcedureCodeSequence = DicomSequence()
    sr.ReferencedPerformedProcedureStepSequence = DicomSequence()
    sr.CurrentRequestedProcedureEvidenceSequence = evidence(sources)
    if placement.predecessors:
        sr.PredecessorDocumentsSequence = evidence(placement.predecessors)
    sr.update(content_tree(result, sources, min_birads, flag_uncertain))
    return sr
