"""What every model family's training shares: the seeded loop, intensity augmentation, curves, weights.

PyTorch is imported inside the functions that need it, so modules that only build command lines (and
their ``--help``) run without the train extra.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mammoedge.runtime.preprocess import standardize_intensity

from .splits import Split, check_seed

if TYPE_CHECKING:
    import torch
    from torch import nn


def add_train_arguments(parser: argparse.ArgumentParser, defaults: Any, out: Path) -> None:
    """The options every ``train MODEL`` has: output folder, seed (``Split.TRAIN``), steps, batch, width, threads."""
    parser.add_argument("--out", type=Path, default=out, help="checkpoint folder")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help=f"training seed (Split.TRAIN: {Split.TRAIN.seeds.start}..{Split.TRAIN.seeds.stop - 1})")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch", type=int, default=defaults.batch)
    parser.add_argument("--width", type=int, default=defaults.width, help="channels of the first stage")
    parser.add_argument("--threads", type=int, default=defaults.threads)


def training_seed(seed: int) -> int:
    """``seed`` checked to lie in ``Split.TRAIN`` (its validation seeds are derived from it)."""
    return check_seed(seed, Split.TRAIN, what="training seed")


def intensity_augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vendor-like intensity changes: a sigmoid VOI half of the time (re-standardized), then a gain and offset."""
    out = image
    if rng.random() < 0.5:
        centre = float(rng.uniform(0.3, 0.7))
        width = float(rng.uniform(0.15, 0.6))
        out = 1.0 / (1.0 + np.exp(-(out - centre) / width))
        out = standardize_intensity(out.astype(np.float32), out > np.percentile(out, 5))
    gain, offset = float(rng.uniform(0.7, 1.4)), float(rng.uniform(-0.1, 0.1))
    return np.maximum(out * gain + offset, 0.0).astype(np.float32)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Loop:
    """One training run's schedule: AdamW (weight decay 1e-4), one-cycle learning rate, ten validations."""

    seed: int
    steps: int
    lr: float
    threads: int
    desc: str


def seeded(seed: int, threads: int) -> None:
    """Deterministic PyTorch for ``seed`` on ``threads`` threads."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def run_loop(model: nn.Module, loop: Loop, step_loss: Callable[[np.random.Generator], torch.Tensor],
             validate: Callable[[], dict[str, float]], progress: bool = True) -> tuple[dict[str, list[float]], float]:
    """Train ``model`` for ``loop.steps`` steps of ``step_loss(rng)`` (the batch's loss, model in train mode);
    every tenth of the run, the mean training loss and ``validate()`` (``val_loss`` and any other metric) join
    the history. Returns (history, training seconds)."""
    import torch
    from tqdm import tqdm

    optimizer = torch.optim.AdamW(model.parameters(), lr=loop.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=loop.lr, total_steps=loop.steps)
    rng = np.random.default_rng(loop.seed)
    history: dict[str, list[float]] = {"step": [], "train_loss": [], "val_step": []}
    eval_every = max(1, loop.steps // 10)
    running: list[float] = []
    started = time.perf_counter()
    for step in tqdm(range(1, loop.steps + 1), desc=loop.desc, unit="step", disable=not progress):
        model.train()
        loss = step_loss(rng)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        running.append(float(loss.detach()))
        if step % eval_every == 0 or step == loop.steps:
            history["step"].append(step)
            history["train_loss"].append(float(np.mean(running)))
            running = []
            history["val_step"].append(step)
            for key, value in validate().items():
                history.setdefault(key, []).append(value)
            if progress:
                tqdm.write(f"step {step}: train {history['train_loss'][-1]:.4f} "
                           + " ".join(f"{k} {v[-1]:.4f}" for k, v in history.items() if k.startswith("val_")
                                      and k != "val_step"))
    return history, time.perf_counter() - started


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_weights(model: nn.Module, path: Path) -> None:
    import torch

    torch.save(model.state_dict(), path)


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """``model`` with the state dict at ``path``, in eval mode."""
    import torch

    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def plot_curves(history: dict[str, list[float]], path: Path, title: str, loss: str) -> None:
    """Training and validation loss against the step (log scale), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(history["step"], history["train_loss"], label=f"train ({loss})")
    ax.plot(history["val_step"], history["val_loss"], label=f"validation ({loss})")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def batched(run: Callable[[np.ndarray], np.ndarray], items: np.ndarray, size: int) -> np.ndarray:
    """``run`` over ``items`` in batches of ``size``, concatenated."""
    return np.concatenate([run(items[i:i + size]) for i in range(0, len(items), size)])


def summary(config: Any, model: nn.Module, data_seconds: float, train_seconds: float,
            history: dict[str, list[float]], **extra: Any) -> dict[str, Any]:
    """What ``training.json`` records of a run."""
    return {"config": dataclasses.asdict(config), "parameters": parameter_count(model),
            "data_seconds": round(data_seconds, 1), "train_seconds": round(train_seconds, 1), **extra,
            "history": history}

