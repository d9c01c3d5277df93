"""The risk input's registration: each view's breast box stretched over the input grid, and mapped back."""

import numpy as np
import pytest

from mammoedge.runtime.risk import INPUT_SHAPE, BreastBox, breast_box, register_view


def test_a_breast_box_is_stretched_over_the_whole_grid_and_grid_points_map_back_into_it():
    image = np.zeros((1200, 900), np.float32)
    mask = np.zeros(image.shape, bool)
    mask[300:1000, :600] = True  # chest wall at column 0
    image[mask] = 1.0
    image[300:650, :300] = 2.0  # the box's upper-left quarter is brighter
    pixels, box = register_view(image, mask)
    assert box == BreastBox(300, 1000, 600) == breast_box(mask)
    assert pixels.shape == INPUT_SHAPE and (pixels > 0).all()  # the breast fills the grid
    rows, cols = INPUT_SHAPE
    assert pixels[: rows // 2 - 2, : cols // 2 - 2].min() == pytest.approx(2.0)
    assert pixels[rows // 2 + 2:, cols // 2 + 2:].max() == pytest.approx(1.0)
    assert box.to_view(0, 0) == (0.0, 300.0) and box.to_view(rows, cols) == (600.0, 1000.0)
    assert box.scale() == pytest.approx((700 / rows, 600 / cols))


def test_an_empty_mask_registers_the_whole_view():
    pixels, box = register_view(np.ones((512, 416), np.float32), np.zeros((512, 416), bool))
    assert box == BreastBox(0, 512, 416) and not pixels.any()
