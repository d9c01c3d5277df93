"""Issue 23 lab pieces: punctate/round drawn as hard negatives, the 12-class confusion, replay settings."""

import numpy as np
import pytest

from mammoedge.runtime.codes import Morphology
from mammoedge.runtime.config import load_config
from mammoedge.tools.morphology.confusion import confusion
from mammoedge.tools.morphology.data import BENIGN, CLASSES, HARD_NEGATIVES, benign_weights, make_rois
from mammoedge.tools.morphology.replay import with_settings


def test_benign_weights_raise_the_hard_negatives_only():
    assert np.allclose(benign_weights(1.0), 1 / len(BENIGN))
    w = benign_weights(3.0)
    assert w.sum() == pytest.approx(1.0)
    for m, p in zip(BENIGN, w):
        assert p == pytest.approx(3 / (len(BENIGN) + 4) if m in HARD_NEGATIVES else 1 / (len(BENIGN) + 4))


def test_the_default_weight_keeps_the_shipped_data_stream_and_a_weight_changes_it():
    a, b = make_rois(6, seed=11), make_rois(6, seed=11, hard_negative_weight=1.0)
    assert np.array_equal(a.images, b.images) and a.morphology == b.morphology
    heavy = make_rois(6, seed=11, hard_negative_weight=1e6)  # others: 3e-6 a draw
    benign = [m for m in heavy.morphology if m is not None and not m.suspicious]
    assert benign and all(m in HARD_NEGATIVES for m in benign)


def test_confusion_counts_true_against_predicted_classes():
    rois = make_rois(12, seed=3, background_fraction=0.0)
    logits = np.zeros((12, len(CLASSES) + 1), np.float32)
    fine = CLASSES.index(Morphology.FINE_PLEOMORPHIC)
    for i, m in enumerate(rois.morphology):  # right, except punctate read as fine pleomorphic
        logits[i, fine if m is Morphology.PUNCTATE else CLASSES.index(m)] = 5.0
    report = confusion(logits, rois)
    matrix = np.array(report["confusion"])
    assert matrix.sum() == 12
    punctate = sum(m is Morphology.PUNCTATE for m in rois.morphology)
    assert report["punctate_row"] == ({"fine_pleomorphic": punctate} if punctate else {})
    assert report["reported_class_accuracy"] == pytest.approx(1 - punctate / 12, abs=1e-4)


def test_with_settings_parses_json_values_and_tuples():
    config = with_settings(load_config(None), ["analysis.peak_threshold=0.15", "analysis.split_levels=[0.1,0.2]",
                                               "analysis.morphology_model=calc-morphology"])
    assert config.analysis.peak_threshold == 0.15 and config.analysis.split_levels == (0.1, 0.2)
    assert config.analysis.morphology_model == "calc-morphology"


@pytest.mark.slow
def test_replay_on_cached_maps_gives_the_pipelines_result(tmp_path):
    from mammoedge.runtime.pipeline import ExamModels, ExamPipeline
    from mammoedge.tools.morphology.replay import cache_views, load_morphology, replay
    from mammoedge.tools.phantom.exam import make_exam
    from mammoedge.tools.phantom.truth import ExamTruth

    folder = tmp_path / "exam-5000100-000"
    make_exam(folder, seed=5_000_100, index=0, profile="ge", size="small", normal_fraction=0.0)
    config = load_config(None)
    pipeline = ExamPipeline(ExamModels.load(config, backend="openvino", force=True), config)
    truth = ExamTruth.read(folder / "truth.json")
    direct = [pipeline.view(pipeline.read(folder / v.file)) for v in truth.views]
    cache_views([folder], tmp_path / "cache", config, progress=False)
    ((_, replayed),) = replay([folder], tmp_path / "cache", config, load_morphology(config, None))
    assert sum(len(v.clusters) for v in direct) >= 1
    for a, b in zip(direct, replayed.views):
        assert [c.members for c in a.clusters] == [c.members for c in b.clusters]
        assert [c.suspicion for c in a.clusters] == pytest.approx([c.suspicion for c in b.clusters])
        assert [c.morphology.morphology for c in a.clusters] == [c.morphology.morphology for c in b.clusters]
        assert a.score == pytest.approx(b.score)
    assert replayed.triage.flagged == pipeline.exam(direct, study_key=folder.name).triage.flagged
