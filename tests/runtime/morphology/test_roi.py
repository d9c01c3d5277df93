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
    points = np.array([[0, 0], [99, 2], [100, 0], [0, 100], [101, 1]], float)
    scores = np.array([0.9, 0.93, 0.7, 0.6, 0.95])
    centres = roi_centres(points, scores, max_rois=3)
    assert np.allclose(centres[0], points.mean(axis=0))
    assert np.allclose(centres[1], [101, 1])  # highest score, far from the centroid
    assert np.allclose(centres[2], [0, 0])  # [99, 2] scores higher but is within ROI_SIZE/3 of [101, 1]
    assert len(roi_centres(points[:1], scores[:1])) == 1
