"""Risk model figures on the held-out SIMULATED cohort (Split.RISK_TEST), FP32 and INT8 side by side.

- risk: Harrell's C-index (each pair compared on the risk at the earlier case's year, as Mirai's code does)
  with a bootstrap 95 % CI, AUC per year (cancer by year t vs not; every exam is followed 5 years), and per
  year the mean predicted vs observed risk and the ECE (10 quantile bins); the same for a density-only
  baseline (each year's incidence per true BI-RADS density class of the training cohort).
- asymmetry: on texture-asymmetry exams, the share of projections whose top window's centre lies on the
  planted region (the blob's projection at >= half its maximum), beside the share of the breast that region
  covers (what a random point would score); the share of exams without one that score above the operating
  point, and the share with one that do.
- density: accuracy and quadratically weighted kappa against the phantom's density.
- latency: one exam (four prepared views) through each model file on 2 CPU threads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mammoedge.runtime.risk import calibrate

from ..modelfiles import Backend, cpu_runner
from .data import YEARS, Cohort, Precursor

WINDOW, STRIDE = 6, 8  #: asymmetry window (texture-map cells) and texture-map stride (input px): model.py


def harrell_c(risk: np.ndarray, event_year: np.ndarray) -> float:
    """C-index; ``risk`` (N, 5) cumulative by year, ``event_year`` 1..5 or 0 (no cancer within 5 years)."""
    time_ = np.where(event_year > 0, event_year, YEARS + 1)
    concordant = comparable = 0.0
    for i in np.flatnonzero(event_year > 0):
        later = time_ > time_[i]
        ri, rj = risk[i, event_year[i] - 1], risk[later, event_year[i] - 1]
        comparable += later.sum()
        concordant += (ri > rj).sum() + 0.5 * (ri == rj).sum()
    return float(concordant / comparable) if comparable else float("nan")


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count half)."""
    pos, neg = score[positive], score[~positive]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()
    return float(greater / (len(pos) * len(neg)))


def ece(predicted: np.ndarray, observed: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over ``bins`` quantile bins of ``predicted`` (tied predictions share a bin)."""
    edges = np.quantile(predicted, np.linspace(0, 1, bins + 1))
    index = np.clip(np.searchsorted(edges[1:-1], predicted, side="right"), 0, bins - 1)
    return float(sum((index == b).mean() * abs(predicted[index == b].mean() - observed[index == b].mean())
                     for b in range(bins) if (index == b).any()))


def weighted_kappa(truth: np.ndarray, predicted: np.ndarray, classes: int = 4) -> float:
    """Cohen's kappa with quadratic weights."""
    confusion = np.zeros((classes, classes))
    np.add.at(confusion, (truth, predicted), 1)
    weights = (np.arange(classes)[:, None] - np.arange(classes)[None]) ** 2 / (classes - 1) ** 2
    expected = np.outer(confusion.sum(1), confusion.sum(0)) / confusion.sum()
    return float(1 - (weights * confusion).sum() / (weights * expected).sum())


def bootstrap(statistic: Callable[[np.ndarray], float], n: int, samples: int, seed: int = 0) -> list[float]:
    """[value, 2.5 %, 97.5 %] of ``statistic(indices)`` over bootstrap resamples of ``n`` items."""
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, n, n)) for _ in range(samples)]
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return [round(statistic(np.arange(n)), 4), round(float(low), 4), round(float(high), 4)]


def risk_figures(risk: np.ndarray, cohort: Cohort, samples: int) -> dict[str, Any]:
    """C-index (CI), per-year AUC, mean predicted vs observed and ECE, for cumulative risks (N, 5)."""
    cumulative = cohort.cumulative()
    return {
        "c_index": bootstrap(lambda i: harrell_c(risk[i], cohort.event_year[i]), len(cohort), samples),
        "auc_by_year": [round(auc(risk[:, t], cumulative[:, t] > 0), 4) for t in range(YEARS)],
        "predicted_by_year": [round(float(risk[:, t].mean()), 4) for t in range(YEARS)],
        "observed_by_year": [round(float(cumulative[:, t].mean()), 4) for t in range(YEARS)],
        "ece_by_year": [round(ece(risk[:, t], cumulative[:, t]), 4) for t in range(YEARS)],
    }


def density_baseline(train: Cohort) -> np.ndarray:
    """(4, 5): each year's cumulative incidence per true density class of ``train``."""
    cumulative = train.cumulative()
    return np.stack([cumulative[train.density == k].mean(axis=0) if (train.density == k).any()
                     else cumulative.mean(axis=0) for k in range(4)])


def oracle_risk(cohort: Cohort, faint_amorphous: bool = True) -> np.ndarray:
    """(N, 5) the simulation's own cumulative risk ``1 - exp(-h t)`` from each exam's true hazard (density and
    planted precursor; without the faint amorphous factor when ``faint_amorphous`` is False): the ceiling a model
    of the images can reach, and the ceiling when it cannot see faint calcifications."""
    from ..phantom.cohort import BASE_HAZARD, DENSITY_FACTOR, PRECURSOR_FACTOR

    from .data import DENSITIES

    density = np.array([DENSITY_FACTOR[DENSITIES[k]] for k in cohort.density])
    names = {Precursor.NONE: None, Precursor.FAINT_AMORPHOUS: "faint_amorphous",
             Precursor.TEXTURE_ASYMMETRY: "texture_asymmetry"}
    precursor = np.array([PRECURSOR_FACTOR[names[Precursor(int(p))] if faint_amorphous or p != Precursor.FAINT_AMORPHOUS
                                           else None] for p in cohort.precursor])
    hazard = BASE_HAZARD * density * precursor
    return 1 - np.exp(-hazard[:, None] * np.arange(1, YEARS + 1)[None])


def window_centres(maps: np.ndarray) -> np.ndarray:
    """(N, 2, h, w) heatmaps -> (N, 2, 2) top-window centres (row, col) on the input grid."""
    n, p, h, w = maps.shape
    flat = maps.reshape(n, p, -1).argmax(axis=2)
    rows, cols = np.unravel_index(flat, (h, w))
    return np.stack([(rows + WINDOW / 2) * STRIDE, (cols + WINDOW / 2) * STRIDE], axis=2)


def planted_hits(maps: np.ndarray, cohort: Cohort) -> tuple[list[bool], list[float]]:
    """Per projection of each texture-asymmetry exam: is the top window's centre on the planted region (the
    blob's projection at >= half its maximum), and the share of the breast that region covers (chance)."""
    centres = window_centres(maps)
    hits, chance = [], []
    for i in np.flatnonzero(cohort.precursor == Precursor.TEXTURE_ASYMMETRY):
        for k in range(2):
            region = cohort.asymmetry[i, k].astype(np.float32) >= 0.5
            r, c = (int(min(v, s - 1)) for v, s in zip(centres[i, k], region.shape))
            hits.append(bool(region[r, c]))
            breast = cohort.views[i, 2 * k + (1 if cohort.side[i] == 1 else 0)] > 0
            chance.append(float((region & breast).sum() / max(int(breast.sum()), 1)))
    return hits, chance


def asymmetry_figures(maps: np.ndarray, cohort: Cohort, threshold: float) -> dict[str, Any]:
    """Localization on texture-asymmetry exams and scores against the operating point."""
    texture = cohort.precursor == Precursor.TEXTURE_ASYMMETRY
    hits, chance = planted_hits(maps, cohort)
    score = maps.max(axis=(2, 3)).max(axis=1)
    return {"texture_asymmetry_exams": int(texture.sum()), "projections": len(hits),
            "top_window_on_planted_region": round(float(np.mean(hits)), 4) if hits else None,
            "region_share_of_breast": round(float(np.mean(chance)), 4) if chance else None,
            "operating_point": round(threshold, 4),
            "symmetric_exams_above_operating_point": round(float((score[~texture] > threshold).mean()), 4),
            "texture_asymmetry_exams_above_operating_point": round(float((score[texture] > threshold).mean()), 4)
            if texture.any() else None,
            "auc_texture_vs_symmetric": round(auc(score, texture), 4)}


def run_model(path: Path, views: np.ndarray, backend: Backend = Backend.OPENVINO) -> dict[str, np.ndarray]:
    """Every output of the model file over ``views`` (N, 4, 256, 208), one exam at a time."""
    runner = cpu_runner(path, backend)
    outs = [runner(views[i:i + 1].astype(np.float32)) for i in range(len(views))]
    return {name: np.concatenate([o[k] for o in outs]) for k, name in
            enumerate(("risk_logits", "density_logits", "asymmetry"))}


def latency_ms(models_dir: Path, name: str, views: np.ndarray, backend: Backend, repeats: int = 30) -> dict[str, float]:
    """Median milliseconds of one exam as the runtime stage runs it (``Engine.load`` with the static
    1 x 4 x 256 x 208 shape, 2 threads): the inference, and ``prepare_view`` of four views of a full-size
    normalized view (2870 x 2330 at 0.1 mm, the Hologic-like profile)."""
    import dataclasses

    from mammoedge.runtime.config import InferenceConfig
    from mammoedge.runtime.inference import Engine
    from mammoedge.runtime.risk import INPUT_SHAPE, RISK_INPUT, prepare_view

    config = dataclasses.replace(InferenceConfig(), models_dir=models_dir)
    model = Engine(config).load(name, backend=backend.value, force=True,
                                static_shapes={RISK_INPUT: (1, 4, *INPUT_SHAPE)})
    x = views[:1].astype(np.float32)
    full = np.random.default_rng(0).random((2870, 2330), dtype=np.float32)
    mask = np.ones(full.shape, bool)

    def median(run: Callable[[], object]) -> float:
        run()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        return round(1000 * float(np.median(times)), 2)

    return {"inference": median(lambda: model.infer(x)),
            "prepare_four_views": median(lambda: [prepare_view(full, mask) for _ in range(4)])}


def model_figures(outputs: dict[str, np.ndarray], parameters: dict[str, Any], cohort: Cohort,
                  samples: int) -> dict[str, Any]:
    """Every figure of one model file's outputs on ``cohort``."""
    risk = calibrate(outputs["risk_logits"], parameters["calibration"]["a"], parameters["calibration"]["b"])
    density = outputs["density_logits"].argmax(axis=1)
    return {"risk": risk_figures(risk, cohort, samples),
            "asymmetry": asymmetry_figures(outputs["asymmetry"], cohort, parameters["asymmetry_threshold"]),
            "density": {"accuracy": round(float((density == cohort.density).mean()), 4),
                        "weighted_kappa": round(weighted_kappa(cohort.density, density), 4)}}


def evaluate(files: dict[str, tuple[Path, dict[str, Any]]], test: Cohort, train: Cohort, out_dir: Path,
             samples: int = 1000, models_dir: Path | None = None, names: dict[str, str] | None = None
             ) -> dict[str, Any]:
    """``files``: label -> (model file, its manifest parameters); ``names``: label -> registry name in
    ``models_dir`` for the latency (skipped without). Writes ``evaluation.json``."""
    baseline = density_baseline(train)[test.density]
    report: dict[str, Any] = {
        "cohort": {"split": "RISK_TEST", "seed": test.seed, "exams": len(test),
                   "events_within_5_years": int((test.event_year > 0).sum()),
                   "texture_asymmetry_exams": int((test.precursor == Precursor.TEXTURE_ASYMMETRY).sum()),
                   "faint_amorphous_exams": int((test.precursor == Precursor.FAINT_AMORPHOUS).sum()),
                   "note": "SIMULATED cohort (tools/phantom/cohort.py), not patient evidence"},
        "density_only_baseline": risk_figures(baseline, test, samples),
        "oracle_true_hazard": risk_figures(oracle_risk(test), test, samples),
        "oracle_without_faint_amorphous": risk_figures(oracle_risk(test, faint_amorphous=False), test, samples),
        "models": {}}
    for label, (path, parameters) in files.items():
        row = model_figures(run_model(path, test.views), parameters, test, samples)
        if models_dir is not None and names is not None:
            row["latency_ms"] = {b.value: latency_ms(models_dir, names[label], test.views, b) for b in Backend}
        report["models"][label] = row
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "evaluation.json").write_text(json.dumps(report, indent=2))
    return report
