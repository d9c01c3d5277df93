"""Tiny real detector models (ONNX, built on the fly) and synthetic normalized views with known calcifications."""

import hashlib
import json
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from mammoedge.runtime.inference import ModelRegistry

SPACING = 0.1


def _model(nodes, initializers=()):
    graph = helper.make_graph(
        nodes, "detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 1, "h", "w"])],
        initializer=list(initializers),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def maxpool_detector():
    """prob = 4x4 max of the image: a bright dot of 1.0 on a 0.2 background is a calcification."""
    return _model([helper.make_node("MaxPool", ["image"], ["prob"], kernel_shape=[4, 4], strides=[4, 4])])


def conv_detector(seed=0):
    """A 5x5-receptive-field conv net, to check that stitching reproduces the whole-image output."""
    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array(rng.normal(0, 0.5, (4, 1, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.5, (1, 4, 3, 3)).astype(np.float32), "w2")
    return _model([
        helper.make_node("Conv", ["image", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c2"], ["s"]),
        helper.make_node("AveragePool", ["s"], ["prob"], kernel_shape=[4, 4], strides=[4, 4]),
    ], [w1, w2])


def write_registry(directory: Path, models: dict) -> ModelRegistry:
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, model in models.items():
        data = model.SerializeToString()
        (directory / f"{name}.onnx").write_bytes(data)
        entries.append({
            "name": name, "version": "0.1.0", "file": f"{name}.onnx", "sha256": hashlib.sha256(data).hexdigest(),
            "precision": "fp32",
            "inputs": [{"name": "image", "shape": [None, 1, None, None], "dtype": "float32", "spacing_mm": SPACING}],
            "outputs": [{"name": "prob", "meaning": "calcification probability", "stride": 4}],
        })
    (directory / "manifest.json").write_text(json.dumps({"schema_version": 1, "models": entries}))
    return ModelRegistry(directory)


def breast_mask(shape, nipple_x=None):
    """A half-ellipse breast: chest wall at column 0, nipple at (nipple_x, middle row)."""
    h, w = shape
    nipple_x = nipple_x if nipple_x is not None else int(w * 0.8)
    yy, xx = np.mgrid[:h, :w]
    return ((xx / nipple_x) ** 2 + ((yy - (h - 1) / 2) / (h * 0.45)) ** 2) <= 1.0


def spot(image, x, y, sigma=1.5, peak=0.8):
    """Add a Gaussian calcification (peak above background) centred at (x, y) px."""
    r = int(4 * sigma) + 1
    cx, cy = int(round(x)), int(round(y))
    yy, xx = np.mgrid[cy - r:cy + r + 1, cx - r:cx + r + 1]
    image[cy - r:cy + r + 1, cx - r:cx + r + 1] += peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))


def synthetic_view(shape=(600, 400), points_mm=(), background=0.2):
    """Normalized image (float32) and mask with calcifications at ``points_mm`` (x, y in mm)."""
    mask = breast_mask(shape)
    image = np.where(mask, background, 0.0).astype(np.float32)
    for x_mm, y_mm in points_mm:
        spot(image, x_mm / SPACING, y_mm / SPACING)
    return image, mask
