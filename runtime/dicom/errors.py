"""Typed rejections of a DICOM mammogram; each names the value and the rule it broke."""

from ..errors import InputError


class NotDicomError(InputError):
    reason = "not-dicom"


class TruncatedError(InputError):
    reason = "truncated"


class WrongSopClassError(InputError):
    reason = "wrong-sop-class"


class WrongModalityError(InputError):
    reason = "wrong-modality"


class MissingLateralityError(InputError):
    reason = "no-laterality"


class MissingViewError(InputError):
    reason = "no-view"


class BadSpacingError(InputError):
    reason = "bad-spacing"


class TooLargeError(InputError):
    reason = "too-large"


class UnsupportedTransferSyntaxError(InputError):
    reason = "unsupported-transfer-syntax"


class PixelLengthError(InputError):
    reason = "pixel-length"


class PixelDecodeError(InputError):
    reason = "pixel-decode"


class BadHeaderError(InputError):
    """A required attribute is missing or malformed (bits, photometric, rows...)."""

    reason = "bad-header"
