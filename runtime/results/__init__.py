"""The versioned exam result (frozen dataclasses), its JSON form and its committed JSON Schema."""

from .exam import SCHEMA_VERSION, ExamResult, ModelProvenance, build_exam_result, provenance
from .outputs import analyze_exam, overlay_names, write_exam_outputs
from .serialize import SCHEMA_PATH, ResultError, schema, to_dict, to_json, validate, write_result

__all__ = [
    "SCHEMA_PATH", "SCHEMA_VERSION", "ExamResult", "ModelProvenance", "ResultError", "analyze_exam", "build_exam_result",
    "overlay_names", "write_exam_outputs",
    "provenance", "schema", "to_dict", "to_json", "validate", "write_result",
]
