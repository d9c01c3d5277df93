"""The tuning script's cache: filtering detections made at a low threshold equals detecting at the higher one."""

from __future__ import annotations

import dataclasses
import functools

import pydicom

from mammoedge.runtime.biopsy.detect import detect_view
from mammoedge.runtime.biopsy.geometry import UnitKind
from mammoedge.runtime.config import Config
from mammoedge.runtime.inference import Engine
from mammoedge.runtime.pipeline import load_detector
from mammoedge.tools.biopsy.seeds import SEEDS, StereoSplit
from mammoedge.tools.biopsy.tune import CachedDetector, cache_exam
from mammoedge.tools.phantom.stereo import make_stereo


def test_cached_low_threshold_filtered_equals_detection_at_the_threshold(tmp_path):
    folder = tmp_path / "set"
    make_stereo(folder, seed=SEEDS[StereoSplit.TUNING][UnitKind.ISOCENTRIC], index=901, size="small")
    config = Config()
    detector = load_detector(Engine(config.inference), config.analysis)
    low = dataclasses.replace(config, analysis=dataclasses.replace(config.analysis, peak_threshold=0.05))
    cached = cache_exam(folder, functools.partial(detect_view, detector=detector, config=low), 0.05)
    assert (folder / "detections-0.05.json").exists()
    for name in ("scout.dcm", "plus15.dcm", "minus15.dcm"):
        ds = pydicom.dcmread(folder / name)
        direct = detect_view(ds, detector, config, clusters=False).detections
        filtered = CachedDetector(cached, config.analysis.peak_threshold)(ds, clusters=False).detections
        assert len(cached[str(ds.SOPInstanceUID)]) > len(direct) > 0
        assert [(round(d.x, 6), round(d.y, 6), d.score) for d in filtered] == \
            [(round(d.x, 6), round(d.y, 6), d.score) for d in direct]
