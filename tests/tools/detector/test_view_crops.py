"""Training crops of full views: truths follow the crop, crops sit on the stride, a real exam's targets mark calcs."""

import numpy as np
import pytest

from mammoedge.tools.detector.view_crops import CropTruth, crop_view, exam_crops


def test_crops_carry_their_truths_in_crop_coordinates():
    image = np.zeros((600, 400), np.float32)
    mask = np.zeros_like(image, bool)
    mask[:, :300] = True
    truths = [CropTruth(x=150.0, y=310.0, diameter_mm=0.3, length_mm=0.4),
              CropTruth(x=390.0, y=20.0, diameter_mm=0.3, length_mm=0.4)]
    crops = crop_view(image, mask, truths, np.random.default_rng(0), 200, 128)
    assert len(crops) == 200
    near = 0
    for crop, inside in crops:
        assert crop.shape == (128, 128)
        for t in inside:
            assert 0 <= t.x < 128 and 0 <= t.y < 128
        near += any(abs(t.diameter_mm - 0.3) < 1e-9 for t in inside)
    assert 60 <= near <= 160  # about half are centred near a calcification


def test_crop_origin_is_on_the_model_stride_and_keeps_pixels():
    image = np.arange(300 * 300, dtype=np.float32).reshape(300, 300)
    truths = [CropTruth(x=101.0, y=203.0, diameter_mm=0.2, length_mm=0.2)]
    for crop, inside in crop_view(image, np.ones_like(image, bool), truths, np.random.default_rng(1), 50, 64):
        y0, x0 = divmod(int(crop[0, 0]), 300)
        assert y0 % 4 == 0 and x0 % 4 == 0
        assert np.array_equal(crop, image[y0:y0 + 64, x0:x0 + 64])
        for t in inside:
            assert (t.x + x0, t.y + y0) == (101.0, 203.0)


def test_small_image_is_padded_to_the_crop_size():
    crops = crop_view(np.ones((50, 70), np.float32), np.ones((50, 70), bool), [], np.random.default_rng(2), 3, 96)
    assert all(c.shape == (96, 96) for c, _ in crops)


@pytest.mark.slow
def test_exam_crops_targets_mark_bright_calcifications(tmp_path):
    from mammoedge.tools.phantom.exam import make_exam

    make_exam(tmp_path / "exam", seed=6_100_000, index=0, profile="hologic", size="small", normal_fraction=0.0)
    images, targets = exam_crops(tmp_path / "exam", 8, 128, seed=0)
    assert images.shape == (32, 1, 128, 128) and targets.shape == (32, 1, 32, 32)
    assert targets.sum() > 0
    # a target cell holds a calcification: brighter than its neighbourhood on average
    local = images[:, 0].reshape(32, 32, 4, 32, 4).max(axis=(2, 4)) - np.median(images[:, 0], axis=(1, 2))[:, None, None]
    assert local[targets[:, 0] > 0].mean() > local[targets[:, 0] == 0].mean() + 0.02
