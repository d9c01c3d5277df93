"""The classical baseline behind the runtime's model interface, so it runs through the same tiling and analysis.

``BaselineModel``: per tile, the DoG / local-contrast score of ``baseline.py``, max-pooled
to the detector's stride 4 and squashed to 0..1 by ``sigmoid(score - 4)`` (the same squash
as ``baseline_detect``). The runtime's peak extraction and clustering treat it like the
CNN's ``prob`` output.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mammoedge.runtime.inference.manifest import InputSpec, ModelEntry, OutputSpec

from .baseline import baseline_score_map
from .data import STRIDE


class BaselineModel:
    """Duck-typed stand-in for ``runtime.inference.CompiledModel`` (``entry``, ``backend``, ``device``, ``infer``)."""

    backend = "opencv"
    device = "CPU"

    def __init__(self) -> None:
        self.entry = ModelEntry(
            name="baseline-dog", version="1", path=Path("baseline.py"), sha256="", precision="fp32",
            inputs=(InputSpec(name="image", shape=(None, 1, None, None), spacing_mm=0.1),),
            outputs=(OutputSpec(name="prob", meaning="squashed DoG contrast-to-noise", stride=STRIDE),))

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        kernel = np.ones((STRIDE, STRIDE), np.uint8)
        maps = []
        for tile in np.asarray(batch, np.float32)[:, 0]:
            score = cv2.dilate(baseline_score_map(tile), kernel)[STRIDE // 2::STRIDE, STRIDE // 2::STRIDE]
            maps.append(1.0 / (1.0 + np.exp(-(score - 4.0))))
        return {"prob": np.stack(maps)[:, None].astype(np.float32)}
