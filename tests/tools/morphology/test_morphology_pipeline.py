"""Morphology pipeline: ROIs with labels, a few training steps, ONNX export, INT8, fitted parameters."""

import numpy as np
import pytest
import torch

from mammoedge.runtime.codes import MorphologyClass
from mammoedge.runtime.inference.openvino_backend import CPU_F32
from mammoedge.runtime.morphology.roi import ROI_SIZE
from mammoedge.tools.morphology.data import make_rois, uniform_over_groups
from mammoedge.tools.morphology.evaluate import (
    auc,
    fit_parameters,
    macro_f1,
    normalized_entropy,
    reported_probabilities,
)
from mammoedge.tools.morphology.export import export_onnx, manifest_entry, quantize_int8
from mammoedge.tools.morphology.model import CLASSES, OUTPUTS, RoiNet
from mammoedge.tools.morphology.train import TrainConfig, train
from mammoedge.tools.training import parameter_count


def test_rois_carry_their_labels_and_background_is_uniform_over_reported_classes():
    rois = make_rois(24, seed=5, background_fraction=0.25)
    assert rois.images.shape == (24, 1, ROI_SIZE, ROI_SIZE)
    known = [i for i, m in enumerate(rois.morphology) if m is not None]
    assert 0 < len(known) < 24
    for i in known:
        assert rois.targets[i, CLASSES.index(rois.morphology[i])] == 1.0
        if not rois.morphology[i].suspicious:
            assert rois.malignant[i] == 0  # typically benign types are never malignant in the phantom
    background = uniform_over_groups()
    group = np.array([[m.group is g for g in MorphologyClass] for m in CLASSES], float)
    assert np.allclose(background @ group, 0.2)
    assert np.isclose(normalized_entropy((background @ group)[None])[0], 1.0)


def test_metric_helpers_on_known_cases():
    assert auc(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 1, 0, 0])) == 1.0
    assert auc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5
    f1, per_class = macro_f1(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2)
    assert np.isclose(per_class[0], 2 / 3) and np.isclose(per_class[1], 0.8) and np.isclose(f1, (2 / 3 + 0.8) / 2)


def test_edge_sized_model_with_activation_maps():
    model = RoiNet()
    assert parameter_count(model) < 200_000
    logits, maps = model(torch.zeros(2, 1, ROI_SIZE, ROI_SIZE))
    assert logits.shape == (2, OUTPUTS) and maps.shape == (2, OUTPUTS, ROI_SIZE // 8, ROI_SIZE // 8)
    assert torch.allclose(maps.mean(dim=(2, 3)), logits)  # each map is its logit's activation map


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("morphology")
    summary = train(TrainConfig(seed=2, rois=64, val_rois=32, steps=30, batch=16, threads=1), out, progress=False)
    return out, summary


def test_tiny_training_learns_something(trained):
    out, summary = trained
    history = summary["history"]
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert (out / "morphology.pt").exists() and (out / "training-curve.png").stat().st_size > 1000


def test_export_quantize_fit_and_manifest(trained, tmp_path):
    import onnx
    import onnxruntime as ort
    import openvino as ov

    out, _ = trained
    fp32 = export_onnx(out / "morphology.pt", tmp_path / "m-fp32.onnx")
    rois = make_rois(16, seed=9)
    int8 = quantize_int8(fp32, tmp_path / "m-int8.onnx", rois.images)
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in onnx.load(str(int8)).graph.node}
    ref = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).run(None, {"roi": rois.images})
    assert ref[0].shape == (16, OUTPUTS) and ref[1].shape == (16, OUTPUTS, 12, 12)
    ov_out = ov.Core().compile_model(str(fp32), "CPU", CPU_F32)(rois.images)
    assert np.allclose(ov_out["logits"], ref[0], atol=1e-3)
    parameters = fit_parameters(fp32, rois)
    assert parameters["temperature"] > 0 and 0 <= parameters["uncertainty_threshold"] <= 1
    entry = manifest_entry(int8, name="calc-morphology", version="0.0.1", precision="int8", training={},
                           parameters=parameters)
    assert entry["parameters"]["classes"] == [c.value for c in CLASSES]
    assert reported_probabilities(ref[0]).shape == (16, 5)


@pytest.mark.slow
def test_one_exam_through_the_runtime_pipeline_gives_morphology_and_the_flag(tmp_path):
    from mammoedge.runtime.config import load_config
    from mammoedge.tools.morphology.view_eval import evaluate_exams
    from mammoedge.tools.phantom.exam import make_exam
    from mammoedge.tools.phantom.truth import ExamTruth

    make_exam(tmp_path / "exam", seed=2_000_003, index=0, profile="hologic", size="small", normal_fraction=0.0)
    truth = ExamTruth.read(tmp_path / "exam" / "truth.json")
    planted = any(c.morphology.suspicious and c.n_calcifications >= 5 for side in truth.clusters.values() for c in side)
    report = evaluate_exams([tmp_path / "exam"], load_config(None), tmp_path / "out", progress=False)
    assert report["exams"] == 1
    positive, negative = report["flag_sensitivity"][1], report["flag_specificity"][1]
    assert (positive, negative) == ((1, 0) if planted else (0, 1))  # the exam is judged against its own truth
    assert report["matched_clusters"] >= 1  # the morphology model described detected clusters on planted ones
    assert sum(map(sum, report["confusion"])) == report["matched_clusters"]
    assert (tmp_path / "out" / "exam-evaluation.json").exists()
