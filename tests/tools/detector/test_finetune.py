"""Fine-tuning from an exported detector (``--init``) and the faint-calcification emphasis (``--faint``)."""

from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import torch

from mammoedge.models import MODELS_DIR
from mammoedge.tools.detector.data import emphasis_map, target_map
from mammoedge.tools.detector.model import CalcDetector
from mammoedge.tools.detector.train import focal_loss, init_from_onnx


def test_init_from_the_shipped_onnx_computes_what_the_file_does_even_in_train_mode():
    path = MODELS_DIR / "calc-detector-fp32.onnx"
    model = CalcDetector()
    init_from_onnx(model, path)
    model.train()
    assert all(not m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    x = np.random.default_rng(0).random((2, 1, 96, 96)).astype(np.float32)
    with torch.no_grad():
        ours = model(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.abs(CalcDetector()(torch.from_numpy(x)).detach().numpy() - theirs).max() > 1e-3  # a fresh net differs


def _truth(x, y, morphology):
    return SimpleNamespace(x=x, y=y, diameter_mm=0.3, length_mm=0.3, morphology=morphology)


def test_emphasis_weights_only_the_cells_of_amorphous_calcifications():
    truths = [_truth(20, 20, "amorphous"), _truth(60, 60, "fine_pleomorphic")]
    weights = emphasis_map(truths, (96, 96), 0.1, 3.0)
    amorphous = target_map(truths[:1], (96, 96), 0.1) > 0
    assert (weights[amorphous] == 3.0).all() and (weights[~amorphous] == 1.0).all()
    assert (emphasis_map(truths, (96, 96), 0.1, 1.0) == 1.0).all()


def test_cell_weight_scales_the_focal_loss():
    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 2, 2] = 1
    logits = torch.zeros_like(target)
    plain = focal_loss(logits, target)
    heavier = torch.ones_like(target)
    heavier[0, 0, 2, 2] = 3.0
    assert focal_loss(logits, target, cell_weight=heavier) > plain
    assert torch.isclose(focal_loss(logits, target, cell_weight=torch.ones_like(target)), plain)
