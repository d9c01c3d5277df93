"""The model manifest (``manifest.json``): parsed into frozen entries, validated field by field.

Format (documented in docs/models.md)::

    {"schema_version": 1, "models": [{"name": ..., "version": ..., "file": ..., "sha256": ...,
      "inputs": [{"name", "shape", "layout", "dtype", "spacing_mm", "normalization"}],
      "outputs": [{"name", "meaning", "stride", "dtype"}], "precision": ..., "description": ...,
      "parameters": {...}}]}   # parameters: optional, model-specific run-time constants
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ModelError

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1
DTYPES = ("float32", "float16", "uint8", "int8", "int32", "int64")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, kw_only=True)
class InputSpec:
    """One model input as the manifest declares it; ``None`` in ``shape`` is a dynamic dimension."""

    name: str
    shape: tuple[int | None, ...]
    layout: str = "NCHW"
    dtype: str = "float32"
    spacing_mm: float | None = None
    normalization: str = ""


@dataclass(frozen=True, kw_only=True)
class OutputSpec:
    """One model output: name, what it means, its stride relative to the input, dtype."""

    name: str
    meaning: str = ""
    stride: int = 1
    dtype: str = "float32"


@dataclass(frozen=True, kw_only=True)
class ModelEntry:
    """One manifest entry; ``path`` is the model file (inside the manifest's directory)."""

    name: str
    version: str
    path: Path
    sha256: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    precision: str = ""
    description: str = ""
    #: model-specific run-time constants (e.g. class order, calibration temperature)
    parameters: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def output(self, name: str) -> OutputSpec:
        for spec in self.outputs:
            if spec.name == name:
                return spec
        raise ModelError(f"model {self.name} {self.version} declares no output {name!r}; it has {[o.name for o in self.outputs]}")


def _require(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in table:
        raise ModelError(f"{where}: missing field {key!r}")
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ModelError(f"{where}: field {key!r} = {value!r} must be {getattr(kind, '__name__', kind)}")
    return value


def _dtype(value: Any, where: str) -> str:
    if value not in DTYPES:
        raise ModelError(f"{where}: dtype {value!r} is not one of {DTYPES}")
    return value


def _input(table: Any, where: str) -> InputSpec:
    if not isinstance(table, dict):
        raise ModelError(f"{where}: must be an object")
    shape = _require(table, "shape", list, where)
    if not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in shape):
        raise ModelError(f"{where}: shape {shape!r} must hold positive integers or null (dynamic)")
    layout = str(table.get("layout", "NCHW"))
    if len(layout) != len(shape):
        raise ModelError(f"{where}: layout {layout!r} does not match the rank of shape {shape!r}")
    spacing = table.get("spacing_mm")
    if spacing is not None and (not isinstance(spacing, (int, float)) or spacing <= 0):
        raise ModelError(f"{where}: spacing_mm {spacing!r} must be a positive number")
    return InputSpec(
        name=_require(table, "name", str, where),
        shape=tuple(shape),
        layout=layout,
        dtype=_dtype(table.get("dtype", "float32"), where),
        spacing_mm=None if spacing is None else float(spacing),
        normalization=str(table.get("normalization", "")),
    )


def _output(table: Any, where: str) -> OutputSpec:
    if not isinstance(table, dict):
        raise ModelError(f"{where}: must be an object")
    stride = table.get("stride", 1)
    if not isinstance(stride, int) or isinstance(stride, bool) or stride < 1:
        raise ModelError(f"{where}: stride {stride!r} must be a positive integer")
    return OutputSpec(
        name=_require(table, "name", str, where),
        meaning=str(table.get("meaning", "")),
        stride=stride,
        dtype=_dtype(table.get("dtype", "float32"), where),
    )


def _entry(table: Any, directory: Path, where: str) -> ModelEntry:
    if not isinstance(table, dict):
        raise ModelError(f"{where}: must be an object")
    name = _require(table, "name", str, where)
    where = f"{where} ({name})"
    file = _require(table, "file", str, where)
    relative = PurePosixPath(file)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ModelError(f"{where}: file {file!r} must be a relative path inside {directory}")
    sha = _require(table, "sha256", str, where).lower()
    if not _SHA256.match(sha):
        raise ModelError(f"{where}: sha256 {sha!r} is not 64 hex digits")
    inputs = _require(table, "inputs", list, where)
    outputs = _require(table, "outputs", list, where)
    if not inputs or not outputs:
        raise ModelError(f"{where}: inputs and outputs must not be empty")
    return ModelEntry(
        name=name,
        version=_require(table, "version", str, where),
        path=directory / relative,
        sha256=sha,
        inputs=tuple(_input(t, f"{where} input {i}") for i, t in enumerate(inputs)),
        outputs=tuple(_output(t, f"{where} output {i}") for i, t in enumerate(outputs)),
        precision=str(table.get("precision", "")),
        description=str(table.get("description", "")),
        parameters=_parameters(table.get("parameters", {}), where),
    )


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ModelError(f"{where}: parameters {value!r} must be an object")
    return dict(value)


def read_manifest(directory: Path) -> tuple[ModelEntry, ...]:
    """Entries of ``directory/manifest.json``; ModelError names the file and the broken rule."""
    path = directory / MANIFEST_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model manifest {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model manifest {path} is not readable JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("schema_version") != SCHEMA_VERSION:
        got = document.get("schema_version") if isinstance(document, dict) else None
        raise ModelError(f"model manifest {path}: schema_version {got!r} is not supported; supported: {SCHEMA_VERSION}")
    models = document.get("models")
    if not isinstance(models, list):
        raise ModelError(f"model manifest {path}: 'models' must be a list")
    entries = tuple(_entry(t, directory, f"{path} models[{i}]") for i, t in enumerate(models))
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        key = (entry.name, entry.version)
        if key in seen:
            raise ModelError(f"model manifest {path}: {entry.name} version {entry.version} is listed twice")
        seen.add(key)
    return entries
