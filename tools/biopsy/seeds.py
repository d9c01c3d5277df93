"""The stereo phantoms' seed ranges, in one place until tools/splits.py lands.

Other seeds in the lab: training from 0 (+10,000 / +100,000 for validation), calibration 500,000,
held-out patches 1,000,000, held-out exams 2,000,000, verifier mining 4,000,000, detector view crops
6,000,000, an observer test 7,000,000. ``make_stereo`` draws from ``[seed, index, 15]``, so each seed
below is its own stream for any exam index.
"""

from __future__ import annotations

import enum

from mammoedge.runtime.biopsy.geometry import UnitKind


class StereoSplit(enum.StrEnum):
    TUNING = "tuning"  #: for choosing the matching tolerances
    HELD_OUT = "held-out"  #: for the figures in docs/biopsy.md only


SEEDS: dict[StereoSplit, dict[UnitKind, int]] = {
    StereoSplit.TUNING: {UnitKind.DETECTOR_FIXED: 8_000_000, UnitKind.ISOCENTRIC: 8_000_001},
    StereoSplit.HELD_OUT: {UnitKind.DETECTOR_FIXED: 9_000_000, UnitKind.ISOCENTRIC: 9_000_001},
}
