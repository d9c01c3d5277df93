"""``mammoedge evaluate biopsy``: targeting error on stereo phantoms of both unit geometries.

Per exam: the phantom writes scout, +15 and -15 deg images (``make_stereo``) on a unit whose rotation
axis height is drawn from 0-30 mm; the biopsy stage finds the target with the shipped detector; the
error is to the planted target (centroid of the cluster's calcifications, unit frame). A target is
*found* when it is within ``FOUND_MM`` of the planted one. The effect of a one-pixel error: the
+15 deg positions of the matched calcifications moved by one column, re-triangulated, change in Z.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from mammoedge.runtime.biopsy.detect import detect_view
from mammoedge.runtime.biopsy.errors import BiopsyError
from mammoedge.runtime.biopsy.geometry import UnitKind
from mammoedge.runtime.biopsy.stage import run_biopsy
from mammoedge.runtime.biopsy.triangulate import triangulate
from mammoedge.runtime.config import Config
from mammoedge.runtime.inference import Engine
from mammoedge.runtime.pipeline import load_detector

from ..phantom.stereo import StereoGeometry, make_stereo
from .seeds import SEEDS, StereoSplit

log = logging.getLogger(__name__)

#: A target within this of the planted centre is "found" (about a needle's aperture), mm.
FOUND_MM = 2.0
#: A matched point within this of a planted calcification is that calcification, mm.
MATCH_MM = 1.0


def geometry_for(unit: UnitKind, seed: int, index: int) -> StereoGeometry:
    """The unit of one phantom exam: full size (0.05 mm, 1024 x 1024), axis height drawn from 0-30 mm."""
    rng = np.random.default_rng([seed, index, 20])
    return StereoGeometry(unit=unit, isocenter_z_mm=float(np.round(rng.uniform(0.0, 30.0), 1)))


def exam_folder(root: Path, split: StereoSplit, unit: UnitKind, index: int) -> Path:
    """Write (once) and return the folder of one stereo phantom."""
    seed = SEEDS[split][unit]
    folder = root / split.value / unit.value / f"{index:05d}"
    if not (folder / "truth.json").exists():
        make_stereo(folder, seed=seed, index=index, geometry=geometry_for(unit, seed, index))
    return folder


def evaluate_exam(folder: Path, detect: Any, config: Config) -> dict[str, Any]:
    truth = json.loads((folder / "truth.json").read_text())
    planted = np.array(truth["stereo_target"]["xyz_mm"])
    datasets = [(v["file"], pydicom.dcmread(folder / v["file"])) for v in truth["views"]]
    row: dict[str, Any] = {"exam": folder.name, "planted_mm": planted.tolist(),
                           "n_planted": truth["clusters"][truth["views"][0]["laterality"]][0]["n_calcifications"]}
    try:
        result, stereo, _ = run_biopsy(datasets, detect, config)
    except BiopsyError as exc:
        row.update(found=False, error=str(exc))
        return row
    t = result.target
    xyz = np.array([t.x_mm, t.y_mm, t.z_mm])
    d = xyz - planted
    plus_geo, minus_geo = stereo.plus.geometry, stereo.minus.geometry

    def mean_point(shift: float, with_scout: bool) -> np.ndarray:
        points = []
        for m in result.matches:  # the same matches, the +view positions moved by ``shift`` columns
            views, pixels = [plus_geo, minus_geo], [(m.plus_px[0] + shift, m.plus_px[1]), m.minus_px]
            if with_scout and stereo.scout is not None and m.scout_px is not None:
                views.append(stereo.scout.geometry)
                pixels.append(m.scout_px)
            points.append(triangulate(views, pixels)[0])
        return np.mean(points, axis=0)

    one_px = float(mean_point(1.0, True)[2] - mean_point(0.0, True)[2])
    one_px_two = float(mean_point(1.0, False)[2] - mean_point(0.0, False)[2])
    row.update(_recall(truth, stereo, result))
    row.update(found=bool(np.linalg.norm(d) <= FOUND_MM), error_mm=float(np.linalg.norm(d)),
               error_xy_mm=float(np.hypot(d[0], d[1])), error_z_mm=float(d[2]), target_mm=xyz.tolist(),
               sigma_mm=[t.sigma_x_mm, t.sigma_y_mm, t.sigma_z_mm], n_matches=t.n_matches,
               warnings=[w.value for w in result.warnings], seconds=result.seconds,
               one_px_dz_mm=one_px, one_px_dz_two_views_mm=one_px_two,
               isocenter_z_mm=stereo.plus.geometry.isocenter_z_mm)
    return row


def _recall(truth: dict[str, Any], stereo: Any, result: Any) -> dict[str, Any]:
    """How many planted calcifications were matched, and how well: each planted calcification's 3-D position
    is triangulated from its rendered centroids in the two stereo images (the truth lists them in the same
    order in every view); a match belongs to the nearest one within ``MATCH_MM``."""
    views = {v["file"]: v for v in truth["views"]}
    plus = views["plus15.dcm"]["clusters"][0]["calcifications"] if views["plus15.dcm"]["clusters"] else []
    minus = views["minus15.dcm"]["clusters"][0]["calcifications"] if views["minus15.dcm"]["clusters"] else []
    if not plus or len(plus) != len(minus):
        return {}
    geometries = [stereo.plus.geometry, stereo.minus.geometry]
    planted = np.array([triangulate(geometries, [(a["x"], a["y"]), (b["x"], b["y"])])[0] for a, b in zip(plus, minus)])
    matched = np.array([(m.x_mm, m.y_mm, m.z_mm) for m in result.matches])
    distance = np.linalg.norm(matched[:, None] - planted[None], axis=2)
    nearest = distance.argmin(axis=1)
    real = distance[np.arange(len(matched)), nearest] <= MATCH_MM
    hit = sorted(set(nearest[real].tolist()))
    subset = planted[hit].mean(axis=0) if hit else None
    target = np.array([result.target.x_mm, result.target.y_mm, result.target.z_mm])
    return {"planted_matched": len(hit), "false_matches": int((~real).sum()),
            "calc_error_mm": float(np.median(distance[np.arange(len(matched)), nearest][real])) if real.any() else None,
            "subset_error_mm": None if subset is None else float(np.linalg.norm(target - subset))}


def _stats(values: list[float]) -> dict[str, float]:
    a = np.abs(np.asarray(values, float))
    if not a.size:
        return {}
    return {"median": float(np.median(a)), "p95": float(np.percentile(a, 95)), "max": float(a.max())}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    targeted = [r for r in rows if "error_mm" in r]
    return {
        "exams": len(rows), "found": sum(r["found"] for r in rows),
        "found_fraction": sum(r["found"] for r in rows) / max(1, len(rows)),
        "no_target": len(rows) - len(targeted),
        "error_3d_mm": _stats([r["error_mm"] for r in targeted]),
        "error_xy_mm": _stats([r["error_xy_mm"] for r in targeted]),
        "error_z_mm": _stats([r["error_z_mm"] for r in targeted]),
        "one_px_dz_mm": _stats([r["one_px_dz_mm"] for r in targeted]),
        "one_px_dz_two_views_mm": _stats([r["one_px_dz_two_views_mm"] for r in targeted]),
        "seconds": _stats([r["seconds"] for r in targeted]),
        "planted_matched_fraction": (sum(r.get("planted_matched", 0) for r in targeted)
                                     / max(1, sum(r["n_planted"] for r in targeted))),
        "false_matches_per_target": sum(r.get("false_matches", 0) for r in targeted) / max(1, len(targeted)),
        "calc_error_mm": _stats([r["calc_error_mm"] for r in targeted if r.get("calc_error_mm") is not None]),
        "subset_error_mm": _stats([r["subset_error_mm"] for r in targeted if r.get("subset_error_mm") is not None]),
        "warnings": {w: sum(w in r.get("warnings", []) for r in rows)
                     for w in sorted({w for r in rows for w in r.get("warnings", [])})},
    }


def evaluate(root: Path, *, split: StereoSplit, exams: int, config: Config,
             units: tuple[UnitKind, ...] = tuple(UnitKind)) -> dict[str, Any]:
    """Write (once) ``exams`` stereo phantoms per unit geometry under ``root`` and evaluate the stage on them."""
    detector = load_detector(Engine(config.inference), config.analysis)
    detect = functools.partial(detect_view, detector=detector, config=config)
    report: dict[str, Any] = {"split": split.value, "seeds": {u.value: SEEDS[split][u] for u in units},
                              "found_within_mm": FOUND_MM, "units": {}}
    every: list[dict[str, Any]] = []
    for unit in units:
        rows = []
        for index in range(exams):
            folder = exam_folder(root, split, unit, index)
            rows.append(evaluate_exam(folder, detect, config))
        report["units"][unit.value] = {"summary": summarize(rows), "exams": rows}
        every += rows
    report["all"] = summarize(every)
    return report


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("eval/biopsy"), help="phantoms and report go here")
    parser.add_argument("--split", choices=[s.value for s in StereoSplit], default=StereoSplit.HELD_OUT.value)
    parser.add_argument("--exams", type=int, default=100, help="stereo phantoms per unit geometry (100)")
    parser.add_argument("--unit", choices=[u.value for u in UnitKind], action="append",
                        help="only this unit geometry (repeatable; default both)")


def evaluate_command(args: argparse.Namespace, config: Config) -> int:
    units = tuple(UnitKind(u) for u in args.unit) if args.unit else tuple(UnitKind)
    started = time.perf_counter()
    report = evaluate(args.out, split=StereoSplit(args.split), exams=args.exams, config=config, units=units)
    report["wall_s"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"report-{args.split}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    for name, unit in report["units"].items():
        print(name, json.dumps(unit["summary"]))
    print("all", json.dumps(report["all"]))
    print(f"-> {path}")
    return 0

