"""The exam result: one typed, versioned record per exam; no identifiers except an opaque study key."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass

from .. import __version__
from ..analysis import BreastAssessment, Triage, ViewAnalysis, assess
from ..analysis.view import StageTiming
from ..inference import CompiledModel
from ..risk import RiskAssessment

#: Bump on any incompatible change of the JSON layout (and of exam_result.schema.json).
SCHEMA_VERSION = 6


@dataclass(frozen=True, kw_only=True)
class ModelProvenance:
    """Which model ran, verified how, on what."""

    name: str
    version: str
    sha256: str
    precision: str
    backend: str
    device: str
    fallbacks: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ViewNotAnalyzed:
    """A view of the exam that could not be analyzed (e.g. its pixel data does not decode), and why."""

    view: str | None  #: e.g. "RCC"; None when not even the header could be read
    reason: str  #: the reader's typed reason, e.g. "pixel-decode"
    message: str  #: one line naming the attribute and the rule (no patient data)


@dataclass(frozen=True, kw_only=True)
class ExamResult:
    schema_version: int
    study_key: str
    software_version: str
    created_utc: str
    triage: Triage
    breasts: tuple[BreastAssessment, ...]
    views: tuple[ViewAnalysis, ...]
    timings: tuple[StageTiming, ...]
    models: tuple[ModelProvenance, ...]
    views_not_analyzed: tuple[ViewNotAnalyzed, ...] = ()
    #: exam-level risk, asymmetry and density when a risk model is configured (simulated-cohort model)
    risk: RiskAssessment | None = None


def provenance(model: CompiledModel) -> ModelProvenance:
    entry = model.entry
    return ModelProvenance(name=entry.name, version=entry.version, sha256=entry.sha256, precision=entry.precision,
                           backend=model.backend, device=model.device, fallbacks=tuple(model.fallbacks))


def build_exam_result(*, study_key: str, views: Sequence[ViewAnalysis], models: Sequence[CompiledModel],
                      operating_point: float, timings: Sequence[StageTiming] = (),
                      created: _dt.datetime | None = None, rule: str | None = None,
                      views_not_analyzed: Sequence[ViewNotAnalyzed] = (),
                      risk: RiskAssessment | None = None) -> ExamResult:
    """Assess the breasts and assemble the result; ``timings`` are exam-level stages (read, normalize, ...)."""
    breasts, triage = assess(views, operating_point) if rule is None else assess(views, operating_point, rule)
    per_stage: dict[str, float] = {t.stage: t.seconds for t in timings}
    for view in views:
        for t in view.timings:
            per_stage[t.stage] = per_stage.get(t.stage, 0.0) + t.seconds
    created = created or _dt.datetime.now(_dt.UTC)
    return ExamResult(
        schema_version=SCHEMA_VERSION, study_key=study_key, software_version=__version__,
        created_utc=created.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        triage=triage, breasts=breasts, views=tuple(views),
        timings=tuple(StageTiming(stage=k, seconds=v) for k, v in per_stage.items()),
        models=tuple(provenance(m) for m in models), views_not_analyzed=tuple(views_not_analyzed), risk=risk,
    )
