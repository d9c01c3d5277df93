"""Fixtures for the analysis tests; helpers live in analysis_helpers.py (a unique module name)."""

import pytest

from analysis_helpers import conv_detector, maxpool_detector, write_registry
from mammoedge.runtime.config import InferenceConfig
from mammoedge.runtime.inference import Engine


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    return write_registry(tmp_path_factory.mktemp("models"), {"maxpool": maxpool_detector(), "conv": conv_detector()})


@pytest.fixture(scope="session")
def detector(registry):
    return Engine(InferenceConfig(num_threads=1), registry).load("maxpool", backend="openvino", force=True)
