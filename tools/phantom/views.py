"""Render one full mammographic view (CC or MLO) of a 3-D breast, ideal orientation (chest wall left)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from . import anatomy, physics
from .calcifications import CalcShape
from .texture import DENSITY_MODELS, glandular_fraction, structures
from .truth import Density

COARSE_MM = 0.2  #: anatomy (outline, texture) is computed at this spacing, then interpolated


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlacedCalc:
    """One calcification of a cluster at its 3-D position in the breast."""

    cluster_id: int
    uvw_mm: np.ndarray  #: (3,)
    shape: CalcShape


@dataclasses.dataclass(frozen=True, kw_only=True)
class RenderedCalc:
    cluster_id: int
    x: float
    y: float
    length_mm: float
    shape: CalcShape


@dataclasses.dataclass(frozen=True, kw_only=True)
class RenderedView:
    """A view before vendor encoding: presentation image, raw counts and what is in it (ideal orientation)."""

    image: np.ndarray  #: float32 ideal presentation image, ln(N0/N) + equalization
    counts: np.ndarray  #: float32 detected quanta per pixel (For Processing source)
    n0: float
    inside: np.ndarray  #: bool breast mask
    spacing_mm: float
    nipple_px: tuple[float, float]
    calcs: tuple[RenderedCalc, ...]
    breast_area_mm2: float
    dense_area_fraction: float


def _upsample(coarse: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    h, w = coarse.shape
    full = cv2.resize(coarse, (w * factor, h * factor), interpolation=cv2.INTER_CUBIC)
    return full[: shape[0], : shape[1]]


def y_center_mm(breast: anatomy.Breast, view: str, shape: tuple[int, int], spacing_mm: float) -> float:
    """Row (mm) of the nipple axis: centred in CC, lower in MLO (the axilla is at the top)."""
    height = shape[0] * spacing_mm
    if view == "CC":
        return height / 2
    return float(min(height - breast.mlo_half_height_mm - 3.0, 0.56 * height))


def render_view(rng: np.random.Generator, breast: anatomy.Breast, view: str, density: Density,
                shape: tuple[int, int], spacing_mm: float, calcs: list[PlacedCalc],
                detector: physics.Detector) -> RenderedView:
    """Render a view at ``spacing_mm`` (at the breast) on an image of ``shape`` (rows, cols)."""
    factor = max(1, int(round(COARSE_MM / spacing_mm)))
    coarse_mm = factor * spacing_mm
    cshape = (-(-shape[0] // factor), -(-shape[1] // factor))
    y0 = y_center_mm(breast, view, shape, spacing_mm)

    signed_c, muscle_c, nipple_c = anatomy.outline(breast, view, cshape, coarse_mm, y0)
    bias_c = anatomy.projected_bias(breast, view, cshape, coarse_mm, y0)
    inside_c = signed_c > 0
    bias_c = 0.9 * (bias_c - float(bias_c[inside_c].mean()))
    gland_c = glandular_fraction(rng, cshape, coarse_mm, density, bias=bias_c)
    gland_c += structures(rng, cshape, coarse_mm, gland_c, toward=nipple_c)
    gland_c *= np.clip(signed_c / 8.0, 0.0, 1.0)  # subcutaneous fat layer
    if muscle_c is not None:
        gland_c *= np.clip(1.0 - muscle_c / (0.1 * breast.thickness_mm), 0.0, 1.0)
    dense = float((gland_c[inside_c] > 0.5 * DENSITY_MODELS[density].gland_scale).mean())

    # everything anatomical is smooth at COARSE_MM: build the line integral there, interpolate once
    tissue_c, skin_c = physics.edge_paths(signed_c, breast.thickness_mm)
    gland_c = np.clip(gland_c, 0.0, 1.0)
    line_c = tissue_c * (np.float32(physics.MU_FAT) + np.float32(physics.MU_GLAND - physics.MU_FAT) * gland_c)
    if muscle_c is not None:
        muscle_c = np.minimum(muscle_c, tissue_c)
        line_c += muscle_c * np.float32(physics.MU_MUSCLE - physics.MU_FAT) * (1.0 - gland_c)
    line_c += skin_c * np.float32(physics.MU_SKIN)
    lift_c = np.float32(physics.EQUALIZATION * physics.MU_FAT) * (breast.thickness_mm - tissue_c - skin_c)
    lift_c *= inside_c
    signed = _upsample(signed_c, factor, shape)
    inside = signed > 0
    line = _upsample(line_c, factor, shape)
    excess = np.zeros(shape, np.float32)
    rendered: list[RenderedCalc] = []

    def project(offsets: np.ndarray) -> np.ndarray:
        return anatomy.view_offsets(breast, view, offsets)

    for placed in calcs:
        center_mm = anatomy.view_point(breast, view, placed.uvw_mm, y0)[0]
        px = center_mm / spacing_mm - 0.5
        if not (0 <= px[0] < shape[1] and 0 <= px[1] < shape[0]) or not inside[int(px[1]), int(px[0])]:
            continue
        result = physics.render_calcification(excess, placed.shape, (px[0], px[1]), spacing_mm, project)
        if result is not None:
            rendered.append(RenderedCalc(cluster_id=placed.cluster_id, x=result[0], y=result[1],
                                         length_mm=result[2], shape=placed.shape))
    line += excess  # calcifications were only placed at points inside the breast

    reference = float(np.median(line_c[inside_c]))
    counts, n0 = physics.expose(line, spacing_mm, rng, detector, reference)
    image = physics.log_image(counts, n0)
    image += _upsample(lift_c, factor, shape) * inside
    nipple = (nipple_c[0] * coarse_mm / spacing_mm, nipple_c[1] * coarse_mm / spacing_mm)
    return RenderedView(image=image, counts=counts, n0=n0, inside=inside, spacing_mm=spacing_mm,
                        nipple_px=nipple, calcs=tuple(rendered),
                        breast_area_mm2=float(inside.sum()) * spacing_mm ** 2, dense_area_fraction=dense)
