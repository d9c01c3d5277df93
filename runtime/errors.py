"""The project's one exception root and its main branches.

Raise inside the code; turn into a protocol's answer (DICOM status, exit code,
HTTP status) only at the boundary. Messages name the offending value and the
rule it broke, and never carry patient data.
"""


class MammoedgeError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(MammoedgeError):
    """A configuration file or environment override is invalid."""


class InputError(MammoedgeError):
    """An input (DICOM file, dataset, image) was rejected; the input is kept, not lost."""

    #: Short machine-readable reason, e.g. ``"not-dicom"``; subclasses override.
    reason = "invalid-input"


class ModelError(MammoedgeError):
    """A model file is missing, tampered with, or breaks its declared contract."""


class DeviceError(MammoedgeError):
    """An inference device or backend is absent or failed."""
