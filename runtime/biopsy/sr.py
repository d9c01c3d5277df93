"""The target as DICOM: a Comprehensive 3D SR (TID 1500) with one SCOORD3D POINT, written with highdicom.

Why this object: the target is a 3-D point, and SCOORD3D is DICOM's 3-D spatial coordinate; the
Comprehensive 3D SR carries it with its Frame of Reference, and highdicom builds it (no hand-made
content tree). The coordinates are the unit frame of docs/biopsy.md, in mm, under the stereo
images' Frame of Reference UID (mammograms have no patient-based image plane to map them to).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from .. import __version__
from .errors import BiopsyError
from .result import BiopsyResult

# highdicom logs the evidence's SOP Instance UIDs at INFO ("copy Patient-related attributes from dataset <UID>"):
# silenced below WARNING unless the application set its level itself (as runtime/dicom_results does)
if logging.getLogger("highdicom").level == logging.NOTSET:
    logging.getLogger("highdicom").setLevel(logging.WARNING)

#: Series number of the biopsy SR.
SERIES_NUMBER = 951


def target_sr(result: BiopsyResult, evidence: Sequence[Dataset], *, instance_number: int = 1
              ) -> hd.sr.Comprehensive3DSR:
    """The target of ``result`` as a Comprehensive 3D SR referencing the stereo images (``evidence``)."""
    frames = {str(ds.get("FrameOfReferenceUID", "")) for ds in evidence} - {""}
    if len(frames) != 1:
        raise BiopsyError("FrameOfReferenceUID: the stereo images carry none or several; rule: one frame for the "
                          "target's coordinates")
    t = result.target
    region = hd.sr.ImageRegion3D(graphic_type=hd.sr.GraphicTypeValues3D.POINT,
                                 graphic_data=np.array([[t.x_mm, t.y_mm, t.z_mm]]),
                                 frame_of_reference_uid=frames.pop())
    algorithm = hd.sr.AlgorithmIdentification(name="mammoedge biopsy", version=__version__)
    measurements = [
        hd.sr.Measurement(name=codes.DCM.NumberOfCalcifications, value=t.n_matches, unit=codes.UCUM.NoUnits,
                          algorithm_id=algorithm),
    ]
    group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(identifier="biopsy target", uid=hd.UID()),
        referenced_region=region, finding_type=codes.DCM.CalcificationCluster, algorithm_id=algorithm,
        measurements=measurements)
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(uid=hd.UID(), name="mammoedge"))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.SCT.DiagnosticRadiographyStereotacticLocalization, imaging_measurements=[group])
    return hd.sr.Comprehensive3DSR(evidence=list(evidence), content=report[0], series_instance_uid=hd.UID(),
                                   series_number=SERIES_NUMBER, sop_instance_uid=hd.UID(), instance_number=instance_number,
                                   manufacturer="mammoedge", is_complete=True)
