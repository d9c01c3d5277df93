"""The detector files in models/ are the ones the manifest names, and they agree across backends."""

import json

import numpy as np

from mammoedge.models import MODELS_DIR
from mammoedge.runtime.inference import ModelRegistry
from mammoedge.runtime.inference.openvino_backend import CPU_F32
from mammoedge.tools.detector.data import PhantomPatches, make_set
from mammoedge.runtime.digest import file_sha256


def test_manifest_hashes_match_the_files():
    manifest = json.loads((MODELS_DIR / "manifest.json").read_text())
    names = {m["name"] for m in manifest["models"]}
    assert {"calc-detector", "calc-detector-fp32"} <= names
    for model in manifest["models"]:
        assert file_sha256(MODELS_DIR / model["file"]) == model["sha256"], model["file"]
        if not model["name"].startswith("calc-detector"):
            continue
        assert file_sha256(MODELS_DIR / model["file"]) == model["sha256"], model["file"]
        assert model["metrics"]["detectors"], "the manifest carries the measured metrics"
    registry = ModelRegistry()
    assert registry.verified("calc-detector").entry.precision == "int8"


def test_shipped_int8_tracks_fp32_on_both_backends():
    import onnxruntime as ort
    import openvino as ov

    images, targets, _ = make_set(PhantomPatches(), 4, seed=424242)
    fp32 = str(MODELS_DIR / "calc-detector-fp32.onnx")
    int8 = str(MODELS_DIR / "calc-detector-int8.onnx")
    ref = ort.InferenceSession(fp32, providers=["CPUExecutionProvider"]).run(None, {"image": images})[0]
    for out in (ov.Core().compile_model(int8, "CPU", CPU_F32)(images)[0],
                ort.InferenceSession(int8, providers=["CPUExecutionProvider"]).run(None, {"image": images})[0]):
        assert np.abs(out - ref).mean() < 0.01
        assert np.abs(out - ref).max() < 0.15
        assert np.corrcoef(out.ravel(), ref.ravel())[0, 1] > 0.98
    # and the model finds what was planted: positive cells score higher than background cells
    assert ref[targets > 0].mean() > 5 * ref[targets == 0].mean()
