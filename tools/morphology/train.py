"""Train the morphology model on phantom cluster ROIs, deterministically for a seed.

Loss: cross-entropy against the class target (one-hot, or uniform over the
reported classes for background ROIs) plus binary cross-entropy of the
malignancy logit. Classes are balanced by sampling (data.py), so no class
weights are needed.

PyTorch is imported inside the functions: ``TrainConfig`` (the command line's defaults) needs none.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..splits import Split
from ..training import Loop, batched, load_weights, plot_curves, run_loop, save_weights, seeded, summary, training_seed
from .data import CLASSES, RoiSet, augment_roi, make_rois

if TYPE_CHECKING:
    import torch

    from .model import RoiNet


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    seed: int = Split.TRAIN.seed
    rois: int = 5000  #: training ROIs generated up front
    val_rois: int = 600  #: validation ROIs, seed ``validation_seed(seed)``
    background_fraction: float = 0.1
    steps: int = 2500
    batch: int = 32
    lr: float = 3e-3
    width: int = 8
    threads: int = 2


def validation_seed(seed: int) -> int:
    """The validation ROIs' seed of a training seed (``Split.MORPHOLOGY_VALIDATION``)."""
    return Split.MORPHOLOGY_VALIDATION.offset(training_seed(seed))


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
    data = make_rois(config.rois, training_seed(config.seed), config.background_fraction, progress=progress)
    val = make_rois(config.val_rois, validation_seed(config.seed), config.background_fraction)
    data_seconds = time.perf_counter() - started

    model = RoiNet(config.width)

    def step_loss(rng: np.random.Generator) -> torch.Tensor:
        x, target, malignant = _batch(data, rng, config.batch)
        return loss_terms(model(x)[0], target, malignant)

    history, train_seconds = run_loop(
        model, Loop(seed=config.seed, steps=config.steps, lr=config.lr, threads=config.threads,
                    desc="train morphology"), step_loss, lambda: _validate(model, val), progress)
    save_weights(model, out_dir / "morphology.pt")
    result = summary(config, model, data_seconds, train_seconds, history)
    (out_dir / "training.json").write_text(json.dumps(result, indent=2))
    plot_curves(history, out_dir / "training-curve.png", title="Morphology model training", loss="cross-entropy")
    return result


def load_model(path: Path, width: int = 8) -> RoiNet:
    """A trained morphology model from its ``morphology.pt``, in eval mode."""
    from .model import RoiNet

    model = load_weights(RoiNet(width), path)
    assert isinstance(model, RoiNet)
    return model
