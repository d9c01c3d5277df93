"""Every kind of bad input gives its typed error naming the value and the rule; none crashes or hangs."""

import subprocess
import sys

import numpy as np
import pydicom
import pytest

from mammoedge.runtime.config import ReaderConfig
from mammoedge.runtime.dicom import (BadHeaderError, BadSpacingError, MissingLateralityError, MissingViewError,
                                     NotDicomError, PixelLengthError, TooLargeError, TruncatedError,
                                     UnsupportedTransferSyntaxError, WrongModalityError, WrongSopClassError,
                                     read_header, read_mammogram)
from mammoedge.runtime.errors import InputError
from mgfactory import VENDORS, make_dataset, write

READER = ReaderConfig()


def _file(tmp_path, mutate=None, **kwargs):
    ds, _ = make_dataset(**kwargs)
    if mutate:
        mutate(ds)
    return write(ds, tmp_path / "bad.dcm")


def test_not_dicom(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not a mammogram\n" * 20)
    with pytest.raises(NotDicomError, match="no DICOM preamble"):
        read_mammogram(path, READER)
    tiny = tmp_path / "tiny.dcm"
    tiny.write_bytes(b"DICM")
    with pytest.raises(NotDicomError, match="shorter than a DICOM preamble"):
        read_mammogram(tiny, READER)


def test_truncated_file(tmp_path):
    path = _file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:600])  # cut inside the header
    with pytest.raises((TruncatedError, NotDicomError, PixelLengthError, BadHeaderError)) as info:
        read_mammogram(path, READER)
    assert info.value.reason in ("truncated", "not-dicom", "pixel-length", "bad-header")


def test_truncated_pixel_data_native(tmp_path):
    path = _file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 5000])
    with pytest.raises(InputError) as info:
        read_mammogram(path, READER)
    assert info.value.reason in ("truncated", "pixel-length")
    assert "PixelData" in str(info.value) or "truncated" in str(info.value)


def test_truncated_pixel_data_jpeg2000(tmp_path):
    path = _file(tmp_path, convention=VENDORS["m2-12bit-window-j2k-mag"])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError) as info:
        read_mammogram(path, READER)
    assert info.value.reason in ("truncated", "pixel-decode", "not-dicom")


def test_pixel_length_inconsistent_with_header(tmp_path):
    def grow(ds):
        ds.Rows = ds.Rows + 10

    with pytest.raises(PixelLengthError, match=r"PixelData holds \d+ bytes but Rows 410 x Columns 320"):
        read_header(_file(tmp_path, grow), READER)


def test_wrong_modality(tmp_path):
    def ct(ds):
        ds.Modality = "CT"

    with pytest.raises(WrongModalityError, match="Modality 'CT' is not accepted; rule: Modality must be MG"):
        read_header(_file(tmp_path, ct), READER)


def test_wrong_sop_class(tmp_path):
    def ct(ds):
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"

    with pytest.raises(WrongSopClassError,
                       match=r"SOP Class '1.2.840.10008.5.1.4.1.1.2' \(CT Image Storage\) is not accepted"):
        read_header(_file(tmp_path, ct), READER)


def test_missing_laterality(tmp_path):
    def strip(ds):
        del ds.ImageLaterality

    with pytest.raises(MissingLateralityError, match="ImageLaterality, Laterality and FrameLaterality"):
        read_header(_file(tmp_path, strip), READER)

    def both(ds):
        ds.ImageLaterality = "B"

    with pytest.raises(MissingLateralityError, match="'B' is not one breast"):
        read_header(_file(tmp_path, both), READER)


def test_missing_or_unknown_view(tmp_path):
    def strip(ds):
        del ds.ViewPosition
        del ds.ViewCodeSequence

    with pytest.raises(MissingViewError, match="ViewPosition and ViewCodeSequence are both absent"):
        read_header(_file(tmp_path, strip), READER)

    def odd(ds):
        ds.ViewPosition = "AP"
        del ds.ViewCodeSequence

    with pytest.raises(MissingViewError, match="ViewPosition 'AP' is not a known mammographic view"):
        read_header(_file(tmp_path, odd), READER)


@pytest.mark.parametrize("value, needle", [(0.0, "outside the plausible range"), (7.5, "outside the plausible range"),
                                           (None, "both absent")])
def test_zero_absurd_or_missing_spacing(tmp_path, value, needle):
    def spacing(ds):
        del ds.ImagerPixelSpacing
        if value is not None:
            ds.ImagerPixelSpacing = [value, value]

    with pytest.raises(BadSpacingError, match=needle):
        read_header(_file(tmp_path, spacing), READER)


def test_too_large_is_refused_before_decoding(tmp_path):
    def huge(ds):
        ds.Rows, ds.Columns = 60000, 60000

    with pytest.raises(TooLargeError, match=r"60000x60000 = 3600000000 pixels exceeds the limit of 60000000"):
        read_mammogram(_file(tmp_path, huge), READER)


def test_unsupported_transfer_syntax(tmp_path):
    path = _file(tmp_path)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2
    with pytest.raises(UnsupportedTransferSyntaxError,
                       match=r"'1.2.840.10008.1.2.4.100' \(MPEG2 [^)]*\) is not supported; supported"):
        read_header(ds, READER)


def test_garbage_after_preamble_never_crashes(tmp_path):
    """Random mutations of a good file: every outcome is success or a typed InputError."""
    good = _file(tmp_path).read_bytes()
    rng = np.random.default_rng(7)
    outcomes = set()
    for i in range(60):
        data = bytearray(good)
        for pos in rng.integers(132, 1200, size=4):
            data[pos] = int(rng.integers(0, 256))
        path = tmp_path / f"m{i}.dcm"
        path.write_bytes(bytes(data))
        try:
            read_mammogram(path, READER)
            outcomes.add("ok")
        except InputError as exc:
            outcomes.add(exc.reason)
    assert outcomes  # every iteration ended in success or a typed error (no other exception escaped)


def test_inspect_exit_code_and_json(tmp_path):
    good = write(make_dataset()[0], tmp_path / "good.dcm")
    bad = tmp_path / "bad.dcm"
    bad.write_text("nope" * 100)
    cmd = [sys.executable, "-m", "mammoedge.runtime.cli", "inspect", "--json"]
    ok = subprocess.run(cmd + [str(good)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    import json

    entry = json.loads(ok.stdout)[0]
    assert entry["laterality"] == "L" and entry["view"] == "MLO" and entry["pectoral_found"]
    assert "Testperson" not in ok.stdout and "FAKE-0001" not in ok.stdout  # no patient data
    mixed = subprocess.run(cmd + [str(good), str(bad)], capture_output=True, text=True)
    assert mixed.returncode == 1
    assert [e["ok"] for e in json.loads(mixed.stdout)] == [True, False]
