"""What the SIMULATED cohort's images hold about the planted texture asymmetry, apart from any model
(``mammoedge evaluate risk-observer``).

The phantom plants a texture asymmetry as a 3-D Gaussian blob added to one breast's glandular propensity
(``cohort.add_asymmetry``); each view's glandular fraction is a soft threshold of independent power-law fields
plus that propensity, so the blob raises the local mean density (and shifts the texture's local contrast). The
observer compares the registered left view with the mirrored right view of one projection, exactly as the
model's asymmetry map does (runtime/risk/input.py), and reports the share of texture-asymmetry projections whose
top window (the model's 6 x 6-cell windows of 48 px, their centres on an 8-px grid) lies on the planted region
(evaluate.py's criterion):

- *box mean*: the window mean of the left-minus-right difference (each breast centred by its mean), ``|.|``;
- *channelized Hotelling* (the standard approximation of the ideal linear observer in imaging): the difference
  seen through channels (Gaussian smoothings of it at several scales, which together make any radial filter a
  prewhitened matched filter could be, and local texture-energy differences), one template ``K^-1 dmu`` fitted on
  training exams (signal: the channels at the planted centre; noise: at the candidate centres of symmetric
  exams), scanned over the candidates; ``|t|`` when the side is not known, ``t`` signed when it is;
- *blob known exactly* (each exam rendered again without its blob, same random stream): the exam's own planted
  blob (its projection on the registered grid) as the template, matched and prewhitened by the natural
  difference's noise power spectrum, scanned over the difference image signed by the planted side. Only the
  location is unknown; the planted signal's response against the natural left-right difference's says how
  strong the blob is.

Nothing here is patient evidence: the cohort is a simulation (tools/phantom/cohort.py).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import enum
import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..exams import PROFILES
from ..phantom import cohort as phantom_cohort
from ..phantom import exam as phantom_exam
from ..splits import Split, check_seed
from .data import Cohort, Precursor, cached_cohort, cohort_exam
from .evaluate import STRIDE, WINDOW, planted_hits

#: Gaussian scales (input px, ~1.1 mm) of the difference channels; together they span the blob's size (~20 px)
MEAN_SIGMAS = (3.0, 6.0, 10.0, 16.0, 24.0)
#: texture channels (high-pass sigma, energy sigma): the residual of the image minus its Gaussian at the first
#: scale, its local log-energy smoothed at the second
TEXTURE = ((2.0, 8.0), (2.0, 16.0))
#: the breasts' common part, eroded by this many px (the model's two cells: no kept place sees an outline)
ERODE_PX = 16
GRID = (27, 21)  #: the model's window grid (centres at (k + WINDOW / 2) * STRIDE)
#: how many times the planted signal is made stronger in ``signal_scaled``
SCALES = (1.0, 2.0, 3.0, 4.0, 6.0)
CHANNELS = tuple(f"mean s{s:g}" for s in MEAN_SIGMAS) + tuple(f"texture hp{h:g} s{s:g}" for h, s in TEXTURE)


class Reading(enum.Enum):
    """How an observer reads its left-minus-right responses into a top window (``top_windows``)."""

    PER_PROJECTION = "per projection, side unknown"
    SIDE_KNOWN = "per projection, side known"
    TWO_VIEW = "CC and MLO jointly, side unknown"


@contextlib.contextmanager
def without_asymmetry() -> Iterator[None]:
    """Render cohort exams without their planted blob: ``add_asymmetry`` still draws its random numbers (so the
    rest of the exam is the same) but returns the volume unchanged."""
    original = phantom_cohort.add_asymmetry

    def drawn_not_added(rng: np.random.Generator, volume: np.ndarray) -> np.ndarray:
        original(rng, volume)
        return volume

    phantom_cohort.add_asymmetry = drawn_not_added  # type: ignore[assignment]
    try:
        yield
    finally:
        phantom_cohort.add_asymmetry = original  # type: ignore[assignment]


def texture_indices(split: Split, start: int, count: int, profiles: Sequence[str] = PROFILES) -> list[int]:
    """Indices ``start .. start + count - 1`` of ``split`` whose exam carries a texture asymmetry (planned only)."""
    seed = check_seed(split.seed, split, what=f"{split.name} seed")
    found = []
    for index in range(start, start + count):
        plan = phantom_exam.plan_exam(seed=seed, index=index, profile=profiles[index % len(profiles)],
                                      size="full", with_cohort=True)
        if plan.risk is not None and plan.risk.precursor == "texture_asymmetry":
            found.append(index)
    return found


def _pair(args: tuple[int, int, str]) -> tuple[dict[str, Any], np.ndarray]:
    """One exam as the cohort has it, and its four views rendered without the planted blob."""
    row = cohort_exam(*args)
    with without_asymmetry():
        clean = cohort_exam(*args)["views"]
    return row, clean


@dataclasses.dataclass(frozen=True)
class Counterfactual:
    """Texture-asymmetry exams as a ``Cohort`` and the same views without their blob (N, 4, 256, 208)."""

    exams: Cohort
    clean: np.ndarray
    indices: np.ndarray

    def save(self, path: Path) -> Path:
        self.exams.save(path.with_suffix(".exams.npz"))
        np.savez(path, clean=self.clean, indices=self.indices)
        return path

    @classmethod
    def load(cls, path: Path) -> Counterfactual:
        with np.load(path) as data:
            clean, indices = data["clean"], data["indices"]
        return cls(Cohort.load(path.with_suffix(".exams.npz")), clean, indices)


def counterfactual_exams(split: Split, start: int, count: int, workers: int = 1,
                         profiles: Sequence[str] = PROFILES) -> Counterfactual:
    """The texture-asymmetry exams among ``start .. start + count - 1`` of ``split``, with and without the blob."""
    indices = texture_indices(split, start, count, profiles)
    args = [(split.seed, i, profiles[i % len(profiles)]) for i in indices]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pairs = list(pool.map(_pair, args, chunksize=2))
    else:
        pairs = [_pair(a) for a in args]
    rows = [p[0] for p in pairs]
    exams = Cohort(views=np.stack([r["views"] for r in rows]),
                   density=np.array([r["density"] for r in rows], np.int64),
                   event_year=np.array([r["event_year"] for r in rows], np.int64),
                   precursor=np.array([r["precursor"] for r in rows], np.int64),
                   side=np.array([r["side"] for r in rows], np.int64),
                   asymmetry=np.stack([r["asymmetry"] for r in rows]), seed=split.seed)
    return Counterfactual(exams, np.stack([p[1] for p in pairs]), np.array(indices, np.int64))


def cached_counterfactual(path: Path, split: Split, start: int, count: int, workers: int) -> Counterfactual:
    if path.exists():
        return Counterfactual.load(path)
    made = counterfactual_exams(split, start, count, workers)
    made.save(path)
    return made


def _smooth(x: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian mean of ``x`` over ``mask`` (normalized convolution: the outside does not pull it down)."""
    num = cv2.GaussianBlur(x * mask, (0, 0), sigma)
    den = cv2.GaussianBlur(mask, (0, 0), sigma)
    return np.asarray(num / np.maximum(den, 1e-3), np.float32)


def common_mask(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Pixels inside both registered breasts, ``ERODE_PX`` from either outline or the image edge (float32)."""
    both = ((left > 0) & (right > 0)).astype(np.uint8)
    both = np.pad(both, ERODE_PX)  # the image edge counts as outline
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ERODE_PX + 1, 2 * ERODE_PX + 1))
    eroded = cv2.erode(both, kernel)[ERODE_PX:-ERODE_PX, ERODE_PX:-ERODE_PX]
    return eroded.astype(np.float32)


def _texture_energy(view: np.ndarray, mask: np.ndarray, sigma: float, highpass: float) -> np.ndarray:
    residual = view - _smooth(view, mask, highpass)
    return np.log(_smooth(residual * residual, mask, sigma) + 1e-4)


def channels(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(len(CHANNELS), H, W) left-minus-right channel maps of one projection and the common mask."""
    left, right = left.astype(np.float32), right.astype(np.float32)
    mask = common_mask(left, right)
    if mask.sum() < 1:
        return np.zeros((len(CHANNELS), *left.shape), np.float32), mask
    wide = ((left > 0) & (right > 0)).astype(np.float32)
    diff = (left - right) * wide
    diff -= float((diff * mask).sum() / mask.sum())  # each breast centred: a global level difference drops out
    out = [_smooth(diff, wide, s) for s in MEAN_SIGMAS]
    for h, s in TEXTURE:
        energy = _texture_energy(left, wide, s, h) - _texture_energy(right, wide, s, h)
        energy -= float((energy * mask).sum() / mask.sum())
        out.append(energy.astype(np.float32))
    return np.stack(out), mask


def box_mean(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The window mean (48 px box) of the centred left-minus-right difference over the common part."""
    mask = common_mask(left.astype(np.float32), right.astype(np.float32))
    diff = (left.astype(np.float32) - right.astype(np.float32)) * mask
    diff -= mask * float(diff.sum() / max(mask.sum(), 1.0))
    size = WINDOW * STRIDE
    return cv2.boxFilter(diff, -1, (size, size), normalize=False) / np.maximum(
        cv2.boxFilter(mask, -1, (size, size), normalize=False), 1.0), mask


def centres() -> tuple[np.ndarray, np.ndarray]:
    """Row and column (input px) of each window centre of the model's grid."""
    rows = ((np.arange(GRID[0]) + WINDOW / 2) * STRIDE).astype(int)
    cols = ((np.arange(GRID[1]) + WINDOW / 2) * STRIDE).astype(int)
    return rows, cols


def on_grid(response: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A pixel map sampled at the window centres; NaN where the centre is outside ``mask``."""
    rows, cols = centres()
    rows, cols = np.minimum(rows, response.shape[-2] - 1), np.minimum(cols, response.shape[-1] - 1)
    grid = response[..., rows[:, None], cols[None, :]]
    return np.where(mask[rows[:, None], cols[None, :]] > 0, grid, np.nan)


def projection_pairs(views: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(left, mirrored right) of CC and MLO from one exam's views in ``VIEW_ORDER`` (RCC, LCC, RMLO, LMLO)."""
    return [(views[1], views[0]), (views[3], views[2])]


def side_sign(side: int) -> float:
    """+1 when the asymmetry is in the left breast (left minus right is raised), -1 in the right."""
    return 1.0 if side == 1 else -1.0


@dataclasses.dataclass(frozen=True)
class Hotelling:
    """A channelized Hotelling template: ``t = w . c`` over the channel maps."""

    weights: np.ndarray
    names: tuple[str, ...]

    def response(self, chans: np.ndarray) -> np.ndarray:
        return np.tensordot(self.weights, chans, axes=1)


def fit_hotelling(asymmetric: Cohort, symmetric: Cohort, use: Sequence[int] | None = None,
                  ridge: float = 1e-3) -> Hotelling:
    """The template from training exams: signal = channels at the planted region's peak, signed by the side;
    noise = channels at the candidate centres of symmetric exams (and of the other side's sign)."""
    use = list(range(len(CHANNELS))) if use is None else list(use)
    signal, noise = [], []
    for i in range(len(asymmetric)):
        for k, (left, right) in enumerate(projection_pairs(asymmetric.views[i])):
            chans, _ = channels(left, right)
            r, c = np.unravel_index(int(np.argmax(asymmetric.asymmetry[i, k])), chans.shape[1:])
            signal.append(side_sign(int(asymmetric.side[i])) * chans[use, r, c])
    rows, cols = centres()
    for i in range(len(symmetric)):
        for left, right in projection_pairs(symmetric.views[i]):
            chans, mask = channels(left, right)
            grid = chans[use][:, rows[:, None], cols[None, :]].reshape(len(use), -1)
            keep = (mask[rows[:, None], cols[None, :]] > 0).ravel()
            noise.append(grid[:, keep].T)
    s, n = np.array(signal), np.concatenate(noise)
    n = np.concatenate([n, -n])  # the difference's sign is arbitrary without a planted side
    cov = np.cov(n.T) + ridge * np.eye(len(use))
    weights = np.linalg.solve(cov, s.mean(axis=0) - n.mean(axis=0))
    full = np.zeros(len(CHANNELS))
    full[use] = weights / np.linalg.norm(weights)
    return Hotelling(full, CHANNELS)


def signed_grids(exams: Cohort, template: Hotelling | None) -> np.ndarray:
    """(N, 2, 27, 21) left-minus-right responses at the window centres (NaN outside the common part): the
    Hotelling template's, or the box mean's (``None``)."""
    out = np.full((len(exams), 2, *GRID), np.nan)
    for i in range(len(exams)):
        for k, (left, right) in enumerate(projection_pairs(exams.views[i])):
            if template is None:
                response, mask = box_mean(left, right)
            else:
                chans, mask = channels(left, right)
                response = template.response(chans)
            out[i, k] = on_grid(response, mask)
    return out


def top_windows(grids: np.ndarray, exams: Cohort, how: Reading, prior: np.ndarray | None = None) -> np.ndarray:
    """Heatmaps whose argmax is the observer's top window in each projection (-inf where it cannot look):

    - ``PER_PROJECTION``: ``|t|`` in each projection by itself (the side unknown, as the model's map);
    - ``SIDE_KNOWN``: ``t`` signed by the planted side;
    - ``TWO_VIEW``: the side and the column chosen jointly for CC and MLO (the registered grid puts the chest
      wall and the nipple of both projections on the same columns, and a 3-D blob at one depth from the chest
      wall), the sum of the two projections' best windows in that column (MLO within one column); then each
      projection's row. ``prior``: (2, 27, 21) True where the training exams' planted regions ever lay.
    """
    grids = np.where(np.isfinite(grids), grids, np.nan)
    if prior is not None:
        grids = np.where(prior[None], grids, np.nan)
    if how is Reading.PER_PROJECTION:
        return np.nan_to_num(np.abs(grids), nan=-np.inf)
    signs = np.array([side_sign(int(s)) for s in exams.side])[:, None, None, None]
    if how is Reading.SIDE_KNOWN:
        return np.nan_to_num(signs * grids, nan=-np.inf)
    out = np.full(grids.shape, -np.inf)
    for i in range(len(grids)):
        best: tuple[float, float, int] = (-np.inf, 1.0, 0)
        for sign in (1.0, -1.0):
            g = np.nan_to_num(sign * grids[i], nan=-np.inf)
            cc, mlo = g[0].max(axis=0), g[1].max(axis=0)
            mlo = np.maximum(mlo, np.maximum(np.r_[-np.inf, mlo[:-1]], np.r_[mlo[1:], -np.inf]))
            joint = cc + mlo
            c = int(np.argmax(joint))
            if joint[c] > best[0]:
                best = (float(joint[c]), sign, c)
        _, sign, c = best
        g = np.nan_to_num(sign * grids[i], nan=-np.inf)
        out[i, 0, :, c] = g[0, :, c]
        near = slice(max(c - 1, 0), c + 2)
        out[i, 1, :, near] = g[1, :, near]
    return out


def region_prior(train: Cohort) -> np.ndarray:
    """(2, 27, 21) window centres that lay on a training exam's planted region (CC, MLO)."""
    rows, cols = centres()
    asym = train.asymmetry[train.precursor == Precursor.TEXTURE_ASYMMETRY].astype(np.float32)
    return np.asarray((asym[:, :, rows[:, None], cols[None, :]] >= 0.5).any(axis=0))


PAD = (512, 416)  #: FFT size of the prewhitened filter (twice the input grid: no wrap-around)


def _centred_difference(left: np.ndarray, right: np.ndarray, mask: np.ndarray) -> np.ndarray:
    diff = (left.astype(np.float32) - right.astype(np.float32)) * mask
    return diff - mask * float(diff.sum() / max(mask.sum(), 1.0))


def difference_nps(symmetric: Cohort) -> np.ndarray:
    """Noise power spectrum (``PAD``, rfft) of the natural left-minus-right difference over the common part of
    symmetric exams, per unit of masked area."""
    total, area = np.zeros((PAD[0], PAD[1] // 2 + 1)), 0.0
    for i in range(len(symmetric)):
        for left, right in projection_pairs(symmetric.views[i]):
            mask = common_mask(left.astype(np.float32), right.astype(np.float32))
            total += np.abs(np.fft.rfft2(_centred_difference(left, right, mask), s=PAD)) ** 2
            area += float(mask.sum())
    return total / max(area, 1.0)


def known_signal(case: Counterfactual, nps: np.ndarray) -> dict[str, Any]:
    """The exact planted signal (with minus without the blob, on the common part) as its own template, scanned
    over the left-minus-right difference signed by the planted side, as a matched filter and prewhitened by the
    natural difference's ``nps``: localization, and the signal's own response at its peak against the natural
    difference's largest response at a window centre off the region and against that response's spread."""
    exams = case.exams
    rows, cols = centres()
    whitening = 1.0 / np.maximum(nps, 1e-12)
    whitening[0, 0] = 0.0
    figures: dict[str, Any] = {}
    for label, spectrum in (("matched filter", np.ones_like(nps)), ("prewhitened matched filter", whitening)):
        maps = np.full((len(exams), 2, *GRID), -np.inf)
        ratio, over_sd = [], []
        for i in range(len(exams)):
            sign = side_sign(int(exams.side[i]))
            affected = 1 if exams.side[i] == 1 else 0
            for k, (left, right) in enumerate(projection_pairs(exams.views[i])):
                number = 2 * k + affected
                mask = common_mask(left.astype(np.float32), right.astype(np.float32))
                signal = (exams.views[i, number].astype(np.float32) - case.clean[i, number].astype(np.float32)) * mask
                shape = exams.asymmetry[i, k].astype(np.float32) * mask
                r0, c0 = np.unravel_index(int(np.argmax(shape)), shape.shape)
                template = np.conj(np.fft.rfft2(np.roll(np.pad(shape, ((0, PAD[0] - shape.shape[0]),
                                                                       (0, PAD[1] - shape.shape[1]))),
                                                        (-r0, -c0), axis=(0, 1)))) * spectrum

                def respond(image: np.ndarray, template: np.ndarray = template) -> np.ndarray:
                    full = np.fft.irfft2(np.fft.rfft2(image, s=PAD) * template, s=PAD)
                    return np.asarray(full[:image.shape[0], :image.shape[1]])

                clean_left, clean_right = projection_pairs(case.clean[i])[k]
                maps[i, k] = np.nan_to_num(on_grid(sign * respond(_centred_difference(left, right, mask)), mask),
                                           nan=-np.inf)
                natural = on_grid(sign * respond(_centred_difference(clean_left, clean_right, mask)), mask)
                peak = float(respond(signal)[r0, c0])
                region = exams.asymmetry[i, k].astype(np.float32)[rows[:, None], cols[None, :]] >= 0.5
                elsewhere = natural[np.isfinite(natural) & ~region]
                if len(elsewhere):
                    ratio.append(peak / max(float(elsewhere.max()), 1e-9))
                    over_sd.append(peak / max(float(np.nanstd(natural)), 1e-9))
        hits, _ = planted_hits(maps, exams)
        figures[label] = {"top_window_on_planted_region": _share(hits),
                          "signal_peak_over_largest_natural_response_off_region": _quantiles(ratio),
                          "signal_peak_over_natural_response_sd": _quantiles(over_sd),
                          "projections_with_signal_above_every_natural_response_off_region":
                              f"{int(np.sum(np.array(ratio) > 1))}/{len(ratio)}"}
    return figures


def scaled(case: Counterfactual, factor: float) -> Cohort:
    """The texture-asymmetry exams with their planted signal (with minus without the blob) ``factor`` times as
    strong: ``clean + factor * (views - clean)`` inside the breast (how strong would the blob need to be?)."""
    views = case.exams.views.astype(np.float32)
    clean = case.clean.astype(np.float32)
    stronger = np.where(views > 0, np.clip(clean + factor * (views - clean), 0.0, None), 0.0)
    return dataclasses.replace(case.exams, views=stronger.astype(np.float16))


def _share(hits: Sequence[bool]) -> str:
    return f"{int(np.sum(hits))}/{len(hits)} ({np.mean(hits):.3f})" if len(hits) else "0/0"


def _quantiles(values: Sequence[float]) -> dict[str, float]:
    q = np.percentile(values, [10, 50, 90]) if len(values) else [float("nan")] * 3
    return {"p10": round(float(q[0]), 3), "median": round(float(q[1]), 3), "p90": round(float(q[2]), 3)}


def localization(exams: Cohort, grids: np.ndarray, prior: np.ndarray | None = None) -> dict[str, str]:
    """Hits of one observer's responses under every reading."""
    return {how.value: _share(planted_hits(top_windows(grids, exams, how, prior), exams)[0]) for how in Reading}


def observe(out: Path, fit_exams: int, dev_start: int, dev_count: int, calibration_exams: int, workers: int,
            model: Path | None) -> dict[str, Any]:
    """Fit the Hotelling templates on RISK_TRAIN, measure every observer on the development exams (RISK_TRAIN
    indices ``dev_start`` on, which the model never saw) and on the RISK_CALIBRATION exams."""
    out.mkdir(parents=True, exist_ok=True)
    train = cached_cohort(out.parent / "cohort-train.npz", Split.RISK_TRAIN, fit_exams, workers=workers)
    calibration = cached_cohort(out.parent / "cohort-calibration.npz", Split.RISK_CALIBRATION, calibration_exams,
                                workers=workers)
    dev = cached_counterfactual(out / f"dev-{dev_start}-{dev_count}.npz", Split.RISK_TRAIN, dev_start, dev_count,
                                workers)
    texture = train.precursor == Precursor.TEXTURE_ASYMMETRY
    asym_train, sym_train = train.subset(texture), train.subset(train.precursor == Precursor.NONE)
    mean_only = list(range(len(MEAN_SIGMAS)))
    templates = {"channelized Hotelling, mean channels": fit_hotelling(asym_train, sym_train, mean_only),
                 "channelized Hotelling, mean + texture channels": fit_hotelling(asym_train, sym_train)}
    cal_asym = calibration.subset(calibration.precursor == Precursor.TEXTURE_ASYMMETRY)
    report: dict[str, Any] = {
        "note": "SIMULATED cohort (tools/phantom/cohort.py); RISK_TEST not used",
        "fit": {"split": "RISK_TRAIN", "exams": fit_exams, "texture_asymmetry_exams": int(texture.sum())},
        "development": {"split": "RISK_TRAIN", "indices": f"{dev_start}..{dev_start + dev_count - 1}",
                        "texture_asymmetry_exams": len(dev.exams)},
        "calibration": {"split": "RISK_CALIBRATION", "texture_asymmetry_exams": len(cal_asym)},
        "templates": {name: dict(zip(CHANNELS, np.round(t.weights, 3).tolist())) for name, t in templates.items()},
        "region_share_of_breast": {"development": round(float(np.mean(planted_hits(
            np.zeros((len(dev.exams), 2, *GRID)), dev.exams)[1])), 4)},
        "observers": {}}
    prior = region_prior(train)
    report["region_prior_share_of_window_centres"] = [round(float(p.mean()), 3) for p in prior]
    for name, exams in (("development", dev.exams), ("calibration", cal_asym)):
        rows = {"box mean (48 px window)": localization(exams, signed_grids(exams, None))}
        for label, template in templates.items():
            grids = signed_grids(exams, template)
            rows[label] = localization(exams, grids)
            rows[label + ", location prior"] = localization(exams, grids, prior)
        report["observers"][name] = rows
    report["signal_known_exactly"] = {"development": known_signal(dev, difference_nps(sym_train))}
    best = templates["channelized Hotelling, mean + texture channels"]
    report["signal_scaled"] = {}
    for factor in SCALES:
        exams = scaled(dev, factor)
        row = {"channelized Hotelling, mean + texture channels": localization(exams, signed_grids(exams, best)),
               "box mean (48 px window)": localization(exams, signed_grids(exams, None))}
        if model is not None:
            from .evaluate import run_model

            maps = run_model(model, exams.views)["asymmetry"]
            row[f"model {model.name}"] = {Reading.PER_PROJECTION.value: _share(planted_hits(maps, exams)[0])}
        report["signal_scaled"][f"x{factor:g}"] = row
    if model is not None:
        from .evaluate import run_model

        for name, exams in (("development", dev.exams), ("calibration", cal_asym)):
            maps = run_model(model, exams.views)["asymmetry"]
            report["observers"][name][f"model {model.name}"] = {
                Reading.PER_PROJECTION.value: _share(planted_hits(maps, exams)[0])}
    (out / "observer.json").write_text(json.dumps(report, indent=2))
    return report


def add_risk_observer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("build/risk/observer"),
                        help="observer.json and the development exams (the cohorts are cached one level up)")
    parser.add_argument("--fit-exams", type=int, default=700, help="RISK_TRAIN exams the templates are fitted on")
    parser.add_argument("--dev-start", type=int, default=700,
                        help="first RISK_TRAIN index of the development exams (past the model's training exams)")
    parser.add_argument("--dev-count", type=int, default=800, help="indices planned; their texture-asymmetry "
                        "exams are rendered with and without the blob")
    parser.add_argument("--calibration-exams", type=int, default=160)
    parser.add_argument("--model-file", type=Path, default=None, help="also a model file's asymmetry map (ONNX)")
    parser.add_argument("--workers", type=int, default=2)


def risk_observer_command(args: argparse.Namespace) -> int:
    report = observe(args.out, args.fit_exams, args.dev_start, args.dev_count, args.calibration_exams,
                     args.workers, args.model_file)
    print(f"SIMULATED cohort; templates fitted on {report['fit']['texture_asymmetry_exams']} texture-asymmetry "
          f"exams of RISK_TRAIN; top window on the planted region:")
    for split, rows in report["observers"].items():
        for name, row in rows.items():
            print(f"  {split:12s} {name:48s} " + ", ".join(f"{k}: {v}" for k, v in row.items()))
    for factor, rows in report["signal_scaled"].items():
        for name, row in rows.items():
            print(f"  planted signal {factor:3s} {name:48s} " + ", ".join(f"{k}: {v}" for k, v in row.items()))
    for label, row in report["signal_known_exactly"]["development"].items():
        print(f"  signal known exactly, {label} (development): {json.dumps(row)}")
    print(f"wrote {args.out / 'observer.json'}")
    return 0
