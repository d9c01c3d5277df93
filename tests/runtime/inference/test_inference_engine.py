import logging

import numpy as np
import pytest

from mammoedge.runtime.errors import ConfigError

from inference_helpers import conv_net, write_models
from mammoedge.runtime.config import InferenceConfig
from mammoedge.runtime.errors import DeviceError
from mammoedge.runtime.inference import Engine, ModelRegistry, auto_device, inventory


@pytest.mark.parametrize(
    "priority, available, expected",
    [
        (("NPU", "GPU", "CPU"), ["CPU"], "AUTO:CPU"),
        (("NPU", "GPU", "CPU"), ["CPU", "GPU.0", "GPU.1"], "AUTO:GPU,CPU"),
        (("NPU", "GPU", "CPU"), ["NPU", "CPU"], "AUTO:NPU,CPU"),
        (("GPU",), ["CPU"], "AUTO:CPU"),
    ],
)
def test_auto_list_names_only_present_devices(priority, available, expected):
    assert auto_device(priority, available) == expected


def batch(seed=0, n=2, size=32):
    return np.random.default_rng(seed).normal(size=(n, 1, size, size)).astype(np.float32)


def test_both_backends_run_and_agree(models_dir):
    engine = Engine(InferenceConfig(num_threads=1), ModelRegistry(models_dir))
    ov = engine.load("tiny", backend="openvino", force=True)
    ort = engine.load("tiny", backend="onnxruntime", force=True)
    assert (ov.backend, ov.device) == ("openvino", "CPU")
    assert (ort.backend, ort.device) == ("onnxruntime", "CPU")
    assert ov.requested == "AUTO:CPU"
    x = batch()
    a, b = ov.infer(x)["prob"], ort.infer(x)["prob"]
    assert a.shape == (2, 1, 8, 8)
    np.testing.assert_allclose(a, b, atol=1e-4)  # f32 on the CPU even where OpenVINO's default is bf16


def test_cpu_precision_is_checked():
    assert InferenceConfig(cpu_precision="bf16").cpu_precision == "bf16"
    with pytest.raises(ConfigError, match="inference.cpu_precision = 'f16' is not one of: f32, bf16"):
        InferenceConfig(cpu_precision="f16")


def test_absent_device_falls_back_with_logged_reason(models_dir, caplog):
    engine = Engine(InferenceConfig(device="NOSUCHDEVICE"), ModelRegistry(models_dir))
    with caplog.at_level(logging.WARNING, logger="mammoedge.runtime.inference"):
        model = engine.load("tiny")
    assert (model.backend, model.device) == ("openvino", "CPU")
    assert len(model.fallbacks) == 1 and "NOSUCHDEVICE" in model.fallbacks[0] and "not present" in model.fallbacks[0]
    assert any("NOSUCHDEVICE" in r.getMessage() for r in caplog.records)


def test_absent_device_is_an_error_when_forced(models_dir):
    engine = Engine(InferenceConfig(device="NOSUCHDEVICE", force=True), ModelRegistry(models_dir))
    with pytest.raises(DeviceError, match="NOSUCHDEVICE.*not present; present: CPU.*no fallback"):
        engine.load("tiny")


def test_onnxruntime_forced_on_a_device_without_its_openvino_ep(models_dir):
    engine = Engine(InferenceConfig(), ModelRegistry(models_dir))
    with pytest.raises(DeviceError, match="'NPU'.*OpenVINO execution provider is not installed"):
        engine.load("tiny", backend="onnxruntime", device="NPU", force=True)
    model = engine.load("tiny", backend="onnxruntime", device="NPU")
    assert (model.backend, model.device) == ("onnxruntime", "CPU") and model.fallbacks


def test_fixed_batch_model_runs_any_batch_in_chunks(tmp_path):
    directory = write_models(tmp_path, {"fixed.onnx": conv_net(batch=1)})
    text = (directory / "manifest.json").read_text().replace('"shape": [null, 1', '"shape": [1, 1')
    (directory / "manifest.json").write_text(text)
    engine = Engine(InferenceConfig(), ModelRegistry(directory))
    x = batch(n=3)
    for backend in ("openvino", "onnxruntime"):
        model = engine.load("fixed", backend=backend, force=True)
        out = model.infer(x)["prob"]
        assert out.shape == (3, 1, 8, 8)
        np.testing.assert_allclose(out[2], model.infer(x[2:3])["prob"][0], atol=1e-6)


def test_compiled_model_cache_dir_is_filled(models_dir, tmp_path):
    cache = tmp_path / "cache"
    Engine(InferenceConfig(cache_dir=cache), ModelRegistry(models_dir)).load("tiny", backend="openvino", force=True)
    assert any(cache.iterdir())


def test_int8_qdq_model_loads_on_both_backends(tmp_path):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    fp32 = tmp_path / "fp32.onnx"
    fp32.write_bytes(conv_net(channels=16).SerializeToString())

    class Tiles(CalibrationDataReader):
        def __init__(self):
            self.items = iter({"image": batch(seed=s, n=1, size=64)} for s in range(8))

        def get_next(self):
            return next(self.items, None)

    int8 = tmp_path / "int8.onnx"
    quantize_static(str(fp32), str(int8), Tiles(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    import onnx
    directory = write_models(tmp_path / "m", {"int8.onnx": onnx.load(int8), "fp32.onnx": onnx.load(fp32)})
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(int8).graph.node)
    engine = Engine(InferenceConfig(num_threads=1), ModelRegistry(directory))
    x = batch(seed=99, n=1, size=64)
    reference = engine.load("fp32", backend="onnxruntime", force=True).infer(x)["prob"]
    for backend in ("openvino", "onnxruntime"):
        out = engine.load("int8", backend=backend, force=True).infer(x)["prob"]
        assert out.shape == reference.shape
        # INT8 tracks FP32 closely but not exactly (random weights, 8 calibration tiles)
        assert np.abs(out - reference).mean() < 0.04, backend
        assert np.corrcoef(out.ravel(), reference.ravel())[0, 1] > 0.95, backend


def test_file_no_backend_can_read_is_a_model_error_after_fallback(tmp_path, caplog):
    import json
    from mammoedge.runtime.errors import ModelError
    from inference_helpers import entry_for

    data = b"this is not an onnx model"
    (tmp_path / "bad.onnx").write_bytes(data)
    manifest = {"schema_version": 1, "models": [entry_for("bad.onnx", data, name="bad")]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING, logger="mammoedge.runtime.inference"):
        with pytest.raises(ModelError, match="bad.onnx is not a model onnxruntime can load"):
            Engine(InferenceConfig(), ModelRegistry(tmp_path)).load("bad")
    assert any("OpenVINO cannot read" in r.getMessage() for r in caplog.records)


def test_inventory_lists_what_this_box_has():
    found = inventory()
    assert "CPU" in found["openvino"] and "CPUExecutionProvider" in found["onnxruntime"]
