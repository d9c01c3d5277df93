"""Least-squares triangulation: the point closest to two (or more) source rays, and its uncertainty."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .geometry import ViewGeometry


def closest_point(origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, float]:
    """The point minimizing the summed squared distance to K rays (origins, unit directions: (K, 3)),
    and the RMS distance of the rays from it (mm)."""
    eye = np.eye(3)
    projectors = eye[None] - directions[:, :, None] * directions[:, None, :]  # I - d d^T per ray
    a = projectors.sum(axis=0)
    b = np.einsum("kij,kj->i", projectors, origins)
    point = np.linalg.solve(a, b)
    residual = np.einsum("kij,kj->ki", projectors, point[None] - origins)
    return point, float(np.sqrt((residual ** 2).sum(axis=1).mean()))


def triangulate(views: Sequence[ViewGeometry], pixels: Sequence[tuple[float, float]]) -> tuple[np.ndarray, float]:
    """(X, Y, Z) mm of a point from its (column, row) in each view, and the rays' RMS miss distance (mm)."""
    origins = np.stack([v.source for v in views])
    directions = np.concatenate([v.rays(np.array([p])) for v, p in zip(views, pixels)])
    return closest_point(origins, directions)


def reprojection_residuals(views: Sequence[ViewGeometry], pixels: Sequence[tuple[float, float]],
                           point: np.ndarray) -> np.ndarray:
    """(K, 2) measured minus projected pixel positions of ``point``."""
    return np.array([np.asarray(p, float) - v.project(point)[0] for v, p in zip(views, pixels)])


def point_covariance(views: Sequence[ViewGeometry], point: np.ndarray, sigma_px: float) -> np.ndarray:
    """3x3 covariance of a triangulated point for isotropic pixel noise ``sigma_px`` in every view
    (Gauss-Newton: sigma^2 (J^T J)^-1 with J the stacked projection Jacobians)."""
    jac = np.concatenate([v.jacobian(point)[0] for v in views])  # (2K, 3)
    return sigma_px ** 2 * np.linalg.inv(jac.T @ jac)
