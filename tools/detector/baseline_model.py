"""Classical detectors behind the runtime's model interface, so they run through the same tiling and analysis.

``BaselineModel`` (the issue's classical baseline): per tile, the DoG / local-contrast
score of ``baseline.py``, max-pooled to the detector's stride 4 and squashed to 0..1 by
``sigmoid(score - 4)`` (the same squash as ``baseline_detect``).

``PrewhitenedModel`` (a linear observer, not a detector to ship): per tile, a speck
template (Gaussian, sigma 0.1 mm, minus its local background: a Gaussian three times
as wide) matched filter prewhitened by the noise power
spectrum of the tile's breast pixels (radially averaged), in units of its noise standard deviation, squashed
by ``sigmoid(z - 6.7)`` (peak threshold 0.1 = z 4.5). For white Gaussian noise this is
the ideal detector of that speck; for the phantom's 1/f^3 anatomy it is the best linear
one under a stationary model.

The runtime's peak extraction and clustering treat both like the CNN's ``prob`` output.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mammoedge.runtime.inference.manifest import InputSpec, ModelEntry, OutputSpec

from .baseline import baseline_score_map
from .model import STRIDE


class BaselineModel:
    """Duck-typed stand-in for ``runtime.inference.CompiledModel`` (``entry``, ``backend``, ``device``, ``infer``)."""

    backend = "opencv"
    device = "CPU"

    def __init__(self) -> None:
        self.entry = ModelEntry(
            name="baseline-dog", version="1", path=Path("baseline.py"), sha256="", precision="fp32",
            inputs=(InputSpec(name="image", shape=(None, 1, None, None), spacing_mm=0.1),),
            outputs=(OutputSpec(name="prob", meaning="squashed DoG contrast-to-noise", stride=STRIDE),))

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        kernel = np.ones((STRIDE, STRIDE), np.uint8)
        maps = []
        for tile in np.asarray(batch, np.float32)[:, 0]:
            score = cv2.dilate(baseline_score_map(tile), kernel)[STRIDE // 2::STRIDE, STRIDE // 2::STRIDE]
            maps.append(1.0 / (1.0 + np.exp(-(score - 4.0))))
        return {"prob": np.stack(maps)[:, None].astype(np.float32)}


#: Speck template width (px at 0.1 mm) and the z-score squashed to 0.5.
SPECK_SIGMA_PX = 1.0
#: Width of the local background the speck template subtracts, in speck sigmas.
SURROUND = 3.0
Z_AT_HALF = 6.7
_PAD = 32
#: Standardized intensity above which a pixel is breast; tiles with less breast than this are not judged.
BREAST_FLOOR = 0.03
MIN_BREAST_FRACTION = 0.1


def radial_nps(tile: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Noise power spectrum of a square tile's ``mask`` pixels on its ``rfft2`` grid (masked mean removed,
    Hann-windowed, radially averaged): per frequency, the variance a pixel of a stationary field with that
    spectrum carries."""
    n = tile.shape[0]
    window = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32) * mask
    centred = tile - np.float32((tile * mask).sum(dtype=np.float64) / mask.sum())
    power = np.abs(np.fft.rfft2(centred * window)) ** 2 / float((window ** 2).sum())
    bins = _radial_bins(n)
    profile = np.bincount(bins.ravel(), power.ravel()) / np.maximum(np.bincount(bins.ravel()), 1)
    return np.maximum(profile[bins], 1e-12 * profile.max())


def _radial_bins(n: int) -> np.ndarray:
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(n), np.fft.rfftfreq(n), indexing="ij"))
    return np.minimum(np.round(f * n).astype(int), n // 2 + 1)


def prewhitened_z(tile: np.ndarray, sigma_px: float = SPECK_SIGMA_PX) -> np.ndarray:
    """Prewhitened matched-filter response to a Gaussian speck at every pixel, in noise standard deviations."""
    h, w = tile.shape
    n = cv2.getOptimalDFTSize(max(h, w) + 2 * _PAD)
    padded = np.pad(np.asarray(tile, np.float32), ((_PAD, n - h - _PAD), (_PAD, n - w - _PAD)), mode="reflect")
    # the noise is the breast's: the standardized image is 0 outside it (breast p2 maps to 0.1)
    mask = cv2.erode((padded > BREAST_FLOOR).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(np.float32)
    if mask.mean() < MIN_BREAST_FRACTION:
        return np.zeros((h, w), np.float32)
    nps = radial_nps(padded, mask)
    f2 = np.add.outer(np.fft.fftfreq(n) ** 2, np.fft.rfftfreq(n) ** 2)
    # the speck on an unknown local background: Gaussian minus a wider one (both unit area, so no DC),
    # a real, even spectrum; whitened
    template = np.exp(-2 * np.pi ** 2 * sigma_px ** 2 * f2) - np.exp(-2 * np.pi ** 2 * (SURROUND * sigma_px) ** 2 * f2)
    weights = template / nps
    response = np.fft.irfft2(np.fft.rfft2(padded) * weights, s=(n, n))
    # noise variance = mean over the full spectrum of |W|^2 NPS; rfft holds the half spectrum (edges count once)
    full = weights ** 2 * nps
    inner = full[:, 1:(n + 1) // 2]
    noise_sd = float(np.sqrt((full.sum() + inner.sum()) / (n * n)))
    return (response[_PAD:_PAD + h, _PAD:_PAD + w] / noise_sd).astype(np.float32)


class PrewhitenedModel(BaselineModel):
    """The prewhitened speck filter behind the model interface."""

    def __init__(self) -> None:
        super().__init__()
        self.entry = ModelEntry(
            name="prewhitened-speck", version="1", path=Path("baseline_model.py"), sha256="", precision="fp32",
            inputs=(InputSpec(name="image", shape=(None, 1, None, None), spacing_mm=0.1),),
            outputs=(OutputSpec(name="prob", meaning="squashed prewhitened speck z-score", stride=STRIDE),))

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        kernel = np.ones((STRIDE, STRIDE), np.uint8)
        maps = []
        for tile in np.asarray(batch, np.float32)[:, 0]:
            z = cv2.dilate(prewhitened_z(tile), kernel)[STRIDE // 2::STRIDE, STRIDE // 2::STRIDE]
            maps.append(1.0 / (1.0 + np.exp(-(z - Z_AT_HALF))))
        return {"prob": np.stack(maps)[:, None].astype(np.float32)}
