"""One 3-D compressed breast and its CC and MLO projections.

Breast coordinates (mm): u from the chest wall toward the nipple, v across the
breast (negative = lateral), w through the compression (positive = cranial).
CC projects along w: image (x, y) = (u, y0 + v). MLO rotates the v-w plane by
the obliquity theta about the nipple axis: s = v cos(theta) - w sin(theta),
image (x, y) = (u * D_mlo / D, y0_mlo + s). The coarse glandular distribution
is one 3-D volume projected both ways, so dense regions and every planted
calcification appear consistently in CC and MLO.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from .texture import DENSITY_MODELS, power_law_field
from .truth import Density


@dataclasses.dataclass(frozen=True, kw_only=True)
class Breast:
    """Shape of one compressed breast (mm) and its 3-D coarse glandular volume."""

    nipple_distance_mm: float  #: D, chest wall to nipple (CC)
    half_width_mm: float  #: R, half the chest-wall width (CC)
    thickness_mm: float  #: T, compressed thickness
    exponent: float  #: super-ellipse exponent of the outline
    obliquity_deg: float  #: MLO tube angle
    pectoral_top_mm: float  #: pectoral muscle width at the top edge (MLO)
    pectoral_length_mm: float  #: pectoral muscle length along the chest wall (MLO)
    volume: np.ndarray  #: (nu, nv, nw) coarse glandular propensity, unit-ish scale

    @property
    def theta(self) -> float:
        return float(np.deg2rad(self.obliquity_deg))

    @property
    def mlo_half_height_mm(self) -> float:
        return self.half_width_mm * np.cos(self.theta) + self.thickness_mm / 2 * np.sin(self.theta) + 10.0

    @property
    def mlo_nipple_distance_mm(self) -> float:
        return self.nipple_distance_mm * 1.05

    def contains(self, u: float, v: float, w: float, margin: float = 0.0) -> bool:
        """Is the point (mm) inside the compressed breast, at least ``margin`` (0..1) from its outline?"""
        if not 0 <= u <= self.nipple_distance_mm:
            return False
        reach = self.half_width_mm * (1 - (u / self.nipple_distance_mm) ** self.exponent) ** 0.5
        return abs(v) <= reach * (1 - margin) and abs(w) <= self.thickness_mm / 2 * (1 - margin)


def make_breast(rng: np.random.Generator, density: Density, shared: np.random.Generator | None = None,
                like: Breast | None = None) -> Breast:
    """A breast for a density; ``like`` gives the contralateral breast (similar, not identical)."""
    model = DENSITY_MODELS[density]
    if like is None:
        area = float(np.clip(rng.normal(model.area_mm2_mean, 0.22 * model.area_mm2_mean), 6000, 30000))
        k = float(rng.uniform(0.75, 1.15))  # D / R
        half = float(np.sqrt(2 * area / (np.pi * k)))
        thickness = float(np.clip(rng.normal(30 + 22 * area / 15000, 6), 25, 85))
        params = dict(nipple_distance_mm=k * half, half_width_mm=half, thickness_mm=thickness,
                      exponent=float(rng.uniform(1.8, 2.6)), obliquity_deg=float(rng.uniform(40, 55)),
                      pectoral_top_mm=float(rng.uniform(25, 55)), pectoral_length_mm=float(rng.uniform(70, 140)))
    else:
        def jitter(value: float, rel: float) -> float:
            return float(value * rng.normal(1.0, rel))
        params = dict(nipple_distance_mm=jitter(like.nipple_distance_mm, 0.04),
                      half_width_mm=jitter(like.half_width_mm, 0.04),
                      thickness_mm=jitter(like.thickness_mm, 0.05), exponent=jitter(like.exponent, 0.05),
                      obliquity_deg=like.obliquity_deg, pectoral_top_mm=jitter(like.pectoral_top_mm, 0.1),
                      pectoral_length_mm=jitter(like.pectoral_length_mm, 0.1))
    volume = _glandular_volume(rng, shared, params)
    return Breast(volume=volume, **params)


def _glandular_volume(rng: np.random.Generator, shared: np.random.Generator | None, p: dict) -> np.ndarray:
    """Coarse (2 mm-ish) glandular propensity: central/retro-areolar envelope + 3-D power-law field."""
    nu, nv, nw = 48, 64, 16
    spacing = (p["nipple_distance_mm"] / nu + 2 * p["half_width_mm"] / nv) / 2
    own = np.stack([power_law_field(rng, (nu, nv), spacing, f_low=0.02) for _ in range(nw)], axis=2)
    if shared is not None:  # left and right share part of their structure
        common = np.stack([power_law_field(shared, (nu, nv), spacing, f_low=0.02) for _ in range(nw)], axis=2)
        own = np.sqrt(0.4) * own + np.sqrt(0.6) * common
    # smooth along w so that layers are correlated (a 3-D, not stacked-2-D, structure)
    own = cv2.GaussianBlur(own.reshape(nu, nv * nw), (0, 0), 0.1).reshape(nu, nv, nw)
    own = (own + np.roll(own, 1, axis=2) + np.roll(own, -1, axis=2)) / 3
    u = (np.arange(nu) + 0.5)[:, None, None] / nu
    v = (np.arange(nv) + 0.5)[None, :, None] / nv * 2 - 1
    w = (np.arange(nw) + 0.5)[None, None, :] / nw * 2 - 1
    envelope = 1.2 * (1 - ((u - 0.45) / 0.55) ** 2 - ((v + 0.1) / 0.75) ** 2 - (w / 0.9) ** 2)
    return (0.8 * own / max(float(own.std()), 1e-6) + envelope).astype(np.float32)


def projected_bias(breast: Breast, view: str, shape: tuple[int, int], spacing_mm: float,
                   y0_mm: float) -> np.ndarray:
    """The 3-D volume's mean along the view's rays, on an image grid (unit-variance-ish bias)."""
    vol = breast.volume
    nu, nv, nw = vol.shape
    h, w = shape
    x_mm = (np.arange(w) + 0.5) * spacing_mm
    y_mm = (np.arange(h) + 0.5) * spacing_mm - y0_mm
    if view == "CC":
        proj = vol.mean(axis=2)  # (nu, nv) over u in [0, D], v in [-R, R]
        u_idx = x_mm / breast.nipple_distance_mm * nu - 0.5
        v_idx = (y_mm / breast.half_width_mm + 1) / 2 * nv - 0.5
    else:
        th = breast.theta
        s_half = breast.mlo_half_height_mm
        ns = nv
        s_grid = (np.arange(ns) + 0.5) / ns * 2 * s_half - s_half
        w_grid = ((np.arange(nw) + 0.5) / nw * 2 - 1) * breast.thickness_mm / 2
        proj = np.zeros((nu, ns), np.float32)
        for k, wk in enumerate(w_grid):  # s = v cos(th) - w sin(th)  =>  v = (s + w sin(th)) / cos(th)
            v = (s_grid + wk * np.sin(th)) / np.cos(th)
            vi = (v / breast.half_width_mm + 1) / 2 * nv - 0.5
            for i in range(nu):
                proj[i] += np.interp(vi, np.arange(nv), vol[i, :, k], left=vol[i, 0, k], right=vol[i, -1, k])
        proj /= nw
        u_idx = x_mm / breast.mlo_nipple_distance_mm * nu - 0.5
        v_idx = (y_mm / s_half + 1) / 2 * ns - 0.5
    map_x = np.broadcast_to(v_idx[:, None], (h, w)).astype(np.float32)
    map_y = np.broadcast_to(u_idx[None, :], (h, w)).astype(np.float32)
    return cv2.remap(proj.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def outline(breast: Breast, view: str, shape: tuple[int, int], spacing_mm: float, y0_mm: float,
            ) -> tuple[np.ndarray, np.ndarray | None, tuple[float, float]]:
    """Signed distance to the skin line (mm, > 0 inside), pectoral-muscle path (mm, MLO), nipple (x, y) px.

    The chest wall (left edge) and, in MLO, the axilla (top edge) are not skin
    lines: the distance is measured as if tissue continued beyond them.
    """
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xm, ym = (xx + 0.5) * spacing_mm, (yy + 0.5) * spacing_mm - y0_mm
    if view == "CC":
        depth, half = breast.nipple_distance_mm, breast.half_width_mm
    else:
        depth, half = breast.mlo_nipple_distance_mm, breast.mlo_half_height_mm
    p = breast.exponent
    if view == "MLO":  # the upper half reaches the axilla at the top edge of the image
        x_top = min(0.8 * depth, 1.6 * breast.pectoral_top_mm)
        q_up = 1.3  # a nearly straight upper contour from the axilla down to the nipple
        half_up = y0_mm / (1.0 - (x_top / depth) ** p) ** (1 / q_up)
        half_y = np.where(ym < 0, np.float32(half_up), np.float32(half))
        q = np.where(ym < 0, np.float32(q_up), np.float32(2.0))
    else:
        half_y, q = np.float32(half), np.float32(2.0)
    inside = (np.clip(xm / depth, 0, None) ** p + np.abs(ym / half_y) ** q) <= 1.0
    nipple = (depth / spacing_mm, y0_mm / spacing_mm)
    nipple_r = 4.0
    inside |= np.hypot(xm - depth, ym) <= nipple_r
    muscle = None
    if view == "MLO":  # pectoral muscle: a convex triangle in the upper-left corner
        top = -y0_mm
        a, b = breast.pectoral_top_mm, breast.pectoral_length_mm
        rel = xm / a + (ym - top) / b - 0.3 * (xm / a) * ((ym - top) / b)
        muscle = (np.clip((1 - rel) * 2.0, 0, 1) ** 0.8 * 0.38 * breast.thickness_mm).astype(np.float32)
    pad = 64
    mask = cv2.copyMakeBorder(inside.astype(np.uint8), pad if view == "MLO" else 0, 0, pad, 0,
                              cv2.BORDER_REPLICATE)
    d_in = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    d_out = cv2.distanceTransform(1 - mask, cv2.DIST_L2, 5)
    top = pad if view == "MLO" else 0
    signed = (d_in - d_out)[top:, pad:] * np.float32(spacing_mm)
    signed = signed - np.float32(0.5 * spacing_mm) * (signed > 0) + np.float32(0.5 * spacing_mm) * (signed < 0)
    return signed.astype(np.float32), muscle, nipple


def view_point(breast: Breast, view: str, uvw: np.ndarray, y0_mm: float) -> np.ndarray:
    """Breast coordinates (N, 3) mm -> ideal-orientation image position (N, 2) mm."""
    uvw = np.atleast_2d(uvw)
    if view == "CC":
        return np.stack([uvw[:, 0], y0_mm + uvw[:, 1]], axis=1)
    th = breast.theta
    s = uvw[:, 1] * np.cos(th) - uvw[:, 2] * np.sin(th)
    return np.stack([uvw[:, 0] * breast.mlo_nipple_distance_mm / breast.nipple_distance_mm, y0_mm + s], axis=1)


def view_offsets(breast: Breast, view: str, offsets: np.ndarray) -> np.ndarray:
    """Small 3-D offsets (mm) -> in-plane offsets (mm) for a view (no translation)."""
    if view == "CC":
        return offsets[:, :2]
    th = breast.theta
    return np.stack([offsets[:, 0] * breast.mlo_nipple_distance_mm / breast.nipple_distance_mm,
                     offsets[:, 1] * np.cos(th) - offsets[:, 2] * np.sin(th)], axis=1)
