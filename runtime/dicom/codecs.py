"""The project's pixel-data decoder plugin for pydicom (``pydicom.pixels`` plugin API): imagecodecs' codecs.

pydicom 3 picks, per transfer syntax, the first of its plugins that works (gdcm, pylibjpeg, pyjpegls, ...).
For the compressed syntaxes a mammogram comes in, imagecodecs has faster codecs (measured by
``mammoedge bench --decoders``, docs/bench.md), so this module is registered as the plugin ``mammoedge`` on
those syntaxes' decoders and ``pixels.decode`` asks for it first, falling back to pydicom's own plugins:

- JPEG 2000 (Part 1): OpenJPEG with one thread per core (pylibjpeg-openjpeg 2.6 runs it on one thread);
- HTJ2K (Part 15): OpenJPH;
- JPEG-LS: CharLS (pydicom's default, pylibjpeg-libjpeg, is slower);
- JPEG Lossless (process 14, SV1 or any predictor): libjpeg-turbo 3.

Only single-sample (monochrome) frames are taken, the only kind a mammogram has.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Callable

import numpy as np
from pydicom import uid
from pydicom.pixels.decoders.base import DecodeRunner, get_decoder

log = logging.getLogger(__name__)

#: The plugin's label in pydicom's decoders.
PLUGIN = "mammoedge"


class Codec(enum.Enum):
    """The library that decodes a transfer syntax in this plugin."""

    OPENJPEG = "openjpeg"
    OPENJPH = "openjph"
    CHARLS = "charls"
    LIBJPEG_TURBO = "libjpeg-turbo"


#: Transfer syntax -> the codec this plugin decodes it with.
CODECS: dict[str, Codec] = {
    uid.JPEG2000Lossless: Codec.OPENJPEG,
    uid.JPEG2000: Codec.OPENJPEG,
    uid.HTJ2KLossless: Codec.OPENJPH,
    uid.HTJ2K: Codec.OPENJPH,
    uid.JPEGLSLossless: Codec.CHARLS,
    uid.JPEGLSNearLossless: Codec.CHARLS,
    uid.JPEGLossless: Codec.LIBJPEG_TURBO,
    uid.JPEGLosslessSV1: Codec.LIBJPEG_TURBO,
}

#: pydicom's plugin API: what the plugin needs, per transfer syntax.
DECODER_DEPENDENCIES: dict[uid.UID, tuple[str, ...]] = {uid.UID(ts): ("numpy", "imagecodecs>=2026.3") for ts in CODECS}


def decode_threads() -> int:
    """Threads for a decoder that can use several: every core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _functions() -> dict[Codec, Callable[[bytes], np.ndarray]]:
    import imagecodecs

    return {
        Codec.OPENJPEG: lambda src: imagecodecs.jpeg2k_decode(src, numthreads=decode_threads()),
        Codec.OPENJPH: imagecodecs.htj2k_decode,
        Codec.CHARLS: imagecodecs.jpegls_decode,
        Codec.LIBJPEG_TURBO: imagecodecs.jpeg8_decode,
    }


def _library_available(codec: Codec) -> bool:
    try:
        import imagecodecs
    except ImportError:
        return False
    flag = {Codec.OPENJPEG: "JPEG2K", Codec.OPENJPH: "HTJ2K", Codec.CHARLS: "JPEGLS", Codec.LIBJPEG_TURBO: "JPEG8"}
    return bool(getattr(getattr(imagecodecs, flag[codec], None), "available", False))


def is_available(transfer_syntax: str) -> bool:
    """pydicom's plugin API: whether this plugin can decode ``transfer_syntax`` here."""
    codec = CODECS.get(transfer_syntax)
    return codec is not None and _library_available(codec)


def handles(transfer_syntax: str) -> bool:
    """Whether ``pixels.decode`` should ask this plugin first for ``transfer_syntax``."""
    return is_available(transfer_syntax) and PLUGIN in get_decoder(uid.UID(transfer_syntax)).available_plugins


def decode_frame(src: bytes, runner: DecodeRunner) -> bytes:
    """pydicom's plugin API: one encoded frame -> its pixels as little-endian bytes, one sample per pixel."""
    if runner.samples_per_pixel != 1:
        raise ValueError(f"the {PLUGIN} plugin decodes single-sample frames only, not "
                         f"SamplesPerPixel {runner.samples_per_pixel}")
    codec = CODECS[runner.transfer_syntax]
    frame = np.asarray(_functions()[codec](src))
    if frame.shape != (runner.rows, runner.columns):
        raise ValueError(f"{codec.value} decoded a frame of shape {frame.shape}, not "
                         f"({runner.rows}, {runner.columns})")
    # like pydicom's pylibjpeg plugin: the container follows the codestream's precision
    runner.set_option("bits_allocated", frame.dtype.itemsize * 8)
    return frame.astype(frame.dtype.newbyteorder("<"), copy=False).tobytes()


def register() -> tuple[str, ...]:
    """Add this plugin to pydicom's decoders of ``CODECS`` (idempotent); the syntaxes it is available for.

    pydicom's ``add_plugin`` is not thread-safe: this runs at import of ``mammoedge.runtime.dicom``.
    """
    for ts in CODECS:
        try:
            get_decoder(uid.UID(ts)).add_plugin(PLUGIN, (__name__, "decode_frame"))
        except ValueError:  # already added
            pass
    usable = tuple(ts for ts in CODECS if handles(ts))
    missing = sorted(set(CODECS) - set(usable))
    if missing:
        log.warning("imagecodecs cannot decode %s here: pydicom's own (slower) decoders are used",
                    ", ".join(missing))
    return usable
