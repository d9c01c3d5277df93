"""Train a few steps, export FP32 ONNX, quantize INT8, run both on OpenVINO and onnxruntime."""

import json

import numpy as np
import pytest
import torch

from mammoedge.runtime.inference.openvino_backend import CPU_F32
from mammoedge.tools.detector.data import PhantomPatches, make_set
from mammoedge.tools.detector.export import export_onnx, manifest_entry, quantize_int8
from mammoedge.tools.modelfiles import sha256, write_manifest
from mammoedge.tools.detector.evaluate import onnx_detector
from mammoedge.tools.detector.model import CalcDetector, parameter_count
from mammoedge.tools.detector.train import TrainConfig, focal_loss, train, validation_loss


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
    images, targets, _ = make_set(PhantomPatches(), 16, seed=3 + 10_000)
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
    for run in (lambda x: ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0],
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
    assert entry["sha256"] == sha256(int8)
    manifest = write_manifest(tmp_path, [entry])
    assert json.loads(manifest.read_text())["models"][0]["file"] == "d-int8.onnx"


def test_view_contrast_augmentation_gives_a_whole_view_s_lower_local_contrast():
    import cv2

    from mammoedge.tools.detector.data import VIEW_LEVEL, augment

    images, _, _ = make_set(PhantomPatches(), 6, seed=11)

    def detail(image):
        return float((image - cv2.GaussianBlur(image, (0, 0), 10)).std())

    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    plain = [detail(augment(im[0], rng_a)) for im in images for _ in range(5)]
    view = [augment(im[0], rng_b, view_contrast=1.0) for im in images for _ in range(5)]
    assert np.mean([detail(v) for v in view]) < 0.85 * np.mean(plain)
    medians = [float(np.median(v)) for v in view]
    assert VIEW_LEVEL[0] * 0.6 < np.median(medians) < VIEW_LEVEL[1] * 1.5  # levels around a view's, after gain


def test_cluster_target_covers_a_cluster_and_not_an_isolated_calcification():
    from types import SimpleNamespace

    from mammoedge.tools.detector.data import CLUSTER_RADIUS_MM, cluster_target_map

    members = [SimpleNamespace(x=x, y=60.0, cluster_id=7) for x in (40.0, 55.0, 70.0)]  # 1.5 mm apart at 0.1 mm
    lone = SimpleNamespace(x=200.0, y=200.0, cluster_id=None)
    pair = [SimpleNamespace(x=200.0, y=y, cluster_id=8) for y in (20.0, 30.0)]  # too few members in the image
    target = cluster_target_map(members + [lone] + pair, (256, 256), 0.1)
    assert target[15, 10] == target[15, 14] == target[15, 17] == 1  # the members and the gaps between
    assert target[50, 50] == 0  # the isolated calcification is no cluster
    assert target[6, 50] == 0  # nor are two members of a cluster the image cuts
    reach = int(CLUSTER_RADIUS_MM / 0.4)
    assert target[15, 17 + reach] == 1 and target[15, 17 + reach + 2] == 0


def test_cluster_head_trains_exports_and_agrees_across_backends(tmp_path):
    import onnx
    import onnxruntime as ort
    import openvino as ov

    config = TrainConfig(seed=5, patches=48, val_patches=16, steps=60, batch=8, crop=128, threads=1,
                         cluster_head=True)
    summary = train(config, tmp_path, progress=False)
    torch.manual_seed(5)
    images, targets, _ = make_set(PhantomPatches(), 16, seed=5 + 10_000, clusters=True)
    assert targets.shape[1] == 2 and targets[:, 1].sum() > targets[:, 0].sum() > 0
    before = validation_loss(CalcDetector(cluster_head=True), images, targets)
    assert summary["history"]["val_loss"][-1] < 0.93 * before

    fp32 = export_onnx(tmp_path / "detector.pt", tmp_path / "c-fp32.onnx", cluster_head=True)
    int8 = quantize_int8(fp32, tmp_path / "c-int8.onnx", images[:8])
    assert [o.name for o in onnx.load(str(int8)).graph.output] == ["prob", "cluster"]
    ref = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).run(None, {"image": images[:2]})
    assert [r.shape for r in ref] == [(2, 1, 64, 64)] * 2
    ov_int8 = ov.Core().compile_model(str(int8), "CPU", CPU_F32)(images[:2])
    ort_int8 = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"]).run(None, {"image": images[:2]})
    for i in range(2):
        assert np.abs(ov_int8[i] - ref[i]).max() < 0.1 and np.abs(ort_int8[i] - ref[i]).max() < 0.1
    entry = manifest_entry(int8, name="calc-detector", version="0.0.1", precision="int8", training={},
                           cluster_head=True)
    assert [o["name"] for o in entry["outputs"]] == ["prob", "cluster"]


def test_head_only_training_keeps_the_calcification_output(trained, tmp_path):
    out, _ = trained
    config = TrainConfig(seed=6, patches=24, val_patches=8, steps=20, batch=4, crop=128, threads=1,
                         cluster_head=True, init_checkpoint=str(out / "detector.pt"), head_only=True)
    train(config, tmp_path, progress=False)
    from mammoedge.tools.detector.train import load_model

    images, _, _ = make_set(PhantomPatches(), 4, seed=99)
    x = torch.from_numpy(images)
    with torch.no_grad():
        base = load_model(out / "detector.pt")(x)
        prob, cluster = load_model(tmp_path / "detector.pt", cluster_head=True)(x)
    assert torch.equal(base, prob)
    torch.manual_seed(6)  # the initial weights train() starts from
    start = CalcDetector(cluster_head=True)
    start.load_state_dict(torch.load(out / "detector.pt", weights_only=True), strict=False)
    with torch.no_grad():
        assert not torch.allclose(start.eval()(x)[1], cluster)  # the head did train
