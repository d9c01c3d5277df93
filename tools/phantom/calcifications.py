"""Single calcifications by BI-RADS morphology, as small sets of 3-D blobs.

A calcification is a union of spheres (a "blob chain"); rim calcifications
subtract an inner sphere. Sizes follow the BI-RADS Atlas (5th ed., 2013)
descriptions: amorphous and fine pleomorphic < 0.5 mm, fine linear < 0.5 mm
wide, coarse heterogeneous 0.5-1 mm, round >= 0.5 mm and punctate < 0.5 mm,
rod-like >= 0.5 mm wide, popcorn 2-3 mm and larger, rim/eggshell around
lucent oil cysts, vascular as parallel tram tracks along a vessel.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .truth import Morphology

#: Excess linear attenuation over breast tissue, 1/mm, effective for a ~28 kVp
#: W/Rh spectrum with scatter (scatter-to-primary ~0.3 with a grid). Solid
#: hydroxyapatite is ~2.5-3/mm near 20 keV (NIST XCOM); calcifications are not
#: solid mineral, so dense types are modelled at 1.2-2.2/mm and the faint,
#: hazy amorphous type at 1.3/mm (as a cloud of tiny specks). Each cluster
#: scales these by a factor 0.6-1.3 (clusters.py), so conspicuity varies.
EXCESS_ATTENUATION: dict[Morphology, float] = {
    Morphology.AMORPHOUS: 1.3,
    Morphology.COARSE_HETEROGENEOUS: 2.0,
    Morphology.FINE_PLEOMORPHIC: 2.2,
    Morphology.FINE_LINEAR_BRANCHING: 2.0,
    Morphology.VASCULAR: 1.2,
    Morphology.COARSE_POPCORN: 1.6,
    Morphology.LARGE_ROD_LIKE: 1.5,
    Morphology.ROUND: 1.6,
    Morphology.PUNCTATE: 2.0,
    Morphology.RIM: 1.6,
    Morphology.DYSTROPHIC: 1.6,
    Morphology.SKIN: 1.2,
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class CalcShape:
    """One calcification: spheres (centres relative to its own centre, mm) and their sign."""

    morphology: Morphology
    centers_mm: np.ndarray  #: (N, 3)
    radii_mm: np.ndarray  #: (N,)
    signs: np.ndarray  #: (N,) +1 adds mineral, -1 removes it (lucent centre)
    excess_mu: float  #: 1/mm
    diameter_mm: float  #: equivalent width


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def _chain(start: np.ndarray, direction: np.ndarray, length: float, radius: float,
           rng: np.random.Generator, wiggle: float = 0.15, jitter: float = 0.2) -> list[tuple[np.ndarray, float]]:
    """Spheres along a wiggly path: a cast (jitter = irregular calibre) or, with small jitter, a smooth rod."""
    step = max(radius * 0.35, 0.015)
    n = max(2, int(length / step))
    out, p, d = [], start.copy(), direction.copy()
    for _ in range(n):
        out.append((p.copy(), radius * rng.uniform(1.0 - jitter, 1.0 + jitter / 2)))
        d = d + rng.normal(0, wiggle, 3) * 0.3
        d /= np.linalg.norm(d)
        p = p + d * step
    return out


def _shape(morph: Morphology, blobs: list[tuple[np.ndarray, float]], diameter: float,
           negatives: list[tuple[np.ndarray, float]] = ()) -> CalcShape:
    centers = np.array([b[0] for b in blobs] + [b[0] for b in negatives], dtype=np.float64)
    radii = np.array([b[1] for b in blobs] + [b[1] for b in negatives], dtype=np.float64)
    signs = np.array([1.0] * len(blobs) + [-1.0] * len(negatives))
    pos = signs > 0
    centers -= centers[pos].mean(axis=0)
    return CalcShape(morphology=morph, centers_mm=centers, radii_mm=radii, signs=signs,
                     excess_mu=EXCESS_ATTENUATION[morph], diameter_mm=float(diameter))


def make_calcification(rng: np.random.Generator, morph: Morphology,
                       axis: np.ndarray | None = None) -> CalcShape:
    """A random calcification of the given morphology; ``axis`` orients elongated types (duct direction)."""
    axis = _unit(rng) if axis is None else axis / np.linalg.norm(axis)
    zero = np.zeros(3)
    if morph is Morphology.AMORPHOUS:  # a hazy cloud of specks too small to give a particle shape
        d = rng.uniform(0.2, 0.45)
        blobs = [(rng.normal(0, d * 0.22, 3), rng.uniform(0.04, 0.09)) for _ in range(rng.integers(3, 7))]
        return _shape(morph, blobs, d)
    if morph is Morphology.PUNCTATE:
        d = rng.uniform(0.12, 0.45)
        return _shape(morph, [(zero, d / 2)], d)
    if morph is Morphology.ROUND:
        d = rng.uniform(0.5, 1.2)
        return _shape(morph, [(zero, d / 2)], d)
    if morph is Morphology.FINE_PLEOMORPHIC:  # irregular particles of varying shape, < 0.5 mm
        d = rng.uniform(0.18, 0.5)
        blobs = [(zero, d / 2 * rng.uniform(0.7, 1.0))]
        for _ in range(rng.integers(1, 4)):
            blobs.append((_unit(rng) * d * rng.uniform(0.2, 0.45), d / 2 * rng.uniform(0.45, 0.8)))
        return _shape(morph, blobs, d)
    if morph is Morphology.COARSE_HETEROGENEOUS:
        d = rng.uniform(0.5, 1.0)
        blobs = [(_unit(rng) * d * rng.uniform(0.0, 0.45), d / 2 * rng.uniform(0.35, 0.6))
                 for _ in range(rng.integers(3, 7))]
        return _shape(morph, blobs, d)
    if morph is Morphology.FINE_LINEAR_BRANCHING:
        w = rng.uniform(0.1, 0.3)
        length = rng.uniform(0.8, 3.0)
        blobs = _chain(zero, axis, length, w / 2, rng)
        if rng.random() < 0.6:  # a branch from a point along the cast
            k = int(rng.integers(1, len(blobs)))
            branch_dir = axis + _unit(rng) * 0.9
            blobs += _chain(blobs[k][0], branch_dir / np.linalg.norm(branch_dir), length * 0.5, w / 2 * 0.8, rng)
        return _shape(morph, blobs, w)
    if morph is Morphology.LARGE_ROD_LIKE:
        w = rng.uniform(0.5, 1.0)
        blobs = _chain(zero, axis, rng.uniform(3.0, 8.0), w / 2, rng, wiggle=0.04, jitter=0.06)
        return _shape(morph, blobs, w)
    if morph is Morphology.VASCULAR:
        vessel = rng.uniform(1.0, 2.0)
        length = rng.uniform(5.0, 14.0)
        side = np.cross(axis, _unit(rng))
        side /= np.linalg.norm(side)
        wall = rng.uniform(0.08, 0.15)
        blobs: list[tuple[np.ndarray, float]] = []
        for offset in (-vessel / 2, vessel / 2):
            track = _chain(side * offset, axis, length, wall, rng, wiggle=0.03, jitter=0.1)
            keep = rng.random(len(track)) < 0.85  # tracks are interrupted
            blobs += [b for b, k in zip(track, keep) if k]
        return _shape(morph, blobs, wall * 2)
    if morph is Morphology.COARSE_POPCORN:  # coalescing coarse lumps of a degenerating fibroadenoma
        d = rng.uniform(2.0, 5.0)
        blobs = [(_unit(rng) * d * rng.uniform(0.0, 0.3), d / 2 * rng.uniform(0.25, 0.5))
                 for _ in range(rng.integers(8, 16))]
        return _shape(morph, blobs, d)
    if morph is Morphology.DYSTROPHIC:  # irregular, plate-like, often with a lucent centre
        d = rng.uniform(1.0, 3.0)
        flat = np.array([1.0, 1.0, 0.3])
        blobs = [(_unit(rng) * flat * d * rng.uniform(0.1, 0.45), rng.uniform(0.15, 0.4))
                 for _ in range(rng.integers(6, 14))]
        negatives = [(zero, d * 0.15)] if rng.random() < 0.5 else []
        return _shape(morph, blobs, d, negatives)
    if morph is Morphology.RIM:
        d = rng.uniform(1.0, 4.0)
        shell = rng.uniform(0.08, 0.18)
        return _shape(morph, [(zero, d / 2)], d, [(zero, d / 2 - shell)])
    if morph is Morphology.SKIN:
        d = rng.uniform(0.5, 1.5)
        return _shape(morph, [(zero, d / 2)], d, [(zero, d / 2 * rng.uniform(0.55, 0.75))])
    raise ValueError(f"Morphology {morph!r} has no shape model; known: {[m.value for m in Morphology]}")
