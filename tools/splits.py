"""Data splits of the lab: every phantom seed a tool uses lies in one named, non-overlapping range.

A phantom set is drawn from one seed (patches and ROIs: one random stream of ``count`` items;
exams: ``(seed, index)`` for ``index`` in ``range(count)``). Each split owns a half-open range of
seeds; a tool takes its default seed from its split (``Split.X.seed``) and refuses a seed of another
split where evaluation data could leak into training (``check_seed``). docs/experiments.md lists the
ranges retired with their experiments (``RETIRED``), so that a revived experiment reproduces.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mammoedge.runtime.errors import MammoedgeError


class SplitError(MammoedgeError, ValueError):
    """A seed lies outside the split a tool asked for (the message names the seed and the split)."""


@dataclass(frozen=True)
class SeedRange:
    """Seeds ``start <= seed < stop``."""

    start: int
    stop: int

    def __contains__(self, seed: object) -> bool:
        return isinstance(seed, int) and self.start <= seed < self.stop

    def overlaps(self, other: SeedRange) -> bool:
        return self.start < other.stop and other.start < self.stop


class Split(enum.Enum):
    """What a seed range is for; the value is its ``SeedRange``."""

    #: training data of every model family (``train --seed``; default 0)
    TRAIN = SeedRange(0, 10_000)
    #: the detector's validation patches during training: training seed + 10,000
    DETECTOR_VALIDATION = SeedRange(10_000, 20_000)
    #: the morphology model's validation ROIs during training: training seed + 100,000
    MORPHOLOGY_VALIDATION = SeedRange(100_000, 110_000)
    #: INT8 calibration patches / ROIs (500,000) and the morphology model's temperature fit (500,001)
    CALIBRATION = SeedRange(500_000, 600_000)
    #: held-out patches (detector) and ROIs (morphology), 1,000,000; noise ROIs 1,000,001
    TEST = SeedRange(1_000_000, 1_100_000)
    #: held-out full phantom exams (64 by default): the figures the model cards report
    TEST_EXAMS = SeedRange(2_000_000, 2_100_000)
    #: a second held-out exam set (40): confirms an operating point chosen on TEST_EXAMS (docs/morphology.md)
    CONFIRMATION_EXAMS = SeedRange(3_000_000, 3_100_000)
    #: development exams (64): where post-processing ideas are tried first
    DEVELOPMENT_EXAMS = SeedRange(5_000_000, 5_100_000)
    #: tuning exams (192): where shipped defaults are chosen (split_levels) and the observer is run
    TUNING_EXAMS = SeedRange(7_000_000, 7_100_000)
    #: stereotactic biopsy targeting: tuning and held-out test pairs (tools/biopsy)
    BIOPSY_TUNE = SeedRange(20_000_000, 20_100_000)
    BIOPSY_TEST = SeedRange(21_000_000, 21_100_000)
    #: the simulated risk cohort: training, calibration and held-out test exams
    RISK_TRAIN = SeedRange(30_000_000, 30_100_000)
    RISK_CALIBRATION = SeedRange(31_000_000, 31_100_000)
    RISK_TEST = SeedRange(32_000_000, 32_100_000)
    #: v2 held-out full phantom exams (issue 23): evaluated once per change that ships, never tuned on
    HELDOUT_V2_EXAMS = SeedRange(40_000_000, 40_100_000)

    @property
    def seeds(self) -> SeedRange:
        return self.value

    @property
    def seed(self) -> int:
        """The split's default seed (its first)."""
        return self.seeds.start

    def offset(self, k: int) -> int:
        """The seed ``k`` places into the split (``SplitError`` past its end)."""
        seed = self.seeds.start + k
        check_seed(seed, self, what=f"{self.name} seed {self.seeds.start} + {k}")
        return seed


#: Ranges of experiments that were removed (docs/experiments.md): never reused, so the record reproduces.
RETIRED: dict[str, SeedRange] = {
    "verifier mining exams (tools/verifier, removed)": SeedRange(4_000_000, 4_100_000),
    "view-crop training exams (--view-exams, removed)": SeedRange(6_000_000, 6_100_000),
    "stereo exams the biopsy matching tolerances were first tuned on (before BIOPSY_TUNE)": SeedRange(8_000_000, 8_100_000),
    "the first held-out stereo exams (before BIOPSY_TEST; docs/biopsy.md)": SeedRange(9_000_000, 9_100_000),
}


def split_of(seed: int) -> Split | None:
    """The split ``seed`` belongs to, if any."""
    return next((split for split in Split if seed in split.seeds), None)


def check_seed(seed: int, *allowed: Split, what: str = "seed") -> int:
    """``seed`` if it lies in one of ``allowed``; else ``SplitError`` naming its split and the allowed ones."""
    if any(seed in split.seeds for split in allowed):
        return seed
    found = split_of(seed)
    ranges = ", ".join(f"{s.name} [{s.seeds.start:,}, {s.seeds.stop:,})" for s in allowed)
    raise SplitError(f"{what} {seed:,} is in {found.name if found else 'no split'}; "
                     f"it must lie in {ranges} (tools/splits.py)")
