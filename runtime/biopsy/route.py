"""Which images of one study form a stereotactic set (for the biopsy stage) and which are screening views.

The rule (docs/biopsy.md, "In the service"):

- an image whose Image Type value 3 is ``STEREO_SCOUT``, ``STEREO_PLUS`` or ``STEREO_MINUS`` is stereo;
- without any such image, the +/-theta pair rule: two images of one breast whose PositionerPrimaryAngle are
  +theta and -theta (within ``angle_tolerance_deg``, theta at least ``min_angle_deg``) under one compression
  (BodyPartThickness within ``thickness_tolerance_mm``) are a stereo pair; a 0-degree image of that breast
  with the pair's Frame of Reference UID is its scout;
- every other image is a screening view.

The stereo images then go to :func:`stereo_set.recognise`, which refuses a mismatched set with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from pydicom.dataset import Dataset

from ..config import BiopsyConfig
from .stereo_set import StereoRole

T = TypeVar("T")


def marked_role(ds: Dataset) -> StereoRole | None:
    """The stereo role Image Type value 3 gives, or None (absent, or another term)."""
    try:
        image_type = ds.get("ImageType")
        values = [image_type] if isinstance(image_type, str) else list(image_type or [])
        term = str(values[2]).strip().upper() if len(values) > 2 else ""
    except Exception:  # a mutated header raises many types (FIELD-NOTES): not marked
        return None
    return StereoRole(term) if term in {r.value for r in StereoRole} else None


def _float(ds: Dataset, keyword: str) -> float | None:
    try:
        value = ds.get(keyword)
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def _laterality(ds: Dataset) -> str:
    return str(ds.get("ImageLaterality", ds.get("Laterality", "")) or "").upper()


def split_study(items: Sequence[T], headers: Sequence[Dataset], config: BiopsyConfig) -> tuple[list[T], list[T]]:
    """(stereo items, screening items): ``items[i]`` is described by ``headers[i]`` (no pixels needed)."""
    if len(items) != len(headers):
        raise ValueError("one header per item")
    marked = [marked_role(ds) is not None for ds in headers]
    if any(marked):
        return ([i for i, m in zip(items, marked) if m], [i for i, m in zip(items, marked) if not m])
    stereo = set(_pair_rule(headers, config))
    return ([i for k, i in enumerate(items) if k in stereo], [i for k, i in enumerate(items) if k not in stereo])


def _pair_rule(headers: Sequence[Dataset], config: BiopsyConfig) -> list[int]:
    """Indices of the unmarked images the +/-theta pair rule takes as stereo."""
    angle = [_float(ds, "PositionerPrimaryAngle") for ds in headers]
    thickness = [_float(ds, "BodyPartThickness") for ds in headers]
    chosen: list[int] = []
    for k, a in enumerate(angle):
        if a is None or a < config.min_angle_deg or k in chosen:
            continue
        for j, b in enumerate(angle):
            if (b is None or j in chosen or b > -config.min_angle_deg or abs(a + b) > config.angle_tolerance_deg
                    or _laterality(headers[k]) != _laterality(headers[j])):
                continue
            tk, tj = thickness[k], thickness[j]
            if tk is None or tj is None or abs(tk - tj) > config.thickness_tolerance_mm:
                continue
            chosen += [k, j]
            frame = str(headers[k].get("FrameOfReferenceUID", "") or "")
            for s, c in enumerate(angle):  # the scout: this breast, straight down, the pair's compression
                if (c is not None and abs(c) <= config.angle_tolerance_deg and s not in chosen and frame
                        and str(headers[s].get("FrameOfReferenceUID", "") or "") == frame
                        and _laterality(headers[s]) == _laterality(headers[k])):
                    chosen.append(s)
                    break
            break
    return chosen
