"""The versioned exam result (frozen dataclasses), its JSON form and its committed JSON Schema."""

from .exam import SCHEMA_VERSION, ExamResult, ModelProvenance, ViewNotAnalyzed, build_exam_result, provenance
from .serialize import (
    SCHEMA_PATH, ResultError, from_dict, read_result, schema, to_dict, to_json, validate, write_result,
)

__all__ = [
    "SCHEMA_PATH", "SCHEMA_VERSION", "ExamResult", "ModelProvenance", "ResultError", "ViewNotAnalyzed",
    "build_exam_result",
    "from_dict", "provenance", "read_result", "schema", "to_dict", "to_json", "validate", "write_result",
]
