"""Small DICOM mammograms with planted content, in several vendor conventions, for tests.

The canonical picture (chest wall left, medial/feet down, denser brighter) holds
a half-elliptical breast, a bright 3x3 marker at a known place, a burned-in
label in the far corner and, in MLO, a brighter pectoral wedge top-left. The
file stores it the way a vendor would (flips for the right breast, photometric,
bits, VOI, For Processing raw values, spacing tags, transfer syntax).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MG_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
MG_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.2.1"
VIEW_CODE = {"CC": ("399162004", "cranio-caudal"), "MLO": ("399368009", "medio-lateral oblique")}


@dataclass(frozen=True, kw_only=True)
class Convention:
    """How one vendor-like system writes a mammogram."""

    rows: int = 400
    columns: int = 320
    bits_stored: int = 12
    photometric: str = "MONOCHROME2"
    for_processing: bool = False
    voi: str = "window"  # window | lut | none
    imager_spacing: float | None = 0.2  # mm at the detector; None: PixelSpacing only
    magnification: float | None = 1.1
    pixel_spacing: float | None = None
    transfer_syntax: str = ExplicitVRLittleEndian
    write_orientation: bool = True


VENDORS = {
    "m2-12bit-window-j2k-mag": Convention(transfer_syntax="1.2.840.10008.1.2.4.90"),
    "m1-14bit-lut": Convention(bits_stored=14, photometric="MONOCHROME1", voi="lut", magnification=None),
    "processing-m1-14bit": Convention(bits_stored=14, photometric="MONOCHROME1", for_processing=True, voi="none"),
    "m2-10bit-pixelspacing-jpegls": Convention(bits_stored=10, imager_spacing=None, magnification=None,
                                               pixel_spacing=0.18, transfer_syntax="1.2.840.10008.1.2.4.80"),
    "m2-16bit-rle-no-orientation": Convention(bits_stored=16, transfer_syntax="1.2.840.10008.1.2.5",
                                              write_orientation=False),
}


@dataclass(frozen=True, kw_only=True)
class Planted:
    """What the test planted, in canonical (chest wall left) pixel coordinates."""

    marker_xy: tuple[int, int]
    breast: np.ndarray = field(repr=False)
    pectoral: np.ndarray | None = field(repr=False)
    spacing_mm: float
    flip_horizontal: bool
    flip_vertical: bool


def canonical(rows: int, cols: int, view: str, rng: np.random.Generator) -> tuple[np.ndarray, Planted]:
    """Brightness image in [0, 1] (denser brighter) and what was planted."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    cy, ry, rx = rows * 0.5, rows * 0.42, cols * 0.62
    breast = ((xx / rx) ** 2 + ((yy - cy) / ry) ** 2) <= 1.0
    if view == "MLO":  # the oblique view reaches up into the axilla
        breast |= (xx < cols * 0.4) & (yy < cy)
    image = np.full((rows, cols), 0.04, np.float32)
    tissue = 0.45 + 0.08 * rng.standard_normal((rows, cols)).astype(np.float32)
    image[breast] = np.clip(tissue[breast], 0.25, 0.7)
    pectoral = None
    if view == "MLO":
        pectoral = breast & (xx < cols * 0.35 - yy * (cols * 0.35) / (rows * 0.55))
        image[pectoral] = 0.82
    marker = (int(cols * 0.45), int(rows * 0.6))
    image[marker[1] - 1:marker[1] + 2, marker[0] - 1:marker[0] + 2] = 1.0
    image[rows - 30:rows - 12, cols - 60:cols - 12] = 0.97  # burned-in label, away from the breast
    return image, Planted(marker_xy=marker, breast=breast, pectoral=pectoral, spacing_mm=0.0,
                          flip_horizontal=False, flip_vertical=False)


def make_dataset(*, laterality: str = "L", view: str = "MLO", convention: Convention = Convention(),
                 seed: int = 0, study_uid: str | None = None) -> tuple[Dataset, Planted]:
    """A DICOM mammogram and the ground truth of what it holds."""
    rng = np.random.default_rng(seed)
    c = convention
    image, planted = canonical(c.rows, c.columns, view, rng)
    # Stored orientation as vendors write it: the right breast has its chest wall on the right.
    flip_h = laterality == "R"
    stored = image[:, ::-1] if flip_h else image
    top = (1 << c.bits_stored) - 1
    if c.for_processing:
        values = 0.9 * top * np.exp(-3.0 * stored)  # raw: linear in exposure, air brightest
        photometric = "MONOCHROME1"
    else:
        values = stored * 0.9 * top + 0.05 * top
        photometric = c.photometric
        if photometric == "MONOCHROME1":
            values = top - values
    pixels = np.clip(np.round(values), 0, top).astype(np.uint16)

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    sop_class = MG_PROCESSING if c.for_processing else MG_PRESENTATION
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "MG"
    ds.PatientName = "Testperson^Fake"
    ds.PatientID = "FAKE-0001"
    ds.Manufacturer = "TEST"
    ds.PresentationIntentType = "FOR PROCESSING" if c.for_processing else "FOR PRESENTATION"
    ds.ImageLaterality = laterality
    ds.ViewPosition = view
    code = Dataset()
    code.CodeValue, code.CodeMeaning = VIEW_CODE[view]
    code.CodingSchemeDesignator = "SCT"
    ds.ViewCodeSequence = Sequence([code])
    if c.write_orientation:
        down = ("R" if laterality == "L" else "L") if view == "CC" else ("FR" if laterality == "L" else "FL")
        ds.PatientOrientation = ["P" if flip_h else "A", down]
    spacing = c.pixel_spacing
    if c.imager_spacing is not None:
        ds.ImagerPixelSpacing = [c.imager_spacing, c.imager_spacing]
        spacing = c.imager_spacing
        if c.magnification is not None:
            ds.EstimatedRadiographicMagnificationFactor = c.magnification
            spacing = c.imager_spacing / c.magnification
    if c.pixel_spacing is not None:
        ds.PixelSpacing = [c.pixel_spacing, c.pixel_spacing]
        spacing = spacing if c.imager_spacing is not None else c.pixel_spacing
    ds.Rows, ds.Columns = c.rows, c.columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, c.bits_stored, c.bits_stored - 1
    ds.PixelRepresentation = 0
    lo, hi = 0.05 * top, 0.95 * top
    if c.voi == "window":
        ds.WindowCenter, ds.WindowWidth = [round((lo + hi) / 2), 300], [round(hi - lo), 100]
    elif c.voi == "lut":
        item = Dataset()
        item.LUTDescriptor = [top + 1 if top + 1 < 65536 else 0, 0, 16]
        item.add_new("LUTData", "OW", np.linspace(0, 65535, top + 1).astype("<u2").tobytes())
        ds.VOILUTSequence = Sequence([item])
    ds.PixelData = pixels.tobytes()
    ds["PixelData"].VR = "OW"
    if c.transfer_syntax != ExplicitVRLittleEndian:
        ds.compress(c.transfer_syntax, generate_instance_uid=False)
    planted = Planted(marker_xy=planted.marker_xy, breast=planted.breast, pectoral=planted.pectoral,
                      spacing_mm=float(spacing), flip_horizontal=flip_h, flip_vertical=False)
    return ds, planted


def write(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def reread(path: Path) -> Dataset:
    return pydicom.dcmread(path)
