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
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import training
from ..splits import Split
from ..training import Loop, domain_augment, finish, intensity_augment, load_weights, run_loop, seeded
from .data import STRIDE, PatchSource, PhantomPatches, emphasis_map, make_set

if TYPE_CHECKING:
    import torch

    from .model import CalcDetector


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig(training.TrainConfig, validation=Split.DETECTOR_VALIDATION, out="build/detector"):
    patches: int = training.option(2400, "training patches made up front")
    val_patches: int = 200  #: validation patches (seed ``validation_seed``)
    crop: int = training.option(160, "side of the random training crops, px")
    domain: float = training.option(0.0, "share of training crops rendered through a random film or digital "
                                         "look (training.domain_augment; 0: the v1.0 recipe's data)")
    lr: float = training.option(2e-3, "peak learning rate of the one-cycle schedule")
    init: str = training.option("", "start from this FP32 detector ONNX (fine-tuning; BatchNorm statistics "
                                    "frozen); '': from scratch")
    faint: float = training.option(1.0, "focal-loss weight of the cells of faint (amorphous) calcifications "
                                        "(1: no emphasis)")


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0,
               cell_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean focal loss, normalized by the number of positive cells (as in RetinaNet); ``cell_weight`` scales
    each cell's term (``faint`` emphasis)."""
    import torch
    import torch.nn.functional as F

    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    weight = (alpha * target + (1 - alpha) * (1 - target)) * (1 - p_t) ** gamma
    if cell_weight is not None:
        weight = weight * cell_weight
    return (weight * ce).sum() / target.sum().clamp(min=1.0)


def _batch(images: np.ndarray, targets: np.ndarray, rng: np.random.Generator, batch: int, crop: int,
           domain: float = 0.0, weights: np.ndarray | None = None
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    import torch

    idx = rng.integers(0, len(images), batch)
    size = images.shape[-1]
    xs, ys, ws = [], [], []
    for i in idx:
        ox, oy = (int(v) * STRIDE for v in rng.integers(0, (size - crop) // STRIDE + 1, 2))
        img = intensity_augment(domain_augment(images[i, 0, oy:oy + crop, ox:ox + crop], rng, domain), rng)
        cells = (slice(None), slice(oy // STRIDE, (oy + crop) // STRIDE), slice(ox // STRIDE, (ox + crop) // STRIDE))
        tgt = targets[i][cells]
        wgt = weights[i][cells] if weights is not None else tgt
        if rng.random() < 0.5:
            img, tgt, wgt = img[::-1], tgt[:, ::-1], wgt[:, ::-1]
        xs.append(np.ascontiguousarray(img))
        ys.append(np.ascontiguousarray(tgt))
        ws.append(np.ascontiguousarray(wgt))
    cell_weight = torch.from_numpy(np.stack(ws)) if weights is not None else None
    return torch.from_numpy(np.stack(xs)[:, None]), torch.from_numpy(np.stack(ys)), cell_weight


def train(config: TrainConfig, out_dir: Path, source: PatchSource | None = None, progress: bool = True
          ) -> dict[str, Any]:
    """Train, save ``detector.pt`` and ``training.json`` (+ curve PNG) in ``out_dir``; return the summary."""
    from .model import CalcDetector

    out_dir.mkdir(parents=True, exist_ok=True)
    seeded(config.seed, config.threads)
    source = source or PhantomPatches()
    started = time.perf_counter()
    images, targets, truths = make_set(source, config.patches, seed=config.training_seed, progress=progress)
    weights = (np.stack([emphasis_map(t, images.shape[-2:], 0.1, config.faint) for t in truths])[:, None]
               if config.faint != 1.0 else None)
    val_images, val_targets, _ = make_set(source, config.val_patches, seed=config.validation_seed)
    data_seconds = time.perf_counter() - started

    model = CalcDetector(config.width)
    if config.init:
        init_from_onnx(model, Path(config.init))

    def step_loss(rng: np.random.Generator) -> torch.Tensor:
        x, y, w = _batch(images, targets, rng, config.batch, config.crop, config.domain, weights)
        return focal_loss(model.logits(x), y, cell_weight=w)

    run = run_loop(model, Loop(seed=config.seed, steps=config.steps, lr=config.lr, threads=config.threads,
                               desc="train detector"), step_loss,
                   lambda: {"val_loss": validation_loss(model, val_images, val_targets)}, progress)
    return finish(model, config, out_dir, weights="detector.pt", data_seconds=data_seconds, run=run,
                  title="Calcification detector training", loss="focal",
                  patches_per_second=lambda seconds: round(config.steps * config.batch / seconds, 1))


def init_from_onnx(model: CalcDetector, path: Path) -> None:
    """Load an exported detector's weights into ``model`` and keep its BatchNorm layers in eval mode.

    The export folded each BatchNorm into the convolution before it (weight and bias); here each BatchNorm
    becomes that bias with unit statistics (mean 0, variance 1 - eps), so ``model`` computes what the ONNX
    file does, and ``model.train()`` leaves the BatchNorms frozen (batch statistics would change it).
    """
    import onnx
    import torch
    from onnx import numpy_helper
    from torch import nn

    graph = onnx.load(str(path)).graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    modules = dict(model.named_modules())
    loaded = 0
    for node in (n for n in graph.node if n.op_type == "Conv"):
        conv_path = node.name.strip("/").split("/")[-2] if node.name.count("/") > 2 else node.name.strip("/").split("/")[0]
        w, b = (torch.from_numpy(weights[name].copy()) for name in node.input[1:3])
        conv = modules[conv_path]
        assert isinstance(conv, nn.Conv2d) and conv.weight.shape == w.shape, f"{path.name}: {node.name} does not fit"
        with torch.no_grad():
            conv.weight.copy_(w)
            if conv.bias is not None:
                conv.bias.copy_(b)
            else:
                bn = modules[conv_path[:-1] + "1"]
                assert isinstance(bn, nn.BatchNorm2d)
                bn.weight.fill_(1.0)
                bn.bias.copy_(b)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
        loaded += 1
    if loaded != sum(isinstance(m, nn.Conv2d) for m in modules.values()):
        raise ValueError(f"{path.name} holds {loaded} convolutions; the detector has another number")
    plain_train = model.train

    def train_frozen_bn(mode: bool = True) -> CalcDetector:
        plain_train(mode)
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return model

    model.train = train_frozen_bn  # type: ignore[method-assign]


def validation_loss(model: CalcDetector, images: np.ndarray, targets: np.ndarray) -> float:
    """Mean focal loss over ``images`` in batches of 16, in eval mode."""
    import torch

    model.eval()
    with torch.no_grad():
        losses = [float(focal_loss(model.logits(torch.from_numpy(images[i:i + 16])),
                                   torch.from_numpy(targets[i:i + 16]))) for i in range(0, len(images), 16)]
    return float(np.mean(losses))


def load_model(path: Path, width: int = 8) -> CalcDetector:
    """A trained detector from its ``detector.pt``, in eval mode."""
    from .model import CalcDetector

    model = load_weights(CalcDetector(width), path)
    assert isinstance(model, CalcDetector)
    return model
