"""Errors of the DICOM result builders."""

from __future__ import annotations

from ..errors import MammoedgeError


class DicomResultsError(MammoedgeError):
    """The exam result and its source images cannot be turned into DICOM results (names the rule broken)."""
