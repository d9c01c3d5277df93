"""Train the morphology model on phantom cluster ROIs, deterministically for a seed.

Loss: cross-entropy against the class target (one-hot, or uniform over the
reported classes for background ROIs) plus binary cross-entropy of the
malignancy logit. Classes are balanced by sampling (data.py), so no class
weights are needed.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data import RoiSet, augment_roi, make_rois
from .model import CLASSES, RoiNet, parameter_count


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    seed: int = 0
    rois: int = 5000  #: training ROIs generated up front
    val_rois: int = 600
    background_fraction: float = 0.1
    steps: int = 2500
    batch: int = 32
    lr: float = 3e-3
    width: int = 8
    threads: int = 2


def loss_terms(logits: torch.Tensor, targets: torch.Tensor, malignant: torch.Tensor) -> torch.Tensor:
    classes = -(targets * F.log_softmax(logits[:, :len(CLASSES)], dim=1)).sum(dim=1).mean()
    return classes + F.binary_cross_entropy_with_logits(logits[:, len(CLASSES)], malignant)


def _batch(data: RoiSet, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, ...]:
    idx = rng.integers(0, len(data.images), size)
    images = np.stack([augment_roi(data.images[i, 0], rng) for i in idx])[:, None]
    return torch.from_numpy(images), torch.from_numpy(data.targets[idx]), torch.from_numpy(data.malignant[idx])


@torch.no_grad()
def predict(model: RoiNet, images: np.ndarray) -> np.ndarray:
    """Logits (N, 13) in eval mode."""
    model.eval()
    return np.concatenate([model(torch.from_numpy(images[i:i + 64]))[0].numpy() for i in range(0, len(images), 64)])


def train(config: TrainConfig, out_dir: Path, progress: bool = True) -> dict:
    """Train; save ``morphology.pt``, ``training.json`` and the curve PNG in ``out_dir``."""
    from tqdm import tqdm

    from ..detector.train import plot_curves

    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    started = time.perf_counter()
    data = make_rois(config.rois, config.seed, config.background_fraction, progress=progress)
    val = make_rois(config.val_rois, config.seed + 100_000, config.background_fraction)
    data_seconds = time.perf_counter() - started

    model = RoiNet(config.width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps)
    rng = np.random.default_rng(config.seed)
    history: dict = {"step": [], "train_loss": [], "val_step": [], "val_loss": [], "val_accuracy": []}
    eval_every = max(1, config.steps // 10)
    running: list[float] = []
    t0 = time.perf_counter()
    for step in tqdm(range(1, config.steps + 1), desc="train morphology", unit="step", disable=not progress):
        model.train()
        x, target, malignant = _batch(data, rng, config.batch)
        loss = loss_terms(model(x)[0], target, malignant)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        running.append(float(loss.detach()))
        if step % eval_every == 0 or step == config.steps:
            logits = predict(model, val.images)
            val_loss = float(loss_terms(torch.from_numpy(logits), torch.from_numpy(val.targets),
                                        torch.from_numpy(val.malignant)))
            known = [i for i, m in enumerate(val.morphology) if m is not None]
            accuracy = float(np.mean([CLASSES[int(np.argmax(logits[i, :len(CLASSES)]))].group == val.groups[i]
                                      for i in known]))
            history["step"].append(step)
            history["train_loss"].append(float(np.mean(running)))
            history["val_step"].append(step)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(accuracy)
            running = []
            if progress:
                tqdm.write(f"step {step}: train {history['train_loss'][-1]:.4f} val {val_loss:.4f} "
                           f"class accuracy {accuracy:.3f}")
    train_seconds = time.perf_counter() - t0
    torch.save(model.state_dict(), out_dir / "morphology.pt")
    summary = {"config": dataclasses.asdict(config), "parameters": parameter_count(model),
               "data_seconds": round(data_seconds, 1), "train_seconds": round(train_seconds, 1), "history": history}
    (out_dir / "training.json").write_text(json.dumps(summary, indent=2))
    plot_curves(history, out_dir / "training-curve.png", title="Morphology model training", loss="cross-entropy")
    return summary


def load_model(path: Path, width: int = 8) -> RoiNet:
    model = RoiNet(width)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
