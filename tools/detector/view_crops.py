"""Training crops cut from full phantom exams as the runtime sees them (read, resampled, standardized).

Patches from ``make_training_patch`` are rendered at 0.1 mm and standardized over
themselves; a view reaches the detector through a vendor's pixel pitch, blur,
VOI and the runtime's resampling and whole-breast standardization. Crops of
normalized views close that gap: half are centred near a planted
calcification (jittered), half anywhere in the breast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .data import targets_for

#: Crops centred near a planted calcification (the rest: anywhere in the breast).
NEAR_CALCIFICATION = 0.5
#: Largest offset of a near-calcification crop's centre from the calcification, px.
JITTER_PX = 80


@dataclass(frozen=True)
class CropTruth:
    x: float
    y: float
    diameter_mm: float
    length_mm: float
    cluster_id: int | None = None


def view_truths(normalized: Any, view_truth: dict) -> list[CropTruth]:
    """Every planted calcification of one view, in normalized px."""
    records = [(c, cluster["cluster_id"]) for cluster in view_truth["clusters"] for c in cluster["calcifications"]]
    if not records:
        return []
    xy = normalized.transform.from_original(np.array([[c["x"], c["y"]] for c, _ in records], float))
    inside = (xy[:, 0] >= 0) & (xy[:, 1] >= 0) & (xy[:, 0] < normalized.image.shape[1]) \
        & (xy[:, 1] < normalized.image.shape[0])
    return [CropTruth(float(x), float(y), float(c["diameter_mm"]), float(c["length_mm"]), cluster_id)
            for (x, y), (c, cluster_id), keep in zip(xy, records, inside) if keep]


def crop_view(image: np.ndarray, mask: np.ndarray, truths: list[CropTruth], rng: np.random.Generator, count: int,
              size: int) -> list[tuple[np.ndarray, list[CropTruth]]]:
    """``count`` crops (size x size, origin on the model's stride) with the truths inside each."""
    rows, cols = image.shape
    if rows < size or cols < size:
        image = np.pad(image, ((0, max(0, size - rows)), (0, max(0, size - cols))))
        rows, cols = image.shape
    breast = np.argwhere(mask[::8, ::8]) * 8
    out = []
    for _ in range(count):
        if truths and rng.random() < NEAR_CALCIFICATION:
            t = truths[int(rng.integers(len(truths)))]
            cy, cx = t.y + rng.uniform(-JITTER_PX, JITTER_PX), t.x + rng.uniform(-JITTER_PX, JITTER_PX)
        elif len(breast):
            cy, cx = breast[int(rng.integers(len(breast)))] + rng.uniform(0, 8, 2)
        else:
            cy, cx = rng.uniform(0, rows), rng.uniform(0, cols)
        y0 = int(np.clip(cy - size / 2, 0, rows - size)) // 4 * 4
        x0 = int(np.clip(cx - size / 2, 0, cols - size)) // 4 * 4
        inside = [CropTruth(t.x - x0, t.y - y0, t.diameter_mm, t.length_mm, t.cluster_id) for t in truths
                  if x0 <= t.x < x0 + size and y0 <= t.y < y0 + size]
        out.append((np.ascontiguousarray(image[y0:y0 + size, x0:x0 + size], dtype=np.float32), inside))
    return out


def exam_crops(folder: Path, crops_per_view: int, size: int, seed: int,
               clusters: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Crops and stride-4 targets (``data.targets_for``) of every view of one exam, deterministic for ``seed``."""
    from mammoedge.runtime.config import load_config
    from mammoedge.runtime.dicom import read_mammogram
    from mammoedge.runtime.preprocess import normalize

    config = load_config(None)
    rng = np.random.default_rng(seed)
    truth = json.loads((folder / "truth.json").read_text())
    images, targets = [], []
    for view_truth in truth["views"]:
        normalized = normalize(read_mammogram(folder / view_truth["file"], config.reader), config.preprocess)
        for crop, inside in crop_view(normalized.image, normalized.mask, view_truths(normalized, view_truth), rng,
                                      crops_per_view, size):
            images.append(crop)
            targets.append(targets_for(inside, crop.shape, normalized.spacing_mm, clusters))
    return np.stack(images)[:, None], np.stack(targets)


def make_view_set(exam_dirs: list[Path], crops_per_view: int, size: int, seed: int,
                  workers: int = 2, progress: bool = False, clusters: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Crops (N,1,size,size) and targets (N,1 or 2,size/4,size/4) from ``exam_dirs``, deterministic for ``seed``."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        jobs = [pool.submit(exam_crops, folder, crops_per_view, size, seed + i, clusters) for i, folder in enumerate(exam_dirs)]
        parts = [job.result() for job in tqdm(jobs, desc="view crops", unit="exam", disable=not progress)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
