"""The project's decoder plugin (runtime/dicom/codecs.py): pixel-identical to the encoder's input, through
pydicom's plugin mechanism, with pydicom's plugins as fallback; cut codestreams refused, never decoded to noise.

Encoded by other implementations than the one that decodes: JPEG 2000 by pydicom's pylibjpeg-openjpeg encoder,
HTJ2K by OpenJPH (and cross-checked with pylibjpeg-openjpeg's decoder), JPEG-LS and JPEG Lossless by dcmtk.
"""

import copy
import logging
import shutil
import subprocess

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom import uid
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels.decoders.base import get_decoder

from mammoedge.runtime.config import ReaderConfig
from mammoedge.runtime.dicom import TruncatedError, read_header
from mammoedge.runtime.dicom import codecs
from mammoedge.runtime.dicom.pixels import decode
from mgfactory import Convention, make_dataset, write

ROWS, COLUMNS, BITS = 512, 416, 14
LOSSLESS = ["j2k", "htj2k", "htj2k-tiled", "jpeg-ls", "jpeg-lossless-sv1", "jpeg-lossless"]
DCMTK = {"jpeg-ls": ["dcmcjpls"], "jpeg-ls-near": ["dcmcjpls", "+en", "+md", "2"],
         "jpeg-lossless-sv1": ["dcmcjpeg", "+e1"], "jpeg-lossless": ["dcmcjpeg", "+el"]}


def _encapsulated(ds: pydicom.Dataset, ts: str, codestream: bytes) -> pydicom.Dataset:
    out = copy.deepcopy(ds)
    out.PixelData = encapsulate([codestream])
    out["PixelData"].VR = "OB"
    out.file_meta.TransferSyntaxUID = uid.UID(ts)
    return out


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    """(name -> dataset, the stored pixels): one 14-bit mammogram with noise, in every syntax the plugin takes."""
    if shutil.which("dcmcjpls") is None:
        pytest.fail("dcmtk is not installed (apt dcmtk): its JPEG-LS / JPEG encoders are this test's peers")
    ds, _ = make_dataset(convention=Convention(rows=ROWS, columns=COLUMNS, bits_stored=BITS))
    noise = np.random.default_rng(3).integers(0, 60, (ROWS, COLUMNS))
    stored = np.clip(ds.pixel_array.astype(np.int64) + noise, 0, (1 << BITS) - 1).astype(np.uint16)
    ds.PixelData = stored.tobytes()
    root = tmp_path_factory.mktemp("codecs")
    plain = write(ds, root / "plain.dcm")
    files: dict[str, pydicom.Dataset] = {}
    j2k = copy.deepcopy(ds)
    j2k.compress(uid.JPEG2000Lossless, encoding_plugin="pylibjpeg", generate_instance_uid=False)
    files["j2k"] = j2k
    lossy = copy.deepcopy(ds)
    lossy.compress(uid.JPEG2000, j2k_cr=[20], encoding_plugin="pylibjpeg", generate_instance_uid=False)
    files["j2k-lossy"] = lossy
    files["htj2k"] = _encapsulated(ds, uid.HTJ2KLossless, imagecodecs.htj2k_encode(stored, reversible=True))
    files["htj2k-tiled"] = _encapsulated(ds, uid.HTJ2KLossless,
                                         imagecodecs.htj2k_encode(stored, reversible=True, tile=(128, 128)))
    files["htj2k-lossy"] = _encapsulated(ds, uid.HTJ2K, imagecodecs.htj2k_encode(stored, reversible=False))
    for name, command in DCMTK.items():
        subprocess.run([*command, str(plain), str(root / f"{name}.dcm")], check=True, capture_output=True)
        files[name] = pydicom.dcmread(root / f"{name}.dcm")
    return files, stored


def _decode(ds: pydicom.Dataset) -> np.ndarray:
    return decode(ds, read_header(ds, ReaderConfig()))


def test_plugin_is_registered_on_every_syntax_it_has_a_codec_for():
    for ts in codecs.CODECS:
        assert codecs.PLUGIN in get_decoder(uid.UID(ts)).available_plugins, ts
        assert codecs.handles(ts)
    assert not codecs.handles(uid.ExplicitVRLittleEndian) and not codecs.handles(uid.RLELossless)
    assert codecs.decode_threads() >= 1


@pytest.mark.parametrize("name", LOSSLESS)
def test_lossless_syntaxes_decode_pixel_identical_with_the_plugin(encoded, name, caplog):
    files, stored = encoded
    ds = files[name]
    ts = ds.file_meta.TransferSyntaxUID
    assert ts in codecs.CODECS
    via_pydicom, _ = get_decoder(ts).as_array(ds, decoding_plugin=codecs.PLUGIN)  # pydicom's plugin mechanism
    assert np.array_equal(via_pydicom, stored)
    with caplog.at_level(logging.WARNING, logger="mammoedge"):
        assert np.array_equal(_decode(ds), stored)
    assert not caplog.records  # the plugin decoded it: no fallback


def test_htj2k_from_openjph_is_a_standard_codestream(encoded):
    """pylibjpeg-openjpeg (another implementation) reads the HTJ2K files the same: the test data is honest."""
    files, stored = encoded
    for name in ("htj2k", "htj2k-tiled"):
        other, _ = get_decoder(files[name].file_meta.TransferSyntaxUID).as_array(files[name], decoding_plugin="pylibjpeg")
        assert np.array_equal(other, stored), name


def test_lossy_syntaxes_agree_with_pydicoms_own_decoders(encoded):
    files, stored = encoded
    ours = {name: _decode(files[name]).astype(np.int64) for name in ("j2k-lossy", "htj2k-lossy", "jpeg-ls-near")}
    theirs = {name: get_decoder(files[name].file_meta.TransferSyntaxUID).as_array(
        files[name], decoding_plugin=plugin)[0].astype(np.int64)
        for name, plugin in (("j2k-lossy", "pylibjpeg"), ("htj2k-lossy", "pylibjpeg"), ("jpeg-ls-near", "pyjpegls"))}
    assert np.array_equal(ours["j2k-lossy"], theirs["j2k-lossy"])  # both OpenJPEG
    assert not np.array_equal(ours["j2k-lossy"], stored)  # it is lossy: the comparison means something
    assert np.abs(ours["htj2k-lossy"] - theirs["htj2k-lossy"]).max() <= 1  # OpenJPH vs OpenJPEG: irreversible rounding
    assert np.abs(ours["htj2k-lossy"] - stored).max() <= 2
    assert np.array_equal(ours["jpeg-ls-near"], theirs["jpeg-ls-near"])  # both CharLS
    assert 0 < np.abs(ours["jpeg-ls-near"] - stored).max() <= 2  # dcmtk's NEAR = 2


@pytest.mark.parametrize("name", [*LOSSLESS, "htj2k-lossy"])
@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_a_cut_codestream_is_refused_not_decoded_to_noise(encoded, name, keep):
    """OpenJPH and libjpeg-turbo decode a cut stream without an error (noise where data is missing)."""
    files, _ = encoded
    ds = files[name]
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    cut = _encapsulated(ds, ds.file_meta.TransferSyntaxUID, frame[: int(len(frame) * keep) // 2 * 2])
    with pytest.raises(TruncatedError, match="ends before its end marker") as info:
        _decode(cut)
    assert ds.SOPInstanceUID not in str(info.value)


def test_padding_after_the_end_marker_is_accepted(encoded):
    files, stored = encoded
    for name in ("htj2k", "jpeg-lossless-sv1"):
        frame = next(generate_frames(files[name].PixelData, number_of_frames=1))
        padded = _encapsulated(files[name], files[name].file_meta.TransferSyntaxUID, frame + b"\x00\x00")
        assert np.array_equal(_decode(padded), stored), name


def test_pydicoms_plugins_take_over_when_the_plugin_fails(encoded, monkeypatch, caplog):
    files, stored = encoded

    def broken(src: bytes) -> np.ndarray:
        raise imagecodecs.Jpeg2kError("simulated codec failure")

    monkeypatch.setattr(codecs, "_functions", lambda: dict.fromkeys(codecs.Codec, broken))
    with caplog.at_level(logging.WARNING, logger="mammoedge"):
        assert np.array_equal(_decode(files["j2k"]), stored)
    (record,) = [r for r in caplog.records if r.name.startswith("mammoedge")]
    assert "openjpeg decoder failed" in record.getMessage() and "trying pydicom's decoders" in record.getMessage()
    assert files["j2k"].SOPInstanceUID not in record.getMessage()
