"""DICOM results a PACS can show: Mammography CAD SR, a companion SR, GSPS and secondary captures."""

import logging as _logging

# highdicom logs the source dataset's UIDs at INFO/DEBUG ("copy Patient-related attributes from dataset
# <SOP Instance UID>"): below WARNING it is silenced unless the application set its level itself.
if _logging.getLogger("highdicom").level == _logging.NOTSET:
    _logging.getLogger("highdicom").setLevel(_logging.WARNING)

from .build import (
    DicomResult,
    align_sources,
    analysis_number,
    build_dicom_results,
    kind_of,
    previous_results,
    read_sources,
    series_uid,
    warm_up,
    write_dicom_results,
    write_exam_dicom,
)
from .codes import ResultKind, ResultSeries
from .errors import DicomResultsError

__all__ = ["DicomResult", "DicomResultsError", "ResultKind", "ResultSeries", "align_sources", "analysis_number",
           "build_dicom_results", "kind_of", "previous_results", "read_sources", "series_uid", "warm_up",
           "write_dicom_results", "write_exam_dicom"]
