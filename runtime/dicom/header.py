"""Read and check a mammogram's header: what it is, which breast and view, what spacing.

No pixel is decoded here, so the DICOM receiver can call :func:`read_header`
on every instance it is sent. Every decision taken from the header is
recorded in ``MammogramHeader.decisions`` so ``mammoedge inspect`` can say why.
"""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.uid import UID

from ..codes import VIEW_CODES, Laterality, View
from ..config import ReaderConfig
from .redact import (LATERALITIES, MODALITIES, PHOTOMETRICS, PRESENTATION_INTENTS, VIEW_POSITIONS, described,
                     shown, shown_number, shown_uid)
from .errors import (BadHeaderError, BadSpacingError, MissingLateralityError, MissingViewError, NotDicomError,
                     PixelLengthError, TooLargeError, TruncatedError, UnsupportedTransferSyntaxError,
                     WrongModalityError, WrongSopClassError)

MG_FOR_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.2")
MG_FOR_PROCESSING = UID("1.2.840.10008.5.1.4.1.1.1.2.1")
SECONDARY_CAPTURE = UID("1.2.840.10008.5.1.4.1.1.7")

#: Transfer syntaxes whose pixel data this reader decodes (tested in tests/runtime/dicom).
SUPPORTED_TRANSFER_SYNTAXES: dict[str, str] = {
    "1.2.840.10008.1.2": "Implicit VR Little Endian",
    "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
    "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
    "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
    "1.2.840.10008.1.2.4.50": "JPEG Baseline (8 bit)",
    "1.2.840.10008.1.2.4.51": "JPEG Extended (12 bit)",
    "1.2.840.10008.1.2.4.57": "JPEG Lossless",
    "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
    "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
    "1.2.840.10008.1.2.4.81": "JPEG-LS Near-Lossless",
    "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless",
    "1.2.840.10008.1.2.4.91": "JPEG 2000",
    "1.2.840.10008.1.2.4.201": "HTJ2K Lossless",
    "1.2.840.10008.1.2.4.203": "HTJ2K",
    "1.2.840.10008.1.2.5": "RLE Lossless",
}
NATIVE_TRANSFER_SYNTAXES = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99",
                                      "1.2.840.10008.1.2.2"})

DEFLATED = "1.2.840.10008.1.2.1.99"
#: Compressed bytes fed to the inflater at a time while the deflate bounds are checked.
INFLATE_CHUNK = 1 << 16
#: The deflate ratio rule applies once this much has been inflated (small headers compress well).
RATIO_FLOOR_BYTES = 16 << 20

#: Coding schemes a view code may come from (shown in decisions; others are not).
CODING_SCHEMES = frozenset({"SCT", "SRT", "DCM", "SNM3", "99SDM"})

#: ViewPosition spellings seen in the field that are not the enum's value.
VIEW_ALIASES = {"MLO": View.MLO, "OBL": View.MLO, "OBLIQUE": View.MLO, "LATERAL": View.ML}


@dataclass(frozen=True, kw_only=True)
class MammogramHeader:
    """What the reader decided about one instance. UIDs are for grouping only: never log them."""

    sop_class_uid: str
    transfer_syntax_uid: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    manufacturer: str
    model_name: str
    rows: int
    columns: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric: str
    presentation_intent: str
    laterality: Laterality
    view: View
    view_modifiers: tuple[str, ...]
    spacing_mm: tuple[float, float]  #: (row, column) spacing at the breast
    spacing_source: str
    patient_orientation: tuple[str, ...]
    decisions: tuple[str, ...]
    patient_age_years: int | None = None  #: PatientAge (0010,1010) in whole years, when present and well formed

    @property
    def for_processing(self) -> bool:
        return self.presentation_intent == "FOR PROCESSING"

    def summary(self) -> dict[str, Any]:
        """The decisions as a JSON-friendly dict, without UIDs."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if not f.name.endswith("instance_uid")}
        out["transfer_syntax"] = SUPPORTED_TRANSFER_SYNTAXES.get(self.transfer_syntax_uid, self.transfer_syntax_uid)
        out["laterality"] = self.laterality.value
        out["view"] = self.view.value
        out["spacing_mm"] = list(self.spacing_mm)
        out["patient_orientation"] = list(self.patient_orientation)
        out["view_modifiers"] = list(self.view_modifiers)
        out["decisions"] = list(self.decisions)
        return out


def check_deflate(fileobj: io.BufferedIOBase | io.BytesIO | BinaryIO, config: ReaderConfig,
                  what: str = "data set") -> None:
    """Refuse a Deflated Explicit VR Little Endian data set that inflates beyond the reader's bounds.

    pydicom inflates the whole data set in one call (a 205 KB file of zeros took 40 s to become
    200 MiB); here it is inflated in steps, stopping as soon as ``reader.max_inflated_mb`` or, past
    16 MiB, ``reader.max_inflate_ratio`` is exceeded. Other transfer syntaxes pass untouched; the file
    position is restored either way. Raises :class:`TooLargeError`.
    """
    start = fileobj.tell()
    try:
        try:
            read_preamble(fileobj, False)  # type: ignore[arg-type]
            meta = _read_file_meta_info(fileobj)  # type: ignore[arg-type]
            syntax = str(meta.get("TransferSyntaxUID", ""))
        except Exception:  # not Part 10, or a damaged meta: the full read reports it
            return
        if syntax != DEFLATED:
            return
        limit = int(config.max_inflated_mb * 1024 * 1024)
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        consumed = inflated = 0
        while True:
            chunk = inflater.unconsumed_tail or fileobj.read(INFLATE_CHUNK)
            if not chunk:
                return
            if not inflater.unconsumed_tail:
                consumed += len(chunk)
            try:
                inflated += len(inflater.decompress(chunk, INFLATE_CHUNK * 64))
            except zlib.error:
                return  # corrupt stream: pydicom's read reports it as unreadable
            if inflated > limit:
                raise TooLargeError(f"{what} inflates to more than {config.max_inflated_mb:g} MB "
                                    f"(from {consumed} compressed bytes read so far); rule: reader.max_inflated_mb "
                                    f"(deflate-bomb guard)")
            if inflated > RATIO_FLOOR_BYTES and inflated > config.max_inflate_ratio * consumed:
                raise TooLargeError(f"{what} inflates {inflated / consumed:.0f}:1 ({consumed} bytes to more than "
                                    f"{inflated}); rule: at most {config.max_inflate_ratio:g}:1 "
                                    f"(reader.max_inflate_ratio, deflate-bomb guard)")
            if inflater.eof:
                return
    finally:
        fileobj.seek(start)


def load_dataset(source: str | os.PathLike[str] | Dataset, config: ReaderConfig | None = None) -> Dataset:
    """A dataset from a path (read fully, nothing decoded; deflate bounds checked) or the dataset itself."""
    if isinstance(source, Dataset):
        return source
    # Messages say "file", never its name: a modality may name files by UID or patient.
    try:
        size = os.path.getsize(source)
    except OSError as exc:
        raise NotDicomError(f"file cannot be read: {exc.strerror}") from None
    if size < 132:
        raise NotDicomError(f"file is {size} bytes, shorter than a DICOM preamble (132 bytes)")
    try:
        with open(source, "rb") as fh:
            check_deflate(fh, config or ReaderConfig(), "file")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                ds = pydicom.dcmread(fh)
    except TooLargeError:
        raise
    except InvalidDicomError:
        raise NotDicomError("file has no DICOM preamble/'DICM' marker; rule: DICOM Part 10 file") from None
    except (EOFError, struct.error) as exc:
        raise TruncatedError(f"file ends inside a data element ({type(exc).__name__}); "
                             f"the file is truncated") from None
    except Exception as exc:  # pydicom raises many types on mutated files (FIELD-NOTES)
        raise NotDicomError(f"file is not a readable DICOM file ({type(exc).__name__} in pydicom); "
                            f"rule: DICOM Part 10 with well-formed elements") from None
    # pydicom warns, and returns what it had, when a file ends inside an element or sequence.
    if any("end of file" in str(w.message).lower() for w in caught) or len(ds) == 0:
        raise TruncatedError(f"file ends before its data set does ({size} bytes); "
                             f"the file is truncated")
    if "PixelData" not in ds:  # pydicom stops quietly when a file ends inside an element header
        raise TruncatedError(f"file ({size} bytes) holds no PixelData: truncated, or not an image; "
                             f"rule: a mammogram carries pixel data")
    return ds


def _age_years(value: Any) -> int | None:
    """PatientAge ("nnnD|W|M|Y", DICOM AS) in whole years; None when absent or malformed (never an error)."""
    text = str(value or "").strip().upper()
    if len(text) != 4 or not text[:3].isdigit() or text[3] not in "DWMY":
        return None
    per_year = {"D": 365.25, "W": 52.18, "M": 12.0, "Y": 1.0}[text[3]]
    return int(int(text[:3]) // per_year)


def _get(ds: Dataset, keyword: str, default: Any = None) -> Any:
    """An attribute, or ``default`` when missing or unparsable."""
    try:
        value = ds.get(keyword, default)
    except Exception:
        return default
    return default if value is None or value == "" else value


def _short_text(ds: Dataset, keyword: str) -> str:
    """A short LO value (Manufacturer...), or "" when it cannot be one (too long, control characters, a
    ``^`` or ``\\``): a swallowed value holding the next elements is not kept."""
    text = str(_get(ds, keyword, ""))
    if len(text) > 64 or any(c in text for c in "^\\=") or not text.isprintable():
        return ""
    return text.strip()


def _number(ds: Dataset, keyword: str, kind: type = int) -> Any:
    value = _get(ds, keyword)
    if value is None:
        raise BadHeaderError(f"{keyword} is missing; rule: required for a mammogram's pixel data")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise BadHeaderError(f"{keyword} {described(value)} is not a number; rule: an integer") from None


def _laterality(ds: Dataset, decisions: list[str]) -> Laterality:
    candidates: list[tuple[str, Any]] = [("ImageLaterality", _get(ds, "ImageLaterality")),
                                         ("Laterality", _get(ds, "Laterality"))]
    try:
        frame = ds.SharedFunctionalGroupsSequence[0].FrameAnatomySequence[0]
        candidates.append(("FrameLaterality", frame.get("FrameLaterality")))
    except Exception:
        pass
    for source, value in candidates:
        if value in (None, ""):
            continue
        text = str(value).strip().upper()
        if text in ("L", "R"):
            decisions.append(f"laterality {text} from {source}")
            return Laterality(text)
        raise MissingLateralityError(f"{source} {shown(text, LATERALITIES)} is not one breast; rule: L or R")
    raise MissingLateralityError("no laterality: ImageLaterality, Laterality and FrameLaterality are all absent")


def _view(ds: Dataset, decisions: list[str]) -> tuple[View, tuple[str, ...]]:
    modifiers: list[str] = []
    codes = _get(ds, "ViewCodeSequence") or []
    for item in codes[:1]:
        for mod in item.get("ViewModifierCodeSequence", []) or []:
            meaning = str(mod.get("CodeMeaning", "") or mod.get("CodeValue", "")).strip()
            if meaning:
                modifiers.append(meaning.lower())
    position = str(_get(ds, "ViewPosition", "")).strip().upper()
    if position:
        view = VIEW_ALIASES.get(position)
        if view is None:
            try:
                view = View(position)
            except ValueError:
                view = None
        if view is not None:
            decisions.append(f"view {view.value} from ViewPosition")
            return view, tuple(modifiers)
    for item in codes[:1]:
        code = str(item.get("CodeValue", "")).strip()
        if code in VIEW_CODES:
            view = VIEW_CODES[code]
            scheme = str(item.get("CodingSchemeDesignator", "")).strip().upper()
            scheme = scheme if scheme in CODING_SCHEMES else "scheme not shown"
            decisions.append(f"view {view.value} from ViewCodeSequence ({scheme} {code})")
            return view, tuple(modifiers)
        if code:
            raise MissingViewError(f"ViewCodeSequence code {described(code)} is not a known mammographic view; "
                                   f"known: {', '.join(sorted(VIEW_CODES))}")
    if position:
        raise MissingViewError(f"ViewPosition {shown(position, VIEW_POSITIONS)} is not a known mammographic view; "
                               f"known: {', '.join(v.value for v in View)}")
    raise MissingViewError("no view: ViewPosition and ViewCodeSequence are both absent")


def _pair(value: Any, keyword: str) -> tuple[float, float]:
    try:
        row, col = (float(v) for v in value)
    except (TypeError, ValueError):
        raise BadSpacingError(f"{keyword} {described(value)} is not two numbers (row\\column spacing)") from None
    return row, col


def _spacing(ds: Dataset, config: ReaderConfig, decisions: list[str]) -> tuple[tuple[float, float], str]:
    imager = _get(ds, "ImagerPixelSpacing")
    if imager is not None:
        row, col = _pair(imager, "ImagerPixelSpacing")
        factor = _get(ds, "EstimatedRadiographicMagnificationFactor")
        try:
            factor = float(factor) if factor is not None else None
        except (TypeError, ValueError):
            factor = None
        if factor is not None and 1.0 <= factor <= 4.0:
            spacing, source = (row / factor, col / factor), (
                f"ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor ({factor:g})")
        else:
            if factor is not None:
                decisions.append(f"EstimatedRadiographicMagnificationFactor {shown_number(factor)} ignored; "
                                 f"rule: 1.0 to 4.0")
            spacing, source = (row, col), "ImagerPixelSpacing (no magnification factor)"
    elif _get(ds, "PixelSpacing") is not None:
        spacing, source = _pair(ds.PixelSpacing, "PixelSpacing"), "PixelSpacing"
    else:
        raise BadSpacingError("no pixel spacing: ImagerPixelSpacing and PixelSpacing are both absent")
    for value in spacing:
        if not config.min_spacing_mm <= value <= config.max_spacing_mm:
            raise BadSpacingError(f"pixel spacing {shown_number(value)} mm (from {source}) is outside the plausible "
                                  f"range {config.min_spacing_mm:g}-{config.max_spacing_mm:g} mm")
    decisions.append(f"spacing {spacing[0]:.4g} x {spacing[1]:.4g} mm from {source}")
    return spacing, source


def _check_pixel_length(ds: Dataset, ts: str, rows: int, cols: int, bits_allocated: int) -> None:
    if "PixelData" not in ds:
        raise BadHeaderError("PixelData is missing; rule: an image must carry pixel data")
    if ts not in NATIVE_TRANSFER_SYNTAXES:
        return  # encapsulated: fragment lengths are checked by the decoder
    frames = int(_get(ds, "NumberOfFrames", 1) or 1)
    samples = int(_get(ds, "SamplesPerPixel", 1) or 1)
    expected = rows * cols * frames * samples * bits_allocated // 8
    element = ds.get_item("PixelData", keep_deferred=True)
    # a value the parser deferred (the intake reads headers only) is not read here: its length is known
    actual = element.length if isinstance(element, RawDataElement) and element.value is None else len(ds.PixelData)
    if actual < expected or actual > expected + 1:
        raise PixelLengthError(f"PixelData holds {actual} bytes but Rows {rows} x Columns {cols} x "
                               f"{bits_allocated} bits x {frames} frame(s) needs {expected}")


def read_header(source: str | os.PathLike[str] | Dataset, config: ReaderConfig) -> MammogramHeader:
    """Check that ``source`` is a mammogram this appliance can analyze and say what it is.

    Raises an :class:`~mammoedge.runtime.errors.InputError` subclass naming the
    value and the rule when it is not.
    """
    ds = load_dataset(source, config)
    try:
        return _read_header(ds, config)
    except (BadHeaderError, BadSpacingError, MissingLateralityError, MissingViewError, PixelLengthError,
            TooLargeError, UnsupportedTransferSyntaxError, WrongModalityError, WrongSopClassError):
        raise
    except Exception as exc:  # a malformed element surfacing on access
        raise BadHeaderError(f"header cannot be parsed ({type(exc).__name__} on access to an element); "
                             f"rule: well-formed attributes") from None


def _read_header(ds: Dataset, config: ReaderConfig) -> MammogramHeader:
    decisions: list[str] = []
    sop_class = str(_get(ds, "SOPClassUID", "")).strip()
    accepted = {MG_FOR_PRESENTATION: "Digital Mammography X-Ray Image Storage - For Presentation",
                MG_FOR_PROCESSING: "Digital Mammography X-Ray Image Storage - For Processing"}
    if config.accept_secondary_capture:
        accepted[SECONDARY_CAPTURE] = "Secondary Capture Image Storage (MG)"
    if sop_class not in accepted:
        raise WrongSopClassError(f"SOP Class {shown_uid(sop_class)} is not accepted; accepted: "
                                 + "; ".join(f"{uid} ({name})" for uid, name in accepted.items()))
    modality = str(_get(ds, "Modality", "")).strip().upper()
    if modality != "MG":
        raise WrongModalityError(f"Modality {shown(modality, MODALITIES)} is not accepted; rule: Modality must be MG")

    meta = getattr(ds, "file_meta", None)
    ts = str(_get(meta, "TransferSyntaxUID", "")) if meta is not None else ""
    if not ts:
        ts = "1.2.840.10008.1.2" if getattr(ds, "is_implicit_VR", False) else "1.2.840.10008.1.2.1"
        decisions.append("transfer syntax absent from file meta: assumed from the encoding read")
    if ts not in SUPPORTED_TRANSFER_SYNTAXES:
        raise UnsupportedTransferSyntaxError(
            f"Transfer syntax {shown_uid(ts)} is not supported; supported: "
            + ", ".join(f"{uid} ({name})" for uid, name in SUPPORTED_TRANSFER_SYNTAXES.items()))

    rows, cols = _number(ds, "Rows"), _number(ds, "Columns")
    if rows < 64 or cols < 64:
        raise BadHeaderError(f"image {rows}x{cols} is too small for a mammogram; rule: at least 64x64")
    if rows * cols > config.max_pixels:
        raise TooLargeError(f"image {rows}x{cols} = {rows * cols} pixels exceeds the limit of "
                            f"{config.max_pixels} (reader.max_pixels)")
    bits_allocated, bits_stored = _number(ds, "BitsAllocated"), _number(ds, "BitsStored")
    if bits_allocated not in (8, 16) or not 8 <= bits_stored <= bits_allocated:
        raise BadHeaderError(f"BitsStored {bits_stored} / BitsAllocated {bits_allocated} not supported; "
                             f"rule: BitsAllocated 8 or 16 and 8 <= BitsStored <= BitsAllocated")
    if bits_stored < 10:
        decisions.append(f"BitsStored {bits_stored}: below the 10-16 bits of a mammography detector")
    samples = int(_get(ds, "SamplesPerPixel", 1) or 1)
    photometric = str(_get(ds, "PhotometricInterpretation", "")).strip().upper()
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise BadHeaderError(f"PhotometricInterpretation {shown(photometric, PHOTOMETRICS)} with "
                             f"{shown_number(samples)} sample(s) per pixel; "
                             f"rule: MONOCHROME1 or MONOCHROME2, one sample")
    frames = int(_get(ds, "NumberOfFrames", 1) or 1)
    if frames != 1:
        raise BadHeaderError(f"NumberOfFrames {shown_number(frames)}; rule: a mammogram is a single frame")
    _check_pixel_length(ds, ts, rows, cols, bits_allocated)

    intent = str(_get(ds, "PresentationIntentType", "")).strip().upper()
    if sop_class == MG_FOR_PROCESSING:
        if intent and intent != "FOR PROCESSING":
            decisions.append(f"PresentationIntentType {shown(intent, PRESENTATION_INTENTS)} contradicts the SOP "
                             f"class: SOP class wins")
        intent = "FOR PROCESSING"
    elif not intent:
        intent = "FOR PRESENTATION"
        decisions.append("PresentationIntentType absent: taken as FOR PRESENTATION")

    laterality = _laterality(ds, decisions)
    view, modifiers = _view(ds, decisions)
    spacing, spacing_source = _spacing(ds, config, decisions)
    orientation = tuple(str(v).strip().upper() for v in (_get(ds, "PatientOrientation") or ()))
    return MammogramHeader(
        sop_class_uid=sop_class, transfer_syntax_uid=ts,
        study_instance_uid=str(_get(ds, "StudyInstanceUID", "")),
        series_instance_uid=str(_get(ds, "SeriesInstanceUID", "")),
        sop_instance_uid=str(_get(ds, "SOPInstanceUID", "")),
        manufacturer=_short_text(ds, "Manufacturer"), model_name=_short_text(ds, "ManufacturerModelName"),
        rows=rows, columns=cols, bits_allocated=bits_allocated, bits_stored=bits_stored,
        pixel_representation=int(_get(ds, "PixelRepresentation", 0) or 0), photometric=photometric,
        presentation_intent=intent, laterality=laterality, view=view, view_modifiers=modifiers,
        spacing_mm=spacing, spacing_source=spacing_source, patient_orientation=orientation,
        decisions=tuple(decisions), patient_age_years=_age_years(_get(ds, "PatientAge")),
    )
