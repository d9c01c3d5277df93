import numpy as np

from mammoedge.runtime.morphology.roi import ROI_SIZE, crop_roi, roi_centres


def test_crop_is_centred_and_mirrors_outside_the_image():
    image = np.arange(200 * 300, dtype=np.float32).reshape(200, 300)
    roi = crop_roi(image, np.array([150.0, 100.0]))
    assert roi.shape == (ROI_SIZE, ROI_SIZE)
    assert roi[ROI_SIZE // 2, ROI_SIZE // 2] == image[100, 150]
    corner = crop_roi(image, np.array([0.0, 0.0]))
    assert corner.shape == (ROI_SIZE, ROI_SIZE)
    assert corner[ROI_SIZE // 2, ROI_SIZE // 2] == image[0, 0]
    assert corner[ROI_SIZE // 2 - 1, ROI_SIZE // 2] == image[1, 0]  # mirrored, not zero


def test_centres_are_the_centroid_then_separated_top_members():
    points = np.array([[0, 0], [99, 2], [100, 0], [0, 100], [101, 1]], float) * 0.9  # fits in one ROI
    scores = np.array([0.9, 0.93, 0.7, 0.6, 0.95])
    centres = roi_centres(points, scores, max_rois=3)
    assert np.allclose(centres[0], points.mean(axis=0))
    assert np.allclose(centres[1], points[4])  # highest score, far from the centroid
    assert np.allclose(centres[2], [0, 0])  # points[1] scores higher but is within ROI_SIZE/3 of points[4]
    assert len(roi_centres(points[:1], scores[:1])) == 1


def test_a_wide_cluster_s_rois_go_where_its_calcifications_are_densest_not_to_its_empty_centroid():
    rng = np.random.default_rng(0)
    dense = rng.uniform(-15, 15, (8, 2)) + [100, 100]  # 8 within 3 mm
    second = rng.uniform(-15, 15, (5, 2)) + [400, 120]  # 5 within 3 mm, 30 mm away
    lone = np.array([[250, 400.0]])
    points = np.vstack([dense, second, lone])
    centres = roi_centres(points, np.full(len(points), 0.5), max_rois=3)
    assert np.allclose(centres[0], dense.mean(axis=0)) and np.allclose(centres[1], second.mean(axis=0))
    assert np.allclose(centres[2], lone[0])
    centroid = points.mean(axis=0)
    assert min(np.hypot(*(points - centroid).T)) > ROI_SIZE / 2  # the centroid's ROI would hold none of them


def test_roi_standardization_ignores_the_view_s_level_and_contrast():
    from mammoedge.runtime.morphology.roi import standardize_roi

    rng = np.random.default_rng(0)
    roi = rng.normal(0.5, 0.1, (ROI_SIZE, ROI_SIZE)).astype(np.float32)
    roi[40:44, 40:44] += 0.5  # a calcification
    a, b = standardize_roi(roi), standardize_roi(0.7 + 0.45 * (roi - 0.5))  # as a whole view would show it
    assert np.allclose(a, b, atol=1e-5)
    assert abs(float(np.median(a)) - 0.5) < 1e-6
    assert np.isclose(np.percentile(a, 99) - np.percentile(a, 1), 1.0, atol=1e-4)
    assert standardize_roi(np.zeros((8, 8), np.float32)).max() == 0.5  # flat input: no division by zero
