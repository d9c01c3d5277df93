"""Mammography CAD SR (SOP class 1.2.840.10008.5.1.4.1.1.88.50, root template TID 4000).

highdicom has no class for TID 4000: the tree is composed from its generic content items and put on a
highdicom ``SOPClass`` dataset (patient and study copied from the source images). The tree (docs/outputs.md):

    CONTAINER Mammography CAD Report (TID 4000)
      HAS CONCEPT MOD  Language
      CONTAINS  CONTAINER Image Library: one IMAGE per view (TID 4020) with its acquisition context
      CONTAINS  CODE CAD Processing and Findings Summary (TID 4001, CID 6047)
        HAS PROPERTIES  the overall impression (TID 4002 body): Assessment Category (CID 6026) per breast
                        with its Laterality, Impression Description, the algorithm (TID 4019)
        INFERRED FROM  CONTAINER Individual Impression/Recommendation (TID 4003), one per lesion
          HAS CONCEPT MOD  Rendering Intent (required when the cluster counts toward the flag at the
                           operating point, else optional)
          CONTAINS  the lesion's TID 4002 body: Assessment Category (CID 6026) + Laterality, Impression
                    Description, the morphology model (TID 4019)
          CONTAINS  CODE Composite Feature (TID 4004) when the CC and MLO clusters pair, INFERRED FROM both:
          CONTAINS  CODE Single Image Finding = Calcification Cluster (TID 4006)
            HAS CONCEPT MOD  Rendering Intent, HAS PROPERTIES its CAD Operating Point
            HAS PROPERTIES  Calcification Type, Calcification Distribution, Number of calcifications,
                            Center (SCOORD POINT) and Outline (SCOORD POLYLINE) SELECTED FROM the IMAGE,
                            Certainty of Finding (%), Probability of cancer (%), the detector (TID 4019)
      CONTAINS  CODE Summary of Detections (TID 4015) / CODE Summary of Analyses (TID 4016)
        INFERRED FROM  CONTAINER Successful Detections / Analyses
          CONTAINS  CODE Detection / Analysis Performed (TID 4017/4018), HAS PROPERTIES Algorithm Name,
                    Version (TID 4019) and, by reference, the Image Library IMAGE items it operated on
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
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.valuerep import DA, TM

from ..analysis import Cluster, ClusterLocation, ViewAnalysis, counts_toward_flag
from ..codes import Distribution, Laterality, View
from ..results.exam import ExamResult, ModelProvenance
from . import codes as C
from .errors import DicomResultsError
from .tree import attach

DCM = C.DCM
RENDER_REQUIRED = CodedConcept("111150", "DCM", "Presentation Required: Rendering device is expected to present")
RENDER_OPTIONAL = CodedConcept("111151", "DCM", "Presentation Optional: Rendering device may present")
#: CAD operating points (PS3.17 E.4): marks at 1 are the ones the triage rule counts; 2 adds the rest.
OPERATING_POINT_REQUIRED = 1
OPERATING_POINT_ALL = 2
CONTENT_SEQUENCE = 0x0040A730
#: the overall impression's rule (TID 4019 name of this software step)
OVERALL_RULE = "overall assessment (highest category per breast)"


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


def model_of(result: ExamResult, role: str) -> ModelProvenance | None:
    """The model whose name holds ``role`` ("detector", "morphology"), if it ran."""
    return next((m for m in result.models if role in m.name), None)


def algorithm(name: str, version: str, parameters: Sequence[str], rel: str = "HAS PROPERTIES") -> list[ContentItem]:
    """TID 4019 CAD Algorithm Identification: name, version, parameters (TEXT)."""
    items: list[ContentItem] = [
        TextContentItem(name=DCM.AlgorithmName, value=name, relationship_type=rel),
        TextContentItem(name=DCM.AlgorithmVersion, value=version, relationship_type=rel)]
    items += [TextContentItem(name=DCM.AlgorithmParameters, value=p, relationship_type=rel) for p in parameters]
    return items


def model_algorithm(model: ModelProvenance | None, result: ExamResult, rel: str = "HAS PROPERTIES"
                    ) -> list[ContentItem]:
    """TID 4019 for a model (or, without one, for our software)."""
    software = f"software mammoedge {result.software_version}"
    if model is None:
        return algorithm("mammoedge", result.software_version, [], rel)
    return algorithm(model.name, model.version, [software, f"{model.precision} on {model.backend}/{model.device}"],
                     rel)


def software_algorithm(name: str, result: ExamResult, rel: str = "HAS PROPERTIES") -> list[ContentItem]:
    """TID 4019 for a rule of our software (no model): the CC-MLO pairing, the overall assessment."""
    return algorithm(f"mammoedge {name}", result.software_version, [], rel)


def _rendering_intent(required: bool, operating_point: bool = False) -> CodeContentItem:
    """Rendering Intent (CID 6034); for a single image finding with its CAD Operating Point below it (PS3.4
    O.2.2.1: the operating point is subordinate to the rendering intent)."""
    intent = CodeContentItem(name=DCM.RenderingIntent, value=RENDER_REQUIRED if required else RENDER_OPTIONAL,
                             relationship_type="HAS CONCEPT MOD")
    if operating_point:
        attach(intent, [_num(DCM.CADOperatingPoint, OPERATING_POINT_REQUIRED if required else OPERATING_POINT_ALL,
                             C.NO_UNITS, "HAS PROPERTIES")])
    return intent


def single_image_finding(cluster: Cluster, source: Dataset, required: bool, result: ExamResult) -> CodeContentItem:
    """TID 4006: one calcification cluster on one image."""
    finding = CodeContentItem(name=DCM.SingleImageFinding, value=C.CALCIFICATION_CLUSTER,
                              relationship_type="CONTAINS")
    prop = "HAS PROPERTIES"
    centre, outline = _points(cluster)
    children: list[ContentItem] = [_rendering_intent(required, operating_point=True)]
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
    children += model_algorithm(model_of(result, "detector"), result)
    return attach(finding, children)


def impression_body(assessed: Sequence[tuple[Laterality, Cluster]], described: str | None, rel: str,
                    identification: list[ContentItem]) -> list[ContentItem]:
    """TID 4002 rows (the items take the including row's relationship ``rel``): per breast the highest
    Assessment Category its clusters suggest (CID 6026) with its Laterality, the Impression Description, and
    the algorithm (TID 4019). Empty when no cluster was assessed (no morphology model)."""
    top: dict[Laterality, Cluster] = {}
    for laterality, cluster in assessed:
        m = cluster.morphology
        if m is not None:
            best = top.get(laterality)
            if best is None or m.birads.rank > best.morphology.birads.rank:  # type: ignore[union-attr]
                top[laterality] = cluster
    if not top:
        return []
    items: list[ContentItem] = []
    for laterality in sorted(top, key=lambda side: side.value, reverse=True):  # R before L
        category = top[laterality].morphology.birads  # type: ignore[union-attr]
        items.append(attach(CodeContentItem(name=DCM.AssessmentCategory, value=C.ASSESSMENT[category],
                                            relationship_type=rel),
                            [CodeContentItem(name=C.LATERALITY_NAME, value=C.LATERALITY[laterality],
                                             relationship_type="HAS CONCEPT MOD")]))
    if described:
        items.append(TextContentItem(name=DCM.ImpressionDescription, value=described, relationship_type=rel))
    for item in identification:
        item.RelationshipType = rel
    return items + identification


def _impression(findings: list[ContentItem], required: bool, body: list[ContentItem]) -> ContainerContentItem:
    """TID 4003 around one lesion's findings."""
    container = ContainerContentItem(name=C.INDIVIDUAL_IMPRESSION, relationship_type="INFERRED FROM")
    return attach(container, [_rendering_intent(required), *body, *findings])


def _birads_text(*clusters: Cluster) -> str | None:
    assessed = [c.morphology for c in clusters if c.morphology is not None]
    if not assessed:
        return None
    top = max(assessed, key=lambda m: m.birads.rank)
    return (f"BI-RADS {top.birads.value} suggested (morphology {top.morphology.value.replace('_', ' ')} x "
            f"distribution); malignancy likelihood {top.likelihood:.2f}" + ("; uncertain" if top.uncertain else ""))


def _overall_text(assessed: Sequence[tuple[Laterality, Cluster]]) -> str | None:
    by_side: dict[Laterality, list[Cluster]] = {}
    for laterality, cluster in assessed:
        if cluster.morphology is not None:
            by_side.setdefault(laterality, []).append(cluster)
    if not by_side:
        return None
    parts = []
    for laterality in sorted(by_side, key=lambda side: side.value, reverse=True):
        clusters = by_side[laterality]
        top = max((c.morphology for c in clusters if c.morphology is not None), key=lambda m: m.birads.rank)
        side = "right" if laterality is Laterality.RIGHT else "left"
        parts.append(f"{side} breast BI-RADS {top.birads.value} ({len(clusters)} cluster mark(s))")
    return ("Highest category suggested by the calcification morphology model: " + "; ".join(parts)
            + ". CAD output, not a radiologist's assessment.")


def composite_feature(pair: ClusterLocation, cc: tuple[Cluster, Dataset], mlo: tuple[Cluster, Dataset],
                      required: bool, result: ExamResult) -> CodeContentItem:
    """TID 4004: the same cluster seen in CC and MLO (spatially related), with its quadrant."""
    feature = CodeContentItem(name=DCM.CompositeFeature, value=C.CALCIFICATION_CLUSTER, relationship_type="CONTAINS")
    children: list[ContentItem] = [
        _rendering_intent(required),
        CodeContentItem(name=DCM.CompositeType, value=DCM.TargetContentItemsAreRelatedSpatially,
                        relationship_type="HAS PROPERTIES"),
        CodeContentItem(name=DCM.QuadrantLocation, value=C.QUADRANT[pair.quadrant], relationship_type="HAS PROPERTIES"),
        *software_algorithm("cc-mlo correspondence", result),
    ]
    for cluster, source in (cc, mlo):
        item = single_image_finding(cluster, source, required, result)
        item.RelationshipType = "INFERRED FROM"
        children.append(item)
    return attach(feature, children)


def findings_summary(result: ExamResult, sources: Sequence[Dataset], min_birads: str,
                     flag_uncertain: bool) -> CodeContentItem:
    """CAD Processing and Findings Summary (TID 4001): the overall impression (TID 4002) and one Individual
    Impression (TID 4003) per lesion."""
    impressions: list[ContentItem] = []
    paired: set[tuple[int, int]] = set()  # (view index, cluster id)
    index = {(v.laterality, v.view): i for i, v in enumerate(result.views)}
    morphology = model_of(result, "morphology")
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
            feature = composite_feature(pair, (a, sources[i_cc]), (b, sources[i_mlo]), required, result)
            body = impression_body([(breast.laterality, a), (breast.laterality, b)], _birads_text(a, b), "CONTAINS",
                                   model_algorithm(morphology, result))
            impressions.append(_impression([feature], required, body))
            paired |= {(i_cc, a.id), (i_mlo, b.id)}
    for i, view in enumerate(result.views):
        for cluster in view.clusters:
            if (i, cluster.id) in paired:
                continue
            required = counts(cluster, result, min_birads, flag_uncertain)
            body = impression_body([(view.laterality, cluster)], _birads_text(cluster), "CONTAINS",
                                   model_algorithm(morphology, result))
            impressions.append(_impression([single_image_finding(cluster, sources[i], required, result)], required,
                                           body))
    value = (DCM.AllAlgorithmsSucceededWithFindings if impressions else DCM.AllAlgorithmsSucceededWithoutFindings)
    summary = CodeContentItem(name=DCM.CADProcessingAndFindingsSummary, value=value, relationship_type="CONTAINS")
    assessed = [(v.laterality, c) for v in result.views for c in v.clusters]
    overall = impression_body(assessed, _overall_text(assessed), "HAS PROPERTIES",
                              software_algorithm(OVERALL_RULE, result))
    return attach(summary, [*overall, *impressions])


def by_reference(relationship: str, target: Sequence[int]) -> Dataset:
    """A by-reference relationship (PS3.3 C.17.3.2.5): ``target`` is the content item's position from the root
    (root = 1, its k-th child = 1, k, ...). highdicom has no class for it; pydicom encodes the attributes."""
    item = Dataset()
    item.RelationshipType = relationship
    item.ReferencedContentItemIdentifier = [int(i) for i in target]
    return item


def _performed(name: CodedConcept, value: CodedConcept, identification: list[ContentItem],
               images: Sequence[Sequence[int]]) -> CodeContentItem:
    """TID 4017/4018: the algorithm, and the Image Library IMAGE items it operated on, by reference."""
    item = attach(CodeContentItem(name=name, value=value, relationship_type="CONTAINS"), identification)
    # by-reference items are no highdicom ContentItem (its ContentSequence refuses them): the element is set
    # as a plain pydicom sequence, past highdicom's attribute hook
    references = [by_reference("HAS PROPERTIES", p) for p in images]
    item[CONTENT_SEQUENCE] = DataElement(CONTENT_SEQUENCE, "SQ", DicomSequence([*item.ContentSequence, *references]))
    return item


def performed(result: ExamResult, library: Sequence[int]) -> list[ContentItem]:
    """Summary of Detections (TID 4015) and of Analyses (TID 4016): what ran, all of it succeeded (an
    algorithm that was not attempted is not listed). ``library``: the Image Library's position in the tree."""
    every = [(*library, k) for k in range(1, len(result.views) + 1)]
    with_clusters = [(*library, k) for k, v in enumerate(result.views, start=1) if v.clusters]
    detector = model_of(result, "detector")
    detections = ([_performed(DCM.DetectionPerformed, C.CALCIFICATION_CLUSTER, model_algorithm(detector, result),
                              every)] if detector is not None else [])
    analyses: list[ContentItem] = []
    both = {lat for lat in Laterality if {View.CC, View.MLO} <= {v.view for v in result.views if v.laterality is lat}}
    if both:  # the CC-MLO correspondence ran on the breasts with both views
        analyses.append(_performed(DCM.AnalysisPerformed, C.SPATIAL_COLLOCATION,
                                   software_algorithm("cc-mlo correspondence", result),
                                   [(*library, k) for k, v in enumerate(result.views, start=1)
                                    if v.laterality in both]))
    if any(c.morphology is not None for v in result.views for c in v.clusters):
        analyses.append(_performed(DCM.AnalysisPerformed, C.INDIVIDUAL_IMPRESSION_ANALYSIS,
                                   model_algorithm(model_of(result, "morphology"), result), with_clusters))
        analyses.append(_performed(DCM.AnalysisPerformed, C.OVERALL_IMPRESSION_ANALYSIS,
                                   software_algorithm(OVERALL_RULE, result), with_clusters))
    out: list[ContentItem] = []
    for summary_name, container_name, entries in ((DCM.SummaryOfDetections, DCM.SuccessfulDetections, detections),
                                                  (DCM.SummaryOfAnalyses, DCM.SuccessfulAnalyses, analyses)):
        summary = CodeContentItem(name=summary_name, value=DCM.Succeeded if entries else DCM.NotAttempted,
                                  relationship_type="CONTAINS")
        if entries:
            attach(summary, [attach(ContainerContentItem(name=container_name, relationship_type="INFERRED FROM"),
                                    entries)])
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
    top: list[ContentItem] = [language, library, findings_summary(result, sources, min_birads, flag_uncertain)]
    library_at = (1, top.index(library) + 1)  # root is 1, its children 1, k
    return attach(root, [*top, *performed(result, library_at)])


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
