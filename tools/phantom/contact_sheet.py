"""Contact sheet: the four views of two phantom exams and zoomed crops of every morphology."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from . import anatomy, physics, views
from .exam import VIEW_ORDER, _place, fit, geometry
from .clusters import plant_cluster
from .patch import make_training_patch
from .truth import Density, Morphology
from .vendors import PROFILES


def _display(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    region = image[mask] if mask is not None and mask.any() else image
    lo, hi = np.percentile(region, [1.0, 99.7])
    return np.clip((image - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    tile = tile.copy()
    cv2.putText(tile, text, (6, tile.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 255, 1, cv2.LINE_AA)
    return tile


def exam_row(seed: int, density: Density, height: int = 420) -> np.ndarray:
    rng = np.random.default_rng([seed, 1234])
    geo = geometry(PROFILES["hologic"], "small")
    breasts = {"L": fit(anatomy.make_breast(rng, density, np.random.default_rng(seed)), geo)}
    breasts["R"] = fit(anatomy.make_breast(rng, density, np.random.default_rng(seed), like=breasts["L"]), geo)
    cluster = plant_cluster(rng, Morphology.FINE_PLEOMORPHIC, "grouped")
    _, placed = _place(rng, breasts["L"], cluster, 0)
    tiles = []
    for lat, view in VIEW_ORDER:
        r = views.render_view(rng, breasts[lat], view, density, geo.shape, geo.spacing_mm,
                              placed if lat == "L" else [], physics.Detector())
        img = _display(r.image, r.inside)
        if lat == "R":
            img = img[:, ::-1]
        scale = height / img.shape[0]
        img = cv2.resize(img, (int(img.shape[1] * scale), height), interpolation=cv2.INTER_AREA)
        tiles.append(_label(img, f"{lat}{view}  density {density.value}"))
    return np.hstack(tiles)


SINGLES = (Morphology.VASCULAR, Morphology.COARSE_POPCORN, Morphology.LARGE_ROD_LIKE, Morphology.RIM,
           Morphology.DYSTROPHIC)


def morphology_row(seed: int, tile: int = 200) -> list[np.ndarray]:
    crops = []
    for i, morph in enumerate(Morphology):
        rng = np.random.default_rng([seed, 77, i])
        dist = "single" if morph in SINGLES else "grouped"
        image, truth = make_training_patch(rng, size=tile, spacing_mm=0.05, density=Density.B, n_clusters=1,
                                           morphology=morph, distribution=dist, edge=morph is Morphology.SKIN,
                                           label=False, marker=False)
        crops.append(_label(_display(image, image > 0.5), morph.value.replace("_", " ")))
    return crops


def write_contact_sheet(path: str | Path, seed: int = 0) -> Path:
    """Write the PNG; returns its path."""
    rows = [exam_row(seed, Density.B), exam_row(seed + 1, Density.D)]
    width = max(r.shape[1] for r in rows)
    crops = morphology_row(seed)
    per_row = max(1, width // crops[0].shape[1])
    grid = []
    for k in range(0, len(crops), per_row):
        line = np.hstack(crops[k:k + per_row])
        grid.append(np.pad(line, ((0, 0), (0, width - line.shape[1]))))
    sheet = np.vstack([np.pad(r, ((0, 4), (0, width - r.shape[1]))) for r in rows] + grid)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return out
