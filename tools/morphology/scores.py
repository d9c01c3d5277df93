"""The flag's findings scored as issue 23 scores them, from the exam result a box writes.

A reported cluster *counts at the operating point* when it may raise the flag (``counts_toward_flag``: its
suggested BI-RADS category, or its uncertainty) and its suspicion is at least the triage operating point.
It *hits* a planted cluster when its ``centroid_original_x/y`` lies in that cluster's ``bbox_px`` (stored
pixels) widened by ``BOX_MARGIN_MM`` on every side; a counted cluster inside no planted cluster's box is a
false positive (one on a benign planted cluster is neither). Truths are suspicious clusters per view
("lesion-views"); breasts are positive when a suspicious cluster of >= 5 calcifications was planted in
them. Proportions carry Wilson 95 % intervals, false positives per view an exact Poisson interval.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mammoedge.runtime.analysis.clusters import counts_toward_flag
from mammoedge.runtime.codes import Morphology

from ..phantom.truth import ClusterInView, ExamTruth, ViewTruth

#: A cluster's box (stored pixels) is widened by this on every side (mm at the breast).
BOX_MARGIN_MM = 5.0
Z95 = 1.959964


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of k successes in n."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _poisson_cdf(k: int, mu: float) -> float:
    term = total = math.exp(-mu)
    for i in range(1, k + 1):
        term *= mu / i
        total += term
    return total


def poisson_interval(k: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson mean given k events, by bisection on the CDF."""
    def solve(target: float, kk: int) -> float:
        lo, hi = 0.0, 10.0 + 10.0 * kk
        for _ in range(100):
            mid = (lo + hi) / 2
            if _poisson_cdf(kk, mid) > target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2
    lower = 0.0 if k == 0 else solve(1 - alpha / 2, k - 1)
    return lower, solve(alpha / 2, k)


def in_box(cluster: ClusterInView, x: float, y: float, margin_px: float) -> bool:
    x0, y0, x1, y1 = cluster.bbox_px
    return x0 - margin_px <= x <= x1 + margin_px and y0 - margin_px <= y <= y1 + margin_px


@dataclass
class Tally:
    """Counts of one exam set (``add`` one exam at a time)."""

    views: int = 0
    lesion_views: list[dict[str, Any]] = field(default_factory=list)  #: per suspicious truth: labels + found
    false_positives: int = 0
    benign_reported: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    breasts: list[tuple[bool, bool]] = field(default_factory=list)  #: (positive, flagged)
    reported_per_normal_view: list[int] = field(default_factory=list)
    by_vendor: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))

    def add(self, truth: ExamTruth, result: Any, *, operating_point: float, min_birads: str,
            flag_uncertain: bool) -> None:
        morph = truth.morphology_of()
        by_id = {c.cluster_id: c for side in truth.clusters.values() for c in side}
        analyses = {(v.laterality.value, v.view.value): v for v in result.views}
        for view in truth.views:
            analysis = analyses.get((view.laterality, view.view))
            if analysis is None:
                continue
            self.views += 1
            self._add_view(truth, view, analysis, morph, by_id, operating_point, min_birads, flag_uncertain)
        flagged = {b.laterality.value: b.flagged for b in result.breasts}
        for laterality in ("R", "L"):
            if laterality not in flagged:
                continue
            positive = any(c.morphology.suspicious and c.n_calcifications >= 5
                           for c in truth.clusters.get(laterality, ()))
            self.breasts.append((positive, flagged[laterality]))
            self.by_vendor[truth.vendor][0 if positive else 1] += int(flagged[laterality] == positive)
            self.by_vendor[truth.vendor][2] += 1

    def _add_view(self, truth: ExamTruth, view: ViewTruth, analysis: Any, morph: dict[int, Morphology],
                  by_id: dict[int, Any], operating_point: float, min_birads: str, flag_uncertain: bool) -> None:
        margin = BOX_MARGIN_MM / view.pixel_spacing_mm
        counted = [c for c in analysis.clusters
                   if c.suspicion >= operating_point and counts_toward_flag(c, min_birads, flag_uncertain)]

        def where(cluster: Any) -> list[ClusterInView]:
            x, y = cluster.centroid_original_x, cluster.centroid_original_y
            return [] if x is None or y is None else [t for t in view.clusters if in_box(t, x, y, margin)]

        counted_at = [where(c) for c in counted]
        reported_at = [where(c) for c in analysis.clusters]
        self.false_positives += sum(1 for boxes in counted_at if not boxes)
        if not view.clusters:
            self.reported_per_normal_view.append(len(analysis.clusters))
        for t in view.clusters:
            m = morph[t.cluster_id]
            found = any(t in boxes for boxes in counted_at)
            if m.suspicious:
                planted = by_id[t.cluster_id]
                self.lesion_views.append({
                    "morphology": m.value, "distribution": planted.distribution.value, "vendor": truth.vendor,
                    "members": len(t.calcifications), "found": found,
                    "reported": any(t in boxes for boxes in reported_at),
                    "exam": truth.exam_index, "view": f"{view.laterality}{view.view}",
                    "cluster_id": t.cluster_id})
            elif by_id[t.cluster_id].n_calcifications >= 5:
                self.benign_reported[m.value][0] += int(found)
                self.benign_reported[m.value][1] += 1

    def report(self) -> dict[str, Any]:
        """Figures with their 95 % intervals (JSON-ready)."""
        def rate(k: int, n: int) -> dict[str, Any]:
            lo, hi = wilson(k, n)
            return {"k": k, "n": n, "value": round(k / n, 4) if n else None,
                    "ci95": [round(lo, 4), round(hi, 4)] if n else None}

        def groups(key: str, what: str) -> dict[str, Any]:
            out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            for row in self.lesion_views:
                out[row[key]][0] += int(row[what])
                out[row[key]][1] += 1
            return {k: rate(*v) for k, v in sorted(out.items())}

        found = sum(r["found"] for r in self.lesion_views)
        reported = sum(r["reported"] for r in self.lesion_views)
        fp_lo, fp_hi = poisson_interval(self.false_positives)
        pos = [f for p, f in self.breasts if p]
        neg = [not f for p, f in self.breasts if not p]
        normal = self.reported_per_normal_view
        return {
            "views": self.views,
            "suspicious_sensitivity": rate(found, len(self.lesion_views)),
            "suspicious_ceiling_any_reported_cluster": rate(reported, len(self.lesion_views)),
            "fp_clusters_per_view": {"k": self.false_positives, "n": self.views,
                                     "value": round(self.false_positives / max(1, self.views), 4),
                                     "ci95": [round(fp_lo / max(1, self.views), 4),
                                              round(fp_hi / max(1, self.views), 4)]},
            "by_morphology": groups("morphology", "found"),
            "by_distribution": groups("distribution", "found"),
            "by_vendor": groups("vendor", "found"),
            "benign_clusters_counted": {k: rate(*v) for k, v in sorted(self.benign_reported.items())},
            "breast_flag_sensitivity": rate(sum(pos), len(pos)),
            "breast_flag_specificity": rate(sum(neg), len(neg)),
            "reported_clusters_per_normal_view": round(sum(normal) / len(normal), 4) if normal else None,
            "missed": [{k: r[k] for k in ("exam", "view", "cluster_id", "morphology", "distribution", "members",
                                          "reported")} for r in self.lesion_views if not r["found"]],
        }


def score(pairs: Iterable[tuple[ExamTruth, Any]], *, operating_point: float, min_birads: str,
          flag_uncertain: bool) -> dict[str, Any]:
    """The report of ``(truth, exam result)`` pairs at one operating point."""
    tally = Tally()
    for truth, result in pairs:
        tally.add(truth, result, operating_point=operating_point, min_birads=min_birads,
                  flag_uncertain=flag_uncertain)
    return tally.report()


def headline(report: dict[str, Any], names: Sequence[str] = (
        "suspicious_sensitivity", "fp_clusters_per_view", "breast_flag_sensitivity",
        "breast_flag_specificity")) -> str:
    """One line of the main figures."""
    parts = []
    for name in names:
        row = report[name]
        ci = "-".join(str(v) for v in row["ci95"]) if row["ci95"] else "n/a"
        parts.append(f"{name} {row['value']} ({ci}; {row['k']}/{row['n']})")
    return "; ".join(parts)
