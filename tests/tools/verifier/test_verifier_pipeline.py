"""Cluster verifier pipeline: mining labels, ROIs as the runtime cuts them, a tiny training, export and INT8."""

from types import SimpleNamespace

import numpy as np
import pytest

from mammoedge.runtime.morphology.roi import MAX_ROIS, ROI_SIZE
from mammoedge.tools.verifier.mine import BENIGN, FALSE, SUSPICIOUS_LABEL, MinedSet, cluster_rois, label_clusters

VIEW_TRUTH = {"clusters": [
    {"cluster_id": 0, "bbox_px": [1000, 1000, 1100, 1000], "calcifications": []},  # suspicious, radius 10 mm
    {"cluster_id": 1, "bbox_px": [3000, 3000, 3020, 3000], "calcifications": []},  # benign
    {"cluster_id": None, "bbox_px": [500, 500, 500, 500], "calcifications": []},   # isolated: no cluster
]}
EXAM_TRUTH = {"clusters": {"L": [{"cluster_id": 0, "morphology": "amorphous"},
                                 {"cluster_id": 1, "morphology": "vascular"}], "R": []}}


def _cluster(x, y, members=()):
    return SimpleNamespace(centroid_x=x, centroid_y=y, members=members)


def test_candidates_are_labelled_by_the_evaluation_matching_rule():
    normalized = SimpleNamespace(spacing_mm=0.1, transform=SimpleNamespace(from_original=lambda xy: np.asarray(xy)))
    analysis = SimpleNamespace(clusters=[_cluster(1050 + 95, 1000), _cluster(1050 + 105, 1000),
                                         _cluster(3010, 3002), _cluster(500, 500)])
    assert label_clusters(analysis, normalized, VIEW_TRUTH, EXAM_TRUTH) == [SUSPICIOUS_LABEL, FALSE, BENIGN, FALSE]


def test_rois_are_cut_as_the_runtime_cuts_them():
    rng = np.random.default_rng(0)
    image = rng.random((400, 400)).astype(np.float32)
    calcs = [SimpleNamespace(x=x, y=y, score=s) for x, y, s in
             [(100, 100, 0.9), (110, 100, 0.5), (100, 110, 0.4), (300, 300, 0.3), (305, 300, 0.2)]]
    analysis = SimpleNamespace(calcifications=calcs, clusters=[_cluster(0, 0, (0, 1, 2)), _cluster(0, 0, (0, 3))])
    rois, counts = cluster_rois(image, analysis)
    assert rois.shape == (2, MAX_ROIS, ROI_SIZE, ROI_SIZE)
    assert counts.tolist() == [1, 3]  # close members share the centroid ROI; far ones get their own
    np.testing.assert_array_equal(rois[0, 1], rois[0, 0])  # unused slots repeat the first ROI
    assert abs(float(np.median(rois[1, 0])) - 0.5) < 1e-3  # standardized: median 0.5


def synthetic_set(n: int, seed: int) -> MinedSet:
    """Real clusters hold bright specks; false ones are noise."""
    rng = np.random.default_rng(seed)
    rois = rng.normal(0.5, 0.1, (n, MAX_ROIS, ROI_SIZE, ROI_SIZE)).astype(np.float32)
    label = np.where(np.arange(n) % 2 == 0, SUSPICIOUS_LABEL, FALSE)
    for i in np.flatnonzero(label != FALSE):
        for y, x in rng.integers(30, 66, (6, 2)):
            rois[i, :, y - 1:y + 2, x - 1:x + 2] += 0.6
    return MinedSet(rois=rois, roi_count=np.full(n, MAX_ROIS), label=label, suspicion=rng.random(n),
                    count=np.full(n, 6), exam=np.arange(n) // 4)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from mammoedge.tools.verifier.train import TrainConfig, train

    out = tmp_path_factory.mktemp("verifier")
    summary = train(TrainConfig(steps=60, batch=16, lr=1e-2, threads=1, val_every_exam=5), synthetic_set(80, 1), out,
                    progress=False)
    return out, summary


def test_tiny_training_learns_to_tell_specks_from_noise(trained):
    out, summary = trained
    history = summary["history"]
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert history["val_auc"][-1] > 0.9
    assert summary["clusters"] == {"train_real": 32, "train_false": 32, "val_real": 8, "val_false": 8}
    assert (out / "verifier.pt").exists() and (out / "training-curve.png").stat().st_size > 1000


def test_training_refuses_a_set_without_false_candidates(tmp_path):
    from mammoedge.tools.verifier.train import TrainConfig, train

    data = synthetic_set(20, 2)
    only_real = data.subset(data.label != FALSE)
    with pytest.raises(ValueError, match="real and false"):
        train(TrainConfig(steps=1), only_real, tmp_path, progress=False)


def test_export_int8_agrees_with_fp32_and_loads_as_a_verifier(trained, tmp_path):
    from mammoedge.runtime.analysis.verify import ClusterVerifier
    from mammoedge.runtime.config import InferenceConfig
    from mammoedge.runtime.inference import Engine, ModelRegistry
    from mammoedge.tools.modelfiles import write_manifest
    from mammoedge.tools.verifier.export import MODEL_NAME, export_onnx, manifest_entry, quantize_int8

    out, _ = trained
    data = synthetic_set(16, 3)
    fp32 = export_onnx(out / "verifier.pt", tmp_path / "v-fp32.onnx")
    int8 = quantize_int8(fp32, tmp_path / "v-int8.onnx", data.rois[:, 0, None][:12])
    write_manifest(tmp_path, [manifest_entry(int8, name=MODEL_NAME, version="0.0.1", precision="int8", training={}),
                              manifest_entry(fp32, name=f"{MODEL_NAME}-fp32", version="0.0.1", precision="fp32",
                                             training={})])
    engine = Engine(InferenceConfig(num_threads=1), ModelRegistry(tmp_path))
    image = np.full((300, 300), 0.5, np.float32) + np.random.default_rng(4).normal(0, 0.1, (300, 300)).astype(np.float32)
    for y, x in [(60, 60), (70, 66), (64, 75), (55, 70), (72, 58), (66, 62)]:
        image[y - 1:y + 2, x - 1:x + 2] += 0.6
    points = [np.array([[60, 60], [66, 70], [75, 64], [70, 55], [58, 72], [62, 66]], float),
              np.array([[220, 220], [230, 225], [225, 232], [215, 228], [228, 215]], float)]
    scores = [np.full(6, 0.5), np.full(5, 0.5)]
    p = {name: ClusterVerifier(engine.load(name)).probabilities(image, points, scores)
         for name in (MODEL_NAME, f"{MODEL_NAME}-fp32")}
    assert p[MODEL_NAME][0] > p[MODEL_NAME][1] and p[f"{MODEL_NAME}-fp32"][0] > p[f"{MODEL_NAME}-fp32"][1]
    np.testing.assert_allclose(p[MODEL_NAME], p[f"{MODEL_NAME}-fp32"], atol=0.05)
