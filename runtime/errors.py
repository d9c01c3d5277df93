"""The project's one exception root and its branches.

Convention: every error the project raises on purpose derives from :class:`MammoedgeError` through one of the
branches below; a package defines its specific classes next to the code that raises them (``dicom/errors.py``,
``results/serialize.py``, ...), each a subclass of a branch. Raise inside the code; turn into a protocol's answer
(DICOM status, exit code, HTTP status) only at the boundary: the CLI exits 2 for a :class:`ConfigError`, 1 for
any other. A message is one line naming the attribute, the value (only when it is safe to show: never patient
data or UIDs) and the rule it broke.
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


class StateError(MammoedgeError):
    """The box's own state (device secret, state directory, databases) is unusable or its disk is full."""


class UpdateError(MammoedgeError):
    """An update was refused or abandoned (``firmware/errors.py`` names the rule of each)."""
