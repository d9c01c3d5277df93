"""Vendor conventions in, one normalized picture out: orientation, spacing, mask, marker position."""

import cv2
import numpy as np
import pytest

from mammoedge.runtime.codes import Laterality, View
from mammoedge.runtime.config import PreprocessConfig, ReaderConfig
from mammoedge.runtime.dicom import read_header, read_mammogram
from mammoedge.runtime.preprocess import normalize
from mgfactory import VENDORS, make_dataset, write

READER = ReaderConfig()
MODEL = PreprocessConfig(model_spacing_mm=0.1)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / max(1, float((a | b).sum()))


@pytest.mark.parametrize("vendor", sorted(VENDORS))
@pytest.mark.parametrize("laterality", ["L", "R"])
@pytest.mark.parametrize("view", ["CC", "MLO"])
def test_vendor_file_normalizes_to_planted_truth(tmp_path, vendor, laterality, view):
    ds, planted = make_dataset(laterality=laterality, view=view, convention=VENDORS[vendor], seed=3)
    path = write(ds, tmp_path / "x.dcm")
    header = read_header(path, READER)
    assert header.laterality is Laterality(laterality)
    assert header.view is View(view)
    assert header.spacing_mm[0] == pytest.approx(planted.spacing_mm)

    result = normalize(read_mammogram(path, READER), MODEL)
    t = result.transform
    scale = planted.spacing_mm / MODEL.model_spacing_mm
    assert result.image.shape == (round(ds.Rows * scale), round(ds.Columns * scale))

    # The marker: where it was stored, where normalization put it, and that it is the brightest spot there.
    mx, my = planted.marker_xy
    stored_xy = np.array([[ds.Columns - 1 - mx if planted.flip_horizontal else mx, my]], float)
    norm_xy = t.from_original(stored_xy)[0]
    canonical_xy = (np.array([mx, my]) + 0.5) * scale - 0.5  # chest wall left, as planted
    assert np.allclose(norm_xy, canonical_xy, atol=1.0), (norm_xy, canonical_xy)
    x, y = np.round(norm_xy).astype(int)
    r = int(np.ceil(2 * scale)) + 1
    window = result.image[y - r:y + r + 1, x - r:x + r + 1]
    peak = np.unravel_index(np.argmax(window), window.shape)
    assert abs(peak[0] - r) <= 1 + scale and abs(peak[1] - r) <= 1 + scale
    assert np.allclose(t.to_original(t.from_original(stored_xy)), stored_xy, atol=1e-9)
    # Calcification-like marker keeps its contrast: above the breast's 98th percentile value (0.9).
    assert window.max() > 0.95

    # Breast mask matches the planted breast; the burned-in label stays out.
    truth = cv2.resize(planted.breast.astype(np.uint8), result.image.shape[::-1],
                       interpolation=cv2.INTER_NEAREST).astype(bool)
    assert _iou(result.mask, truth) > 0.9
    label = np.zeros_like(result.mask)
    label[int((ds.Rows - 28) * scale):int((ds.Rows - 14) * scale), int((ds.Columns - 58) * scale):] = True
    assert not (result.mask & label).any()
    if view == "MLO":
        assert result.pectoral is not None
        truth_pec = cv2.resize(planted.pectoral.astype(np.uint8), result.image.shape[::-1],
                               interpolation=cv2.INTER_NEAREST).astype(bool)
        assert _iou(result.pectoral, truth_pec) > 0.6
    else:
        assert result.pectoral is None


def test_decisions_say_where_spacing_and_voi_came_from(tmp_path):
    ds, _ = make_dataset(convention=VENDORS["m2-12bit-window-j2k-mag"])
    m = read_mammogram(write(ds, tmp_path / "a.dcm"), READER)
    text = " | ".join(m.decisions)
    assert "ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor (1.1)" in text
    assert "window centre/width applied (first of 2" in text
    ds, _ = make_dataset(convention=VENDORS["m1-14bit-lut"])
    text = " | ".join(read_mammogram(write(ds, tmp_path / "b.dcm"), READER).decisions)
    assert "VOI LUT applied" in text and "MONOCHROME1: inverted" in text
    ds, _ = make_dataset(convention=VENDORS["processing-m1-14bit"])
    text = " | ".join(read_mammogram(write(ds, tmp_path / "c.dcm"), READER).decisions)
    assert "log transform" in text


def test_view_from_code_sequence_and_laterality_fallback(tmp_path):
    ds, _ = make_dataset(laterality="R", view="CC")
    del ds.ViewPosition
    del ds.ImageLaterality
    ds.Laterality = "R"
    header = read_header(ds, READER)
    assert header.view is View.CC and header.laterality is Laterality.RIGHT
    assert any("ViewCodeSequence (SCT 399162004)" in d for d in header.decisions)
    assert any("from Laterality" in d for d in header.decisions)


def test_secondary_capture_only_when_configured(tmp_path):
    ds, _ = make_dataset()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    from mammoedge.runtime.dicom import WrongSopClassError

    with pytest.raises(WrongSopClassError):
        read_header(ds, READER)
    assert read_header(ds, ReaderConfig(accept_secondary_capture=True)).view is View.MLO


@pytest.mark.parametrize("dtype,low,high", [(np.uint16, 0, 4000), (np.uint16, 100, 4000), (np.int16, -500, 3000),
                                            (np.int16, 20, 3000), (np.int32, -5, 70000), (np.uint8, 3, 200)])
def test_the_value_table_gives_what_the_transform_gives_on_every_pixel(dtype, low, high):
    """The banded table lookup (``_via_table``) against the transform applied to each pixel, bit for bit."""
    from mammoedge.runtime.dicom.pixels import _via_table

    def transform(v):
        return (np.sqrt(np.abs(v.astype(np.float64)) + 1) * np.sign(v + 0.5)).astype(np.float32)

    rng = np.random.default_rng(7)
    for shape in [(37, 53), (1000,), (5, 17, 3)]:
        values = rng.integers(low, high, size=shape).astype(dtype)
        got = _via_table(values, transform)
        assert got.shape == values.shape and got.dtype == np.float32
        assert np.array_equal(got, transform(values))
