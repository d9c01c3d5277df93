"""Pictures for the exam page, made by the box from the spooled DICOM with the pipeline's own reader and
normalization: each view windowed (as the overlays are), at display size, hung as a reader hangs it, plus
transparent heat layers (saliency, asymmetry) registered to it.

Hanging: the normalized view has its chest wall on the left; a right view is mirrored so that the right and
left views meet chest wall to chest wall in the middle (RCC | LCC over RMLO | LMLO).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..analysis.overlay import to_8bit
from ..config import Config
from ..dicom import read_header, read_mammogram
from ..errors import InputError
from ..morphology.roi import ROI_SIZE
from ..morphology.saliency import SCALE as SALIENCY_SCALE
from ..preprocess import normalize
from ..risk.picture import SCALE as ASYMMETRY_SCALE
from ..risk.input import INPUT_SHAPE
from .errors import NotFoundError

log = logging.getLogger(__name__)
#: rendered views kept in memory: two four-view exams
CACHE_VIEWS = 8
#: colour saturation (0-255) above which a heat picture's pixel is heat, not the grey image beneath
HEAT_SATURATION = 40


@dataclass(frozen=True, kw_only=True)
class RenderedView:
    """One view at display size: PNG bytes and how normalized pixels map onto it."""

    png: bytes
    width: int
    height: int
    scale: float  #: display px per normalized px
    mirrored: bool  #: a right view: x_display = width - x * scale


def view_name(laterality: str, view: str) -> str:
    return f"{laterality}{view}"


class Renderer:
    """Renders and caches the views of spooled exams (thread-safe)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._cache: OrderedDict[tuple[str, str], RenderedView] = OrderedDict()
        self._lock = threading.Lock()
        self._busy: dict[tuple[str, str], threading.Lock] = {}

    def find(self, files: list[Path], name: str) -> Path:
        """The spooled file of view ``name`` (e.g. ``RCC``); the newest when repeated."""
        found = None
        for path in files:
            try:
                header = read_header(path, self.config.reader)
            except InputError:
                continue
            if view_name(header.laterality.value, header.view.value) == name:
                found = path
        if found is None:
            raise NotFoundError(f"view {name!r} is not in the exam's spool")
        return found

    def view(self, key: str, name: str, files: list[Path], geometry: dict[str, Any]) -> bytes:
        """The view's PNG at ``geometry`` (width, height, mirrored: from the result's normalized size)."""
        return self._view(key, name, files, geometry).png

    def _view(self, key: str, name: str, files: list[Path], geometry: dict[str, Any]) -> RenderedView:
        slot = (key, name)
        with self._lock:
            busy = self._busy.setdefault(slot, threading.Lock())
        with busy:  # one render per view at a time; the others wait for the cache
            with self._lock:
                if slot in self._cache:
                    self._cache.move_to_end(slot)
                    return self._cache[slot]
            rendered = self._render(self.find(files, name), name, geometry)
            with self._lock:
                self._cache[slot] = rendered
                while len(self._cache) > CACHE_VIEWS:
                    self._cache.popitem(last=False)
            return rendered

    def _render(self, path: Path, name: str, geometry: dict[str, Any]) -> RenderedView:
        normalized = normalize(read_mammogram(path, self.config.reader), self.config.preprocess)
        grey = to_8bit(normalized.image, normalized.mask)
        width, height = int(geometry["width"]), int(geometry["height"])
        if abs(grey.shape[1] * geometry["scale"] - width) > 2:
            log.warning("view %s of exam renders at %s, not the analyzed size: marks may be off", name, grey.shape)
        small = cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA)
        if geometry["mirrored"]:
            small = np.ascontiguousarray(small[:, ::-1])
        return RenderedView(png=_png(small), width=width, height=height, scale=float(geometry["scale"]),
                            mirrored=bool(geometry["mirrored"]))

    # -- heat layers ------------------------------------------------------------------------------
    def saliency_layer(self, key: str, name: str, files: list[Path], geometry: dict[str, Any],
                       clusters: list[dict[str, Any]], pictures: Path) -> bytes:
        """RGBA PNG at display size: each assessed cluster's saliency heat where its ROI lies."""
        v = self._view(key, name, files, geometry)
        layer = np.zeros((v.height, v.width, 4), np.uint8)
        for cluster in clusters:
            picture = ((cluster.get("morphology") or {}).get("saliency"))
            if not picture:
                continue
            image = cv2.imread(str(pictures / picture), cv2.IMREAD_COLOR)
            if image is None:
                continue
            side = ROI_SIZE * SALIENCY_SCALE
            heat = _heat_rgba(image[:side, :side])
            size = max(1, round(ROI_SIZE * v.scale))
            heat = cv2.resize(heat, (size, size), interpolation=cv2.INTER_LINEAR)
            cx, cy = float(cluster["centroid_x"]) * v.scale, float(cluster["centroid_y"]) * v.scale
            if v.mirrored:
                heat, cx = heat[:, ::-1], v.width - cx
            _paste(layer, heat, round(cx - size / 2), round(cy - size / 2))
        return _png(layer)

    def asymmetry_layer(self, key: str, name: str, files: list[Path], geometry: dict[str, Any],
                        picture: Path) -> bytes:
        """RGBA PNG of the risk stage's left-right dissimilarity heat for this view, on the model's input grid
        (its picture holds right | left, the right view already mirrored); it spans the whole view."""
        image = cv2.imread(str(picture), cv2.IMREAD_COLOR)
        if image is None:
            raise NotFoundError("the asymmetry picture cannot be read")
        rows, cols = INPUT_SHAPE[0] * ASYMMETRY_SCALE, INPUT_SHAPE[1] * ASYMMETRY_SCALE
        panel = image[:rows, :cols] if name.startswith("R") else image[:rows, cols:2 * cols]
        return _png(_heat_rgba(panel))  # at the model grid's size: the page stretches it over the view


def _heat_rgba(bgr: np.ndarray) -> np.ndarray:
    """The coloured (heat) part of a picture blended over grey: opaque where saturated, clear elsewhere."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    alpha = np.where(hsv[..., 1] > HEAT_SATURATION, 170, 0).astype(np.uint8)
    return np.dstack([bgr, alpha])


def _paste(layer: np.ndarray, tile: np.ndarray, x0: int, y0: int) -> None:
    h, w = tile.shape[:2]
    ys, xs = slice(max(0, y0), min(layer.shape[0], y0 + h)), slice(max(0, x0), min(layer.shape[1], x0 + w))
    if ys.start >= ys.stop or xs.start >= xs.stop:
        return
    part = tile[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    keep = part[..., 3:4] > layer[ys, xs, 3:4]
    layer[ys, xs] = np.where(keep, part, layer[ys, xs])


def _png(image: np.ndarray) -> bytes:
    ok, png = cv2.imencode(".png", image)
    if not ok:
        raise NotFoundError("a layer could not be encoded")
    return png.tobytes()
