"""Exam result <-> JSON, and validation against the committed JSON Schema."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import MammoedgeError
from .exam import ExamResult

SCHEMA_PATH = Path(__file__).with_name("exam_result.schema.json")


class ResultError(MammoedgeError):
    """An exam result does not fit its schema."""


def to_dict(value: Any) -> Any:
    """Dataclasses -> dicts (without fields marked transient), enums -> values, tuples -> lists; NaN/inf refused."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_dict(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not f.metadata.get("transient")}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_dict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_dict(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ResultError(f"a result holds the non-finite number {value!r}")
    return value


def to_json(result: ExamResult, *, indent: int | None = 2) -> str:
    return json.dumps(to_dict(result), indent=indent, allow_nan=False)


@cache
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate(document: dict) -> None:
    """Raise ResultError naming the path and rule of the first violation (needs ``jsonschema``)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(map(str, first.absolute_path)) or "(root)"
        raise ResultError(f"exam result violates its schema at {where}: {first.message}")


def write_result(result: ExamResult, directory: str | Path) -> Path:
    """Write ``DIR/<study key>.json`` atomically (temporary file + rename)."""
    if not re.fullmatch(r"[0-9a-f]{32}", result.study_key):
        raise ResultError(f"study key {result.study_key!r} is not 32 lower-case hex digits (privacy.study_key)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result.study_key}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(to_json(result), encoding="utf-8")
    temporary.replace(path)
    return path
