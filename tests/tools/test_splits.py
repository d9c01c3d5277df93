"""The lab's data splits: no two seed ranges overlap, and seeds are checked against them."""

import itertools

import pytest

from mammoedge.runtime.errors import MammoedgeError
from mammoedge.tools.splits import RETIRED, SeedRange, Split, SplitError, check_seed, split_of


def test_no_two_ranges_overlap_retired_ones_included():
    ranges = [(s.name, s.seeds) for s in Split] + list(RETIRED.items())
    for (a, ra), (b, rb) in itertools.combinations(ranges, 2):
        assert not ra.overlaps(rb), f"{a} and {b} overlap"
        assert ra.start < ra.stop


def test_overlap_rule_on_known_ranges():
    assert SeedRange(0, 10).overlaps(SeedRange(9, 20)) and not SeedRange(0, 10).overlaps(SeedRange(10, 20))


def test_the_seeds_the_shipped_models_and_their_figures_used_are_in_their_splits():
    assert (Split.TRAIN.seed, Split.CALIBRATION.seed, Split.TEST.seed) == (0, 500_000, 1_000_000)
    assert (Split.TEST_EXAMS.seed, Split.DEVELOPMENT_EXAMS.seed, Split.TUNING_EXAMS.seed) == (
        2_000_000, 5_000_000, 7_000_000)
    assert Split.DETECTOR_VALIDATION.offset(0) == 10_000 and split_of(100_000) is Split.MORPHOLOGY_VALIDATION
    assert {s.name for s in Split} >= {"BIOPSY_TUNE", "BIOPSY_TEST", "RISK_TRAIN", "RISK_CALIBRATION", "RISK_TEST"}
    families = [s for s in Split if s.name.startswith(("BIOPSY_", "RISK_"))]
    others = [s for s in Split if s not in families and s is not Split.HELDOUT_V2_EXAMS]
    gap = min(s.seeds.start for s in families) - max(s.seeds.stop for s in others)
    assert gap >= 10_000_000  # far from the detector's and the morphology model's ranges
    v2 = Split.HELDOUT_V2_EXAMS.seeds  # the v2 held-out exams (issue 23) lie past every other range
    assert v2.start - max(s.seeds.stop for s in Split if s is not Split.HELDOUT_V2_EXAMS) >= 5_000_000


def test_a_seed_of_another_split_is_refused_with_both_named():
    assert check_seed(2_000_005, Split.TEST_EXAMS, Split.TUNING_EXAMS) == 2_000_005
    with pytest.raises(SplitError) as error:
        check_seed(5, Split.TEST_EXAMS, what="held-out exam seed")
    text = str(error.value)
    assert "held-out exam seed 5 is in TRAIN" in text and "TEST_EXAMS [2,000,000, 2,100,000)" in text
    assert isinstance(error.value, MammoedgeError)
    with pytest.raises(SplitError, match="no split"):
        check_seed(3_500_000, Split.TEST)
    with pytest.raises(SplitError):
        Split.TRAIN.offset(10_000)  # past the split's end
