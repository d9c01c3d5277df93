"""Training data for the detector: phantom patches, standardized and augmented, with stride-4 targets."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from mammoedge.runtime.preprocess import standardize_intensity

from .model import STRIDE


class PatchSource(Protocol):
    """Anything that yields (image, calcification truths with .x, .y, .diameter_mm, .length_mm)."""

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, Sequence]: ...


#: the morphologies the detector misses most (faint specks, thin lines), oversampled by ``hard_fraction``
HARD_MORPHOLOGIES = ("amorphous", "fine_linear_branching")


class PhantomPatches:
    """Patches from the phantom generator's fast path (``make_training_patch``).

    ``hard_fraction`` of the patches carry one or two clusters of a hard
    morphology (``HARD_MORPHOLOGIES``); the rest follow the phantom's own mix.
    """

    def __init__(self, size: int = 256, spacing_mm: float = 0.1, hard_fraction: float = 0.0) -> None:
        self.size, self.spacing_mm, self.hard_fraction = size, spacing_mm, hard_fraction

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, Sequence]:
        from mammoedge.tools.phantom import make_training_patch

        if self.hard_fraction and rng.random() < self.hard_fraction:
            return make_training_patch(rng, size=self.size, spacing_mm=self.spacing_mm,
                                       morphology=str(rng.choice(HARD_MORPHOLOGIES)),
                                       n_clusters=int(rng.integers(1, 3)))
        return make_training_patch(rng, size=self.size, spacing_mm=self.spacing_mm)


def standardize_patch(image: np.ndarray) -> np.ndarray:
    """The runtime's standardization, with the tissue in the patch standing in for the breast."""
    inside = image > 0.2 * float(np.median(image))
    return standardize_intensity(image, inside if inside.any() else np.ones_like(image, bool))


#: Local contrast of a whole view standardized over its breast, relative to a patch standardized over
#: itself, and the level it sits at (held-out phantom views: 2-mm high-pass std 0.045 vs 0.093,
#: median 0.67 vs 0.46); ``augment`` draws from around these so training covers what the runtime sees.
VIEW_CONTRAST = (0.35, 1.0)
VIEW_LEVEL = (0.35, 0.8)


def augment(image: np.ndarray, rng: np.random.Generator, view_contrast: float = 0.0) -> np.ndarray:
    """Vendor-like intensity changes: a sigmoid VOI half of the time; with probability ``view_contrast``
    the contrast and level of a whole standardized view (``VIEW_CONTRAST``, ``VIEW_LEVEL``); then a
    gain and offset."""
    out = image
    if rng.random() < 0.5:
        centre = float(rng.uniform(0.3, 0.7))
        width = float(rng.uniform(0.15, 0.6))
        out = 1.0 / (1.0 + np.exp(-(out - centre) / width))
        out = standardize_intensity(out.astype(np.float32), out > np.percentile(out, 5))
    if view_contrast and rng.random() < view_contrast:
        out = float(rng.uniform(*VIEW_LEVEL)) + float(rng.uniform(*VIEW_CONTRAST)) * (out - float(np.median(out)))
    gain, offset = float(rng.uniform(0.7, 1.4)), float(rng.uniform(-0.1, 0.1))
    return np.maximum(out * gain + offset, 0.0).astype(np.float32)


def target_map(truths: Sequence, shape: tuple[int, int], spacing_mm: float) -> np.ndarray:
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


#: A cell within this distance of a cluster member is "in the cluster" (half the ~5 mm spacing of a
#: sparse BI-RADS grouped cluster: 5 calcifications within 1 cm), so a cluster's cells join into one blob.
CLUSTER_RADIUS_MM = 2.5
#: Fewest members of one cluster inside the image for it to be marked (a lone skin or dystrophic
#: calcification has a cluster id too; a crop may cut a cluster).
CLUSTER_MIN_MEMBERS = 3


def cluster_target_map(truths: Sequence, shape: tuple[int, int], spacing_mm: float) -> np.ndarray:
    """Stride-4 cluster target: 1 within ``CLUSTER_RADIUS_MM`` of a member of a cluster with at least
    ``CLUSTER_MIN_MEMBERS`` members in ``truths`` (``cluster_id`` None: an isolated calcification)."""
    rows, cols = shape[0] // STRIDE, shape[1] // STRIDE
    target = np.zeros((rows, cols), np.float32)
    radius = CLUSTER_RADIUS_MM / (STRIDE * spacing_mm)
    yy, xx = np.mgrid[0:rows, 0:cols]
    ids = [getattr(t, "cluster_id", None) for t in truths]
    for t, cluster_id in zip(truths, ids):
        if cluster_id is None or ids.count(cluster_id) < CLUSTER_MIN_MEMBERS:
            continue
        cx, cy = (t.x + 0.5) / STRIDE - 0.5, (t.y + 0.5) / STRIDE - 0.5
        target[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2] = 1.0
    return target


def targets_for(truths: Sequence, shape: tuple[int, int], spacing_mm: float, clusters: bool) -> np.ndarray:
    """(1 or 2, H/4, W/4): the calcification target, and with ``clusters`` the cluster target."""
    maps = [target_map(truths, shape, spacing_mm)]
    if clusters:
        maps.append(cluster_target_map(truths, shape, spacing_mm))
    return np.stack(maps)


def make_set(source: PatchSource, count: int, seed: int, spacing_mm: float = 0.1,
             progress: bool = False, clusters: bool = False) -> tuple[np.ndarray, np.ndarray, list[list]]:
    """``count`` standardized patches (N,1,H,W), targets (N,1,H/4,W/4; with ``clusters`` (N,2,...), see
    ``targets_for``) and the truths, deterministic."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    images, targets, truths = [], [], []
    for _ in tqdm(range(count), desc="patches", unit="patch", disable=not progress):
        image, truth = source.sample(rng)
        images.append(standardize_patch(image))
        targets.append(targets_for(truth, image.shape, spacing_mm, clusters))
        truths.append(list(truth))
    return np.stack(images)[:, None], np.stack(targets), truths
