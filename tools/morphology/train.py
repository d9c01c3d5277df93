"""Train the morphology model on phantom cluster ROIs, deterministically for a seed.

Loss: cross-entropy against the class target (one-hot, or uniform over the
reported classes for background ROIs) plus binary cross-entropy of the
malignancy logit. Classes are balanced by sampling (data.py), so no class
weights are needed; ``hard_negative_weight`` draws punctate and round ROIs more
often than the other benign subtypes (issue 23; 1, the default, is the shipped recipe).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import training
from ..splits import Split
from ..training import Loop, batched, finish, load_weights, run_loop, seeded
from .data import CLASSES, RoiSet, augment_roi, make_rois

if TYPE_CHECKING:
    import torch

    from .model import RoiNet


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig(training.TrainConfig, validation=Split.MORPHOLOGY_VALIDATION, out="build/morphology"):
    rois: int = training.option(5000, "training ROIs made up front")
    val_rois: int = 600  #: validation ROIs (seed ``validation_seed``)
    background_fraction: float = 0.1  #: ROIs without a calcification (outlier exposure)
    hard_negative_weight: float = training.option(
        1.0, "punctate and round ROIs drawn this many times as often as other benign subtypes (data.HARD_NEGATIVES)")
    steps: int = training.option(2500, "optimizer steps")
    batch: int = training.option(32, "ROIs per step")
    lr: float = 3e-3


def loss_terms(logits: torch.Tensor, targets: torch.Tensor, malignant: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    classes = -(targets * F.log_softmax(logits[:, :len(CLASSES)], dim=1)).sum(dim=1).mean()
    return classes + F.binary_cross_entropy_with_logits(logits[:, len(CLASSES)], malignant)


def _batch(data: RoiSet, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, ...]:
    import torch

    idx = rng.integers(0, len(data.images), size)
    images = np.stack([augment_roi(data.images[i, 0], rng) for i in idx])[:, None]
    return torch.from_numpy(images), torch.from_numpy(data.targets[idx]), torch.from_numpy(data.malignant[idx])


def predict(model: RoiNet, images: np.ndarray) -> np.ndarray:
    """Logits (N, 13) in eval mode."""
    import torch

    model.eval()
    with torch.no_grad():
        return batched(lambda x: model(torch.from_numpy(x))[0].numpy(), images, 64)


def _validate(model: RoiNet, val: RoiSet) -> dict[str, float]:
    """Validation loss and class accuracy (reported classes) of the ROIs with a cluster."""
    import torch

    logits = predict(model, val.images)
    val_loss = float(loss_terms(torch.from_numpy(logits), torch.from_numpy(val.targets),
                                torch.from_numpy(val.malignant)))
    known = [i for i, m in enumerate(val.morphology) if m is not None]
    accuracy = float(np.mean([CLASSES[int(np.argmax(logits[i, :len(CLASSES)]))].group == val.groups[i]
                              for i in known]))
    return {"val_loss": val_loss, "val_accuracy": accuracy}


def train(config: TrainConfig, out_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Train; save ``morphology.pt``, ``training.json`` and the curve PNG in ``out_dir``."""
    from .model import RoiNet

    out_dir.mkdir(parents=True, exist_ok=True)
    seeded(config.seed, config.threads)
    started = time.perf_counter()
    data = make_rois(config.rois, config.training_seed, config.background_fraction, progress=progress,
                     hard_negative_weight=config.hard_negative_weight)
    val = make_rois(config.val_rois, config.validation_seed, config.background_fraction)
    data_seconds = time.perf_counter() - started

    model = RoiNet(config.width)

    def step_loss(rng: np.random.Generator) -> torch.Tensor:
        x, target, malignant = _batch(data, rng, config.batch)
        return loss_terms(model(x)[0], target, malignant)

    run = run_loop(model, Loop(seed=config.seed, steps=config.steps, lr=config.lr, threads=config.threads,
                               desc="train morphology"), step_loss, lambda: _validate(model, val), progress)
    return finish(model, config, out_dir, weights="morphology.pt", data_seconds=data_seconds, run=run,
                  title="Morphology model training", loss="cross-entropy")


def load_model(path: Path, width: int = 8) -> RoiNet:
    """A trained morphology model from its ``morphology.pt``, in eval mode."""
    from .model import RoiNet

    model = load_weights(RoiNet(width), path)
    assert isinstance(model, RoiNet)
    return model
