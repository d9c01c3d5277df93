"""Train the risk model on the SIMULATED phantom cohort, deterministically for a seed.

Loss: binary cross-entropy of each year's cumulative logit against "cancer by year t" (every cohort exam is
followed for the full 5 years, so each year's label is known) plus the cross-entropy of the density head.
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
from .data import Cohort, cached_cohort

if TYPE_CHECKING:
    import torch

    from .model import RiskNet

#: the swap of left and right in ``VIEW_ORDER`` (RCC, LCC, RMLO, LMLO)
SWAP_SIDES = np.array([1, 0, 3, 2])


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig(training.TrainConfig, validation=Split.RISK_CALIBRATION, out="build/risk"):
    exams: int = training.option(700, "training exams (Split.RISK_TRAIN, made once and cached in the out folder)")
    val_exams: int = training.option(160, "validation exams (Split.RISK_CALIBRATION, cached)")
    steps: int = training.option(1000, "optimizer steps")
    batch: int = training.option(16, "exams per step")
    width: int = training.option(8, "channels of the first encoder stage")
    workers: int = training.option(2, "processes rendering the cohort")
    threads: int = training.option(1, "PyTorch threads (on 2 shared cores one thread ran a step 3-4x faster than two)")
    density_weight: float = 0.5  #: weight of the density cross-entropy
    lr: float = 2e-3


def loss_terms(risk_logits: torch.Tensor, density_logits: torch.Tensor, cumulative: torch.Tensor,
               density: torch.Tensor, density_weight: float) -> torch.Tensor:
    import torch.nn.functional as F

    return (F.binary_cross_entropy_with_logits(risk_logits, cumulative)
            + density_weight * F.cross_entropy(density_logits, density))


def _batch(data: Cohort, cumulative: np.ndarray, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, ...]:
    import torch

    idx = rng.integers(0, len(data), size)
    views = data.views[idx].astype(np.float32)
    for b in range(size):
        if rng.random() < 0.5:
            views[b] = views[b, SWAP_SIDES]
        for v in range(4):
            if rng.random() < 0.5:
                views[b, v] = intensity_augment(views[b, v], rng) * (views[b, v] > 0)
    return (torch.from_numpy(views), torch.from_numpy(cumulative[idx]), torch.from_numpy(data.density[idx]))


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
    model = RiskNet(config.width)

    def step_loss(rng: np.random.Generator) -> torch.Tensor:
        views, target, density = _batch(data, cumulative, rng, config.batch)
        risk_logits, density_logits, _ = model(views)
        return loss_terms(risk_logits, density_logits, target, density, config.density_weight)

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
