"""Files written by dcmtk (not pydicom) are read too: dump2dcm, then dcmtk's own codecs."""

import shutil
import subprocess

import numpy as np
import pytest

from mammoedge.runtime.codes import Laterality, View
from mammoedge.runtime.config import PreprocessConfig, ReaderConfig
from mammoedge.runtime.dicom import read_mammogram
from mammoedge.runtime.preprocess import normalize
from mgfactory import canonical

pytestmark = pytest.mark.skipif(shutil.which("dump2dcm") is None, reason="dcmtk is not installed (apt dcmtk)")

DUMP = """\
(0002,0002) UI =DigitalMammographyXRayImageStorageForPresentation
(0002,0003) UI 1.2.826.0.1.3680043.10.1.7
(0008,0016) UI =DigitalMammographyXRayImageStorageForPresentation
(0008,0018) UI 1.2.826.0.1.3680043.10.1.7
(0008,0060) CS [MG]
(0008,0068) CS [FOR PRESENTATION]
(0008,0070) LO [DCMTK-MADE]
(0018,1164) DS [0.15\\0.15]
(0018,1114) DS [1.5]
(0018,5101) CS [MLO]
(0020,000d) UI 1.2.826.0.1.3680043.10.1.5
(0020,000e) UI 1.2.826.0.1.3680043.10.1.6
(0020,0020) CS [P\\FL]
(0020,0062) CS [R]
(0028,0002) US 1
(0028,0004) CS [MONOCHROME1]
(0028,0010) US {rows}
(0028,0011) US {cols}
(0028,0100) US 16
(0028,0101) US 14
(0028,0102) US 13
(0028,0103) US 0
(0028,1050) DS [8000]
(0028,1051) DS [16000]
(7fe0,0010) OW =pixels.raw
"""

CODECS = {
    "jpeg-ls": ["dcmcjpls"],
    "rle": ["dcmcrle"],
    "jpeg-lossless-sv1": ["dcmcjpeg", "+e1"],
    "jpeg-lossless": ["dcmcjpeg", "+el"],
}


@pytest.fixture(scope="module")
def dcmtk_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("dcmtk")
    image, planted = canonical(320, 256, "MLO", np.random.default_rng(5))
    stored = np.round((1.0 - image[:, ::-1]) * 15000 + 500).astype("<u2")  # right breast, MONOCHROME1
    stored.tofile(root / "pixels.raw")
    (root / "dump.txt").write_text(DUMP.format(rows=320, cols=256))
    subprocess.run(["dump2dcm", "+te", "dump.txt", "plain.dcm"], cwd=root, check=True)
    files = {"plain": root / "plain.dcm"}
    for name, cmd in CODECS.items():
        subprocess.run(cmd + ["plain.dcm", f"{name}.dcm"], cwd=root, check=True)
        files[name] = root / f"{name}.dcm"
    return files, stored, planted


@pytest.mark.parametrize("codec", ["plain", *CODECS])
def test_dcmtk_written_file_reads_losslessly(dcmtk_files, codec):
    files, stored, planted = dcmtk_files
    mammogram = read_mammogram(files[codec], ReaderConfig())
    header = mammogram.header
    assert (header.laterality, header.view) == (Laterality.RIGHT, View.MLO)
    assert header.spacing_mm == pytest.approx((0.1, 0.1))
    assert header.manufacturer == "DCMTK-MADE"
    plain = read_mammogram(files["plain"], ReaderConfig())
    assert np.array_equal(mammogram.pixels, plain.pixels)  # lossless codecs give the same picture
    view = normalize(mammogram, PreprocessConfig())
    assert view.transform.flip_horizontal  # stored with the chest wall right ('P' row direction)
    x, y = view.transform.from_original(np.array([[255 - planted.marker_xy[0], planted.marker_xy[1]]]))[0]
    assert abs(x - planted.marker_xy[0]) < 1.0 and abs(y - planted.marker_xy[1]) < 1.0  # 0.15 mm / 1.5 = 0.1 mm
