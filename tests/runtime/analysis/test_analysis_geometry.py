import cv2
import numpy as np
import pytest

from analysis_helpers import SPACING, breast_mask, spot, synthetic_view
from mammoedge.runtime.analysis import (
    Quadrant, clock_position, detect_map, extract_calcifications, image_to_map, map_to_image, nipple_position,
)
from mammoedge.runtime.analysis.geometry import DepthThird, depth_third, quadrant, side_in_view
from mammoedge.runtime.codes import Laterality, View


def test_map_and_image_coordinates_are_exact_inverses():
    xy = np.array([[0, 0], [3, 7], [12.25, 0.5]])
    assert map_to_image(xy, 4)[0].tolist() == [1.5, 1.5]  # centre of pixels 0..3
    assert map_to_image(xy, 1).tolist() == xy.tolist()
    np.testing.assert_array_equal(image_to_map(map_to_image(xy, 4), 4), xy)


def test_nipple_is_the_rightmost_breast_point():
    mask = np.zeros((100, 80), bool)
    mask[20:81, :50] = True
    mask[40:61, 50:66] = True
    assert nipple_position(mask) == (65.0, 50.0)


@pytest.mark.parametrize(
    "laterality, lateral, superior, hour",
    [
        ("R", 10, 0, 9), ("L", 10, 0, 3), ("R", 0, 10, 12), ("L", 0, -10, 6),
        ("R", 10, 10, 10), ("L", 10, 10, 2), ("R", -5, -10, 5), ("L", -5, -10, 7),
    ],
)
def test_clock_position_as_seen_facing_the_patient(laterality, lateral, superior, hour):
    assert clock_position(Laterality(laterality), lateral, superior) == hour


def test_quadrant_depth_and_side():
    assert quadrant(10, 10, 5) is Quadrant.UPPER_OUTER
    assert quadrant(-10, -10, 5) is Quadrant.LOWER_INNER
    assert quadrant(2, -2, 5) is Quadrant.CENTRAL
    assert [depth_third(x, 90) for x in (80, 45, 10)] == [DepthThird.ANTERIOR, DepthThird.MIDDLE, DepthThird.POSTERIOR]
    assert side_in_view(View.CC, -8, 5) == "lateral" and side_in_view(View.MLO, 8, 5) == "inferior"
    assert side_in_view(View.MLO, 3, 5) == "central"


def test_calcification_position_size_and_contrast(detector):
    points = [(12.34, 20.0), (25.0, 31.17), (8.05, 40.0)]
    image, mask = synthetic_view(points_mm=points)
    pmap = detect_map(image, mask, detector, tile_size=128, overlap=32, batch_size=4)
    calcs = extract_calcifications(pmap, image, SPACING, threshold=0.5, nms_distance_mm=0.3)
    assert len(calcs) == 3
    found = sorted((c.x_mm, c.y_mm) for c in calcs)
    np.testing.assert_allclose(found, sorted(points), atol=0.02)  # 0.2 px
    for c in calcs:
        assert 0.74 <= c.contrast <= 0.8  # peak 0.8 sampled off-centre
        assert 0.25 <= c.diameter_mm <= 0.45  # FWHM of sigma 1.5 px at 0.1 mm is 0.35 mm
        assert c.score >= 0.9


def test_positions_map_back_to_original_pixels_within_one_pixel(detector):
    """Original image at 0.07 mm, chest wall on the right (flipped); normalized = flip + resample to 0.1 mm."""
    original_spacing, shape = 0.07, (700, 520)
    truth = np.array([[200.3, 200.6], [300.0, 420.2], [401.7, 333.3]])  # (col, row) in original px
    original = np.zeros(shape, np.float32)
    normal_mask = breast_mask((int(shape[0] * original_spacing / SPACING), int(shape[1] * original_spacing / SPACING)))
    factor = original_spacing / SPACING
    for x, y in truth:
        spot(original, x, y, sigma=2.0, peak=0.8)
    flipped = original[:, ::-1]
    h, w = normal_mask.shape
    # cv2.resize maps pixel centres: x_new = (x_old + 0.5) * factor - 0.5
    normalized = cv2.resize(flipped, (w, h), interpolation=cv2.INTER_AREA) + np.where(normal_mask, 0.2, 0).astype(np.float32)

    def to_original(xy):
        x_flipped = (xy[:, 0] + 0.5) / factor - 0.5
        return np.stack([shape[1] - 1 - x_flipped, (xy[:, 1] + 0.5) / factor - 0.5], axis=1)

    pmap = detect_map(normalized, normal_mask, detector, tile_size=128, overlap=32, batch_size=4)
    calcs = extract_calcifications(pmap, normalized, SPACING, threshold=0.45, nms_distance_mm=0.3,
                                   to_original=to_original)
    got = np.array(sorted((c.original_x, c.original_y) for c in calcs))
    assert got.shape == truth.shape
    error = np.abs(got - truth[np.argsort(truth[:, 0])]).max()
    print(f"largest original-pixel error: {error:.3f} px")
    assert error <= 1.0


def test_empty_breast_is_a_typed_input_error(detector):
    from mammoedge.runtime.analysis import NoBreastError, analyze_view
    from mammoedge.runtime.config import AnalysisConfig
    from mammoedge.runtime.errors import InputError

    image = np.zeros((200, 200), np.float32)
    with pytest.raises(NoBreastError, match="breast mask of the view is empty") as info:
        analyze_view(image, image > 0, spacing_mm=0.1, laterality="L", view="CC", model=detector, config=AnalysisConfig())
    assert isinstance(info.value, InputError) and info.value.reason == "no-breast"
