"""The context architecture (``--arch context``): starts as v1.0 from its file, trains, exports, quantizes, runs."""

import numpy as np
import onnx
import onnxruntime as ort
import openvino as ov
import pytest
import torch

from mammoedge.models import MODELS_DIR
from mammoedge.runtime.inference.openvino_backend import CPU_F32
from mammoedge.tools.detector.data import PhantomPatches, make_set
from mammoedge.tools.detector.export import export_onnx, quantize_int8
from mammoedge.tools.detector.model import CalcDetector, ContextDetector
from mammoedge.tools.detector.train import TrainConfig, init_from_onnx, train

V1 = MODELS_DIR / "calc-detector-fp32.onnx"


def test_context_from_the_v1_file_computes_v1_and_trains_only_its_new_batchnorms():
    model = ContextDetector()
    init_from_onnx(model, V1, partial=True)
    model.train()
    assert all(not m.training for m in model.down2.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert all(m.training for m in model.to16.modules() if isinstance(m, torch.nn.BatchNorm2d))
    x = np.random.default_rng(1).random((2, 1, 128, 128)).astype(np.float32)
    with torch.no_grad():
        ours = model(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(str(V1), providers=["CPUExecutionProvider"])
    assert np.abs(ours - session.run(None, {"image": x})[0]).max() < 1e-5


def test_a_v1_net_refuses_a_file_that_does_not_fill_it_unless_partial():
    with pytest.raises(ValueError, match="another number"):
        init_from_onnx(ContextDetector(), V1)


def test_context_sees_farther_than_v1():
    def reach(model: CalcDetector) -> int:
        model.eval()
        if isinstance(model, ContextDetector):
            torch.nn.init.normal_(model.fuse[2].weight)
        x = torch.rand(1, 1, 512, 512, requires_grad=True)
        model.logits(x)[0, 0, 64, 64].backward()
        rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero()
        return int(rows.max() - rows.min())

    torch.manual_seed(0)
    assert reach(CalcDetector()) < 100 < 400 < reach(ContextDetector())


def test_context_trains_exports_and_runs_int8_on_both_backends(tmp_path):
    config = TrainConfig(seed=4, patches=12, val_patches=4, steps=6, batch=2, crop=128, patch=160, threads=1,
                         arch="context", init=str(V1))
    train(config, tmp_path, progress=False)
    fp32 = export_onnx(tmp_path / "detector.pt", tmp_path / "c-fp32.onnx", arch="context")
    assert "Resize" in {n.op_type for n in onnx.load(str(fp32)).graph.node}
    calibration, _, _ = make_set(PhantomPatches(), 4, seed=77)
    int8 = quantize_int8(fp32, tmp_path / "c-int8.onnx", calibration)
    image = np.zeros((1, 1, 512, 512), np.float32)
    image[0, 0, 64:448, 64:448] = calibration[0, 0, 0, 0]
    image[0, 0, 128:384, 128:384] = calibration[0, 0]
    ref = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).run(None, {"image": image})[0]
    assert ref.shape == (1, 1, 128, 128)  # the runtime's 512-px tile, stride 4
    assert np.abs(ov.Core().compile_model(str(fp32), "CPU", CPU_F32)(image)[0] - ref).max() < 1e-4
    session = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    for q in (session.run(None, {"image": image})[0], ov.Core().compile_model(str(int8), "CPU", CPU_F32)(image)[0]):
        assert q.shape == ref.shape and np.abs(q - ref).max() < 0.1
    odd = np.zeros((1, 1, 96, 160), np.float32)  # not a multiple of 32: the resize follows the real sizes
    assert session.run(None, {"image": odd})[0].shape == (1, 1, 24, 40)
