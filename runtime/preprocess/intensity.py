"""The detector's input scale: one fixed mapping of breast-tissue intensities."""

from __future__ import annotations

import numpy as np

#: Robust percentiles of breast tissue and the values they are mapped to.
LOW_PERCENTILE, HIGH_PERCENTILE = 2.0, 98.0
LOW_VALUE, HIGH_VALUE = 0.1, 0.9


def standardize_intensity(image: np.ndarray, mask: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Map the breast's 2nd/98th intensity percentiles to 0.1/0.9, linearly.

    ``out = 0.1 + 0.8 * (x - p2) / (p98 - p2)``, clipped below at 0 (air and
    background) but not above, so calcifications brighter than the tissue keep
    their contrast. Percentiles are taken over every 4th breast pixel, which is
    deterministic. ``image`` has denser tissue brighter; returns float32, written into ``out`` when given (a
    float32 array of the image's shape, ``image`` itself allowed): the same values, no temporary images.
    """
    image = np.asarray(image, dtype=np.float32)
    sample = image[mask][::4] if mask.any() else image.ravel()[::4]
    low, high = np.percentile(sample, [LOW_PERCENTILE, HIGH_PERCENTILE])
    span = float(high - low) if high > low else 1.0
    scale = np.float32((HIGH_VALUE - LOW_VALUE) / span)
    out = np.subtract(image, np.float32(low), out=out)
    out *= scale
    out += np.float32(LOW_VALUE)
    np.maximum(out, np.float32(0.0), out=out)
    return out
