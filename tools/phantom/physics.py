"""Image formation: attenuation line integrals, breast-edge profile, quantum noise, detector blur.

Intensity convention ("ideal presentation image", before any vendor encoding):
the value of a pixel is the measured attenuation line integral
``P = ln(N0 / N)`` (dimensionless), so air is 0 and denser tissue and
calcifications are brighter, plus a smooth peripheral equalization that lifts
the thin breast edge the way vendor processing does. Chest wall on the left.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import cv2
import numpy as np

from .calcifications import CalcShape

#: Linear attenuation, 1/mm, near 20 keV (Johns & Yaffe, PMB 32:675, 1987:
#: fat 0.456/cm, fibroglandular 0.802/cm; skin close to glandular; skeletal
#: muscle ~0.85/cm from ICRU-44 muscle, mu/rho ~0.81 cm2/g at 20 keV, rho 1.05).
MU_FAT = 0.0456
MU_GLAND = 0.0802
MU_SKIN = 0.0800
MU_MUSCLE = 0.0850
SKIN_MM = 1.5
#: fraction of the edge thickness fall-off that presentation processing restores
EQUALIZATION = 0.75


@dataclasses.dataclass(frozen=True, kw_only=True)
class Detector:
    """Detector response: blur (Gaussian sigma at the detector) and dose."""

    blur_mm: float = 0.045  #: a-Se direct ~0.03-0.05 mm, CsI indirect ~0.06-0.08 mm
    quanta_per_mm2: float = 2.0e5  #: detected quanta behind the breast (AEC target)


def edge_paths(distance_mm: np.ndarray, thickness_mm: float, skin_mm: float = SKIN_MM
               ) -> tuple[np.ndarray, np.ndarray]:
    """Path lengths (tissue, skin) in mm of a ray at ``distance_mm`` inside the skin line.

    The compressed breast's free edge is a half-cylinder of radius T/2; skin is a
    shell of ``skin_mm`` over it (and over both paddle sides), which makes the
    skin line a thin bright rim.
    """
    d = np.asarray(distance_mm, np.float32)
    r = np.float32(thickness_mm / 2.0)
    inner_r = np.float32(max(thickness_mm / 2.0 - skin_mm, 0.0))
    off2 = np.square(np.maximum(r - d, np.float32(0.0)))
    outer = np.float32(2.0) * np.sqrt(np.maximum(r * r - off2, np.float32(0.0)))
    inner = np.float32(2.0) * np.sqrt(np.maximum(inner_r * inner_r - off2, np.float32(0.0)))
    inside = d >= 0
    return np.where(inside, inner, np.float32(0.0)), np.where(inside, outer - inner, np.float32(0.0))


def render_calcification(canvas: np.ndarray, shape: CalcShape, center_px: tuple[float, float],
                         spacing_mm: float, project: Callable[[np.ndarray], np.ndarray] | None = None,
                         supersample: int = 3) -> tuple[float, float, float] | None:
    """Add one calcification's excess line integral (mu * chord) to ``canvas`` (image spacing_mm at the object).

    ``project`` maps (N, 3) offsets in mm to (N, 2) in-plane (x right, y down) mm;
    default: drop z. Returns (x, y, length_mm) of the rendered mass centroid, or
    None when it falls outside the canvas.
    """
    xy_mm = project(shape.centers_mm) if project is not None else shape.centers_mm[:, :2]
    xy = np.asarray(center_px, float)[None, :] + xy_mm / spacing_mm
    r_px = shape.radii_mm / spacing_mm
    h, w = canvas.shape
    x0 = max(int(np.floor((xy[:, 0] - r_px).min())) - 1, 0)
    y0 = max(int(np.floor((xy[:, 1] - r_px).min())) - 1, 0)
    x1 = min(int(np.ceil((xy[:, 0] + r_px).max())) + 2, w)
    y1 = min(int(np.ceil((xy[:, 1] + r_px).max())) + 2, h)
    if x1 <= x0 or y1 <= y0:
        return None
    s = supersample
    gx = x0 + (np.arange((x1 - x0) * s) + 0.5) / s - 0.5
    gy = y0 + (np.arange((y1 - y0) * s) + 0.5) / s - 0.5
    chord = np.zeros((len(gy), len(gx)), np.float32)
    holes = np.zeros_like(chord)
    for (cx, cy), r, sign in zip(xy, r_px, shape.signs):
        ix0, ix1 = np.searchsorted(gx, [cx - r, cx + r])
        iy0, iy1 = np.searchsorted(gy, [cy - r, cy + r])
        if ix1 <= ix0 or iy1 <= iy0:
            continue
        d2 = (gx[None, ix0:ix1] - cx) ** 2 + (gy[iy0:iy1, None] - cy) ** 2
        c = (2.0 * spacing_mm * np.sqrt(np.clip(r * r - d2, 0.0, None))).astype(np.float32)
        if sign > 0:
            np.maximum(chord[iy0:iy1, ix0:ix1], c, out=chord[iy0:iy1, ix0:ix1])
        else:
            np.maximum(holes[iy0:iy1, ix0:ix1], c, out=holes[iy0:iy1, ix0:ix1])
    chord = np.clip(chord - holes, 0.0, None)
    local = chord.reshape(y1 - y0, s, x1 - x0, s).mean(axis=(1, 3)) * np.float32(shape.excess_mu)
    mass = float(local.sum())
    if mass <= 0:
        return None
    canvas[y0:y1, x0:x1] += local
    yy, xx = np.mgrid[y0:y1, x0:x1]
    cx, cy = float((local * xx).sum() / mass), float((local * yy).sum() / mass)
    pos = shape.signs > 0
    pts = xy[pos]
    span = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1)).max() if len(pts) > 1 else 0.0
    length_mm = float(span * spacing_mm + 2 * shape.radii_mm[pos].mean())
    return cx, cy, length_mm


def expose(line_integral: np.ndarray, spacing_mm: float, rng: np.random.Generator, detector: Detector,
           reference: float) -> tuple[np.ndarray, float]:
    """Detected quanta per pixel (noisy, blurred) and the unattenuated level N0.

    The automatic exposure control sets N0 so a ray with line integral
    ``reference`` yields ``detector.quanta_per_mm2``; Poisson noise is taken as
    Gaussian with variance = mean (counts are in the thousands).
    """
    n0 = detector.quanta_per_mm2 * spacing_mm * spacing_mm * float(np.exp(reference))
    mean = np.float32(n0) * np.exp(-line_integral, dtype=np.float32)
    noise = rng.standard_normal(mean.shape, dtype=np.float32)
    counts = mean + np.sqrt(mean) * noise
    sigma = detector.blur_mm / spacing_mm
    if sigma > 0.2:
        counts = cv2.GaussianBlur(counts, (0, 0), sigma)
    return counts, n0


def log_image(counts: np.ndarray, n0: float) -> np.ndarray:
    """Attenuation line integral from detected counts: ln(N0 / N), float32."""
    return np.log(np.float32(n0) / np.maximum(counts, np.float32(1e-3)))


def burn_in_text(image: np.ndarray, rng: np.random.Generator, text: str, value: float,
                 spacing_mm: float = 0.1) -> None:
    """Burn a vendor annotation (e.g. "L CC", 3-8 mm tall) into a presentation image, in place."""
    h, w = image.shape
    scale = float(rng.uniform(3.0, 8.0)) / spacing_mm / 22.0  # Hershey simplex: ~22 px tall at scale 1
    thick = max(1, int(round(scale * 2)))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    org = (int(rng.uniform(0, max(1, w - tw))), int(rng.uniform(th, max(th + 1, h))))
    mask = np.zeros((h, w), np.uint8)  # OpenCV 5 draws text on 8-bit images only
    cv2.putText(mask, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA)
    alpha = mask.astype(np.float32) / 255.0
    image *= 1.0 - alpha
    image += alpha * np.float32(value)


def lead_marker(line_integral: np.ndarray, rng: np.random.Generator, spacing_mm: float,
                center: tuple[int, int] | None = None) -> None:
    """A physical lead side-marker (letter in a square) in the beam, added to the line integral."""
    h, w = line_integral.shape
    size = int(8.0 / spacing_mm)
    cx, cy = center if center is not None else (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
    layer = np.zeros(line_integral.shape, np.uint8)  # OpenCV 5 draws text on 8-bit images only
    cv2.rectangle(layer, (cx - size // 2, cy - size // 2), (cx + size // 2, cy + size // 2), 255,
                  max(1, size // 10))
    cv2.putText(layer, str(rng.choice(["L", "R"])), (cx - size // 3, cy + size // 3), cv2.FONT_HERSHEY_SIMPLEX,
                size / 30, 255, max(1, size // 10), cv2.LINE_AA)
    line_integral += layer.astype(np.float32) * np.float32(3.0 / 255.0)
