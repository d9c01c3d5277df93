import dataclasses

import pydicom
import pytest
from pacs_helpers import AnalysedExam, analyse, phantom_exam


@pytest.fixture(scope="session")
def exam(tmp_path_factory):
    """A phantom exam with clusters in both views of one breast, analysed by the real pipeline."""
    return analyse(phantom_exam(tmp_path_factory.mktemp("phantom")))


@pytest.fixture(scope="session")
def risk_exam(exam):
    """The same exam analysed with the risk model configured (risk, asymmetry, density; simulated cohort)."""
    from mammoedge.runtime.config import Config
    from mammoedge.runtime.dicom_results import align_sources
    from mammoedge.runtime.pipeline import ExamPipeline, shared_models

    config = Config()
    config = dataclasses.replace(config, analysis=dataclasses.replace(config.analysis, risk_model="risk-fourview"))
    run = ExamPipeline(shared_models(config), config).analyze_files(list(exam.paths), study_key="cd" * 16)
    sources = align_sources(run.views, [pydicom.dcmread(p, stop_before_pixels=True) for p in run.paths])
    return AnalysedExam(result=run.result, sources=sources, images=list(run.views), paths=list(run.paths))
