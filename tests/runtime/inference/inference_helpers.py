"""Tiny real ONNX models built on the fly, and manifests for them in tmp dirs."""

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def conv_net(seed: int = 0, channels: int = 8, batch: int | None = None) -> onnx.ModelProto:
    """image (N,1,H,W) -> conv3x3 -> relu -> conv3x3 -> sigmoid -> avgpool/4 -> prob (N,1,H/4,W/4)."""
    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array(rng.normal(0, 0.5, (channels, 1, 3, 3)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.normal(0, 0.1, (channels,)).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.3, (1, channels, 3, 3)).astype(np.float32), "w2")
    b2 = numpy_helper.from_array(np.zeros(1, np.float32), "b2")
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c2"], ["s"]),
        helper.make_node("AveragePool", ["s"], ["prob"], kernel_shape=[4, 4], strides=[4, 4]),
    ]
    n = batch if batch is not None else "N"
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [n, 1, "H", "W"])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [n, 1, "h", "w"])],
        initializer=[w1, b1, w2, b2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def entry_for(file: str, data: bytes, *, name: str = "tiny", version: str = "1.0.0", batch=None,
              precision: str = "fp32") -> dict:
    return {
        "name": name, "version": version, "file": file, "sha256": hashlib.sha256(data).hexdigest(),
        "precision": precision,
        "inputs": [{"name": "image", "shape": [batch, 1, None, None], "layout": "NCHW", "dtype": "float32",
                    "spacing_mm": 0.1, "normalization": "standardize_intensity"}],
        "outputs": [{"name": "prob", "meaning": "calcification probability", "stride": 4, "dtype": "float32"}],
    }


def write_models(directory: Path, models: dict[str, onnx.ModelProto], entries: list[dict] | None = None) -> Path:
    """Write ``file name -> model`` and a manifest (one default entry per file unless given)."""
    directory.mkdir(parents=True, exist_ok=True)
    made = []
    for file, model in models.items():
        data = model.SerializeToString()
        (directory / file).write_bytes(data)
        made.append(entry_for(file, data, name=Path(file).stem))
    (directory / "manifest.json").write_text(json.dumps({"schema_version": 1, "models": entries or made}))
    return directory
