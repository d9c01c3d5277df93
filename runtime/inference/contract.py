"""Check a manifest entry's declared inputs/outputs against what the model file really has."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ModelError
from .manifest import ModelEntry


@dataclass(frozen=True, kw_only=True)
class TensorInfo:
    """A tensor as the backend reports it; ``None`` is a dynamic dimension, ``None`` shape is unknown rank."""

    name: str
    shape: tuple[int | None, ...] | None
    dtype: str


def check_contract(entry: ModelEntry, inputs: tuple[TensorInfo, ...], outputs: tuple[TensorInfo, ...]) -> None:
    """Raise ModelError naming the first mismatch between the manifest and the model."""
    where = f"model {entry.name} {entry.version} ({entry.path.name})"
    real_in = {t.name: t for t in inputs}
    declared_in = [s.name for s in entry.inputs]
    if sorted(real_in) != sorted(declared_in):
        raise ModelError(f"{where}: manifest declares inputs {declared_in} but the model has {sorted(real_in)}")
    for spec in entry.inputs:
        real = real_in[spec.name]
        if real.dtype != spec.dtype:
            raise ModelError(f"{where}: input {spec.name!r} is {real.dtype} in the model, {spec.dtype} in the manifest")
        if real.shape is None:
            continue
        if len(real.shape) != len(spec.shape):
            raise ModelError(f"{where}: input {spec.name!r} has shape {list(real.shape)} in the model, "
                             f"{list(spec.shape)} in the manifest")
        for axis, (have, want) in enumerate(zip(real.shape, spec.shape)):
            if have is not None and want is not None and have != want:
                raise ModelError(
                    f"{where}: input {spec.name!r} dimension {axis} is {have} in the model, {want} in the manifest"
                )
            if have is not None and want is None:
                raise ModelError(
                    f"{where}: input {spec.name!r} dimension {axis} is fixed at {have} in the model but dynamic in the manifest"
                )
    real_out = {t.name: t for t in outputs}
    for out_spec in entry.outputs:
        if out_spec.name not in real_out:
            raise ModelError(f"{where}: manifest declares output {out_spec.name!r}; the model has {sorted(real_out)}")
        if real_out[out_spec.name].dtype != out_spec.dtype:
            raise ModelError(
                f"{where}: output {out_spec.name!r} is {real_out[out_spec.name].dtype} in the model, "
                f"{out_spec.dtype} in the manifest"
            )
