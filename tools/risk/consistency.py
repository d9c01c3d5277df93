"""The lab's input against the appliance's: the same RISK_TEST exams as the lab makes them (~1 mm render,
tools/risk/data.py) and as the runtime reads them (the phantom's ``small`` DICOM files, normalized at the
runtime's 0.1 mm), through the same shipped model."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..exams import PROFILES
from .data import DENSITIES, Cohort


def consistency(test: Cohort, count: int, models_dir: Path, name: str = "risk-fourview") -> dict[str, Any]:
    """Density agreement and mean |5-year risk difference| over the first ``count`` exams of ``test``."""
    from mammoedge.runtime.config import Config
    from mammoedge.runtime.pipeline import ExamModels, ExamPipeline
    from mammoedge.runtime.risk import calibrate

    from ..phantom.exam import make_exam

    base = Config()
    config = dataclasses.replace(base, inference=dataclasses.replace(base.inference, models_dir=models_dir),
                                 analysis=dataclasses.replace(base.analysis, risk_model=name, morphology_model=""))
    pipeline = ExamPipeline(ExamModels.load(config), config)
    risk_model = pipeline.models.risk
    assert risk_model is not None
    rows = []
    for i in range(count):
        with tempfile.TemporaryDirectory() as folder:
            make_exam(folder, seed=test.seed, index=i, profile=PROFILES[i % len(PROFILES)], size="small",
                      with_cohort=True)
            views = [pipeline.read(Path(folder) / f"{v}.dcm") for v in ("RCC", "LCC", "RMLO", "LMLO")]
        runtime = risk_model.assess(views)
        lab = risk_model.model.infer(test.views[i:i + 1].astype(np.float32))
        lab_risk = calibrate(lab["risk_logits"], risk_model.a, risk_model.b)[0]
        assert runtime.density is not None and runtime.risk is not None
        truth = DENSITIES[int(test.density[i])].value
        lab_density = DENSITIES[int(lab["density_logits"][0].argmax())].value
        rows.append((runtime.density.category.value == lab_density, runtime.density.category.value == truth,
                     lab_density == truth, abs(runtime.risk[4] - float(lab_risk[4]))))
    r = np.array(rows, float)
    return {"exams": count, "density_runtime_equals_lab": round(float(r[:, 0].mean()), 4),
            "density_runtime_correct": round(float(r[:, 1].mean()), 4),
            "density_lab_correct": round(float(r[:, 2].mean()), 4),
            "mean_abs_5y_risk_difference": round(float(r[:, 3].mean()), 4)}
