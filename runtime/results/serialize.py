"""Exam result <-> JSON, and validation against the committed JSON Schema."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

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


T = TypeVar("T")


def from_dict(cls: type[T], document: Any) -> T:
    """The typed record ``to_dict`` wrote: nested dataclasses, enums, tuples and optionals rebuilt from their
    type hints; transient fields take their defaults. A value of the wrong shape is a ``ResultError``."""
    return _build(cls, document, cls.__name__)


def _build(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _build(inner, value, where)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, dict):
            raise ResultError(f"{where} is {type(value).__name__}, expected an object")
        hints = typing.get_type_hints(hint)
        kwargs = {}
        for f in dataclasses.fields(hint):
            if f.metadata.get("transient"):
                continue
            if f.name not in value:
                raise ResultError(f"{where} has no {f.name!r}")
            kwargs[f.name] = _build(hints[f.name], value[f.name], f"{where}.{f.name}")
        return hint(**kwargs)
    if origin is tuple:
        if not isinstance(value, list):
            raise ResultError(f"{where} is {type(value).__name__}, expected a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        return tuple(_build(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin is dict:
        return {k: _build(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise ResultError(f"{where} = {value!r} is not one of {[m.value for m in hint]}") from None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is Any or (isinstance(hint, type) and isinstance(value, hint)):
        return value
    raise ResultError(f"{where} is {type(value).__name__}, expected {getattr(hint, '__name__', hint)}")


def read_result(path: str | Path) -> ExamResult:
    """An exam result file read back as the typed record."""
    return from_dict(ExamResult, json.loads(Path(path).read_text(encoding="utf-8")))


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
