"""Train a few steps, export FP32 ONNX, quantize INT8, run both on OpenVINO and onnxruntime."""

import json

import numpy as np
import pytest
import torch

from mammoedge.runtime.inference.openvino_backend import CPU_F32
from mammoedge.tools.detector.data import PhantomPatches, make_set
from mammoedge.tools.detector.evaluate import onnx_detector
from mammoedge.tools.detector.export import export_onnx, manifest_entry, quantize_int8
from mammoedge.tools.detector.model import CalcDetector
from mammoedge.tools.detector.train import TrainConfig, focal_loss, train, validation_loss
from mammoedge.runtime.digest import file_sha256
from mammoedge.tools.modelfiles import write_manifest
from mammoedge.tools.splits import SplitError
from mammoedge.tools.training import parameter_count


def test_edge_sized_model():
    assert parameter_count(CalcDetector()) <= 2_000_000


def test_focal_loss_prefers_the_right_answer():
    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 3, 3] = 1
    right = torch.full_like(target, -6.0)
    right[0, 0, 3, 3] = 6.0
    assert focal_loss(right, target) < focal_loss(torch.zeros_like(target), target) < focal_loss(-right, target)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("detector")
    config = TrainConfig(seed=3, patches=48, val_patches=16, steps=60, batch=8, crop=128, threads=1)
    summary = train(config, out, progress=False)
    return out, summary


def test_tiny_training_lowers_the_loss(trained):
    out, summary = trained
    torch.manual_seed(3)  # the same initial weights train() starts from
    assert TrainConfig(seed=3).validation_seed == 10_003  # Split.DETECTOR_VALIDATION
    images, targets, _ = make_set(PhantomPatches(), 16, seed=10_003)
    before = validation_loss(CalcDetector(), images, targets)
    assert summary["history"]["val_loss"][-1] < 0.93 * before  # same validation patches as train() uses
    assert (out / "training-curve.png").stat().st_size > 1000


def test_export_quantize_and_agree_across_backends(trained, tmp_path):
    out, _ = trained
    fp32 = export_onnx(out / "detector.pt", tmp_path / "d-fp32.onnx")
    calibration, _, _ = make_set(PhantomPatches(), 8, seed=77)
    int8 = quantize_int8(fp32, tmp_path / "d-int8.onnx", calibration)
    import onnx

    ops = {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    image = calibration[0:1]
    import onnxruntime as ort
    import openvino as ov

    ref = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).run(None, {"image": image})[0]
    assert ref.shape == (1, 1, 64, 64)
    ov_fp32 = ov.Core().compile_model(str(fp32), "CPU", CPU_F32)(image)[0]
    assert np.abs(ov_fp32 - ref).max() < 1e-4
    session = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    for run in (lambda x: session.run(None, {"image": x})[0],
                lambda x: ov.Core().compile_model(str(int8), "CPU", CPU_F32)(x)[0]):
        q = run(image)
        assert q.shape == ref.shape
        assert np.abs(q - ref).max() < 0.1  # INT8 probabilities within 0.1 of FP32
    # dynamic spatial size: a non-square input runs too
    odd = np.zeros((1, 1, 96, 160), np.float32)
    assert ov.Core().compile_model(str(int8), "CPU", CPU_F32)(odd)[0].shape == (1, 1, 24, 40)
    detect = onnx_detector(int8, "openvino")
    assert detect(calibration[0, 0]).shape[1] == 3

    entry = manifest_entry(int8, name="calc-detector", version="0.0.1", precision="int8", training={"seed": 3})
    assert entry["sha256"] == file_sha256(int8)
    manifest = write_manifest(tmp_path, [entry])
    assert json.loads(manifest.read_text())["models"][0]["file"] == "d-int8.onnx"


def test_a_training_seed_outside_the_train_split_is_refused(tmp_path):
    with pytest.raises(SplitError, match="training seed 1,000,000 is in TEST"):
        train(TrainConfig(seed=1_000_000, patches=2, val_patches=1, steps=1, batch=1, crop=128, threads=1), tmp_path,
              progress=False)
