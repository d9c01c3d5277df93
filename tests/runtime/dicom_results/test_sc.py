"""Secondary captures: the drawn view cropped to its content (less to write, send and store), nothing lost."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from mammoedge.runtime.analysis import render_overlay
from mammoedge.runtime.dicom_results import ResultKind, build_dicom_results
from mammoedge.runtime.dicom_results.sc import crop_to_content


def test_crop_keeps_every_drawn_pixel_and_a_margin():
    canvas = np.zeros((100, 80, 3), np.uint8)
    canvas[20:60, 0:30] = 90  # the breast at the chest wall (left)
    canvas[10, 50] = (0, 0, 255)  # a label pixel beyond it
    cropped = crop_to_content(canvas, margin=4)
    assert cropped.shape == (60 - 10 + 4 + 4, 50 + 4 + 1, 3)  # rows 6..63, columns 0..54
    assert int(cropped.astype(int).sum()) == int(canvas.astype(int).sum())
    assert crop_to_content(np.zeros((5, 5, 3), np.uint8)).shape == (5, 5, 3)  # nothing drawn: unchanged


def test_sc_pixels_are_the_cropped_overlay(exam):
    built = build_dicom_results(exam.result, exam.sources, exam.images, kinds=[ResultKind.SC])
    assert len(built) == len(exam.result.views)
    for item, view, image in zip(built, exam.result.views, exam.images):
        full = render_overlay(image.image, view, image.mask)
        expected = cv2.cvtColor(crop_to_content(full), cv2.COLOR_BGR2RGB)
        pixels = item.dataset.pixel_array
        assert pixels.shape == expected.shape and np.array_equal(pixels, expected)
        assert pixels.shape[0] * pixels.shape[1] < full.shape[0] * full.shape[1]  # the background is gone
        spacing = float(view.spacing_mm) * image.image.shape[0] / full.shape[0]  # the pixels keep their size
        assert float(item.dataset.PixelSpacing[0]) == pytest.approx(spacing, rel=1e-6)


def test_warm_up_loads_highdicoms_tables():
    """The service's start-up warm-up reads highdicom's IOD tables, so the first exam does not."""
    from highdicom import _standard_utils
    from mammoedge.runtime.dicom_results import warm_up

    _standard_utils.get_module_attribute_map.cache_clear()
    assert _standard_utils.get_module_attribute_map.cache_info().currsize == 0
    warm_up()
    assert _standard_utils.get_module_attribute_map.cache_info().currsize == 1
