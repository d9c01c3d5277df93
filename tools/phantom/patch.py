"""Fast path: training patches made directly at the model's pixel spacing.

Same physics and intensity scale as a full view's ideal presentation image
(physics.py): attenuation line integral ln(N0/N), dense = bright, chest wall
to the left (ducts run rightward to the nipple, the skin line, when present,
is on the right), before any vendor encoding.
"""

from __future__ import annotations

import numpy as np

from . import physics
from .errors import PhantomError
from .clusters import FINDING_MIX, pick, plant_cluster
from .texture import DENSITY_PREVALENCE, glandular_fraction, structures
from .truth import CalcTruth, Density, Distribution, Morphology

#: value of burned-in annotations (white on the presentation scale)
LABEL_VALUE = 6.0
LABEL_TEXTS = ("L CC", "R CC", "L MLO", "R MLO", "LCC", "RMLO", "MAG 1.8", "kV 28 mAs 120", "SPOT", "ID 0000")


def _edge_distance(rng: np.random.Generator, size: int, spacing_mm: float) -> np.ndarray:
    """Distance (mm) inside a curved skin line crossing the patch, breast on the left."""
    radius = rng.uniform(50.0, 150.0)
    extent = size * spacing_mm
    cy = rng.uniform(-0.5, 1.5) * extent
    edge_x = rng.uniform(0.3, 0.9) * extent  # where the skin line crosses row cy
    cx = edge_x - radius
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) * np.float32(spacing_mm)
    return radius - np.hypot(xx - cx, yy - cy)


def _pectoral_path(rng: np.random.Generator, size: int, spacing_mm: float, thickness: float) -> np.ndarray:
    """Muscle path length (mm) behind a straight pectoral edge crossing the upper-left corner."""
    angle = rng.uniform(np.deg2rad(20), np.deg2rad(70))
    normal = np.array([-np.cos(angle), -np.sin(angle)])  # points to the upper left
    offset = rng.uniform(0.2, 0.8) * size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    depth_mm = ((xx - offset * np.sin(angle)) * normal[0] + (yy - offset * np.cos(angle)) * normal[1]) * spacing_mm
    return (np.clip(depth_mm / 15.0, 0.0, 1.0) ** 0.8 * 0.38 * thickness).astype(np.float32)


def make_training_patch(rng: np.random.Generator, *, size: int = 256, spacing_mm: float = 0.1,
                        density: Density | str | None = None, thickness_mm: float | None = None,
                        n_clusters: int | None = None, morphology: Morphology | str | None = None,
                        distribution: Distribution | str | None = None, edge: bool | None = None,
                        label: bool | None = None, marker: bool | None = None, pectoral: bool | None = None,
                        detector: physics.Detector | None = None) -> tuple[np.ndarray, list[CalcTruth]]:
    """One patch (float32 size x size) and the truth of every calcification centred in it.

    Unset options are drawn at random: density by population prevalence,
    thickness 30-75 mm, 0 clusters in ~30 % of patches (normal tissue), skin
    line in ~15 %, the pectoral muscle's edge (upper left, as in an MLO) in ~5 %,
    burned-in text in ~10 %, a lead marker in ~3 %.
    """
    if size < 16 or not 0.02 <= spacing_mm <= 0.5:
        raise PhantomError(f"Patch size {size} px at {spacing_mm} mm is outside the rule: size >= 16, "
                         "0.02 <= spacing_mm <= 0.5")
    density = Density(density) if density is not None else pick(rng, DENSITY_PREVALENCE)
    thickness = float(thickness_mm) if thickness_mm is not None else float(rng.uniform(30.0, 75.0))
    detector = detector or physics.Detector(blur_mm=float(rng.uniform(0.035, 0.075)),
                                            quanta_per_mm2=float(rng.uniform(1.2e5, 3.0e5)))
    edge = bool(rng.random() < 0.15) if edge is None else edge
    pectoral = bool(not edge and rng.random() < 0.05) if pectoral is None else pectoral
    shape = (size, size)

    gland = glandular_fraction(rng, shape, spacing_mm, density)
    gland += structures(rng, shape, spacing_mm, gland)
    if edge:
        dist = _edge_distance(rng, size, spacing_mm)
        gland *= np.clip(dist / 8.0, 0.0, 1.0)  # subcutaneous fat under the skin
    else:
        dist = np.full(shape, 1e3, np.float32)
    tissue, skin = physics.edge_paths(dist, thickness)
    gland = np.clip(gland, 0.0, 1.0)
    line = tissue * (np.float32(physics.MU_FAT) + np.float32(physics.MU_GLAND - physics.MU_FAT) * gland)
    line += skin * np.float32(physics.MU_SKIN)
    if pectoral:
        muscle = _pectoral_path(rng, size, spacing_mm, thickness)
        line += muscle * (np.float32(physics.MU_MUSCLE - physics.MU_FAT)
                          - np.float32(physics.MU_GLAND - physics.MU_FAT) * gland)
    inside = dist > 0

    truths: list[CalcTruth] = []
    excess = np.zeros(shape, np.float32)
    count = n_clusters if n_clusters is not None else int(rng.choice([0, 1, 1, 2, 3], p=[0.3, 0.3, 0.2, 0.15, 0.05]))
    for cid in range(count):
        morph = Morphology(morphology) if morphology is not None else pick(rng, FINDING_MIX)
        axis = np.array([1.0, rng.normal(0, 0.4), rng.normal(0, 0.4)])
        cluster = plant_cluster(rng, morph, distribution, axis / np.linalg.norm(axis))
        center = rng.uniform(0.15 * size, 0.85 * size, 2)
        if morph is Morphology.SKIN and edge:  # skin calcifications sit just inside the skin line
            rows, cols = np.nonzero((dist > 0.5) & (dist < 3.0))
            if len(rows):
                k = int(rng.integers(len(rows)))
                center = np.array([cols[k], rows[k]], float)
        for offset, calc in zip(cluster.offsets_mm, cluster.shapes):
            pos = center + offset[:2] / spacing_mm
            if not (0 <= pos[0] < size and 0 <= pos[1] < size) or not inside[int(pos[1]), int(pos[0])]:
                continue
            result = physics.render_calcification(excess, calc, (pos[0], pos[1]), spacing_mm)
            if result is None:
                continue
            x, y, length = result
            if 0 <= x < size and 0 <= y < size:
                truths.append(CalcTruth(x=x, y=y, diameter_mm=calc.diameter_mm, length_mm=length,
                                        morphology=calc.morphology,
                                        cluster_id=None if len(cluster.shapes) == 1 else cid,
                                        suspicious=calc.morphology.suspicious))
    line += excess * inside
    if marker if marker is not None else rng.random() < 0.03:
        physics.lead_marker(line, rng, spacing_mm)

    reference = float(np.median(line[inside])) if inside.any() else 2.0
    counts, n0 = physics.expose(line, spacing_mm, rng, detector, reference)
    image = physics.log_image(counts, n0)
    image += (np.float32(physics.EQUALIZATION * physics.MU_FAT) * (thickness - tissue - skin)) * inside
    if label if label is not None else rng.random() < 0.10:
        physics.burn_in_text(image, rng, str(rng.choice(LABEL_TEXTS)), LABEL_VALUE, spacing_mm)
    return image.astype(np.float32, copy=False), truths
