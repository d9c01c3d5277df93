"""The stereo phantoms' seeds, from the lab's splits (tools/splits.py: BIOPSY_TUNE, BIOPSY_TEST).

``make_stereo`` draws from ``[seed, index, 15]``; each unit geometry takes its own seed of the split, so
an exam index names one exam per unit.
"""

from __future__ import annotations

import enum

from mammoedge.runtime.biopsy.geometry import UnitKind

from ..splits import Split


class StereoSplit(enum.StrEnum):
    TUNING = "tuning"  #: for choosing the matching tolerances
    HELD_OUT = "held-out"  #: for the figures in docs/biopsy.md only


SEEDS: dict[StereoSplit, dict[UnitKind, int]] = {
    StereoSplit.TUNING: {UnitKind.DETECTOR_FIXED: Split.BIOPSY_TUNE.offset(0),
                         UnitKind.ISOCENTRIC: Split.BIOPSY_TUNE.offset(1)},
    StereoSplit.HELD_OUT: {UnitKind.DETECTOR_FIXED: Split.BIOPSY_TEST.offset(0),
                           UnitKind.ISOCENTRIC: Split.BIOPSY_TEST.offset(1)},
}
