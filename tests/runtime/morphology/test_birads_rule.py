"""The BI-RADS suggestion table on hand-made cases."""

import pytest

from mammoedge.runtime.codes import BiradsCategory as C
from mammoedge.runtime.codes import Distribution as D
from mammoedge.runtime.codes import Morphology, MorphologyClass as M
from mammoedge.runtime.morphology import RULE, suggest


@pytest.mark.parametrize("morphology, distribution, subtype, expected", [
    (M.FINE_LINEAR_BRANCHING, D.SEGMENTAL, None, C.HIGHLY_SUGGESTIVE),  # casting type along a duct: 5
    (M.FINE_LINEAR_BRANCHING, D.LINEAR, None, C.HIGHLY_SUGGESTIVE),
    (M.FINE_LINEAR_BRANCHING, D.GROUPED, None, C.SUSPICIOUS_HIGH),
    (M.FINE_PLEOMORPHIC, D.GROUPED, None, C.SUSPICIOUS_MODERATE),
    (M.FINE_PLEOMORPHIC, D.SEGMENTAL, None, C.SUSPICIOUS_HIGH),
    (M.AMORPHOUS, D.GROUPED, None, C.SUSPICIOUS_MODERATE),
    (M.AMORPHOUS, D.DIFFUSE, None, C.SUSPICIOUS_LOW),  # a suspicious morphology stays suspicious (issue 23)
    (M.AMORPHOUS, D.REGIONAL, None, C.SUSPICIOUS_LOW),
    (M.COARSE_HETEROGENEOUS, D.DIFFUSE, None, C.SUSPICIOUS_LOW),
    (M.COARSE_HETEROGENEOUS, D.REGIONAL, None, C.SUSPICIOUS_LOW),
    (M.TYPICALLY_BENIGN, D.GROUPED, Morphology.PUNCTATE, C.PROBABLY_BENIGN),  # one group of punctate: 3
    (M.TYPICALLY_BENIGN, D.DIFFUSE, Morphology.PUNCTATE, C.BENIGN),
    (M.TYPICALLY_BENIGN, D.GROUPED, Morphology.VASCULAR, C.BENIGN),
    (M.AMORPHOUS, D.SINGLE, None, C.SUSPICIOUS_MODERATE),  # a single one reads as grouped
])
def test_rule_table(morphology, distribution, subtype, expected):
    assert suggest(morphology, distribution, subtype) is expected


def test_every_suspicious_class_is_at_least_4a_in_every_distribution_and_distribution_orders_it():
    for morphology in (M.AMORPHOUS, M.COARSE_HETEROGENEOUS, M.FINE_PLEOMORPHIC, M.FINE_LINEAR_BRANCHING):
        row = RULE[morphology]
        assert min(c.rank for c in row.values()) >= C.SUSPICIOUS_LOW.rank
        assert row[D.DIFFUSE].rank <= row[D.REGIONAL].rank <= row[D.GROUPED].rank <= row[D.SEGMENTAL].rank
    assert all(c is C.BENIGN for c in RULE[M.TYPICALLY_BENIGN].values())
