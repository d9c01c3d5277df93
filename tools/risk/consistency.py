"""The lab's input against the appliance's: the same RISK_TEST exams as the lab makes them (~1 mm render,
tools/risk/data.py) and as the runtime reads them (the phantom's ``small`` DICOM files, normalized at the
runtime's 0.1 mm), through the same shipped model; with enough exams, the C-index of each input."""

from __future__ import annotations

import dataclasses
import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..exams import PROFILES
from .data import DENSITIES, Cohort
from .evaluate import bootstrap, harrell_c


@lru_cache(maxsize=1)
def _pipeline(models_dir: Path, name: str) -> Any:
    from mammoedge.runtime.config import Config
    from mammoedge.runtime.pipeline import ExamModels, ExamPipeline

    base = Config()
    config = dataclasses.replace(base, inference=dataclasses.replace(base.inference, models_dir=models_dir),
                                 analysis=dataclasses.replace(base.analysis, risk_model=name, morphology_model=""))
    return ExamPipeline(ExamModels.load(config), config)


def _runtime_exam(seed: int, index: int, models_dir: Path, name: str) -> tuple[list[float], str]:
    """Exam ``index`` rendered as DICOM and read as the appliance reads it: its 1-5-year risks and density."""
    from ..phantom.exam import make_exam

    pipeline = _pipeline(models_dir, name)
    with tempfile.TemporaryDirectory() as folder:
        make_exam(folder, seed=seed, index=index, profile=PROFILES[index % len(PROFILES)], size="small",
                  with_cohort=True)
        views = [pipeline.read(Path(folder) / f"{v}.dcm") for v in ("RCC", "LCC", "RMLO", "LMLO")]
    assessment = pipeline.models.risk.assess(views)
    assert assessment.density is not None and assessment.risk is not None
    return [float(r) for r in assessment.risk], assessment.density.category.value


def consistency(test: Cohort, count: int, models_dir: Path, name: str = "risk-fourview", workers: int = 2,
                bootstrap_samples: int = 1000) -> dict[str, Any]:
    """Density agreement, mean |5-year risk difference| and each input's C-index over the first ``count`` exams."""
    from mammoedge.runtime.risk import calibrate

    risk_model = _pipeline(models_dir, name).models.risk
    assert risk_model is not None
    # spawned, not forked: a fork of a process that has compiled OpenVINO models deadlocks in the child
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        runtime = list(pool.map(_runtime_exam, [test.seed] * count, range(count), [models_dir] * count,
                                [name] * count))
    lab = risk_model.model.infer(test.views[:count].astype(np.float32))
    lab_risk = calibrate(lab["risk_logits"], risk_model.a, risk_model.b)
    runtime_risk = np.array([r for r, _ in runtime])
    truth = [DENSITIES[int(d)].value for d in test.density[:count]]
    lab_density = [DENSITIES[int(i)].value for i in lab["density_logits"].argmax(1)]
    runtime_density = [d for _, d in runtime]
    events = test.event_year[:count]
    figures: dict[str, Any] = {
        "exams": count, "cancers_within_5_years": int((events > 0).sum()),
        "density_runtime_equals_lab": round(float(np.mean([r == b for r, b in zip(runtime_density, lab_density)])), 4),
        "density_runtime_correct": round(float(np.mean([r == t for r, t in zip(runtime_density, truth)])), 4),
        "density_lab_correct": round(float(np.mean([b == t for b, t in zip(lab_density, truth)])), 4),
        "mean_abs_5y_risk_difference": round(float(np.abs(runtime_risk[:, 4] - lab_risk[:, 4]).mean()), 4),
        "mean_5y_risk_runtime_lab": [round(float(runtime_risk[:, 4].mean()), 4), round(float(lab_risk[:, 4].mean()), 4)]}
    if (events > 0).any():
        for label, risk in (("runtime", runtime_risk), ("lab", lab_risk)):
            figures[f"c_index_{label}"] = bootstrap(lambda i, r=risk: harrell_c(r[i], events[i]), count,
                                                    bootstrap_samples)
    return figures
