"""One Secondary Capture per view with the marks burned in (highdicom ``sc``), for viewers that show
neither SR nor presentation states. Derived, not for primary diagnosis (series description)."""

from __future__ import annotations

from typing import Any

import cv2
import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from ..analysis import ViewAnalysis, render_overlay
from ..codes import Laterality
from ..preprocess.orientation import CC_LIKE
from .cad_sr import SeriesPlacement


def normalized_orientation(view: ViewAnalysis) -> tuple[str, str]:
    """PatientOrientation of a normalized view: nipple right (anterior), medial (CC) or feet (oblique) down."""
    if view.view in CC_LIKE:
        return "A", "R" if view.laterality is Laterality.LEFT else "L"
    return "A", "F"


def build_sc(view: ViewAnalysis, normalized: Any, source: Dataset, placement: SeriesPlacement, *,
             manufacturer: str = "mammoedge") -> Dataset:
    """The normalized view (chest wall left) with clusters and calcifications drawn, as an RGB SC image."""
    canvas = render_overlay(normalized.image, view, getattr(normalized, "mask", None))
    rgb = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)
    spacing = float(view.spacing_mm) * normalized.image.shape[0] / rgb.shape[0]
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source, pixel_array=rgb, photometric_interpretation="RGB", bits_allocated=8,
        coordinate_system="PATIENT", series_instance_uid=placement.series_instance_uid,
        sop_instance_uid=placement.sop_instance_uid, series_number=placement.series_number,
        instance_number=placement.instance_number, manufacturer=manufacturer,
        pixel_spacing=(spacing, spacing), laterality=view.laterality.value,
        patient_orientation=normalized_orientation(view), transfer_syntax_uid="1.2.840.10008.1.2.1")
    sc.SeriesDescription = placement.series_description
    sc.ImageType = ["DERIVED", "SECONDARY"]
    sc.BurnedInAnnotation = "YES"
    sc.DerivationDescription = ("mammoedge CAD marks burned into the normalized view (chest wall left, "
                                f"{spacing:.3f} mm pixels); not for primary diagnosis")
    ref = Dataset()
    ref.ReferencedSOPClassUID = source.SOPClassUID
    ref.ReferencedSOPInstanceUID = source.SOPInstanceUID
    sc.SourceImageSequence = DicomSequence([ref])
    sc.SoftwareVersions = "mammoedge"
    return sc
