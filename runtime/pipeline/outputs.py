"""An exam's files on the box: overlays, saliency pictures and the result JSON."""

from __future__ import annotations

import dataclasses
import os
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis import StageTiming, ViewAnalysis, write_overlay
from ..morphology import write_saliency
from ..results import ExamResult, write_result
from ..risk import VIEW_ORDER, write_asymmetry


def overlay_names(views: Sequence[ViewAnalysis], study_key: str) -> list[str]:
    """``<study key>_<laterality><view>.png``, with ``_2``, ``_3`` ... for repeated views."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for view in views:
        base = f"{study_key}_{view.laterality.value}{view.view.value}"
        seen[base] = seen.get(base, 0) + 1
        names.append(f"{base}.png" if seen[base] == 1 else f"{base}_{seen[base]}.png")
    return names


def write_exam_outputs(result: ExamResult, normalized_views: Sequence[Any], directory: str | Path, *,
                       bases: Sequence[np.ndarray | None] = ()) -> tuple[ExamResult, Path]:
    """Write one overlay per view (same order as ``result.views``), one saliency PNG per assessed cluster
    and ``<study key>.json``. A view's overlay is drawn on ``bases[i]`` (its ``overlay_base``) when that is
    given; ``normalized_views[i]`` may then be None.

    Returns the result with the ``overlay`` and ``saliency`` file names filled in, and the JSON path.
    """
    if len(normalized_views) != len(result.views):
        raise ValueError(f"{len(normalized_views)} images for {len(result.views)} analysed views")
    directory = Path(directory)
    started = time.perf_counter()
    bases = list(bases) or [None] * len(result.views)

    def write_view(name: str, view: ViewAnalysis, normalized: Any, base: np.ndarray | None) -> ViewAnalysis:
        if normalized is None:
            write_overlay(directory / name, None, view, base=base)
        else:
            write_overlay(directory / name, normalized.image, view, normalized.mask)
        return dataclasses.replace(view, overlay=name, clusters=_write_saliency(view, directory, name))

    # PNG encoding releases the GIL: the views are drawn and written side by side
    with ThreadPoolExecutor(max_workers=min(len(result.views), os.cpu_count() or 1) or 1) as pool:
        named = list(pool.map(write_view, overlay_names(result.views, result.study_key), result.views,
                              normalized_views, bases))
    timings = (*result.timings, StageTiming(stage="overlays", seconds=time.perf_counter() - started))
    result = dataclasses.replace(result, views=tuple(named), timings=timings,
                                 risk=_write_asymmetry(result, normalized_views, directory))
    return result, write_result(result, directory)


def _write_asymmetry(result: ExamResult, normalized_views: Sequence[Any], directory: Path) -> Any:
    """``<study key>_asymmetry_<CC|MLO>.png`` per projection of an assessed exam; the assessment with the names."""
    risk = result.risk
    if risk is None or not risk.asymmetry or any(f.heatmap is None for f in risk.asymmetry):
        return risk
    by_key: dict[Any, Any] = {}
    for view in normalized_views:
        by_key.setdefault((view.laterality, view.view), view)
    if any(key not in by_key for key in VIEW_ORDER):
        return risk
    findings = []
    for k, finding in enumerate(risk.asymmetry):
        name = f"{result.study_key}_asymmetry_{finding.projection.value}.png"
        right, left = (by_key[VIEW_ORDER[2 * k]], by_key[VIEW_ORDER[2 * k + 1]])
        write_asymmetry(directory / name, finding, left, right)
        findings.append(dataclasses.replace(finding, picture=name))
    return dataclasses.replace(risk, asymmetry=tuple(findings))


def _write_saliency(view: ViewAnalysis, directory: Path, overlay_name: str) -> tuple:
    """``<overlay stem>_c<id>_saliency.png`` per assessed cluster; the clusters with the names filled in."""
    maps = {s.cluster_id: s for s in view.saliency}
    clusters = []
    for cluster in view.clusters:
        if cluster.morphology is not None and cluster.id in maps:
            name = f"{overlay_name.removesuffix('.png')}_c{cluster.id}_saliency.png"
            write_saliency(directory / name, maps[cluster.id], cluster.morphology)
            cluster = dataclasses.replace(cluster, morphology=dataclasses.replace(cluster.morphology, saliency=name))
        clusters.append(cluster)
    return tuple(clusters)
