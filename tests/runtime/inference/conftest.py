"""Fixtures for the inference tests; helpers live in inference_helpers.py (a unique module name)."""

from pathlib import Path

import pytest

from inference_helpers import conv_net, write_models


@pytest.fixture
def models_dir(tmp_path) -> Path:
    return write_models(tmp_path / "models", {"tiny.onnx": conv_net()})
