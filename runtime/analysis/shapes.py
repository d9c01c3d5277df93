"""Shape measures of a 2-D point set in millimetres: linkage, hull, extent, PCA, MST, densest circle."""

from __future__ import annotations

import math

import cv2
import numpy as np


def link_components(points: np.ndarray, link: float) -> list[np.ndarray]:
    """Single-linkage groups: points closer than ``link`` (directly or through others) share a group."""
    n = len(points)
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = np.argsort(points[:, 0], kind="stable") if n else np.zeros(0, int)
    xs = points[order, 0]
    for a in range(n):
        b_end = np.searchsorted(xs, xs[a] + link, side="right")
        if b_end <= a + 1:
            continue
        i = int(order[a])
        near = order[a + 1:b_end]
        distances = np.hypot(*(points[near] - points[i]).T)
        for j in near[distances < link]:
            ri, rj = root(i), root(int(j))
            if ri != rj:
                parent[rj] = ri
    roots = np.array([root(i) for i in range(n)], dtype=int)
    groups = [np.flatnonzero(roots == r) for r in dict.fromkeys(roots.tolist())]
    return sorted(groups, key=lambda g: int(g[0]))


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Hull vertices (counter-clockwise in image orientation); fewer than 3 distinct points: the points."""
    unique = np.unique(points, axis=0)
    if len(unique) < 3:
        return unique
    return cv2.convexHull(unique.astype(np.float32)).reshape(-1, 2).astype(np.float64)


def polygon_area(polygon: np.ndarray) -> float:
    if len(polygon) < 3:
        return 0.0
    x, y = polygon[:, 0], polygon[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def extent(points: np.ndarray) -> float:
    """Largest distance between two points (on the hull, where it is attained)."""
    hull = convex_hull(points)
    if len(hull) < 2:
        return 0.0
    d = hull[:, None, :] - hull[None, :, :]
    return float(np.sqrt((d ** 2).sum(-1)).max())


def principal_axes(points: np.ndarray) -> tuple[float, np.ndarray]:
    """(linearity, unit major axis). Linearity = 1 - sqrt(minor / major eigenvalue): 0 round, 1 a line."""
    if len(points) < 2:
        return 0.0, np.array([1.0, 0.0])
    values, vectors = np.linalg.eigh(np.cov(points.T))
    major, minor = max(values[1], 0.0), max(values[0], 0.0)
    linearity = 0.0 if major <= 0 else 1.0 - math.sqrt(minor / major)
    return float(linearity), vectors[:, 1]


def local_linearity(points: np.ndarray, radius: float, min_neighbours: int = 4) -> float:
    """Mean linearity of each point's neighbourhood (points within ``radius``, at least ``min_neighbours``).

    High for points along lines, including branching and curved ones; low for 2-D scatter.
    """
    values = []
    for point in points:
        near = points[np.hypot(*(points - point).T) <= radius]
        if len(near) >= min_neighbours:
            values.append(principal_axes(near)[0])
    return float(np.mean(values)) if values else 0.0


def minimum_spanning_tree(points: np.ndarray) -> tuple[float, np.ndarray]:
    """(total length, degree of each node) of the Euclidean MST (Prim, O(n^2))."""
    n = len(points)
    degree = np.zeros(n, int)
    if n < 2:
        return 0.0, degree
    in_tree = np.zeros(n, bool)
    in_tree[0] = True
    best = np.hypot(*(points - points[0]).T)
    via = np.zeros(n, int)
    total = 0.0
    for _ in range(n - 1):
        candidates = np.where(in_tree, np.inf, best)
        k = int(np.argmin(candidates))
        total += float(candidates[k])
        degree[k] += 1
        degree[via[k]] += 1
        in_tree[k] = True
        distance = np.hypot(*(points - points[k]).T)
        closer = distance < best
        best[closer] = distance[closer]
        via[closer] = k
    return total, degree


def _counts_within(centres: np.ndarray, points: np.ndarray, radius: float, chunk: int = 512) -> int:
    best = 0
    for start in range(0, len(centres), chunk):
        block = centres[start:start + chunk]
        inside = (((block[:, None, :] - points[None, :, :]) ** 2).sum(-1) <= radius * radius).sum(1)
        best = max(best, int(inside.max()))
    return best


def max_within_circle(points: np.ndarray, diameter: float, pair_limit: int = 300) -> int:
    """Most points inside one circle of ``diameter`` (a lower bound of the exact maximum).

    Circles are centred on each point and, for up to ``pair_limit`` points, on the midpoint
    of each pair closer than ``diameter``; memory stays bounded for large sets.
    """
    if len(points) == 0:
        return 0
    radius = diameter / 2.0 + 1e-9
    best = _counts_within(points, points, radius)
    if len(points) <= pair_limit:
        d = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
        i, j = np.nonzero(np.triu(d <= diameter, 1))
        if len(i):
            best = max(best, _counts_within((points[i] + points[j]) / 2.0, points, radius))
    return best
