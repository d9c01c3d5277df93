"""The models one exam analysis runs, compiled once."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ..config import AnalysisConfig, Config
from ..inference import CompiledModel, Engine
from ..morphology import MorphologyClassifier
from ..risk import INPUT_SHAPE, RISK_INPUT, RiskModel


def load_detector(engine: Engine, config: AnalysisConfig, **overrides: Any) -> CompiledModel:
    """The configured detector, compiled for fixed (batch_size, 1, tile, tile) tiles.

    ``overrides`` go to ``Engine.load`` (``backend``, ``device``, ``force``, ``version``).
    """
    entry = engine.registry.entry(config.detector_model, overrides.get("version"))
    shape = (config.batch_size, 1, config.tile_size, config.tile_size)
    return engine.load(config.detector_model, static_shapes={entry.inputs[0].name: shape}, **overrides)


@dataclass(frozen=True)
class ExamModels:
    """The compiled detector and the optional morphology and risk models."""

    detector: CompiledModel
    morphology: MorphologyClassifier | None = None
    risk: RiskModel | None = None

    @classmethod
    def load(cls, config: Config, *, engine: Engine | None = None, **overrides: Any) -> ExamModels:
        """Compile the models ``config.analysis`` names; ``overrides`` go to ``Engine.load``."""
        engine = engine or Engine(config.inference)
        analysis = config.analysis
        morphology = (MorphologyClassifier(engine.load(analysis.morphology_model, **overrides))
                      if analysis.morphology_model else None)
        risk = (RiskModel(engine.load(analysis.risk_model, static_shapes={RISK_INPUT: (1, 4, *INPUT_SHAPE)}, **overrides))
                if analysis.risk_model else None)
        return cls(load_detector(engine, analysis, **overrides), morphology, risk)

    @property
    def compiled(self) -> list[CompiledModel]:
        """Every compiled model, for provenance."""
        return ([self.detector] + ([self.morphology.model] if self.morphology is not None else [])
                + ([self.risk.model] if self.risk is not None else []))


_lock = threading.Lock()
_loaded: dict[tuple[Any, ...], ExamModels] = {}


def shared_models(config: Config) -> ExamModels:
    """The models for ``config``, compiled once per process (the service's workers share them)."""
    a = config.analysis
    key = (config.inference, a.detector_model, a.tile_size, a.batch_size, a.morphology_model, a.risk_model)
    with _lock:
        if key not in _loaded:
            _loaded[key] = ExamModels.load(config)
        return _loaded[key]
