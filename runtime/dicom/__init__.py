"""Reading DICOM mammograms of any vendor into one convention, or a typed error."""

import pydicom.config

# pydicom's value-validation warnings quote element values (names, IDs): never let them reach a log.
pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE

from .errors import (BadHeaderError, BadSpacingError, MissingLateralityError, MissingViewError,  # noqa: E402
                     NotDicomError, PixelDecodeError, PixelLengthError, TooLargeError, TruncatedError,
                     UnsupportedTransferSyntaxError, WrongModalityError, WrongSopClassError)
from .header import (MG_FOR_PRESENTATION, MG_FOR_PROCESSING, SECONDARY_CAPTURE,  # noqa: E402
                     SUPPORTED_TRANSFER_SYNTAXES, MammogramHeader, load_dataset, read_header)
from .reader import Mammogram, read_mammogram  # noqa: E402

__all__ = [
    "read_header", "read_mammogram", "load_dataset", "Mammogram", "MammogramHeader",
    "MG_FOR_PRESENTATION", "MG_FOR_PROCESSING", "SECONDARY_CAPTURE", "SUPPORTED_TRANSFER_SYNTAXES",
    "BadHeaderError", "BadSpacingError", "MissingLateralityError", "MissingViewError", "NotDicomError",
    "PixelDecodeError", "PixelLengthError", "TooLargeError", "TruncatedError", "UnsupportedTransferSyntaxError",
    "WrongModalityError", "WrongSopClassError",
]
