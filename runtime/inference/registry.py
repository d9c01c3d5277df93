"""The model registry: shipped and site manifests, sha256 verified before any model is used."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from ..config import InferenceConfig
from ..errors import ModelError
from .manifest import ModelEntry, read_manifest

log = logging.getLogger(__name__)


def shipped_models_dir() -> Path:
    """The package's ``models/`` folder (``mammoedge.models``)."""
    from mammoedge import models

    return Path(models.__file__).resolve().parent


def _version_key(version: str) -> tuple:
    """Orders "1.10.0" after "1.9.2"; non-numeric parts compare as text."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in version.replace("-", ".").split("."))


@dataclass(frozen=True, kw_only=True)
class VerifiedModel:
    """A model's bytes, read once and hashed, so what runs is what was checked."""

    entry: ModelEntry
    data: bytes


class ModelRegistry:
    """Manifest entries from the shipped directory and an optional site directory.

    A site entry wins over a shipped one with the same name and version; otherwise the
    highest version of a name is used unless a version is asked for.
    """

    def __init__(self, models_dir: Path | None = None, extra_models_dir: Path | None = None) -> None:
        self.directories = tuple(d for d in (models_dir or shipped_models_dir(), extra_models_dir) if d is not None)
        merged: dict[tuple[str, str], ModelEntry] = {}
        for directory in self.directories:
            for entry in read_manifest(Path(directory)):
                if (entry.name, entry.version) in merged:
                    log.info("model %s %s from %s replaces the shipped one", entry.name, entry.version, directory)
                merged[(entry.name, entry.version)] = entry
        self.entries: tuple[ModelEntry, ...] = tuple(merged.values())

    @classmethod
    def from_config(cls, config: InferenceConfig) -> ModelRegistry:
        return cls(config.models_dir, config.extra_models_dir)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted({e.name for e in self.entries}))

    def entry(self, name: str, version: str | None = None) -> ModelEntry:
        """The entry for ``name`` (its highest version unless ``version`` is given)."""
        candidates = [e for e in self.entries if e.name == name and (version is None or e.version == version)]
        if not candidates:
            known = ", ".join(f"{e.name} {e.version}" for e in self.entries) or "none"
            wanted = name if version is None else f"{name} {version}"
            raise ModelError(f"model {wanted!r} is not in the registry ({', '.join(map(str, self.directories))}); known: {known}")
        return max(candidates, key=lambda e: _version_key(e.version))

    def verified(self, name: str, version: str | None = None) -> VerifiedModel:
        """Read the model file and check its sha256 against the manifest."""
        return verify(self.entry(name, version))


def verify(entry: ModelEntry) -> VerifiedModel:
    """Read ``entry.path`` once; refuse it unless its sha256 is the declared one."""
    try:
        data = entry.path.read_bytes()
    except OSError as exc:
        raise ModelError(f"model file {entry.path} of {entry.name} {entry.version} cannot be read: {exc.strerror}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != entry.sha256:
        raise ModelError(
            f"model file {entry.path} of {entry.name} {entry.version} is refused: sha256 {actual} "
            f"does not match the manifest's {entry.sha256} (tampered or replaced)"
        )
    return VerifiedModel(entry=entry, data=data)
