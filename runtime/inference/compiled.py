"""The one interface every backend's compiled model offers."""

from __future__ import annotations

import abc
from collections.abc import Mapping

import numpy as np

from ..errors import ModelError
from .contract import TensorInfo
from .manifest import ModelEntry


class CompiledModel(abc.ABC):
    """A verified model compiled on one backend and device, ready to run.

    ``backend`` and ``device`` say what actually runs it (``device`` is the execution
    device the backend reports, e.g. "CPU"); ``fallbacks`` lists why earlier choices
    were abandoned. One instance is not meant to be shared between threads.
    """

    def __init__(self, *, entry: ModelEntry, backend: str, device: str, requested: str,
                 inputs: tuple[TensorInfo, ...], outputs: tuple[TensorInfo, ...]) -> None:
        self.entry = entry
        self.backend = backend
        self.device = device
        self.requested = requested
        self.inputs = inputs
        self.outputs = outputs
        #: I/O of the model file before any static reshape; the manifest contract is checked on these.
        self.model_inputs = inputs
        self.model_outputs = outputs
        self.fallbacks: tuple[str, ...] = ()
        #: the same model compiled for batch 1, which runs the tiles of a last, partial chunk one by one instead
        #: of padding the chunk with zero images (a 10-tile view in chunks of 4 would compute 12)
        self.single: CompiledModel | None = None

    def infer(self, batch: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on an NCHW float32 batch (or a name -> array mapping); returns output name -> array.

        A model with a fixed batch size is run chunk by chunk, so callers may pass any batch.
        """
        feeds = dict(batch) if isinstance(batch, Mapping) else {self.inputs[0].name: batch}
        for info in self.inputs:
            if info.name not in feeds:
                raise ModelError(f"model {self.entry.name}: input {info.name!r} is missing; got {sorted(feeds)}")
            array = feeds[info.name]
            if info.shape is not None and array.ndim != len(info.shape):
                raise ModelError(
                    f"model {self.entry.name}: input {info.name!r} must have {len(info.shape)} dimensions, "
                    f"got shape {array.shape}"
                )
            feeds[info.name] = np.ascontiguousarray(array, dtype=np.dtype(info.dtype))
        fixed = self.inputs[0].shape[0] if self.inputs[0].shape else None
        first = feeds[self.inputs[0].name]
        if fixed is None or first.shape[0] == fixed:
            return self._run(feeds)
        return self._run_in_chunks(feeds, fixed)

    def _run_in_chunks(self, feeds: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
        total = next(iter(feeds.values())).shape[0]
        parts: list[dict[str, np.ndarray]] = []
        for start in range(0, total, size):
            chunk = {k: v[start:start + size] for k, v in feeds.items()}
            short = size - chunk[self.inputs[0].name].shape[0]
            if short and self.single is not None:
                parts += [self.single._run({k: v[i:i + 1] for k, v in chunk.items()}) for i in range(size - short)]
                continue
            if short:
                chunk = {k: np.concatenate([v, np.zeros((short, *v.shape[1:]), v.dtype)]) for k, v in chunk.items()}
            out = self._run(chunk)
            parts.append({k: v[: size - short] for k, v in out.items()})
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    @abc.abstractmethod
    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once; outputs are owned copies."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.entry.name} {self.entry.version} on {self.backend}/{self.device}>"
