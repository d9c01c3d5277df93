"""What a reader message may show of a value read from a file.

A corrupted length makes one element's value swallow the next ones (PatientName, IDs, UIDs), and a
value can be copied into any attribute. So a message quotes a value only when it is a coded value
found in a known set (a DICOM defined term, a standard UID from pydicom's dictionary); anything else is
described by its length alone. Numbers are shown only when small and finite (a date or an ID read as a
number is not shown).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from pydicom.uid import UID_dictionary

#: Modality defined terms (PS3.3 C.7.3.1.1.1), the common ones.
MODALITIES = frozenset({
    "AR", "ASMT", "AU", "BDUS", "BI", "BMD", "CR", "CT", "CTPROTOCOL", "DG", "DOC", "DX", "ECG", "EPS", "ES", "FID",
    "GM", "HC", "HD", "IO", "IOL", "IVOCT", "IVUS", "KER", "KO", "LEN", "LS", "MG", "MR", "M3D", "NM", "OAM",
    "OCT", "OP", "OPM", "OPT", "OPTBSV", "OPTENF", "OPV", "OSS", "OT", "PLAN", "PR", "PT", "PX", "REG", "RESP",
    "RF", "RG", "RTDOSE", "RTIMAGE", "RTPLAN", "RTRECORD", "RTSTRUCT", "RWV", "SEG", "SM", "SMR", "SR", "SRF",
    "STAIN", "TEXTUREMAP", "TG", "US", "VA", "XA", "XC",
})
#: PhotometricInterpretation defined terms (PS3.3 C.7.6.3.1.2).
PHOTOMETRICS = frozenset({
    "MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB", "HSV", "ARGB", "CMYK", "YBR_FULL", "YBR_FULL_422",
    "YBR_PARTIAL_422", "YBR_PARTIAL_420", "YBR_ICT", "YBR_RCT", "XYB",
})
#: (Image/Frame) Laterality defined terms.
LATERALITIES = frozenset({"L", "R", "B", "U"})
#: ViewPosition defined terms for mammography and general radiography.
VIEW_POSITIONS = frozenset({
    "CC", "FB", "LM", "LMO", "ML", "MLO", "SIO", "XCC", "XCCL", "XCCM", "CV", "AT", "RCC", "LCC", "RMLO", "LMLO",
    "AP", "PA", "LL", "RL", "RLD", "LLD", "RLO", "LLO", "OBL", "OBLIQUE", "LATERAL",
})
#: PresentationIntentType defined terms.
PRESENTATION_INTENTS = frozenset({"FOR PRESENTATION", "FOR PROCESSING"})
#: Largest magnitude of a number read from text that a message shows.
MAX_SHOWN_NUMBER = 10_000.0


def shown(value: Any, known: Collection[str]) -> str:
    """``'VALUE'`` when ``value`` is in ``known``, else only its length."""
    text = str(value).strip()
    if text.upper() in known:
        return repr(text.upper())
    return described(text)


def described(value: Any) -> str:
    """A value that is not shown: its length only."""
    text = str(value)
    return "(empty)" if not text.strip() else f"(a value of {len(text)} characters, not shown)"


def shown_uid(value: Any) -> str:
    """A standard UID with its name (``'1.2.840.10008.5.1.4.1.1.2' (CT Image Storage)``), else its length."""
    text = str(value).strip()
    entry = UID_dictionary.get(text)
    if entry is not None:
        return f"{text!r} ({entry[0]})"
    return "(none)" if not text else f"(a UID of {len(text)} characters that is not a standard UID, not shown)"


def shown_number(value: Any) -> str:
    """A number with up to 4 significant digits when small and finite, else "(out of range, not shown)"."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return described(value)
    if not math.isfinite(number) or abs(number) > MAX_SHOWN_NUMBER:
        return "(a number out of range, not shown)"
    return f"{number:.4g}"
