"""Decide the flips that put the chest wall on the left and a fixed side down.

After normalization the chest wall is column 0 and the nipple points right;
for CC-like views the medial side is down, for oblique/lateral views the feet
are down (so left and right breasts line up for comparison). PatientOrientation
decides when present; without it the horizontal flip is read off the image.
"""

from __future__ import annotations

import numpy as np

from ..codes import Laterality, View
from ..dicom import MammogramHeader

CC_LIKE = frozenset({View.CC, View.XCCL, View.XCCM, View.FB})


def decide_flips(header: MammogramHeader, image: np.ndarray) -> tuple[bool, bool, list[str]]:
    """(flip_horizontal, flip_vertical, decisions) for a stored image with denser brighter."""
    decisions: list[str] = []
    orientation = header.patient_orientation
    row_dir = orientation[0] if len(orientation) == 2 else ""
    col_dir = orientation[1] if len(orientation) == 2 else ""
    if "P" in row_dir or "A" in row_dir:
        flip_h = "P" in row_dir
        decisions.append(f"PatientOrientation row direction {row_dir!r}: chest wall on the "
                         f"{'right, flipped' if flip_h else 'left, kept'}")
    else:
        columns = image.shape[1]
        strip = max(1, columns // 20)
        left, right = float(np.mean(image[:, :strip])), float(np.mean(image[:, -strip:]))
        flip_h = right > left
        decisions.append("PatientOrientation absent or without A/P: chest wall side taken from the image "
                         f"(brighter edge {'right, flipped' if flip_h else 'left, kept'})")
    flip_v = False
    if col_dir:
        if header.view in CC_LIKE:
            lateral = "L" if header.laterality is Laterality.LEFT else "R"
            flip_v = lateral in col_dir and "F" not in col_dir and "H" not in col_dir
            decisions.append(f"PatientOrientation column direction {col_dir!r}: "
                             f"{'lateral down, flipped' if flip_v else 'medial down, kept'}")
        else:
            flip_v = "H" in col_dir
            decisions.append(f"PatientOrientation column direction {col_dir!r}: "
                             f"{'head down, flipped' if flip_v else 'feet down, kept'}")
    else:
        decisions.append("PatientOrientation absent: vertical orientation kept as stored")
    return flip_h, flip_v, decisions
