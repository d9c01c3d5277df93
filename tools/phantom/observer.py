"""What a phantom view holds about its suspicious clusters, apart from any detector (``mammoedge evaluate observer``).

``ExamPlan.render`` draws each view with all its calcifications, with none, and with
each suspicious cluster alone (same anatomy, same noise), so every planted cluster's
signal is known exactly. At the
runtime's 0.1 mm (area resampling of the rendered image, before any vendor encoding),
with the noise power spectrum measured on the view's own background (breast at least
10 mm inside the skin and 12.8 mm inside the image edge, 256-px tiles), a prewhitened matched filter that knows a
cluster's exact pattern gives

- *known location*: d' of the whole cluster and of each member alone (the filter's
  signal-to-noise at the true position: how far the image holds the finding);
- *searched* (pattern known, location not): the filter's response at the cluster, in
  the robust standard deviations of the same filter over the view's background breast
  (where the whole template lies 10 mm inside the skin), against that background's local
  maxima (10 mm apart), pooled over views into a sensitivity at false positives per view.

For Gaussian stationary noise the first is the ideal observer's d'. The second shows
what a linear observer loses to the phantom's non-stationary anatomy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mammoedge.runtime.codes import Morphology

from ..exams import EXAM_SPLITS, PROFILES, parse_profiles
from ..splits import Split, check_seed

SUSPICIOUS = frozenset(m.value for m in Morphology if m.suspicious)

SPACING_MM = 0.1
TILE = 256
#: Background statistics and maxima only this far inside the skin line (mm).
INNER_MM = 10.0
#: Local maxima of the searched filter at least this far apart (mm), as one cluster apart.
MAXIMA_WINDOW_MM = 10.0
#: A member's own template: the cluster signal within this radius of it (px at 0.1 mm).
MEMBER_RADIUS_PX = 8
#: The cluster template fades to 0 over this many px at the tile's edge (no cut edges, whose sharp
#: spectrum the prewhitening would amplify).
TAPER_PX = 20
FP_RATES = (0.1, 0.2, 0.5, 1.0, 2.0)


def resample(image: np.ndarray, spacing_mm: float, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """``image`` at ``spacing_mm`` resampled to 0.1 mm."""
    h, w = image.shape
    size = (int(round(w * spacing_mm / SPACING_MM)), int(round(h * spacing_mm / SPACING_MM)))
    return cv2.resize(image, size, interpolation=interpolation)


def background_nps(background: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, int]:
    """Noise power spectrum (TILE x TILE, FFT layout; per-frequency pixel variance) of ``background`` from
    half-overlapping tiles lying wholly in ``region``, plane-detrended and Hann-windowed; and the tile count."""
    window = np.outer(np.hanning(TILE), np.hanning(TILE))
    yy, xx = np.mgrid[0:TILE, 0:TILE]
    design = np.stack([np.ones(TILE * TILE), xx.ravel(), yy.ravel()], 1)
    total, count = np.zeros((TILE, TILE)), 0
    for y in range(0, background.shape[0] - TILE + 1, TILE // 2):
        for x in range(0, background.shape[1] - TILE + 1, TILE // 2):
            if not region[y:y + TILE, x:x + TILE].all():
                continue
            tile = background[y:y + TILE, x:x + TILE].astype(np.float64).ravel()
            tile = tile - design @ np.linalg.lstsq(design, tile, rcond=None)[0]
            total += np.abs(np.fft.fft2(tile.reshape(TILE, TILE) * window)) ** 2
            count += 1
    return total / max(count, 1) / float((window ** 2).sum()), count


def _tukey(n: int, ramp: int) -> np.ndarray:
    """1 in the middle, raised-cosine ramps of ``ramp`` samples to 0 at both ends."""
    w = np.ones(n)
    edge = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
    w[:ramp], w[n - ramp:] = edge, edge[::-1]
    return w


def known_location_dprime(template: np.ndarray, nps: np.ndarray) -> float:
    """d' of ``template`` (TILE x TILE) at a known position in stationary noise of spectrum ``nps``."""
    return float(np.sqrt(np.mean(np.abs(np.fft.fft2(template)) ** 2 / nps)))


def prewhitened_template(template: np.ndarray, nps: np.ndarray) -> np.ndarray:
    """The prewhitened matched filter K^-1 s of ``template``, centred like it."""
    return np.real(np.fft.ifft2(np.fft.fft2(template) / nps)).astype(np.float32)


def view_clusters(rendered: Any, background: np.ndarray, signals: dict[int, np.ndarray],
                  morphology_of: dict[int, str]) -> list[dict]:
    """Per suspicious cluster of one rendered view (``signals``: cluster id -> its render alone minus
    ``background``, at the render's spacing): members, known-location d' (cluster, members) and the searched
    filter's z at the cluster with the z of the background's local maxima (descending)."""
    spacing = rendered.spacing_mm
    image = resample(rendered.image, spacing)
    bg = resample(background, spacing)
    inside = resample(rendered.inside.astype(np.uint8), spacing, cv2.INTER_NEAREST)
    inner_px = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    inner_px[:TILE // 2] = inner_px[-TILE // 2:] = 0  # the searched filter's support stays inside the image
    inner_px[:, :TILE // 2] = inner_px[:, -TILE // 2:] = 0
    region = inner_px > INNER_MM / SPACING_MM
    nps, tiles = background_nps(bg, region)
    if tiles < 4:  # too little breast to measure the noise
        return []
    nps = np.maximum(nps, 1e-12 * nps.max())
    scale = spacing / SPACING_MM
    members: dict[int, list[tuple[float, float]]] = {}
    for calc in rendered.calcs:
        members.setdefault(calc.cluster_id, []).append(((calc.x + 0.5) * scale - 0.5, (calc.y + 0.5) * scale - 0.5))
    window = int(MAXIMA_WINDOW_MM / SPACING_MM) | 1
    half = TILE // 2
    yy, xx = np.mgrid[0:TILE, 0:TILE]
    taper = np.outer(*(2 * [_tukey(TILE, TAPER_PX)]))
    out = []
    for cluster_id, points in sorted(members.items()):
        if morphology_of.get(cluster_id) not in SUSPICIOUS or cluster_id not in signals:
            continue
        pts = np.array(points)
        # the tile holding most members (a cluster wider than the tile is represented by its densest part),
        # centred on their centroid; the cluster's own signal there, tapered to 0 at the tile's edge
        inner = half - TAPER_PX
        near = np.abs(pts[:, None] - pts[None]).max(axis=-1) < inner
        cx, cy = (int(v) for v in pts[near[np.argmax(near.sum(axis=1))]].mean(axis=0))
        signal = resample(signals[cluster_id], spacing)
        x0, y0 = max(cx - half, 0), max(cy - half, 0)
        x1, y1 = min(cx + half, image.shape[1]), min(cy + half, image.shape[0])
        template = np.zeros((TILE, TILE))
        template[y0 - cy + half:y1 - cy + half, x0 - cx + half:x1 - cx + half] = signal[y0:y1, x0:x1]
        template *= taper
        if not template.any():
            continue
        in_tile = [(px, py) for px, py in pts if max(abs(px - cx), abs(py - cy)) < inner]
        member_d = [known_location_dprime(template * ((xx - (px - cx + half)) ** 2 + (yy - (py - cy + half)) ** 2
                                                      <= MEMBER_RADIUS_PX ** 2), nps) for px, py in in_tile]
        kernel = prewhitened_template(template, nps)
        response = cv2.filter2D(bg, cv2.CV_32F, kernel, anchor=(half, half), borderType=cv2.BORDER_REFLECT)
        rows, cols = np.nonzero(template)
        support = float(np.hypot(rows - half, cols - half).max())
        searched = inner_px > INNER_MM / SPACING_MM + support  # the whole template over breast, away from the skin
        if searched.sum() < 1e4:  # under 1 cm2 to search: no background to judge the cluster against
            continue
        values = response[searched]
        centre = float(np.median(values))
        spread = 1.4826 * float(np.median(np.abs(values - centre)))
        z_bg = (response - centre) / spread
        peaks = (z_bg >= cv2.dilate(z_bg, np.ones((window, window), np.uint8))) & searched
        at = cv2.filter2D(image[max(cy - half - 2, 0):cy + half + 3, max(cx - half - 2, 0):cx + half + 3],
                          cv2.CV_32F, kernel, anchor=(half, half), borderType=cv2.BORDER_REFLECT)
        oy, ox = cy - max(cy - half - 2, 0), cx - max(cx - half - 2, 0)
        z_true = (float(at[oy - 2:oy + 3, ox - 2:ox + 3].max()) - centre) / spread
        out.append({"cluster_id": int(cluster_id), "morphology": morphology_of[cluster_id], "members": len(pts),
                    "members_in_template": len(in_tile),
                    "dprime": round(known_location_dprime(template, nps), 2),
                    "member_dprime_median": round(float(np.median(member_d)), 2) if member_d else None,
                    "z_searched": round(z_true, 2),
                    "background_maxima": [round(float(v), 2) for v in np.sort(z_bg[peaks])[::-1][:20]]})
    return out


def observe_exam(seed: int, index: int, profile: str) -> list[dict]:
    """``view_clusters`` for every view of one phantom exam that holds a suspicious cluster."""
    from .exam import VIEW_ORDER, plan_exam

    plan = plan_exam(seed=seed, index=index, profile=profile, size="full")
    morphology_of = {c.cluster_id: c.morphology.value for side in plan.clusters.values() for c in side}
    rows = []
    for number, (lat, view) in enumerate(VIEW_ORDER, start=1):
        if not any(morphology_of.get(c.cluster_id) in SUSPICIOUS for c in plan.placed[lat]):
            continue
        rendered, _ = plan.render(number)
        background = plan.render(number, cluster_ids=())[0].image
        suspicious = {c.cluster_id for c in plan.placed[lat] if morphology_of.get(c.cluster_id) in SUSPICIOUS}
        signals = {cid: plan.render(number, cluster_ids={cid})[0].image - background for cid in suspicious}
        for row in view_clusters(rendered, background, signals, morphology_of):
            rows.append({"exam": index, "view": f"{lat}{view}", "vendor": plan.profile.name,
                         "density": plan.density.value, **row})
    return rows


def searched_sensitivity(rows: list[dict[str, Any]], rates: tuple[float, ...] = FP_RATES
                         ) -> dict[str, dict[str, Any]]:
    """Per FP rate and morphology, [found, total]: a cluster is found when its z exceeds the threshold at which
    the pooled background maxima (one searched filter per cluster) reach that many per view."""
    maxima = np.sort(np.concatenate([r["background_maxima"] for r in rows] or [np.zeros(0)]))[::-1]
    out = {}
    for rate in rates:
        k = int(np.floor(rate * len(rows)))
        threshold = float(maxima[k]) if k < len(maxima) else -np.inf
        groups: dict[str, list[int]] = {}
        for r in rows:
            group = groups.setdefault(r["morphology"], [0, 0])
            group[0] += int(r["z_searched"] > threshold)
            group[1] += 1
        out[str(rate)] = {"threshold_z": round(threshold, 2), **dict(sorted(groups.items()))}
    return out


def summarize(rows: list[dict]) -> dict:
    """Per morphology: clusters, median and minimum cluster d', median member d', median searched z."""
    out = {}
    for morphology in sorted({r["morphology"] for r in rows}):
        group = [r for r in rows if r["morphology"] == morphology]
        d = np.array([r["dprime"] for r in group])
        out[morphology] = {"clusters": len(group), "dprime_median": round(float(np.median(d)), 1),
                           "dprime_min": round(float(d.min()), 1),
                           "member_dprime_median": round(float(np.median(
                               [r["member_dprime_median"] for r in group
                                if r["member_dprime_median"] is not None])), 1),
                           "z_searched_median": round(float(np.median([r["z_searched"] for r in group])), 1),
                           "views_with_a_background_maximum_above_10": sum(
                               bool(r["background_maxima"]) and r["background_maxima"][0] > 10 for r in group)}
    return out


def observe(out_dir: Path, *, count: int, seed: int, profiles: tuple[str, ...], workers: int = 2,
            progress: bool = True) -> dict:
    """Run the observer on ``count`` exams (profiles in turn, as ``make_heldout_exams``); write observer.json."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    rows: list[dict] = []
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        jobs = [pool.submit(observe_exam, seed, i, profiles[i % len(profiles)]) for i in range(count)]
        for job in tqdm(jobs, desc="observer", unit="exam", disable=not progress):
            rows.extend(job.result())
    report = {"exams": count, "seed": seed, "spacing_mm": SPACING_MM, "by_morphology": summarize(rows),
              "searched_sensitivity_at_fp": searched_sensitivity(rows), "clusters": rows}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "observer.json").write_text(json.dumps(report, indent=1))
    return report


def add_observer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("build/detector/observer"))
    parser.add_argument("--exams", type=int, default=64, help="phantom exams (rendered, not written)")
    parser.add_argument("--exam-seed", type=int, default=Split.TEST_EXAMS.seed,
                        help="exam seed, one of the exam splits (the same exams as evaluate detector's with it)")
    parser.add_argument("--profiles", default=",".join(PROFILES), help="vendor profiles, in turn")
    parser.add_argument("--workers", type=int, default=2)


def observer_command(args: argparse.Namespace) -> int:
    check_seed(args.exam_seed, *EXAM_SPLITS, what="exam seed")
    report: dict[str, Any] = observe(args.out, count=args.exams, seed=args.exam_seed,
                                     profiles=parse_profiles(args.profiles), workers=args.workers)
    print(f"{len(report['clusters'])} suspicious clusters in views of {args.exams} exams; known-location d' "
          f"(median, min), member d' median, searched z median:")
    for morphology, row in report["by_morphology"].items():
        print(f"  {morphology:24s} {row['clusters']:4d}  {row['dprime_median']:7.1f} {row['dprime_min']:7.1f}"
              f"  {row['member_dprime_median']:6.1f}  {row['z_searched_median']:6.1f}")
    print("searched, pattern known (found/total) at false positives per view:")
    for rate, row in report["searched_sensitivity_at_fp"].items():
        print(f"  {rate:>4s} (z > {row['threshold_z']}): " + ", ".join(
            f"{m} {v[0]}/{v[1]}" for m, v in row.items() if m != "threshold_z"))
    print(f"wrote {args.out / 'observer.json'}")
    return 0
