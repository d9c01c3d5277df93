"""Read a DICOM mammogram: header checks, then pixels in the project's convention."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from ..config import ReaderConfig
from .errors import PixelDecodeError
from .header import MammogramHeader, load_dataset, read_header
from .pixels import decode, to_brightness


@dataclass(frozen=True, kw_only=True)
class Mammogram:
    """A mammogram as stored (geometry untouched), pixels float32 with denser brighter."""

    header: MammogramHeader
    pixels: np.ndarray
    decisions: tuple[str, ...]


def read_mammogram(source: str | os.PathLike[str] | Dataset, config: ReaderConfig) -> Mammogram:
    """Check and decode one mammogram; raise an ``InputError`` subclass naming the value and rule."""
    ds = load_dataset(source, config)
    header = read_header(ds, config)
    stored = decode(ds, header)
    try:
        pixels, decisions = to_brightness(stored, ds, header)
    except Exception as exc:  # malformed LUT/window attributes surface here
        raise PixelDecodeError(f"modality/VOI transform cannot be applied ({type(exc).__name__}); rule: "
                               f"well-formed Rescale, VOI LUT and Window attributes") from None
    return Mammogram(header=header, pixels=pixels, decisions=header.decisions + tuple(decisions))
