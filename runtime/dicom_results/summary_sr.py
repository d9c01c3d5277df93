"""The exam-level results TID 4000 has no slot for (breast flags, case scores, the operating point; risk,
asymmetry and density when the risk stage ran): a companion Comprehensive SR, TID 1500 Measurement Report
through highdicom."""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd
import numpy as np
from highdicom.sr import CodedConcept
from highdicom.coding_schemes import CodingSchemeIdentificationItem
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from ..results.exam import ExamResult
from ..risk.stage import RiskStatus
from . import codes as C
from .asymmetry import asymmetry_regions
from .cad_sr import SeriesPlacement


def _group(label: str, flagged: bool, score: float, operating_point: float, algorithm: hd.sr.AlgorithmIdentification,
           site: hd.sr.FindingSite | None) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(identifier=label, uid=generate_uid()),
        algorithm_id=algorithm, finding_sites=[site] if site is not None else None,
        measurements=[hd.sr.Measurement(name=C.CASE_SCORE, value=float(score), unit=C.NO_UNITS),
                      hd.sr.Measurement(name=C.OPERATING_POINT, value=float(operating_point), unit=C.NO_UNITS)],
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(name=C.TRIAGE_FLAG, value=C.YES if flagged else C.NO)],
    )


def risk_groups(result: ExamResult) -> list[hd.sr.MeasurementsAndQualitativeEvaluations]:
    """One group with the risk stage's figures when it assessed the exam: cumulative risk by year (%), the
    asymmetry score and the density category. The model was trained on a SIMULATED cohort (docs/risk.md)."""
    risk = result.risk
    if risk is None or risk.status is not RiskStatus.ASSESSED or risk.risk is None:
        return []
    model = next((m for m in result.models if "risk" in m.name), None)
    algorithm = hd.sr.AlgorithmIdentification(
        name=model.name if model else "risk", version=model.version if model else result.software_version,
        parameters=["trained on a simulated cohort, not on patients"])
    measurements = [hd.sr.Measurement(name=CodedConcept(f"risk-{year}y", C.SCHEME,
                                                        f"{year}-year risk (simulated cohort)"),
                                      value=100.0 * float(value), unit=C.PERCENT)
                    for year, value in zip(risk.years, risk.risk)]
    if risk.asymmetry_score is not None:
        measurements.append(hd.sr.Measurement(name=C.ASYMMETRY_SCORE, value=float(risk.asymmetry_score),
                                              unit=C.NO_UNITS))
    evaluations = []
    if risk.density is not None:
        category = risk.density.category.value
        evaluations.append(hd.sr.QualitativeEvaluation(
            name=C.DENSITY, value=CodedConcept(f"density-{category}", C.SCHEME, f"BI-RADS density {category}")))
    return [hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(identifier="risk (simulated cohort)", uid=generate_uid()),
        algorithm_id=algorithm, measurements=measurements, qualitative_evaluations=evaluations or None)]


def asymmetry_groups(result: ExamResult, sources: Sequence[Dataset]
                     ) -> list[hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations]:
    """Per assessed projection and side, an image-region group (TID 1410): the top asymmetry window as a
    closed POLYLINE on that side's source image, the score, that side's window width and height (mm) and whether the score is
    above the operating point. Both sides of a projection share one tracking UID (one finding, two images)."""
    regions = asymmetry_regions(result, sources)
    if not regions:
        return []
    model = next((m for m in result.models if "risk" in m.name), None)
    algorithm = hd.sr.AlgorithmIdentification(
        name=model.name if model else "risk", version=model.version if model else result.software_version,
        parameters=["trained on a simulated cohort, not on patients"])
    tracking = {projection: generate_uid() for projection in {r.finding.projection for r in regions}}
    groups = []
    for region in regions:
        finding = region.finding
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(identifier=f"asymmetry {finding.projection.value}",
                                                         uid=tracking[finding.projection]),
            referenced_region=hd.sr.ImageRegion(
                graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=region.outline.astype(np.float32),
                source_image=hd.sr.SourceImageForRegion.from_source_image(region.source)),
            finding_type=C.ASYMMETRIC_BREAST_TISSUE, algorithm_id=algorithm,
            finding_sites=[hd.sr.FindingSite(anatomic_location=C.BREAST,
                                             laterality=C.LATERALITY[region.laterality])],
            measurements=[hd.sr.Measurement(name=C.ASYMMETRY_SCORE, value=float(finding.score), unit=C.NO_UNITS),
                          hd.sr.Measurement(name=C.ASYMMETRY_WINDOW_WIDTH, value=float(region.window.width_mm),
                                            unit=C.MILLIMETRE),
                          hd.sr.Measurement(name=C.ASYMMETRY_WINDOW_HEIGHT, value=float(region.window.height_mm),
                                            unit=C.MILLIMETRE)],
            qualitative_evaluations=[hd.sr.QualitativeEvaluation(
                name=C.ABOVE_ASYMMETRY_POINT, value=C.YES if finding.above_operating_point else C.NO)]))
    return groups


def build_summary_sr(result: ExamResult, sources: Sequence[Dataset], placement: SeriesPlacement, *,
                     device_uid: str, manufacturer: str = "mammoedge") -> Dataset:
    """Measurement groups: "exam" (the triage flag and score), one per breast (its flag and case score) and,
    when the risk stage assessed the exam, its figures and the asymmetry regions."""
    detector = result.models[0] if result.models else None
    algorithm = hd.sr.AlgorithmIdentification(
        name=detector.name if detector else "mammoedge",
        version=detector.version if detector else result.software_version,
        parameters=[f"software mammoedge {result.software_version}"])
    triage = result.triage
    groups: list[hd.sr.MeasurementsAndQualitativeEvaluations | hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations]
    groups = [_group("exam", triage.flagged, triage.score, triage.operating_point, algorithm, None)]
    groups += [_group(f"breast {b.laterality.value}", b.flagged, b.case_score, triage.operating_point, algorithm,
                      hd.sr.FindingSite(anatomic_location=C.BREAST, laterality=C.LATERALITY[b.laterality]))
               for b in result.breasts]
    groups += risk_groups(result)
    groups += asymmetry_groups(result, sources)
    context = hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(uid=device_uid, name=manufacturer)))
    report = hd.sr.MeasurementReport(observation_context=context, procedure_reported=C.MAMMOGRAPHY,
                                     imaging_measurements=groups)
    sr = hd.sr.ComprehensiveSR(
        evidence=list(sources), content=report[0], series_instance_uid=placement.series_instance_uid,
        series_number=placement.series_number, sop_instance_uid=placement.sop_instance_uid,
        instance_number=placement.instance_number, manufacturer=manufacturer, is_complete=True,
        previous_versions=list(placement.predecessors) or None,
        coding_schemes=[CodingSchemeIdentificationItem(designator=C.SCHEME, name=C.SCHEME_NAME)],
        series_description=placement.series_description)
    return sr
