"""Train the risk model on the SIMULATED phantom cohort, deterministically for a seed.

Loss: binary cross-entropy of each year's cumulative logit against "cancer by year t" (every cohort exam is
followed for the full 5 years, so each year's label is known) plus the cross-entropy of the density head, plus
two terms that supervise the asymmetry map with the planted region (``Cohort.asymmetry``, recorded from
``cohort.add_asymmetry`` while the TRAINING exams were planned; auxiliary supervision, said so in the model
card): on texture-asymmetry exams, the cross-entropy of the heatmap's softmax against the cells whose window
centre lies on the planted region, and for every exam a logistic "has a texture asymmetry" on its score.
Each batch holds ``asymmetry_exams`` texture-asymmetry exams (there are about 10 % of them).
Augmentation: the left and right breasts swapped (risk and asymmetry do not depend on which side is which)
and the runtime's vendor-like intensity changes per view. Validation: the calibration split's exams (loss
only; no model selection on them).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import training
from ..splits import Split
from ..training import Loop, batched, finish, intensity_augment, load_weights, run_loop, seeded
from .data import Cohort, Precursor, cached_cohort

if TYPE_CHECKING:
    import torch

    from .model import RiskNet

#: the swap of left and right in ``VIEW_ORDER`` (RCC, LCC, RMLO, LMLO)
SWAP_SIDES = np.array([1, 0, 3, 2])


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig(training.TrainConfig, validation=Split.RISK_CALIBRATION, out="build/risk"):
    exams: int = training.option(700, "training exams (Split.RISK_TRAIN, made once and cached in the out folder)")
    val_exams: int = training.option(160, "validation exams (Split.RISK_CALIBRATION, cached)")
    steps: int = training.option(700, "optimizer steps")
    batch: int = training.option(16, "exams per step")
    width: int = training.option(8, "channels of the first encoder stage")
    workers: int = training.option(2, "processes rendering the cohort")
    threads: int = training.option(1, "PyTorch threads (on 2 shared cores one thread ran a step 3-4x faster than two)")
    asymmetry_exams: int = training.option(4, "texture-asymmetry exams in each batch (the rest drawn at random)")
    density_weight: float = 0.5  #: weight of the density cross-entropy
    localization_weight: float = 1.0  #: weight of the heatmap's cross-entropy against the planted region
    detection_weight: float = 0.5  #: weight of the score's "has a texture asymmetry" BCE
    lr: float = 2e-3


def loss_terms(risk_logits: torch.Tensor, density_logits: torch.Tensor, cumulative: torch.Tensor,
               density: torch.Tensor, density_weight: float) -> torch.Tensor:
    import torch.nn.functional as F

    return (F.binary_cross_entropy_with_logits(risk_logits, cumulative)
            + density_weight * F.cross_entropy(density_logits, density))


def region_cells(asymmetry: np.ndarray) -> np.ndarray:
    """(N, 2, h, w) bool: heatmap cells whose window centre lies on the planted region (>= half its maximum)
    of ``Cohort.asymmetry`` (N, 2, 256, 208)."""
    from .model import ASYM_STRIDE, WINDOW

    rows, cols = asymmetry.shape[2:]
    h, w = rows // ASYM_STRIDE - WINDOW + 1, cols // ASYM_STRIDE - WINDOW + 1
    r = np.minimum(((np.arange(h) + WINDOW / 2) * ASYM_STRIDE).astype(int), rows - 1)
    c = np.minimum(((np.arange(w) + WINDOW / 2) * ASYM_STRIDE).astype(int), cols - 1)
    return asymmetry[:, :, r[:, None], c[None, :]].astype(np.float32) >= 0.5


def _batch(data: Cohort, cumulative: np.ndarray, cells: np.ndarray, rng: np.random.Generator, size: int,
           asymmetric: int) -> tuple[torch.Tensor, ...]:
    import torch

    texture = np.flatnonzero(data.precursor == Precursor.TEXTURE_ASYMMETRY)
    idx = rng.integers(0, len(data), size)
    if asymmetric and len(texture):
        idx[:asymmetric] = rng.choice(texture, asymmetric)
    views = data.views[idx].astype(np.float32)
    for b in range(size):
        if rng.random() < 0.5:
            views[b] = views[b, SWAP_SIDES]
        for v in range(4):
            if rng.random() < 0.5:
                views[b, v] = intensity_augment(views[b, v], rng) * (views[b, v] > 0)
    return (torch.from_numpy(views), torch.from_numpy(cumulative[idx]), torch.from_numpy(data.density[idx]),
            torch.from_numpy(cells[idx]), torch.from_numpy(data.precursor[idx] == Precursor.TEXTURE_ASYMMETRY))


def asymmetry_terms(model: RiskNet, asymmetry: torch.Tensor, cells: torch.Tensor, texture: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(localization: -log of the heatmap softmax's mass on the planted cells, over texture-asymmetry exams'
    projections that have any; detection: BCE of ``a * score + b`` against "has a texture asymmetry")."""
    import torch
    import torch.nn.functional as F

    flat = asymmetry.flatten(2)
    target = cells.flatten(2)
    has = target.any(dim=2) & texture[:, None]
    log_p = torch.log_softmax(flat, dim=2)
    mass = torch.logsumexp(log_p.masked_fill(~target, -1e4), dim=2)
    localization = -mass[has].mean() if has.any() else flat.sum() * 0.0
    score = flat.amax(dim=2).amax(dim=1)
    a, b = model.asym_logit[0], model.asym_logit[1]
    detection = F.binary_cross_entropy_with_logits(a * score + b, texture.to(score.dtype))
    return localization, detection


def predict(model: RiskNet, views: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(risk logits (N, 5), density logits (N, 4), asymmetry maps (N, 2, h, w)) in eval mode."""
    import torch

    model.eval()
    with torch.no_grad():
        outs = [model(torch.from_numpy(views[i:i + 16].astype(np.float32))) for i in range(0, len(views), 16)]
    return tuple(np.concatenate([o[k].numpy() for o in outs]) for k in range(3))  # type: ignore[return-value]


def _validate(model: RiskNet, val: Cohort, density_weight: float) -> dict[str, float]:
    import torch

    risk, density, _ = predict(model, val.views)
    loss = loss_terms(torch.from_numpy(risk), torch.from_numpy(density), torch.from_numpy(val.cumulative()),
                      torch.from_numpy(val.density), density_weight)
    return {"val_loss": float(loss), "val_density_accuracy": float(np.mean(density.argmax(1) == val.density))}


def train(config: TrainConfig, out_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Train; save ``risk.pt``, ``training.json`` and the curve PNG in ``out_dir``."""
    from .model import RiskNet

    out_dir.mkdir(parents=True, exist_ok=True)
    seeded(config.training_seed, config.threads)
    started = time.perf_counter()
    data = cached_cohort(out_dir / "cohort-train.npz", Split.RISK_TRAIN, config.exams, config.workers)
    val = cached_cohort(out_dir / "cohort-calibration.npz", Split.RISK_CALIBRATION, config.val_exams,
                        config.workers)
    data_seconds = time.perf_counter() - started
    cumulative = data.cumulative()
    cells = region_cells(data.asymmetry)
    model = RiskNet(config.width)

    def step_loss(rng: np.random.Generator) -> torch.Tensor:
        views, target, density, planted, texture = _batch(data, cumulative, cells, rng, config.batch,
                                                          config.asymmetry_exams)
        risk_logits, density_logits, asymmetry = model(views)
        localization, detection = asymmetry_terms(model, asymmetry, planted, texture)
        return (loss_terms(risk_logits, density_logits, target, density, config.density_weight)
                + config.localization_weight * localization + config.detection_weight * detection)

    run = run_loop(model, Loop(seed=config.seed, steps=config.steps, lr=config.lr, threads=config.threads,
                               desc="train risk"), step_loss,
                   lambda: _validate(model, val, config.density_weight), progress)
    events = int((data.event_year > 0).sum())
    return finish(model, config, out_dir, weights="risk.pt", data_seconds=data_seconds, run=run,
                  title="Risk model training (simulated cohort)", loss="BCE per year + density CE",
                  cohort={"split": Split.RISK_TRAIN.name, "exams": len(data), "events_within_5_years": events},
                  exams_per_second=lambda seconds: round(config.steps * config.batch / seconds, 1))


def load_model(path: Path, width: int = 8) -> RiskNet:
    """A trained risk model from its ``risk.pt``, in eval mode."""
    from .model import RiskNet

    model = load_weights(RiskNet(width), path)
    assert isinstance(model, RiskNet)
    return model


__all__ = ["TrainConfig", "batched", "load_model", "predict", "train"]
