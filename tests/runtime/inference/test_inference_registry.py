import json

import numpy as np
import pytest

from inference_helpers import conv_net, entry_for, write_models
from mammoedge.runtime.config import InferenceConfig
from mammoedge.runtime.errors import ModelError
from mammoedge.runtime.inference import Engine, ModelRegistry, shipped_models_dir


def test_shipped_manifest_is_valid():
    registry = ModelRegistry(shipped_models_dir())
    assert all(e.path.parent == shipped_models_dir() for e in registry.entries)


def test_verified_model_carries_checked_bytes(models_dir):
    verified = ModelRegistry(models_dir).verified("tiny")
    assert verified.data == (models_dir / "tiny.onnx").read_bytes()
    assert verified.entry.output("prob").stride == 4


def test_tampered_model_is_refused_naming_file_and_hashes(models_dir):
    registry = ModelRegistry(models_dir)
    expected = registry.entry("tiny").sha256
    data = bytearray((models_dir / "tiny.onnx").read_bytes())
    data[-1] ^= 0x01
    (models_dir / "tiny.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError) as info:
        Engine(InferenceConfig(), registry).load("tiny")
    message = str(info.value)
    assert "tiny.onnx" in message and expected in message and "tampered" in message
    import hashlib
    assert hashlib.sha256(bytes(data)).hexdigest() in message


def test_missing_model_file_is_a_clear_error(models_dir):
    (models_dir / "tiny.onnx").unlink()
    with pytest.raises(ModelError, match="tiny.onnx.*cannot be read"):
        ModelRegistry(models_dir).verified("tiny")


@pytest.mark.parametrize(
    "change, needle",
    [
        (lambda e: e.update(file="../evil.onnx"), "relative path inside"),
        (lambda e: e.update(sha256="abc"), "not 64 hex digits"),
        (lambda e: e.pop("version"), "missing field 'version'"),
        (lambda e: e["inputs"][0].update(shape=[1, 0]), "positive integers or null"),
        (lambda e: e["inputs"][0].update(dtype="float64"), "dtype 'float64'"),
        (lambda e: e["outputs"][0].update(stride=0), "stride 0"),
    ],
)
def test_bad_manifest_entries_name_the_rule(tmp_path, change, needle):
    data = conv_net().SerializeToString()
    entry = entry_for("tiny.onnx", data)
    change(entry)
    write_models(tmp_path, {"tiny.onnx": conv_net()}, [entry])
    with pytest.raises(ModelError, match=needle):
        ModelRegistry(tmp_path)


def test_unsupported_schema_version(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": 9, "models": []}))
    with pytest.raises(ModelError, match="schema_version 9 is not supported"):
        ModelRegistry(tmp_path)


@pytest.mark.parametrize(
    "change, needle",
    [
        (lambda e: e["inputs"][0].update(name="pixels"), r"declares inputs \['pixels'\] but the model has \['image'\]"),
        (lambda e: e["outputs"][0].update(name="heatmap"), "declares output 'heatmap'"),
        (lambda e: e["inputs"][0].update(shape=[None, 3, None, None]), "dimension 1 is 1 in the model, 3 in the manifest"),
        (lambda e: e["inputs"][0].update(shape=[None, 1, None], layout="NCH"), "has shape"),
    ],
)
def test_contract_checked_against_the_real_model(tmp_path, change, needle):
    data = conv_net().SerializeToString()
    entry = entry_for("tiny.onnx", data)
    change(entry)
    write_models(tmp_path, {"tiny.onnx": conv_net()}, [entry])
    for backend in ("openvino", "onnxruntime"):
        with pytest.raises(ModelError, match=needle):
            Engine(InferenceConfig(), ModelRegistry(tmp_path)).load("tiny", backend=backend, force=True)


def test_site_model_dropped_in_with_only_a_manifest_entry(models_dir, tmp_path):
    site = tmp_path / "site"
    write_models(site, {"mine.onnx": conv_net(seed=5)})
    registry = ModelRegistry(models_dir, site)
    assert registry.names() == ("mine", "tiny")
    model = Engine(InferenceConfig(), registry).load("mine")
    out = model.infer(np.zeros((1, 1, 16, 16), np.float32))
    assert out["prob"].shape == (1, 1, 4, 4)


def test_site_entry_of_same_version_wins_and_highest_version_is_default(models_dir, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    a, b = conv_net(seed=1).SerializeToString(), conv_net(seed=2).SerializeToString()
    (site / "a.onnx").write_bytes(a)
    (site / "b.onnx").write_bytes(b)
    entries = [entry_for("a.onnx", a, name="tiny", version="1.0.0"), entry_for("b.onnx", b, name="tiny", version="1.10.0")]
    (site / "manifest.json").write_text(json.dumps({"schema_version": 1, "models": entries}))
    registry = ModelRegistry(models_dir, site)
    assert registry.entry("tiny").version == "1.10.0"
    assert registry.entry("tiny", "1.0.0").path == site / "a.onnx"
    with pytest.raises(ModelError, match="'tiny 2.0' is not in the registry"):
        registry.entry("tiny", "2.0")
