"""Parquet tables of a batch: one row per exam and one per cluster, each with the model provenance."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mammoedge.runtime.results import ExamResult

EXAMS_FILE = "exams.parquet"
CLUSTERS_FILE = "clusters.parquet"


def _models(result: ExamResult) -> list[dict[str, Any]]:
    return [{"name": m.name, "version": m.version, "sha256": m.sha256, "precision": m.precision,
             "backend": m.backend, "device": m.device} for m in result.models]


def exam_row(result: ExamResult, fingerprint: str) -> dict[str, Any]:
    """The exam's row: triage, counts, risk when assessed, seconds, and provenance."""
    clusters = [c for v in result.views for c in v.clusters]
    birads = [c.morphology.birads for c in clusters if c.morphology is not None]
    risk = result.risk
    return {
        "study_key": result.study_key, "schema_version": result.schema_version,
        "software_version": result.software_version, "created_utc": result.created_utc,
        "flagged": result.triage.flagged, "score": result.triage.score,
        "operating_point": result.triage.operating_point, "rule": result.triage.rule,
        "views": [f"{v.laterality.value}{v.view.value}" for v in result.views],
        "views_not_analyzed": [n.reason for n in result.views_not_analyzed],
        "clusters": len(clusters),
        "max_birads": max(birads, key=lambda b: b.rank).value if birads else None,
        "risk_status": risk.status.value if risk is not None else None,
        "risk_5y": risk.risk[-1] if risk is not None and risk.risk else None,
        "asymmetry_score": risk.asymmetry_score if risk is not None else None,
        "seconds": round(sum(t.seconds for t in result.timings), 6),
        "fingerprint": fingerprint, "models": _models(result),
    }


def cluster_rows(result: ExamResult, fingerprint: str) -> list[dict[str, Any]]:
    """One row per cluster of every view: where (mm), what (distribution, morphology, BI-RADS), and provenance."""
    rows = []
    for v in result.views:
        for c in v.clusters:
            m = c.morphology
            rows.append({
                "study_key": result.study_key, "view": f"{v.laterality.value}{v.view.value}",
                "cluster_id": c.id, "distribution": c.distribution.value, "count": c.count,
                "centroid_x_mm": c.centroid_x_mm, "centroid_y_mm": c.centroid_y_mm, "extent_mm": c.extent_mm,
                "area_mm2": c.area_mm2, "distance_to_nipple_mm": c.distance_to_nipple_mm,
                "suspicion": c.suspicion, "score_max": c.score_max,
                "morphology": m.morphology.value if m is not None else None,
                "birads": m.birads.value if m is not None else None,
                "likelihood": m.likelihood if m is not None else None,
                "uncertain": m.uncertain if m is not None else None,
                "software_version": result.software_version, "fingerprint": fingerprint,
                "models": _models(result),
            })
    return rows


def _schemas() -> tuple[Any, Any]:
    import pyarrow as pa

    models = pa.list_(pa.struct([(k, pa.string()) for k in ("name", "version", "sha256", "precision", "backend",
                                                             "device")]))
    exams = pa.schema([
        ("study_key", pa.string()), ("schema_version", pa.int32()), ("software_version", pa.string()),
        ("created_utc", pa.string()), ("flagged", pa.bool_()), ("score", pa.float64()),
        ("operating_point", pa.float64()), ("rule", pa.string()), ("views", pa.list_(pa.string())),
        ("views_not_analyzed", pa.list_(pa.string())), ("clusters", pa.int32()), ("max_birads", pa.string()),
        ("risk_status", pa.string()), ("risk_5y", pa.float64()), ("asymmetry_score", pa.float64()),
        ("seconds", pa.float64()), ("fingerprint", pa.string()), ("models", models)])
    clusters = pa.schema([
        ("study_key", pa.string()), ("view", pa.string()), ("cluster_id", pa.int32()), ("distribution", pa.string()),
        ("count", pa.int32()), ("centroid_x_mm", pa.float64()), ("centroid_y_mm", pa.float64()),
        ("extent_mm", pa.float64()), ("area_mm2", pa.float64()), ("distance_to_nipple_mm", pa.float64()),
        ("suspicion", pa.float64()), ("score_max", pa.float64()), ("morphology", pa.string()),
        ("birads", pa.string()), ("likelihood", pa.float64()), ("uncertain", pa.bool_()),
        ("software_version", pa.string()), ("fingerprint", pa.string()), ("models", models)])
    return exams, clusters


def write_tables(results: Iterable[tuple[ExamResult, str]], directory: Path) -> tuple[Path, Path]:
    """``exams.parquet`` and ``clusters.parquet`` in ``directory`` (each written to a temporary file, then renamed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    exams: list[dict[str, Any]] = []
    clusters: list[dict[str, Any]] = []
    for result, fingerprint in results:
        exams.append(exam_row(result, fingerprint))
        clusters += cluster_rows(result, fingerprint)
    exam_schema, cluster_schema = _schemas()
    paths = []
    for rows, schema, name in ((exams, exam_schema, EXAMS_FILE), (clusters, cluster_schema, CLUSTERS_FILE)):
        path = directory / name
        temporary = path.with_suffix(".parquet.tmp")
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), temporary)
        temporary.replace(path)
        paths.append(path)
    return paths[0], paths[1]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """A table's rows as dicts (for tests and small reports)."""
    import pyarrow.parquet as pq

    return list(pq.read_table(path).to_pylist())


def sort_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["study_key"], r.get("view", ""), r.get("cluster_id", 0)))
