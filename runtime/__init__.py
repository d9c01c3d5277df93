"""The appliance service: DICOM in and out, preprocessing, inference, analysis, outputs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mammoedge")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
