"""Image measurements used by the realism tests and the docs: spectrum exponent, CNR."""

from __future__ import annotations

import numpy as np


def radial_power_spectrum(image: np.ndarray, spacing_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of a square ROI (Hann-windowed): (frequency c/mm, power)."""
    roi = image.astype(np.float64) - float(image.mean())
    n = roi.shape[0]
    window = np.outer(np.hanning(n), np.hanning(roi.shape[1]))
    power = np.abs(np.fft.fftshift(np.fft.fft2(roi * window))) ** 2
    fy = np.fft.fftshift(np.fft.fftfreq(n, d=spacing_mm))
    fx = np.fft.fftshift(np.fft.fftfreq(roi.shape[1], d=spacing_mm))
    radius = np.hypot(*np.meshgrid(fx, fy))
    df = fx[1] - fx[0]
    bins = np.round(radius / df).astype(int)
    sums = np.bincount(bins.ravel(), power.ravel())
    counts = np.bincount(bins.ravel())
    keep = counts > 0
    return (np.arange(len(sums)) * df)[keep], sums[keep] / counts[keep]


def spectrum_exponent(image: np.ndarray, spacing_mm: float, f_min: float = 0.1, f_max: float = 1.0) -> float:
    """beta of P(f) ~ f^-beta, a least-squares line in log-log over [f_min, f_max] c/mm."""
    freq, power = radial_power_spectrum(image, spacing_mm)
    band = (freq >= f_min) & (freq <= f_max)
    slope, _ = np.polyfit(np.log(freq[band]), np.log(power[band]), 1)
    return float(-slope)


def contrast_to_noise(image: np.ndarray, x: float, y: float, radius_px: float) -> float:
    """CNR of an object at (x, y): (peak in r <= radius - mean of an annulus) / annulus std."""
    h, w = image.shape
    r_out = radius_px + 12
    y0, y1 = max(0, int(y - r_out)), min(h, int(y + r_out) + 1)
    x0, x1 = max(0, int(x - r_out)), min(w, int(x + r_out) + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dist = np.hypot(xx - x, yy - y)
    patch = image[y0:y1, x0:x1]
    inner = patch[dist <= max(radius_px, 1.0)]
    ring = patch[(dist >= radius_px + 6) & (dist <= r_out)]
    return float((inner.max() - ring.mean()) / max(ring.std(), 1e-9))


def report(seed: int = 0, patches: int = 12) -> dict[str, dict[str, float]]:
    """Measured realism figures (used in docs/phantom.md): beta and brightness by density, CNR by type."""
    from .patch import make_training_patch
    from .truth import Density, Morphology

    rng = np.random.default_rng(seed)
    clean = dict(edge=False, label=False, marker=False, pectoral=False)
    beta, mean = {}, {}
    for d in Density:
        images = [make_training_patch(rng, density=d, n_clusters=0, **clean)[0] for _ in range(patches)]
        beta[d.value] = float(np.mean([spectrum_exponent(im, 0.1) for im in images]))
        mean[d.value] = float(np.mean([im.mean() for im in images]))
    cnr = {}
    for m in Morphology:
        values = []
        for _ in range(patches // 2):
            image, truth = make_training_patch(rng, density=Density.B, n_clusters=1, morphology=m, **clean)
            values += [contrast_to_noise(image, c.x, c.y, max(1.0, c.length_mm / 0.2)) for c in truth]
        cnr[m.value] = float(np.median(values)) if values else float("nan")
    return {"beta_by_density": beta, "mean_line_integral_by_density": mean, "median_cnr_by_morphology": cnr}


if __name__ == "__main__":
    import json

    print(json.dumps(report(), indent=1))
