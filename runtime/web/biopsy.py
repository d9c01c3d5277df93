"""The biopsy view's work: a spooled stereo set's images at display size, and the target recomputed for the
cluster nearest a point picked on the scout (``runtime.biopsy`` with ``at``; the detector is loaded on first use).

The result the service wrote (the envelope's ``biopsy`` record) is shown as is; a recomputed target is shown
and audited, never written back (the page is read-only on the service's state).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydicom

from ..biopsy.detect import detect_view
from ..biopsy.stage import run_biopsy
from ..biopsy.stereo_set import StereoRole, StereoSet, recognise
from ..config import Config
from ..dicom import read_mammogram
from ..errors import InputError
from .errors import NotFoundError

ROLES = {role.name.lower(): role for role in StereoRole}  #: "scout", "plus", "minus"
#: longest side of a stereo image on the page (three side by side), px
STEREO_MAX_PX = 560


@dataclass(frozen=True, kw_only=True)
class StereoFiles:
    """The spooled files of a stereo set by role, and the set as ``recognise`` saw it."""

    paths: dict[StereoRole, Path]
    stereo: StereoSet


class BiopsyWork:
    """Stereo-set pictures and retargeting for the page (thread-safe; one detector per process)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._detect: Any = None
        self._png: dict[tuple[str, StereoRole], tuple[bytes, dict[str, Any]]] = {}

    def files(self, key: str, spooled: list[Path]) -> StereoFiles:
        datasets, by_name = [], {}
        for path in spooled:
            try:
                datasets.append((path.name, pydicom.dcmread(path)))
            except Exception:  # pydicom raises many types on a damaged file; recognise names what is missing
                continue
            by_name[path.name] = path
        try:
            stereo = recognise(datasets, self.config.biopsy)
        except InputError as exc:
            raise NotFoundError(f"the exam's spool holds no stereo set: {exc}") from None
        return StereoFiles(paths={image.role: by_name[image.name] for image in stereo.images}, stereo=stereo)

    def picture(self, key: str, spooled: list[Path], role: StereoRole) -> tuple[bytes, dict[str, Any]]:
        """PNG of one stereo image as stored (windowed, scaled to ``STEREO_MAX_PX``) and its geometry."""
        slot = (key, role)
        with self._lock:
            if slot in self._png:
                return self._png[slot]
        files = self.files(key, spooled)
        if role not in files.paths:
            raise NotFoundError(f"the stereo set has no {role.value} image")
        pixels = read_mammogram(files.paths[role], self.config.reader).pixels.astype(np.float32)
        low, high = np.percentile(pixels[::4, ::4], [0.5, 99.5])
        grey = np.clip((pixels - low) * (255.0 / max(float(high - low), 1e-6)), 0, 255).astype(np.uint8)
        rows, cols = grey.shape
        scale = min(1.0, STEREO_MAX_PX / max(rows, cols))
        width, height = max(1, round(cols * scale)), max(1, round(rows * scale))
        ok, png = cv2.imencode(".png", cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA))
        if not ok:
            raise NotFoundError(f"the {role.value} image could not be encoded")
        out = (png.tobytes(), {"role": role.name.lower(), "width": width, "height": height, "scale": width / cols})
        with self._lock:
            self._png[slot] = out
        return out

    def geometry(self, key: str, spooled: list[Path]) -> list[dict[str, Any]]:
        files = self.files(key, spooled)
        return [self.picture(key, spooled, role)[1] for role in StereoRole if role in files.paths]

    def retarget(self, key: str, spooled: list[Path], at: tuple[float, float]) -> dict[str, Any]:
        """The target of the cluster nearest ``at`` (column, row on the scout, or the +view without one)."""
        files = self.files(key, spooled)
        with self._lock:
            if self._detect is None:  # compiled once, on the first retarget
                from ..inference import Engine
                from ..pipeline.models import load_detector

                detector = load_detector(Engine(self.config.inference), self.config.analysis)
                self._detect = functools.partial(detect_view, detector=detector, config=self.config)
            detect = self._detect
        datasets = [(image.name, image.dataset) for image in files.stereo.images]
        result, _, _ = run_biopsy(datasets, detect, self.config, at=at)
        return result.to_dict()
