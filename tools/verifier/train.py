"""Train the cluster verifier on mined candidate clusters, deterministically for a seed.

Target: 1 for a candidate on a true cluster (suspicious or benign: telling
those apart is the morphology model's job), 0 for a false one. False
candidates outnumber real ones about 10 to 1 at the candidate threshold, and
benign clusters (bright, easy) outnumber suspicious ones (often faint), so
batches are drawn half false, a quarter benign and a quarter suspicious
(balanced sampling); every ROI of a cluster is a sample with the cluster's
label. Binary cross-entropy.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..morphology.data import augment_roi
from ..morphology.model import RoiNet, parameter_count
from .mine import BENIGN, FALSE, SUSPICIOUS_LABEL, MinedSet


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    seed: int = 0
    steps: int = 2000
    batch: int = 32
    lr: float = 3e-3
    width: int = 8
    val_every_exam: int = 5  #: every 5th exam is held out for validation
    threads: int = 2


def split(data: MinedSet, every: int) -> tuple[MinedSet, MinedSet]:
    val = data.exam % every == every - 1
    return data.subset(~val), data.subset(val)


def _pool(data: MinedSet, label: int) -> np.ndarray:
    """(cluster, roi) index pairs of the clusters with ``label``."""
    clusters = np.flatnonzero(data.label == label)
    return np.array([(c, r) for c in clusters for r in range(int(data.roi_count[c]))], int).reshape(-1, 2)


def _batch(data: MinedSet, pools: list[np.ndarray], rng: np.random.Generator, size: int
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Half false ROIs, the other half split evenly over the real pools that are not empty."""
    false, real = pools[0], [p for p in pools[1:] if len(p)]
    counts = [size // 2] + [len(part) for part in np.array_split(np.arange(size - size // 2), len(real))]
    pairs = np.concatenate([pool[rng.integers(0, len(pool), n)] for pool, n in zip([false, *real], counts)])
    images = np.stack([augment_roi(data.rois[c, r], rng) for c, r in pairs])[:, None]
    target = np.concatenate([np.zeros(counts[0]), np.ones(size - counts[0])]).astype(np.float32)
    return torch.from_numpy(images), torch.from_numpy(target)


@torch.no_grad()
def cluster_logits(model: RoiNet, data: MinedSet) -> np.ndarray:
    """Per cluster, the mean logit over its ROIs (as the runtime averages them)."""
    model.eval()
    flat = data.rois.reshape(-1, 1, *data.rois.shape[2:])
    out = np.concatenate([model(torch.from_numpy(flat[i:i + 128]))[0][:, 0].numpy() for i in range(0, len(flat), 128)])
    out = out.reshape(len(data.label), -1)
    used = np.arange(out.shape[1])[None, :] < data.roi_count[:, None]
    return (out * used).sum(axis=1) / used.sum(axis=1)


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half)."""
    pos, neg = scores[positive], scores[~positive]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def train(config: TrainConfig, mined: MinedSet, out_dir: Path, progress: bool = True) -> dict:
    """Train; save ``verifier.pt``, ``training.json`` and the curve PNG in ``out_dir``."""
    from tqdm import tqdm

    from ..detector.train import plot_curves

    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    data, val = split(mined, config.val_every_exam)
    pools = [_pool(data, label) for label in (FALSE, BENIGN, SUSPICIOUS_LABEL)]
    if not len(pools[0]) or not len(pools[1]) + len(pools[2]):
        raise ValueError(f"need real and false candidate clusters to train; got {len(pools[1]) + len(pools[2])} "
                         f"real and {len(pools[0])} false ROIs")
    model = RoiNet(config.width, outputs=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps)
    rng = np.random.default_rng(config.seed)
    history: dict = {"step": [], "train_loss": [], "val_step": [], "val_loss": [], "val_auc": []}
    eval_every = max(1, config.steps // 10)
    running: list[float] = []
    t0 = time.perf_counter()
    for step in tqdm(range(1, config.steps + 1), desc="train verifier", unit="step", disable=not progress):
        model.train()
        x, target = _batch(data, pools, rng, config.batch)
        loss = F.binary_cross_entropy_with_logits(model(x)[0][:, 0], target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        running.append(float(loss.detach()))
        if (step % eval_every == 0 or step == config.steps) and len(val.label):
            logits = cluster_logits(model, val)
            real = val.label != FALSE
            val_loss = float(F.binary_cross_entropy_with_logits(torch.from_numpy(logits),
                                                                torch.from_numpy(real.astype(np.float64))))
            history["step"].append(step)
            history["train_loss"].append(float(np.mean(running)))
            history["val_step"].append(step)
            history["val_loss"].append(val_loss)
            history["val_auc"].append(auc(logits, real))
            running = []
            if progress:
                tqdm.write(f"step {step}: train {history['train_loss'][-1]:.4f} val {val_loss:.4f} "
                           f"AUC {history['val_auc'][-1]:.3f}")
    train_seconds = time.perf_counter() - t0
    torch.save(model.state_dict(), out_dir / "verifier.pt")
    counts = {"train_real": int((data.label != FALSE).sum()), "train_false": int((data.label == FALSE).sum()),
              "val_real": int((val.label != FALSE).sum()), "val_false": int((val.label == FALSE).sum())}
    summary = {"config": dataclasses.asdict(config), "parameters": parameter_count(model), "clusters": counts,
               "train_seconds": round(train_seconds, 1), "history": history}
    (out_dir / "training.json").write_text(json.dumps(summary, indent=2))
    plot_curves(history, out_dir / "training-curve.png", title="Cluster verifier training", loss="cross-entropy")
    return summary


def load_model(path: Path, width: int = 8) -> RoiNet:
    model = RoiNet(width, outputs=1)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
