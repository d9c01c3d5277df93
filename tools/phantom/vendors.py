"""Vendor profiles: header and pixel conventions modelled on common FFDM systems.

The profiles imitate *conventions* (matrix, spacing, bit depth, photometric
interpretation, VOI handling, transfer syntax); Manufacturer says plainly that
the file is a phantom. Values are typical published detector specifications:
a-Se direct detectors at 70 and 85 um, a CsI/a-Si indirect one at 100 um, and
a 50 um a-Se system delivering For Processing (raw) data.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEG2000Lossless

from .errors import PhantomError
from .views import RenderedView


class VoiKind(enum.StrEnum):
    WINDOW = "window"  #: WindowCenter/WindowWidth (+ VOILUTFunction)
    LUT = "lut"  #: VOILUTSequence with a sigmoid table
    NONE = "none"  #: For Processing: no VOI


@dataclasses.dataclass(frozen=True, kw_only=True)
class VendorProfile:
    name: str
    manufacturer: str
    model_name: str
    detector_type: str  #: DICOM DetectorType: DIRECT or SCINTILLATOR
    imager_spacing_mm: float  #: at the detector
    rows: int
    columns: int
    bits_stored: int
    photometric: str  #: MONOCHROME1 or MONOCHROME2
    presentation_intent: str  #: FOR PRESENTATION or FOR PROCESSING
    voi: VoiKind
    voi_function: str  #: LINEAR or SIGMOID (window profiles)
    magnification: float  #: EstimatedRadiographicMagnificationFactor
    write_pixel_spacing: bool  #: also write PixelSpacing (at the breast)
    transfer_syntax: UID
    blur_mm: float
    anode: str
    filter: str
    kvp_range: tuple[float, float]
    source_to_detector_mm: float

    @property
    def spacing_mm(self) -> float:
        """Pixel spacing at the breast: ImagerPixelSpacing / magnification."""
        return self.imager_spacing_mm / self.magnification

    @property
    def max_value(self) -> int:
        return (1 << self.bits_stored) - 1


PROFILES: dict[str, VendorProfile] = {p.name: p for p in (
    VendorProfile(name="hologic", manufacturer="PHANTOM (Hologic-like profile)", model_name="Phantom Selenia-like",
                  detector_type="DIRECT", imager_spacing_mm=0.070, rows=4096, columns=3328, bits_stored=12,
                  photometric="MONOCHROME2", presentation_intent="FOR PRESENTATION", voi=VoiKind.WINDOW,
                  voi_function="SIGMOID", magnification=1.07, write_pixel_spacing=False,
                  transfer_syntax=ExplicitVRLittleEndian, blur_mm=0.040, anode="TUNGSTEN", filter="RHODIUM",
                  kvp_range=(26.0, 34.0), source_to_detector_mm=700.0),
    VendorProfile(name="ge", manufacturer="PHANTOM (GE-like profile)", model_name="Phantom Senographe-like",
                  detector_type="SCINTILLATOR", imager_spacing_mm=0.100, rows=2294, columns=1914, bits_stored=14,
                  photometric="MONOCHROME1", presentation_intent="FOR PRESENTATION", voi=VoiKind.LUT,
                  voi_function="LINEAR", magnification=1.10, write_pixel_spacing=True,
                  transfer_syntax=JPEG2000Lossless, blur_mm=0.070, anode="RHODIUM", filter="RHODIUM",
                  kvp_range=(27.0, 32.0), source_to_detector_mm=660.0),
    VendorProfile(name="siemens", manufacturer="PHANTOM (Siemens-like profile)",
                  model_name="Phantom Mammomat-like", detector_type="DIRECT", imager_spacing_mm=0.085,
                  rows=3328, columns=2560, bits_stored=12, photometric="MONOCHROME2",
                  presentation_intent="FOR PRESENTATION", voi=VoiKind.WINDOW, voi_function="LINEAR",
                  magnification=1.08, write_pixel_spacing=False, transfer_syntax=JPEG2000Lossless,
                  blur_mm=0.045, anode="TUNGSTEN", filter="RHODIUM", kvp_range=(26.0, 33.0),
                  source_to_detector_mm=650.0),
    VendorProfile(name="fuji", manufacturer="PHANTOM (Fujifilm-like profile)", model_name="Phantom Amulet-like",
                  detector_type="DIRECT", imager_spacing_mm=0.050, rows=4096, columns=3328, bits_stored=14,
                  photometric="MONOCHROME1", presentation_intent="FOR PROCESSING", voi=VoiKind.NONE,
                  voi_function="LINEAR", magnification=1.06, write_pixel_spacing=False,
                  transfer_syntax=ExplicitVRLittleEndian, blur_mm=0.035, anode="TUNGSTEN", filter="RHODIUM",
                  kvp_range=(26.0, 34.0), source_to_detector_mm=650.0),
)}


def resolve(name: str) -> list[VendorProfile]:
    """Profiles for a CLI value: one name or ``all``."""
    if name == "all":
        return list(PROFILES.values())
    if name not in PROFILES:
        raise PhantomError(f"Vendor profile {name!r} is unknown; known: {', '.join(PROFILES)}, all")
    return [PROFILES[name]]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Encoded:
    """Stored pixel values and the VOI to write with them."""

    pixels: np.ndarray  #: uint16, stored orientation
    window: tuple[float, float] | None  #: (center, width) in stored values
    lut: np.ndarray | None  #: VOI LUT data (uint16), first mapped value 0
    intensity_sign: int  #: PixelIntensityRelationshipSign
    intensity_relationship: str  #: LOG or LIN


def encode(view: RenderedView, profile: VendorProfile, flip: bool) -> Encoded:
    """Map a rendered view to the profile's stored values (and mirror it when ``flip``)."""
    top = profile.max_value
    if profile.presentation_intent == "FOR PROCESSING":
        # raw, linear in detected quanta: air near the top of the range
        gain = 0.85 * top / view.n0
        stored = np.clip(np.round(view.counts * np.float32(gain)), 0, top).astype(np.uint16)
        sign, relation = +1, "LIN"
        if profile.photometric != "MONOCHROME1":
            raise ValueError(f"For Processing profile {profile.name!r} must be MONOCHROME1 (air displayed dark)")
        window, lut = None, None
    else:
        p_hi = 6.5  # burned-in white; line integrals of breasts stay below
        scaled = np.clip(view.image / np.float32(p_hi), 0.0, 1.0) * np.float32(top)
        stored = np.round(scaled).astype(np.uint16)
        lo, hi = np.percentile(view.image[view.inside], [0.5, 99.9]) / p_hi * top
        if profile.photometric == "MONOCHROME1":
            stored = (top - stored).astype(np.uint16)
            lo, hi = top - hi, top - lo
            sign = +1
        else:
            sign = -1
        relation = "LOG"
        window = (float(round((lo + hi) / 2)), float(max(2, round(hi - lo))))
        lut = None
        if profile.voi is VoiKind.LUT:
            x = np.arange(top + 1, dtype=np.float64)
            out = 1.0 / (1.0 + np.exp(-4.0 * (x - window[0]) / window[1]))
            lut = np.round(out * 65535).astype(np.uint16)  # output keeps the MONOCHROME1 sense
            window = None
    if flip:
        stored = np.ascontiguousarray(stored[:, ::-1])
    return Encoded(pixels=stored, window=window, lut=lut, intensity_sign=sign, intensity_relationship=relation)
