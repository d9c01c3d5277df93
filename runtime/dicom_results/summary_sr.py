"""The exam-level results TID 4000 has no slot for (breast flags, case scores, the operating point):
a companion Comprehensive SR, TID 1500 Measurement Report through highdicom."""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd
from highdicom.coding_schemes import CodingSchemeIdentificationItem
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from ..results.exam import ExamResult
from . import codes as C
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


def build_summary_sr(result: ExamResult, sources: Sequence[Dataset], placement: SeriesPlacement, *,
                     device_uid: str, manufacturer: str = "mammoedge") -> Dataset:
    """Measurement groups: "exam" (the triage flag and score) and one per breast (its flag and case score)."""
    detector = result.models[0] if result.models else None
    algorithm = hd.sr.AlgorithmIdentification(
        name=detector.name if detector else "mammoedge",
        version=detector.version if detector else result.software_version,
        parameters=[f"software mammoedge {result.software_version}"])
    triage = result.triage
    groups = [_group("exam", triage.flagged, triage.score, triage.operating_point, algorithm, None)]
    groups += [_group(f"breast {b.laterality.value}", b.flagged, b.case_score, triage.operating_point, algorithm,
                      hd.sr.FindingSite(anatomic_location=C.BREAST, laterality=C.LATERALITY[b.laterality]))
               for b in result.breasts]
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
