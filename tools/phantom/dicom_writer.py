"""Write one phantom view as a DICOM Digital Mammography X-Ray Image (MG) file."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

from .vendors import Encoded, VendorProfile

MG_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.2")
MG_PROCESSING = UID("1.2.840.10008.5.1.4.1.1.1.2.1")

#: (laterality, view) -> PatientOrientation of the stored image (R breasts are mirrored: chest wall right)
PATIENT_ORIENTATION = {("L", "CC"): ["A", "R"], ("R", "CC"): ["P", "L"],
                       ("L", "MLO"): ["A", "FR"], ("R", "MLO"): ["P", "FL"]}
VIEW_CODES = {"CC": ("399162004", "cranio-caudal"), "MLO": ("399368009", "medio-lateral oblique")}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Identity:
    """Obviously fake patient/study identity shared by the files of one exam."""

    patient_name: str
    patient_id: str
    accession: str
    study_uid: str
    study_date: str
    study_time: str
    study_id: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Acquisition:
    """Per-image acquisition parameters."""

    laterality: str
    view: str
    series_uid: str
    sop_uid: str
    instance_number: int
    thickness_mm: float
    force_n: float
    kvp: float
    mas: float
    entrance_dose_mgy: float
    organ_dose_mgy: float
    angle_deg: float = 0.0
    source_to_detector_mm: float | None = None
    protocol: str = "Screening"


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def build_dataset(identity: Identity, acq: Acquisition, profile: VendorProfile, enc: Encoded) -> Dataset:
    """The full MG dataset (pixel data uncompressed; ``write`` compresses if the profile says so)."""
    processing = profile.presentation_intent == "FOR PROCESSING"
    sop_class = MG_PROCESSING if processing else MG_PRESENTATION
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = acq.sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta.ImplementationVersionName = "MAMMOEDGE_PH"

    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, acq.sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = identity.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = identity.study_time
    ds.AccessionNumber = identity.accession
    ds.Modality = "MG"
    ds.PresentationIntentType = profile.presentation_intent
    ds.Manufacturer = profile.manufacturer
    ds.InstitutionName = "PHANTOM SITE"
    ds.ReferringPhysicianName = ""
    ds.StationName = "PHANTOM01"
    ds.StudyDescription = "PHANTOM SCREENING MAMMOGRAM"
    ds.SeriesDescription = f"{acq.laterality}{acq.view}"
    ds.ManufacturerModelName = profile.model_name
    ds.PatientName = identity.patient_name
    ds.PatientID = identity.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "F"
    ds.PatientIdentityRemoved = "NO"
    ds.BodyPartExamined = "BREAST"
    ds.KVP = f"{acq.kvp:.1f}"
    ds.DeviceSerialNumber = "PHANTOM-0001"
    ds.SoftwareVersions = "mammoedge-phantom"
    ds.ProtocolName = acq.protocol
    sid = acq.source_to_detector_mm or profile.source_to_detector_mm
    ds.DistanceSourceToDetector = f"{sid:.1f}"
    ds.DistanceSourceToPatient = f"{sid / round(profile.magnification, 3):.1f}"  # plane the factor refers to
    exposure_ms = acq.mas / 0.1  # 100 mA tube current
    ds.ExposureTime = str(int(round(exposure_ms)))
    ds.XRayTubeCurrent = "100"
    ds.Exposure = str(int(round(acq.mas)))
    ds.ExposureInuAs = str(int(round(acq.mas * 1000)))
    ds.FocalSpots = "0.3"
    ds.AnodeTargetMaterial = profile.anode
    ds.BodyPartThickness = f"{acq.thickness_mm:.1f}"
    ds.CompressionForce = f"{acq.force_n:.1f}"
    ds.PaddleDescription = "STANDARD"
    ds.DateOfLastDetectorCalibration = identity.study_date
    ds.Grid = "RECIPROCATING"
    ds.FilterMaterial = profile.filter
    ds.FilterThicknessMinimum = "0.05"
    ds.FilterThicknessMaximum = "0.05"
    ds.ImagerPixelSpacing = [f"{profile.imager_spacing_mm:.4f}"] * 2
    ds.DetectorType = profile.detector_type
    ds.DetectorConfiguration = "AREA"
    ds.DetectorID = "PHANTOMDET"
    ds.DetectorBinning = [1, 1]
    ds.DetectorElementPhysicalSize = [f"{profile.imager_spacing_mm:.4f}"] * 2
    ds.DetectorElementSpacing = [f"{profile.imager_spacing_mm:.4f}"] * 2
    ds.DetectorActiveShape = "RECTANGLE"
    ds.DetectorActiveDimensions = [f"{profile.rows * profile.imager_spacing_mm:.1f}",
                                   f"{profile.columns * profile.imager_spacing_mm:.1f}"]
    ds.FieldOfViewShape = "RECTANGLE"
    ds.FieldOfViewDimensions = [int(profile.rows * profile.imager_spacing_mm),
                                int(profile.columns * profile.imager_spacing_mm)]
    ds.ExposureIndex = "500"
    ds.PositionerType = "MAMMOGRAPHIC"
    ds.PositionerPrimaryAngle = f"{acq.angle_deg:.1f}"
    ds.PositionerSecondaryAngle = "0"
    ds.EstimatedRadiographicMagnificationFactor = f"{profile.magnification:.3f}"
    ds.ViewPosition = acq.view
    ds.BreastImplantPresent = "NO"
    ds.PartialView = "NO"
    ds.OrganExposed = "BREAST"
    ds.EntranceDoseInmGy = f"{acq.entrance_dose_mgy:.2f}"
    ds.RelativeXRayExposure = "1000"
    ds.OrganDose = f"{acq.organ_dose_mgy / 100:.4f}"  # OrganDose is in dGy
    ds.HalfValueLayer = "0.5"

    ds.StudyInstanceUID = identity.study_uid
    ds.SeriesInstanceUID = acq.series_uid
    ds.StudyID = identity.study_id
    ds.SeriesNumber = 1
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = acq.instance_number
    ds.PatientOrientation = PATIENT_ORIENTATION[(acq.laterality, acq.view)]
    ds.ImageLaterality = acq.laterality
    ds.FrameOfReferenceUID = new_uid("frame", identity.study_uid, acq.laterality)
    ds.PositionReferenceIndicator = ""
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.QualityControlImage = "NO"
    ds.AnatomicRegionSequence = Sequence([_code("76752008", "SCT", "Breast")])
    view_item = _code(*VIEW_CODES[acq.view][:1], "SCT", VIEW_CODES[acq.view][1])
    view_item.ViewModifierCodeSequence = Sequence()
    ds.ViewCodeSequence = Sequence([view_item])

    rows, cols = enc.pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = profile.photometric
    ds.Rows, ds.Columns = rows, cols
    if profile.write_pixel_spacing:
        ds.PixelSpacing = [f"{profile.spacing_mm:.5f}"] * 2
        ds.PixelSpacingCalibrationType = "GEOMETRY"
        ds.PixelSpacingCalibrationDescription = "ImagerPixelSpacing / magnification"
    ds.BitsAllocated = 16
    ds.BitsStored = profile.bits_stored
    ds.HighBit = profile.bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelIntensityRelationship = enc.intensity_relationship
    ds.PixelIntensityRelationshipSign = enc.intensity_sign
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "INVERSE" if profile.photometric == "MONOCHROME1" else "IDENTITY"
    if enc.window is not None:
        ds.WindowCenter = f"{enc.window[0]:.0f}"
        ds.WindowWidth = f"{enc.window[1]:.0f}"
        ds.VOILUTFunction = profile.voi_function
        ds.WindowCenterWidthExplanation = "PHANTOM DEFAULT"
    if enc.lut is not None:
        item = Dataset()
        item.LUTDescriptor = [len(enc.lut), 0, 16]
        item.LUTExplanation = "PHANTOM SIGMOID"
        item.add_new(0x00283006, "OW", enc.lut.astype("<u2").tobytes())  # LUTData, 16-bit entries
        ds.VOILUTSequence = Sequence([item])
    ds.AcquisitionContextSequence = Sequence()
    ds.PixelData = enc.pixels.tobytes()
    return ds


def write(ds: Dataset, profile: VendorProfile, path: Path) -> None:
    """Encode with the profile's transfer syntax and write a DICOM Part 10 file."""
    if profile.transfer_syntax != ExplicitVRLittleEndian:
        # lossless: the same instance, so the UID (and truth.json's record of it) stays
        ds.compress(profile.transfer_syntax, encoding_plugin="pylibjpeg", generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)


def new_uid(*entropy: object) -> str:
    """A deterministic 2.25 (UUID-derived) UID from the given parts: same seed -> same UIDs."""
    digest = hashlib.sha256("|".join(["mammoedge-phantom", *map(str, entropy)]).encode()).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"
