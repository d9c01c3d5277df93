"""The fuzz harness in CI (a few hundred files) and in full (10,000 files, marked slow): see ``fuzz.py``."""

from __future__ import annotations

import pytest
from fuzz import PLANTED, leaks, run


def _check(count: int, seed: int) -> None:
    figures = run(count, seed)
    assert figures.files == count
    assert figures.untyped == [], figures.untyped[:10]
    assert figures.over_limit == 0, f"max {figures.max_s:.2f} s"
    assert figures.leaks == [], figures.leaks[:10]
    assert len(figures.rejected_by_reason) >= 6  # the mutations reach many different rules
    assert figures.accepted > 0


def test_the_leak_detector_finds_planted_pieces():
    assert leaks(f"ImageLaterality {PLANTED['PatientID']!r} is not one breast")
    assert leaks("value ..." + PLANTED["SOPInstanceUID"][5:17] + "...")
    assert not leaks("SOP Class '1.2.840.10008.5.1.4.1.1.2' (CT Image Storage) is not accepted")


def test_fuzz_short():
    _check(300, seed=16)


@pytest.mark.slow
@pytest.mark.harness
def test_fuzz_10000():
    _check(10_000, seed=10_000)
