"""The BI-RADS category a cluster suggests: morphology x distribution, written down as a table.

Following the ACR BI-RADS Atlas, 5th ed. (2013), mammography, calcifications:
the morphology sets the level (positive predictive values quoted there:
coarse heterogeneous ~13 %, amorphous ~20 %, fine pleomorphic ~29 %: 4B;
fine linear or fine-linear branching ~70 %: 4C) and the distribution moves
it: linear and segmental raise suspicion (ductal spread), regional and
diffuse lower it, but a suspicious morphology stays suspicious (at least 4A)
in every distribution: only diffuse punctate or round calcifications (here:
the typically benign row) are typically benign. Typically benign morphology
is category 2, except one group of punctate or round calcifications, which
the Atlas allows as probably benign (3). The table is this software's
reading of those statements, not an Atlas table.
"""

from __future__ import annotations

from ..codes import BiradsCategory as C
from ..codes import Distribution as D
from ..codes import Morphology, MorphologyClass as M

#: rows: reported morphology class; columns: distribution.
RULE: dict[M, dict[D, C]] = {
    M.AMORPHOUS: {D.DIFFUSE: C.SUSPICIOUS_LOW, D.REGIONAL: C.SUSPICIOUS_LOW, D.GROUPED: C.SUSPICIOUS_MODERATE,
                  D.LINEAR: C.SUSPICIOUS_MODERATE, D.SEGMENTAL: C.SUSPICIOUS_HIGH},
    M.COARSE_HETEROGENEOUS: {D.DIFFUSE: C.SUSPICIOUS_LOW, D.REGIONAL: C.SUSPICIOUS_LOW, D.GROUPED: C.SUSPICIOUS_MODERATE,
                             D.LINEAR: C.SUSPICIOUS_MODERATE, D.SEGMENTAL: C.SUSPICIOUS_HIGH},
    M.FINE_PLEOMORPHIC: {D.DIFFUSE: C.SUSPICIOUS_LOW, D.REGIONAL: C.SUSPICIOUS_MODERATE,
                         D.GROUPED: C.SUSPICIOUS_MODERATE, D.LINEAR: C.SUSPICIOUS_HIGH, D.SEGMENTAL: C.SUSPICIOUS_HIGH},
    M.FINE_LINEAR_BRANCHING: {D.DIFFUSE: C.SUSPICIOUS_MODERATE, D.REGIONAL: C.SUSPICIOUS_HIGH,
                              D.GROUPED: C.SUSPICIOUS_HIGH, D.LINEAR: C.HIGHLY_SUGGESTIVE,
                              D.SEGMENTAL: C.HIGHLY_SUGGESTIVE},
    M.TYPICALLY_BENIGN: {d: C.BENIGN for d in (D.DIFFUSE, D.REGIONAL, D.GROUPED, D.LINEAR, D.SEGMENTAL)},
}

#: Typically benign subtypes whose single group is probably benign (3) rather than benign (2).
PROBABLY_BENIGN_WHEN_GROUPED = frozenset({Morphology.PUNCTATE, Morphology.ROUND})


def suggest(morphology: M, distribution: D, benign_subtype: Morphology | None = None) -> C:
    """The category for a cluster; a single calcification is read as grouped would be."""
    column = D.GROUPED if distribution is D.SINGLE else distribution
    if (morphology is M.TYPICALLY_BENIGN and column is D.GROUPED
            and benign_subtype in PROBABLY_BENIGN_WHEN_GROUPED):
        return C.PROBABLY_BENIGN
    return RULE[morphology][column]
