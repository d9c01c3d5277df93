"""Parenchymal texture: power-law (1/f^beta) fibroglandular fields, ducts, Cooper's ligaments.

Real mammograms have an anatomical noise power spectrum P(f) ~ f^-beta with
beta about 3 (Burgess et al., Med Phys 28:419, 2001; Heine & Velthuizen 2002).
Glandular tissue is built as the mean of a few soft-thresholded power-law
layers (a binary-like tissue mixture keeps the f^-3 law), then ducts running
toward the nipple, thin ligament arcs in fat and blood vessels (smooth tubes, ``vessels``) are added on top.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from .truth import Density


@dataclasses.dataclass(frozen=True, kw_only=True)
class DensityModel:
    """How much glandular tissue a BI-RADS category means in this phantom."""

    threshold: float  #: threshold on a unit-variance field; lower = more dense tissue
    gland_scale: float  #: fraction of the breast thickness that the densest rays hold
    area_mm2_mean: float  #: mean CC breast area (fatty breasts are larger on average)


#: Dense-area fractions roughly a <25 %, b 25-50 %, c 50-75 %, d >75 % (BI-RADS 5th ed. wording).
DENSITY_MODELS: dict[Density, DensityModel] = {
    Density.A: DensityModel(threshold=1.05, gland_scale=0.45, area_mm2_mean=19000.0),
    Density.B: DensityModel(threshold=0.45, gland_scale=0.50, area_mm2_mean=16000.0),
    Density.C: DensityModel(threshold=-0.15, gland_scale=0.55, area_mm2_mean=13500.0),
    Density.D: DensityModel(threshold=-0.80, gland_scale=0.60, area_mm2_mean=11000.0),
}

#: Population shares of BI-RADS densities (about 10/40/40/10 % in US screening).
DENSITY_PREVALENCE: dict[Density, float] = {Density.A: 0.1, Density.B: 0.4, Density.C: 0.4, Density.D: 0.1}


def power_law_field(rng: np.random.Generator, shape: tuple[int, int], spacing_mm: float,
                    beta: float = 3.0, f_low: float = 0.015, elongation: float = 1.0) -> np.ndarray:
    """Gaussian random field with power spectrum (f^2 + f_low^2)^(-beta/2), unit std, float32.

    ``elongation`` > 1 stretches structures along x (rows run chest wall -> nipple).
    """
    h, w = shape
    fy = np.fft.fftfreq(h, d=spacing_mm).astype(np.float32)[:, None] / np.float32(elongation)
    fx = np.fft.rfftfreq(w, d=spacing_mm).astype(np.float32)[None, :] * np.float32(elongation)
    amplitude = (fx * fx + fy * fy + np.float32(f_low * f_low)) ** np.float32(-beta / 4.0)
    amplitude[0, 0] = 0.0
    white = rng.standard_normal((h, w), dtype=np.float32)
    field = np.fft.irfft2(np.fft.rfft2(white) * amplitude, s=(h, w)).astype(np.float32)
    field -= field.mean()
    field /= max(float(field.std()), 1e-12)
    return field


def _soft_step(x: np.ndarray, width: float) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(x * np.float32(1.0 / width))


def glandular_fraction(rng: np.random.Generator, shape: tuple[int, int], spacing_mm: float,
                       density: Density, bias: np.ndarray | float = 0.0, layers: int = 3) -> np.ndarray:
    """Fraction (0..1) of the local breast thickness that is fibroglandular, float32.

    ``bias`` (unit-variance scale) raises density where tissue is expected,
    e.g. the central/subareolar region of a full view.
    """
    model = DENSITY_MODELS[density]
    total = np.zeros(shape, np.float32)
    for _ in range(layers):
        field = power_law_field(rng, shape, spacing_mm, elongation=float(rng.uniform(1.0, 1.8)))
        total += _soft_step(field + bias - model.threshold, 0.8)
    return total * np.float32(model.gland_scale / layers)


def _random_walk(rng: np.random.Generator, start: np.ndarray, heading: float, steps: int,
                 step_px: float, wiggle: float) -> np.ndarray:
    angles = heading + np.cumsum(rng.normal(0.0, wiggle, steps))
    deltas = np.stack([np.cos(angles), np.sin(angles)], axis=1) * step_px
    return start + np.vstack([[0.0, 0.0], np.cumsum(deltas, axis=0)])


#: Visible vessels per cm² of image (a CC view of ~150 cm² shows ~5-10 vessels of 1-3 mm).
VESSELS_PER_CM2 = 0.05
#: Nominal compressed thickness (mm) turning a vessel's chord into a fraction of the breast's thickness.
NOMINAL_THICKNESS_MM = 50.0


def _spawned(rng: np.random.Generator) -> np.random.Generator:
    """A child generator that leaves ``rng``'s own stream untouched (every older phantom seed draws as before)."""
    try:
        return rng.spawn(1)[0]
    except (TypeError, ValueError):  # a generator made without a SeedSequence
        return np.random.default_rng(int(rng.integers(2**63)))


def vessels(rng: np.random.Generator, shape: tuple[int, int], spacing_mm: float,
            toward: tuple[float, float] | None = None, count: int | None = None) -> np.ndarray:
    """Blood vessels as extra glandular fraction: long, gently curving tubes of 0.8-3 mm whose projection is the
    chord through a cylinder (2 sqrt(r^2 - d^2), over a nominal 50 mm thickness; blood attenuates about as
    glandular tissue). They run toward ``toward`` (the nipple, (col, row) px) or rightward, and taper."""
    h, w = shape
    area_cm2 = h * w * spacing_mm * spacing_mm / 100.0
    n = count if count is not None else int(rng.poisson(VESSELS_PER_CM2 * area_cm2))
    out = np.zeros(shape, np.float32)
    scale = 1.0 / spacing_mm
    for _ in range(n):
        start = rng.uniform([-0.1 * w, 0], [0.6 * w, h])
        heading = (rng.normal(0.0, 0.5) if toward is None else
                   float(np.arctan2(toward[1] - start[1], toward[0] - start[0])) + rng.normal(0, 0.4))
        length_mm = rng.uniform(30, 120)
        pts = _random_walk(rng, start, heading, 40, length_mm * scale / 40, 0.03)
        radius_mm = rng.uniform(0.4, 1.5)
        line = np.full(shape, 255, np.uint8)
        cv2.polylines(line, [np.round(pts).astype(np.int32)], False, 0, 1, cv2.LINE_8)
        if line.all():  # the vessel runs outside the image
            continue
        dist_mm = cv2.distanceTransform(line, cv2.DIST_L2, 3) * np.float32(spacing_mm)
        # taper: the radius shrinks along the vessel (nearest centreline point's position along it)
        along = np.clip((np.arange(h)[:, None] * 0 + np.arange(w)[None, :] - start[0]) / max(w, 1), 0.0, 1.0)
        r = np.float32(radius_mm) * (1.0 - 0.4 * along.astype(np.float32))
        chord = 2.0 * np.sqrt(np.maximum(r * r - dist_mm * dist_mm, 0.0))
        out += chord.astype(np.float32) * np.float32(1.0 / NOMINAL_THICKNESS_MM)
    return out


def structures(rng: np.random.Generator, shape: tuple[int, int], spacing_mm: float,
               gland: np.ndarray, toward: tuple[float, float] | None = None,
               duct_count: int | None = None, ligament_count: int | None = None,
               vessel_count: int | None = None) -> np.ndarray:
    """Ducts (toward the nipple, branching), Cooper's ligament arcs and vessels, as extra glandular fraction.

    ``toward`` is the (col, row) pixel the ducts converge on (the nipple); None: rightward. The vessels draw
    from a spawned generator, so the rest of a phantom is the same for a seed as before they were added.
    """
    vessel_rng = _spawned(rng)
    h, w = shape
    area_cm2 = h * w * spacing_mm * spacing_mm / 100.0
    canvas = np.zeros(shape, np.float32)
    n_ducts = duct_count if duct_count is not None else int(rng.poisson(0.35 * area_cm2) + 1)
    scale = 1.0 / spacing_mm  # px per mm
    for _ in range(n_ducts):
        start = rng.uniform([0, 0], [w, h])
        if toward is None:
            heading = rng.normal(0.0, 0.35)
        else:
            heading = float(np.arctan2(toward[1] - start[1], toward[0] - start[0])) + rng.normal(0, 0.2)
        length_mm = rng.uniform(10, 40)
        pts = _random_walk(rng, start, heading, 24, length_mm * scale / 24, 0.05)
        thick = max(1, int(round(rng.uniform(0.8, 2.0) * scale)))
        cv2.polylines(canvas, [np.round(pts).astype(np.int32)], False, float(rng.uniform(0.3, 0.7)), thick,
                      cv2.LINE_AA)
        for _ in range(rng.integers(0, 3)):  # side branches
            k = int(rng.integers(4, 20))
            branch = _random_walk(rng, pts[k], heading + rng.choice([-1, 1]) * rng.uniform(0.4, 0.9), 10,
                                  length_mm * 0.4 * scale / 10, 0.15)
            cv2.polylines(canvas, [np.round(branch).astype(np.int32)], False, float(rng.uniform(0.2, 0.5)),
                          max(1, thick - 1), cv2.LINE_AA)
    n_lig = ligament_count if ligament_count is not None else int(rng.poisson(0.6 * area_cm2) + 1)
    ligaments = np.zeros(shape, np.float32)
    for _ in range(n_lig):
        center = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        axes = (int(rng.uniform(4, 20) * scale), int(rng.uniform(2, 10) * scale))
        start = float(rng.uniform(0, 360))
        cv2.ellipse(ligaments, center, axes, float(rng.uniform(0, 180)), start, start + rng.uniform(40, 140),
                    float(rng.uniform(0.25, 0.6)), max(1, int(round(0.25 * scale))), cv2.LINE_AA)
    sigma = max(0.3, 0.35 * scale)
    canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)
    ligaments = cv2.GaussianBlur(ligaments, (0, 0), max(0.3, 0.12 * scale))
    tubes = vessels(vessel_rng, shape, spacing_mm, toward, vessel_count)
    return 0.10 * canvas + 0.06 * ligaments * (1.0 - np.clip(gland * 2.0, 0.0, 1.0)) + tubes
