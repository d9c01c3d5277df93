import numpy as np
import pytest

from analysis_helpers import breast_mask
from mammoedge.runtime.analysis import detect_map, plan_tiles
from mammoedge.runtime.analysis.tiling import block_any
from mammoedge.runtime.config import InferenceConfig
from mammoedge.runtime.errors import ConfigError
from mammoedge.runtime.inference import Engine


def coverage(plan):
    counts = np.zeros(plan.map_shape, int)
    for t in plan.tiles:
        counts[t.r0:t.r1, t.c0:t.c1] += 1
    return counts


@pytest.mark.parametrize(
    "shape, tile, overlap",
    [((600, 400), 128, 32), ((601, 397), 128, 32), ((90, 70), 128, 32), ((1000, 777), 256, 64), ((333, 517), 64, 0)],
)
def test_tiles_cover_the_whole_breast_exactly_once(shape, tile, overlap):
    stride = 4
    mask = breast_mask(shape)
    plan = plan_tiles(mask, tile_size=tile, overlap=overlap, stride=stride)
    counts = coverage(plan)
    breast = block_any(mask, stride)
    assert breast.sum() > 0
    assert (counts[breast] == 1).all()
    assert counts.max() == 1
    for t in plan.tiles:  # each tile owns only output pixels it computes
        assert t.y0 // stride <= t.r0 < t.r1 <= (t.y0 + tile) // stride
        assert t.x0 // stride <= t.c0 < t.c1 <= (t.x0 + tile) // stride


def test_interior_boundaries_keep_half_the_overlap_as_context():
    plan = plan_tiles(np.ones((1000, 1000), bool), tile_size=256, overlap=64, stride=4)
    for t in plan.tiles:
        if t.r0 > 0:
            assert t.r0 * 4 - t.y0 >= 32
        if t.c1 < plan.map_shape[1]:
            assert t.x0 + 256 - t.c1 * 4 >= 32


def test_tiles_without_breast_are_not_run():
    mask = np.zeros((1024, 1024), bool)
    mask[:, :200] = True
    plan = plan_tiles(mask, tile_size=256, overlap=0, stride=4)
    assert len(plan.tiles) == 4 and plan.total_tiles == 16


def test_bad_tile_settings_name_the_options():
    with pytest.raises(ConfigError, match="tile_size 130 and tile_overlap 32 must be multiples"):
        plan_tiles(np.ones((10, 10), bool), tile_size=130, overlap=32, stride=4)
    with pytest.raises(ConfigError, match="overlap < tile_size"):
        plan_tiles(np.ones((10, 10), bool), tile_size=128, overlap=128, stride=4)


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_stitched_map_equals_the_model_on_the_whole_image(registry, backend):
    model = Engine(InferenceConfig(num_threads=1), registry).load("conv", backend=backend, force=True)
    rng = np.random.default_rng(3)
    image = rng.normal(size=(384, 320)).astype(np.float32)
    mask = breast_mask(image.shape, nipple_x=150)
    stitched = detect_map(image, mask, model, tile_size=128, overlap=32, batch_size=3)
    whole = model.infer(image[None, None])["prob"][0, 0]
    breast = block_any(mask, 4)
    assert stitched.tiles_run < stitched.tiles_total
    np.testing.assert_allclose(stitched.prob[breast], whole[breast], atol=1e-5)
    assert (stitched.prob[~breast] == 0).all()


@pytest.mark.parametrize("stride", [1, 4, 16, 32])
def test_block_reduction_marks_every_block_holding_a_single_pixel(stride):
    mask = np.random.default_rng(stride).random((301, 257)) < 0.0005
    expected = np.zeros((-(-301 // stride), -(-257 // stride)), bool)
    for y, x in zip(*np.nonzero(mask)):
        expected[y // stride, x // stride] = True
    np.testing.assert_array_equal(block_any(mask, stride), expected)


def test_detector_compiled_for_static_tiles_gives_the_same_map(registry):
    from mammoedge.runtime.pipeline import load_detector
    from mammoedge.runtime.config import AnalysisConfig

    config = AnalysisConfig(detector_model="conv", tile_size=128, tile_overlap=32, batch_size=4)
    engine = Engine(InferenceConfig(num_threads=1), registry)
    static = load_detector(engine, config, backend="openvino", force=True)
    assert static.inputs[0].shape == (4, 1, 128, 128) and static.model_inputs[0].shape == (None, 1, None, None)
    dynamic = engine.load("conv", backend="openvino", force=True)
    image = np.random.default_rng(5).normal(size=(300, 260)).astype(np.float32)
    mask = breast_mask(image.shape)
    a = detect_map(image, mask, static, tile_size=128, overlap=32, batch_size=4)  # 3rd batch is partial
    b = detect_map(image, mask, dynamic, tile_size=128, overlap=32, batch_size=4)
    assert a.tiles_run % 4 != 0
    np.testing.assert_allclose(a.prob, b.prob, atol=1e-5)
