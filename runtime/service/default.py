"""The default analyzer: read and normalize each view, summarize (until the real analysis is plugged in)."""

from __future__ import annotations

from pathlib import Path

from ..config import Config


def analyze(instances: list[Path], missing_views: list[str], *, config: Config | None = None) -> dict:
    """Per view: laterality, view, normalized shape and breast area; JSON-serializable."""
    from ..dicom import read_mammogram
    from ..preprocess.normalize import normalize

    config = config or Config()
    views = []
    for path in instances:
        normalized = normalize(read_mammogram(path, config.reader), config.preprocess)
        pixel_area_cm2 = (normalized.spacing_mm / 10.0) ** 2
        views.append({
            "laterality": normalized.laterality.value,
            "view": normalized.view.value,
            "shape": list(normalized.image.shape),
            "spacing_mm": normalized.spacing_mm,
            "breast_area_cm2": round(float(normalized.mask.sum()) * pixel_area_cm2, 2),
        })
    return {"analyzer": "summary", "views": views, "missing_views": list(missing_views)}
