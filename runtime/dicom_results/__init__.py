"""DICOM results a PACS can show: Mammography CAD SR, a companion SR, GSPS and secondary captures."""

from .build import (
    DicomResult, align_sources, analysis_number, build_dicom_results, kind_of, previous_results, series_uid,
    write_dicom_results,
)
from .codes import ResultKind, ResultSeries
from .errors import DicomResultsError

__all__ = ["DicomResult", "DicomResultsError", "ResultKind", "ResultSeries", "align_sources", "analysis_number",
           "build_dicom_results", "kind_of", "previous_results", "series_uid", "write_dicom_results"]
