"""Train the detector on phantom patches, deterministically for a seed.

Class imbalance: a calcification covers ~0.3 % of stride-4 cells. The loss is
the focal loss (Lin et al. 2017; alpha 0.25, gamma 2), which lets the many easy
background cells fade so the hard ones (dense tissue, ducts, labels, noise)
carry the gradient; the phantom's patch mix keeps ~70 % of patches with
calcifications (balanced sampling), and burned-in labels, skin lines,
vascular and skin calcifications appear in their own proportion.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data import PatchSource, PhantomPatches, augment, make_set
from .model import CalcDetector, parameter_count


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    seed: int = 0
    patches: int = 2400  #: training patches generated up front
    val_patches: int = 200
    hard_fraction: float = 0.0  #: share of patches with amorphous / fine-linear clusters (docs/detector.md)
    view_contrast: float = 0.0  #: share of crops given a whole view's contrast and level (data.augment; docs)
    steps: int = 3000
    batch: int = 16
    crop: int = 160
    lr: float = 2e-3
    width: int = 8
    threads: int = 2
    view_exams: int = 0  #: full phantom exams whose normalized views give crops too (view_crops.py; docs)
    view_crops: int = 12  #: crops per view
    view_exam_seed: int = 6_000_000  #: a seed range no evaluation set uses
    cluster_head: bool = False  #: a second output, cluster probability (model.py; docs/detector.md)
    init_checkpoint: str = ""  #: start from these weights (a detector.pt without the cluster head is fine)
    head_only: bool = False  #: train only the cluster head; the calcification output stays the checkpoint's


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Mean focal loss, normalized by the number of positive cells (as in RetinaNet)."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    weight = (alpha * target + (1 - alpha) * (1 - target)) * (1 - p_t) ** gamma
    return (weight * ce).sum() / target.sum().clamp(min=1.0)


def detector_loss(model: CalcDetector, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Focal loss of each output against its target channel (calcifications; clusters), summed."""
    return sum(focal_loss(logits, y[:, i:i + 1]) for i, logits in enumerate(model.all_logits(x)))


def _batch(images: np.ndarray, targets: np.ndarray, rng: np.random.Generator, batch: int, crop: int,
           view_contrast: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    idx = rng.integers(0, len(images), batch)
    size = images.shape[-1]
    xs, ys = [], []
    for i in idx:
        ox, oy = (int(v) * 4 for v in rng.integers(0, (size - crop) // 4 + 1, 2))
        img = augment(images[i, 0, oy:oy + crop, ox:ox + crop], rng, view_contrast)
        tgt = targets[i, :, oy // 4:(oy + crop) // 4, ox // 4:(ox + crop) // 4]
        if rng.random() < 0.5:
            img, tgt = img[::-1], tgt[:, ::-1]
        xs.append(np.ascontiguousarray(img))
        ys.append(np.ascontiguousarray(tgt))
    return torch.from_numpy(np.stack(xs)[:, None]), torch.from_numpy(np.stack(ys))


def view_sets(config: TrainConfig, exams_dir: Path, progress: bool) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(train, validation) crops of full phantom views; every 10th exam is validation."""
    from .view_crops import make_view_set
    from .view_eval import make_heldout_exams

    exams = make_heldout_exams(exams_dir, count=config.view_exams, seed=config.view_exam_seed,
                               profiles=("hologic", "ge", "siemens", "fuji"))
    train_exams = [e for i, e in enumerate(exams) if i % 10 != 9]
    val_exams = [e for i, e in enumerate(exams) if i % 10 == 9]
    return (make_view_set(train_exams, config.view_crops, 256, seed=config.seed, progress=progress,
                          clusters=config.cluster_head),
            make_view_set(val_exams, 4, 256, seed=config.seed + 10_000, clusters=config.cluster_head))


def train(config: TrainConfig, out_dir: Path, source: PatchSource | None = None, progress: bool = True,
          view_exams_dir: Path | None = None) -> dict:
    """Train, save ``detector.pt`` and ``training.json`` (+ curve PNG) in ``out_dir``; return the history.

    With ``config.view_exams``, crops of that many full phantom exams (written to ``view_exams_dir``) join
    the patches, and the validation loss is over both."""
    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    source = source or PhantomPatches(hard_fraction=config.hard_fraction)
    started = time.perf_counter()
    images, targets, _ = make_set(source, config.patches, seed=config.seed, progress=progress,
                                  clusters=config.cluster_head)
    val_images, val_targets, _ = make_set(source, config.val_patches, seed=config.seed + 10_000,
                                          clusters=config.cluster_head)
    if config.view_exams:
        (crops, crop_targets), (val_crops, val_crop_targets) = view_sets(
            config, view_exams_dir or out_dir / "view-exams", progress)
        images, targets = np.concatenate([images, crops]), np.concatenate([targets, crop_targets])
        val_images = np.concatenate([val_images, val_crops])
        val_targets = np.concatenate([val_targets, val_crop_targets])
    data_seconds = time.perf_counter() - started

    model = CalcDetector(config.width, config.cluster_head)
    if config.init_checkpoint:
        model.load_state_dict(torch.load(config.init_checkpoint, map_location="cpu", weights_only=True), strict=False)
    if config.head_only:
        model.requires_grad_(False)
        model.cluster.requires_grad_(True)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps)
    rng = np.random.default_rng(config.seed)
    history: dict = {"step": [], "train_loss": [], "val_step": [], "val_loss": []}
    eval_every = max(1, config.steps // 10)
    running = []
    t0 = time.perf_counter()
    for step in tqdm(range(1, config.steps + 1), desc="train detector", unit="step", disable=not progress):
        model.train()
        if config.head_only:
            model.trunk_eval()
        x, y = _batch(images, targets, rng, config.batch, config.crop, config.view_contrast)
        loss = detector_loss(model, x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        running.append(float(loss.detach()))
        if step % eval_every == 0 or step == config.steps:
            history["step"].append(step)
            history["train_loss"].append(float(np.mean(running)))
            running = []
            history["val_step"].append(step)
            history["val_loss"].append(validation_loss(model, val_images, val_targets))
            if progress:
                tqdm.write(f"step {step}: train {history['train_loss'][-1]:.4f} val {history['val_loss'][-1]:.4f}")
    train_seconds = time.perf_counter() - t0
    torch.save(model.state_dict(), out_dir / "detector.pt")
    summary = {"config": dataclasses.asdict(config), "parameters": parameter_count(model),
               "data_seconds": round(data_seconds, 1), "train_seconds": round(train_seconds, 1),
               "patches_per_second": round(config.steps * config.batch / train_seconds, 1), "history": history}
    (out_dir / "training.json").write_text(json.dumps(summary, indent=2))
    plot_curves(history, out_dir / "training-curve.png")
    return summary


@torch.no_grad()
def validation_loss(model: CalcDetector, images: np.ndarray, targets: np.ndarray) -> float:
    model.eval()
    losses = [float(detector_loss(model, torch.from_numpy(images[i:i + 16]), torch.from_numpy(targets[i:i + 16])))
              for i in range(0, len(images), 16)]
    return float(np.mean(losses))


def plot_curves(history: dict, path: Path, title: str = "Calcification detector training",
                loss: str = "focal") -> None:
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


def load_model(path: Path, width: int = 8, cluster_head: bool = False) -> CalcDetector:
    model = CalcDetector(width, cluster_head)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
