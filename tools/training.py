"""What every model family's training shares: its configuration and options, the seeded loop, intensity
augmentation, what a run writes (weights, ``training.json``, the curve).

PyTorch is imported inside the functions that need it, here and in each family's ``train.py``, so modules
that only build command lines (and their ``--help``) run without the train extra.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from mammoedge.runtime.preprocess import standardize_intensity

from .splits import Split, check_seed

if TYPE_CHECKING:
    import torch
    from torch import nn

C = TypeVar("C", bound="TrainConfig")


def option(default: Any, help: str) -> Any:
    """A training option that ``train MODEL`` offers on the command line (``--name``, with ``help``)."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """What every model family's training takes; a family adds its data options and may change defaults.

    A family's subclass names the split its validation data comes from and its default output folder:
    ``class TrainConfig(training.TrainConfig, validation=Split.X, out="build/x")``.
    """

    #: the split the validation data is drawn from, at ``training seed`` places into it
    validation_split: ClassVar[Split]
    #: the default folder of ``train MODEL`` (weights, ``training.json``, the curve)
    out: ClassVar[Path]

    def __init_subclass__(cls, *, validation: Split, out: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.validation_split, cls.out = validation, Path(out)

    seed: int = option(Split.TRAIN.seed, f"training seed (Split.TRAIN: {Split.TRAIN.seeds.start}.."
                                         f"{Split.TRAIN.seeds.stop - 1})")
    steps: int = option(3000, "optimizer steps")
    batch: int = option(16, "samples per step")
    lr: float = 2e-3  #: peak learning rate of the one-cycle schedule
    width: int = option(8, "channels of the first stage")
    threads: int = option(2, "PyTorch threads")

    @property
    def training_seed(self) -> int:
        """``seed``, checked to lie in ``Split.TRAIN``."""
        return check_seed(self.seed, Split.TRAIN, what="training seed")

    @property
    def validation_seed(self) -> int:
        """The validation data's seed: ``seed`` places into ``validation_split``."""
        return self.validation_split.offset(self.training_seed)


def add_train_arguments(parser: argparse.ArgumentParser, config_type: type[TrainConfig]) -> None:
    """``--out`` and one option per field of ``config_type`` declared with ``option``."""
    parser.add_argument("--out", type=Path, default=config_type.out, help="checkpoint folder")
    for field in dataclasses.fields(config_type):
        if "help" in field.metadata:
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=field.default,
                                help=field.metadata["help"])


def config_from_args(config_type: type[C], args: argparse.Namespace) -> C:
    """The training configuration the command line asked for."""
    return config_type(**{f.name: getattr(args, f.name) for f in dataclasses.fields(config_type)
                          if "help" in f.metadata})


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


class Look(enum.StrEnum):
    """How an acquisition chain renders the breast: screen-film digitised, or a digital detector."""

    FILM = "film"
    DIGITAL = "digital"


@dataclasses.dataclass(frozen=True, kw_only=True)
class DomainLook:
    """One draw of the domain randomization (``draw_look``); every effect is applied by ``apply_look``."""

    look: Look
    spacing_mm: float  #: the acquisition's pixel spacing, resampled to the model's 0.1 mm as the runtime does
    mtf_sigma_mm: float  #: Gaussian MTF of the detector or screen-film (plus digitiser) before sampling
    quantum_noise: float  #: white noise std at the acquisition's spacing (standardized units)
    grain_noise: float  #: correlated film-grain noise std (0 for a digital look)
    grain_sigma_px: float  #: correlation length of the grain, px at 0.1 mm
    gamma: float  #: power law on the 0..1 range before re-standardizing (LUT / film contrast)
    levels: int  #: grey levels across the tissue's 2nd-98th percentile span (8-bit film: ~100-250)
    scratches: int  #: straight thin lines (film scratches, digitiser streaks)
    fibres: int  #: curved thin bright lines (lint, hair)
    specks: int  #: dust specks (a few px, bright, sharp: not blurred by the X-ray system)
    film_edge: bool  #: a sharp edge to clear or black film across the patch


def draw_look(rng: np.random.Generator) -> DomainLook:
    """Film-like (digitised at 0.042-0.2 mm, 8 or 12 bit, grain, artefacts) or digital (0.05-0.1 mm, 12-14
    bit, quantum noise); ranges in docs/detector.md."""
    film = bool(rng.random() < 0.5)
    if film:
        spacing = float(np.exp(rng.uniform(np.log(0.042), np.log(0.2))))
        levels = int(rng.choice([int(rng.uniform(90, 250)), int(rng.uniform(900, 3500))], p=[0.6, 0.4]))
    else:
        spacing = float(rng.uniform(0.05, 0.1))
        levels = int(rng.uniform(1500, 12000))
    return DomainLook(
        look=Look.FILM if film else Look.DIGITAL, spacing_mm=spacing,
        mtf_sigma_mm=float(rng.uniform(0.02, 0.08) if film else rng.uniform(0.02, 0.05)),
        quantum_noise=float(rng.uniform(0.0, 0.03)),
        grain_noise=float(rng.uniform(0.005, 0.04)) if film else 0.0,
        grain_sigma_px=float(rng.uniform(0.4, 1.2)),
        gamma=float(np.exp(rng.uniform(np.log(0.6), np.log(1.7)))),
        levels=levels,
        scratches=int(rng.poisson(0.4)) if film else 0,
        fibres=int(rng.poisson(0.3)) if film else 0,
        specks=int(rng.poisson(1.0)) if film else 0,
        film_edge=bool(film and rng.random() < 0.05),
    )


def resample_at(image: np.ndarray, spacing_mm: float, model_spacing_mm: float = 0.1) -> np.ndarray:
    """``image`` (at ``model_spacing_mm``) as an acquisition at ``spacing_mm`` would reach the model: for a
    coarser spacing, shrunk (area) and enlarged back (linear) as the runtime's normalize does; a finer one
    only changes the MTF (``apply_look``)."""
    import cv2

    factor = spacing_mm / model_spacing_mm
    if factor <= 1.0:
        return image
    h, w = image.shape
    small = cv2.resize(image, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _line(canvas: np.ndarray, rng: np.random.Generator, value: float, curved: bool) -> None:
    import cv2

    h, w = canvas.shape
    start = rng.uniform([0, 0], [w, h])
    heading = rng.uniform(0, 2 * np.pi)
    steps = 20
    turn = rng.normal(0, 0.15 if curved else 0.005, steps).cumsum()
    length = rng.uniform(0.2, 1.0) * (w + h) / (4 if curved else 1)
    pts = start + np.cumsum(np.stack([np.cos(heading + turn), np.sin(heading + turn)], 1) * length / steps, 0)
    cv2.polylines(canvas, [np.round(np.vstack([start, pts])).astype(np.int32)], False, value, 1, cv2.LINE_AA)


def apply_look(image: np.ndarray, look: DomainLook, rng: np.random.Generator) -> np.ndarray:
    """A standardized 0.1-mm image (float32) rendered through ``look``, re-standardized. Positions are kept
    (blur, resampling and noise do not move a calcification), so the target map stays valid."""
    import cv2

    out = np.asarray(image, np.float32).copy()
    sigma_px = look.mtf_sigma_mm / 0.1
    if sigma_px > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma_px)
    noise_scale = np.sqrt(0.1 / look.spacing_mm)  # white noise per pixel grows as pixels shrink
    out += rng.standard_normal(out.shape, dtype=np.float32) * np.float32(look.quantum_noise * noise_scale)
    if look.grain_noise > 0:
        grain = cv2.GaussianBlur(rng.standard_normal(out.shape, dtype=np.float32), (0, 0), look.grain_sigma_px)
        grain *= np.float32(look.grain_noise / max(float(grain.std()), 1e-6))
        out += grain
    out = resample_at(out, look.spacing_mm)
    artefacts = np.zeros_like(out)
    for _ in range(look.scratches):
        _line(artefacts, rng, float(rng.choice([-1.0, 1.0]) * rng.uniform(0.05, 0.3)), curved=False)
    for _ in range(look.fibres):
        _line(artefacts, rng, float(rng.uniform(0.1, 0.5)), curved=True)
    for _ in range(look.specks):
        x, y = (int(v) for v in rng.integers(0, out.shape[::-1]))
        r = int(rng.integers(1, 3))
        cv2.circle(artefacts, (x, y), r - 1 if r > 1 else 0, float(rng.uniform(0.3, 1.5)), -1)
    out += artefacts
    if look.film_edge:
        h, w = out.shape
        col = int(rng.uniform(0.6, 0.95) * w)
        out[:, col:] = np.float32(0.0 if rng.random() < 0.5 else 1.3)
    # LUT: a power law on the 0..1 range, then the grey levels of the file, then the runtime's standardization
    top = max(float(np.percentile(out, 99.5)), 1e-3)
    out = np.clip(out / np.float32(top), 0.0, 1.0) ** np.float32(look.gamma)
    inside = out > 0.2 * float(np.median(out))  # as the detector's patches are standardized
    lo, hi = np.percentile(out[inside], [2, 98]) if inside.any() else (0.0, 1.0)
    step = max(float(hi - lo), 1e-3) / look.levels
    out = (np.round(out / np.float32(step)) * np.float32(step)).astype(np.float32)
    inside = out > 0.2 * float(np.median(out))
    return standardize_intensity(out, inside if inside.any() else np.ones_like(inside))


def domain_augment(image: np.ndarray, rng: np.random.Generator, probability: float) -> np.ndarray:
    """With ``probability``, ``image`` through a random film or digital look (``draw_look``); else as it is."""
    if probability <= 0 or rng.random() >= probability:
        return image
    return apply_look(image, draw_look(rng), rng)


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


def finish(model: nn.Module, config: TrainConfig, out_dir: Path, *, weights: str, data_seconds: float,
           run: tuple[dict[str, list[float]], float], title: str, loss: str, **extra: Any) -> dict[str, Any]:
    """Save the weights as ``out_dir/weights``, write ``training.json`` (configuration, parameter count,
    timings, ``extra``, history) and the training curve; return what ``training.json`` holds."""
    history, train_seconds = run
    save_weights(model, out_dir / weights)
    summary = {"config": dataclasses.asdict(config), "parameters": parameter_count(model),
               "data_seconds": round(data_seconds, 1), "train_seconds": round(train_seconds, 1),
               **{key: value(train_seconds) if callable(value) else value for key, value in extra.items()},
               "history": history}
    (out_dir / "training.json").write_text(json.dumps(summary, indent=2))
    plot_curves(history, out_dir / "training-curve.png", title=title, loss=loss)
    return summary

