"""onnxruntime and the shipped INT8 detector: no uint8 MaxPool in NCHW (its slow generic kernel), same results.

onnxruntime accepts an unknown optimizer name in ``disabled_optimizers`` silently, so the optimized graph itself
is checked: if a release renames the transformer, the first test fails.
"""

import numpy as np
import onnx
import onnxruntime
import pytest

from mammoedge.runtime.config import InferenceBackend, InferenceConfig
from mammoedge.runtime.inference import Engine
from mammoedge.runtime.inference import onnxruntime_backend
from mammoedge.runtime.inference.registry import ModelRegistry

TILES = np.random.default_rng(7).random((2, 1, 256, 256), dtype=np.float32)


@pytest.fixture(scope="module")
def detector_bytes() -> bytes:
    return ModelRegistry().verified("calc-detector").data


def _uint8_pools(optimized: onnx.ModelProto) -> list[str]:
    """Standard-domain MaxPool nodes whose input comes straight from a QuantizeLinear (uint8, NCHW)."""
    producer = {out: node for node in optimized.graph.node for out in node.output}
    return [node.name for node in optimized.graph.node
            if node.op_type == "MaxPool" and node.domain in ("", "ai.onnx")
            and producer.get(node.input[0]) is not None and producer[node.input[0]].op_type == "QuantizeLinear"]


def _optimized(data: bytes, tmp_path, *, ours: bool) -> onnx.ModelProto:
    options = onnxruntime.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    if ours:
        onnxruntime_backend.session(data, options, [onnxruntime_backend.CPU_EP])
    else:
        onnxruntime.InferenceSession(data, options, providers=[onnxruntime_backend.CPU_EP])
    return onnx.load(str(tmp_path / "optimized.onnx"))


def test_backend_session_keeps_the_stem_maxpool_out_of_uint8_nchw(detector_bytes, tmp_path):
    assert _uint8_pools(_optimized(detector_bytes, tmp_path, ours=False))  # what onnxruntime does by default
    assert _uint8_pools(_optimized(detector_bytes, tmp_path, ours=True)) == []


def test_int8_detector_on_onnxruntime_gives_the_default_sessions_results(detector_bytes):
    engine = Engine(InferenceConfig(backend=InferenceBackend.ONNXRUNTIME, force=True))
    compiled = engine.load("calc-detector")
    assert (compiled.backend, compiled.entry.precision) == ("onnxruntime", "int8")
    default = onnxruntime.InferenceSession(detector_bytes, providers=[onnxruntime_backend.CPU_EP])
    expected = default.run(None, {"image": TILES})[0]
    assert np.array_equal(compiled.infer(TILES)["prob"], expected)  # max commutes with quantization
