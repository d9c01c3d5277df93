"""Training data for the detector: phantom patches, standardized and augmented, with stride-4 targets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from mammoedge.runtime.preprocess import standardize_intensity

#: Output stride of the detector: one probability cell per 4 x 4 input pixels (0.4 mm at 0.1 mm).
STRIDE = 4


class PatchSource(Protocol):
    """Anything that yields (image, calcification truths with .x, .y, .diameter_mm, .length_mm)."""

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, Sequence[Any]]: ...


class PhantomPatches:
    """Patches from the phantom generator's fast path (``make_training_patch``), in the phantom's own mix."""

    def __init__(self, size: int = 256, spacing_mm: float = 0.1) -> None:
        self.size, self.spacing_mm = size, spacing_mm

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, Sequence[Any]]:
        from mammoedge.tools.phantom import make_training_patch

        return make_training_patch(rng, size=self.size, spacing_mm=self.spacing_mm)


def standardize_patch(image: np.ndarray) -> np.ndarray:
    """The runtime's standardization, with the tissue in the patch standing in for the breast."""
    inside = image > 0.2 * float(np.median(image))
    return standardize_intensity(image, inside if inside.any() else np.ones_like(image, bool))


def target_map(truths: Sequence[Any], shape: tuple[int, int], spacing_mm: float) -> np.ndarray:
    """Stride-4 target: 1 in every cell a calcification covers (at least its centre cell)."""
    rows, cols = shape[0] // STRIDE, shape[1] // STRIDE
    target = np.zeros((rows, cols), np.float32)
    cell_mm = STRIDE * spacing_mm
    yy, xx = np.mgrid[0:rows, 0:cols]
    for t in truths:
        cx, cy = (t.x + 0.5) / STRIDE - 0.5, (t.y + 0.5) / STRIDE - 0.5
        radius = max(0.75, 0.5 * t.diameter_mm / cell_mm)
        target[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2] = 1.0
        ix, iy = int(round(cx)), int(round(cy))
        if 0 <= iy < rows and 0 <= ix < cols:
            target[iy, ix] = 1.0
    return target


def emphasis_map(truths: Sequence[Any], shape: tuple[int, int], spacing_mm: float, faint: float,
                 morphologies: frozenset[str] = frozenset({"amorphous"})) -> np.ndarray:
    """Stride-4 loss weights: ``faint`` on the cells of calcifications of ``morphologies`` (the faint amorphous
    type), 1 elsewhere."""
    weights = np.ones((shape[0] // STRIDE, shape[1] // STRIDE), np.float32)
    chosen = [t for t in truths if str(t.morphology) in morphologies]
    if faint != 1.0 and chosen:
        weights[target_map(chosen, shape, spacing_mm) > 0] = np.float32(faint)
    return weights


def make_set(source: PatchSource, count: int, seed: int, spacing_mm: float = 0.1,
             progress: bool = False) -> tuple[np.ndarray, np.ndarray, list[list[Any]]]:
    """``count`` standardized patches (N,1,H,W), targets (N,1,H/4,W/4) and the truths, deterministic."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    images, targets, truths = [], [], []
    for _ in tqdm(range(count), desc="patches", unit="patch", disable=not progress):
        image, truth = source.sample(rng)
        images.append(standardize_patch(image))
        targets.append(target_map(truth, image.shape, spacing_mm))
        truths.append(list(truth))
    return np.stack(images)[:, None], np.stack(targets)[:, None], truths
