"""Decode a mammogram's pixels into one convention: float32, denser tissue brighter.

Order (DICOM PS3.3 C.11): modality LUT, then for "For Processing" images a
log transform (raw values are linear in exposure), else the first VOI LUT
or, failing that, the first window centre/width; finally MONOCHROME1 is
inverted so that attenuation always reads as brightness.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from .errors import PixelDecodeError, TruncatedError
from .header import MammogramHeader


def decode(ds: Dataset, header: MammogramHeader) -> np.ndarray:
    """The stored pixel array, or a typed error when the codec cannot produce it."""
    try:
        arr = ds.pixel_array
    except (EOFError, ValueError) as exc:
        text = str(exc).lower()
        if isinstance(exc, EOFError) or "truncat" in text or "buffer" in text or "end of" in text:
            raise TruncatedError(f"pixel data ends early for a {header.rows}x{header.columns} image "
                                 f"({type(exc).__name__})") from None
        raise PixelDecodeError(f"pixel data cannot be decoded ({type(exc).__name__}: {str(exc)[:160]})") from None
    except Exception as exc:  # codec plugins raise their own types
        raise PixelDecodeError(f"pixel data cannot be decoded with transfer syntax "
                               f"{header.transfer_syntax_uid} ({type(exc).__name__}: {str(exc)[:160]})") from None
    if arr.shape != (header.rows, header.columns):
        raise PixelDecodeError(f"decoded pixel array has shape {arr.shape}; the header says "
                               f"({header.rows}, {header.columns})")
    return arr


def _via_table(values: np.ndarray, transform) -> np.ndarray:
    """``transform`` applied to integer ``values`` through a table over their range (one entry per value).

    A 14-bit image has at most 16384 distinct values but ~20 M pixels, so this is the same result as
    transforming every pixel at a fraction of the cost (measured 0.38 s -> ~0.03 s per 3328x4096 view).
    """
    if values.dtype.kind not in "iu":
        return np.asarray(transform(values), dtype=np.float32)
    low, high = int(values.min()), int(values.max())
    table = np.asarray(transform(np.arange(low, high + 1, dtype=values.dtype)), dtype=np.float32)
    if low == 0:
        return table[values]
    return table[values.astype(np.int32) - low] if low < 0 else table[values - values.dtype.type(low)]


def to_brightness(arr: np.ndarray, ds: Dataset, header: MammogramHeader) -> tuple[np.ndarray, list[str]]:
    """Apply modality LUT, log or VOI, and MONOCHROME1 inversion; return the image and what was done."""
    decisions: list[str] = []
    values = arr
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    if "ModalityLUTSequence" in ds or slope != 1.0 or intercept != 0.0:
        values = apply_modality_lut(values, ds)
        decisions.append("modality LUT applied")
        if slope.is_integer() and intercept.is_integer():
            values = values.astype(np.int32)  # VOI LUTs index integer values
    if header.for_processing:
        values = _via_table(values, lambda v: np.log(np.maximum(v, 1).astype(np.float32)))
        decisions.append("For Processing: log transform of raw values (VOI not applied)")
    elif "VOILUTSequence" in ds and len(ds.VOILUTSequence) > 0:
        values = _via_table(values, lambda v: apply_voi_lut(v, ds, index=0, prefer_lut=True))
        decisions.append(f"VOI LUT applied (first of {len(ds.VOILUTSequence)})")
    elif ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
        count = len(ds.WindowCenter) if ds["WindowCenter"].VM > 1 else 1
        function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR")
        values = _via_table(values, lambda v: apply_voi_lut(v, ds, index=0, prefer_lut=False))
        decisions.append(f"window centre/width applied (first of {count}, function {function})")
    else:
        decisions.append("no VOI LUT or window: stored values used as they are")
    values = np.asarray(values, dtype=np.float32)
    if header.photometric == "MONOCHROME1":
        np.negative(values, out=values)
        decisions.append("MONOCHROME1: inverted so denser is brighter")
    return values, decisions
