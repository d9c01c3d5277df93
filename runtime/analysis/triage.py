"""Per-breast case score and the triage flag; CC/MLO cluster pairing for clock position and quadrant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..codes import BiradsCategory, Laterality, View
from .clusters import CENTRAL_BAND_MM
from .geometry import DepthThird, Quadrant, clock_position, depth_third, quadrant
from .view import ViewAnalysis

#: A CC and an MLO cluster are taken as one lesion when their nipple distances differ by at most this (mm).
PAIR_TOLERANCE_MM = 15.0
#: The rule, stated in every result.
RULE = ("flag a breast when its case score >= operating point; case score = the highest detection suspicion "
        "among its clusters that count: with morphology assessed, a cluster counts when it suggests BI-RADS >= "
        "{min_birads}{uncertain}; without, every cluster counts")


def rule_text(min_birads: BiradsCategory | str, flag_uncertain: bool) -> str:
    return RULE.format(min_birads=BiradsCategory(min_birads).value,
                       uncertain=" or its morphology is uncertain" if flag_uncertain else "")


@dataclass(frozen=True, kw_only=True)
class ClusterLocation:
    """One lesion seen in both views: CC gives lateral/medial, MLO superior/inferior."""

    cc_cluster: int
    mlo_cluster: int
    clock_hour: int
    quadrant: Quadrant
    depth: DepthThird


@dataclass(frozen=True, kw_only=True)
class BreastAssessment:
    laterality: Laterality
    case_score: float
    flagged: bool
    views: tuple[View, ...]
    locations: tuple[ClusterLocation, ...]


@dataclass(frozen=True, kw_only=True)
class Triage:
    flagged: bool
    score: float
    operating_point: float
    rule: str


def locate_pairs(cc: ViewAnalysis, mlo: ViewAnalysis) -> tuple[ClusterLocation, ...]:
    """Greedy pairing, most suspicious first, of CC and MLO clusters at similar distance from the nipple."""
    used: set[int] = set()
    pairs: list[ClusterLocation] = []
    for a in cc.clusters:
        best = None
        for b in mlo.clusters:
            gap = abs(a.distance_to_nipple_mm - b.distance_to_nipple_mm)
            if b.id not in used and gap <= PAIR_TOLERANCE_MM and (best is None or gap < best[0]):
                best = (gap, b)
        if best is None:
            continue
        b = best[1]
        used.add(b.id)
        lateral = -(a.centroid_y_mm - cc.nipple_y * cc.spacing_mm)
        superior = -(b.centroid_y_mm - mlo.nipple_y * mlo.spacing_mm)
        pairs.append(ClusterLocation(
            cc_cluster=a.id, mlo_cluster=b.id, clock_hour=clock_position(cc.laterality, lateral, superior),
            quadrant=quadrant(lateral, superior, CENTRAL_BAND_MM),
            depth=depth_third(a.centroid_x, cc.nipple_x),
        ))
    return tuple(pairs)


def assess(views: Sequence[ViewAnalysis], operating_point: float, rule: str = rule_text("4A", True)
           ) -> tuple[tuple[BreastAssessment, ...], Triage]:
    """Breast case scores (max view score, see ``counts_toward_flag``) and the exam's flag at ``operating_point``."""
    breasts = []
    for laterality in (Laterality.RIGHT, Laterality.LEFT):
        own = [v for v in views if v.laterality is laterality]
        if not own:
            continue
        score = max(v.score for v in own)
        cc = next((v for v in own if v.view is View.CC), None)
        mlo = next((v for v in own if v.view is View.MLO), None)
        breasts.append(BreastAssessment(
            laterality=laterality, case_score=score, flagged=score >= operating_point,
            views=tuple(v.view for v in own),
            locations=locate_pairs(cc, mlo) if cc is not None and mlo is not None else (),
        ))
    score = max((b.case_score for b in breasts), default=0.0)
    return tuple(breasts), Triage(flagged=any(b.flagged for b in breasts), score=score,
                                  operating_point=operating_point, rule=rule)
