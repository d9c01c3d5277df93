"""Update bundles: a tar of ``manifest.json`` + payload (wheelhouse, models, config migrations).

The manifest (``schema_version`` 1)::

    {"schema_version": 1, "name": "mammoedge", "kind": "full" | "models", "version": "0.2.0",
     "software_version": "0.2.0", "min_from_version": "0.1.0",
     "compatible": {"machine": ["x86_64"], "os": ["debian:12"], "python": "3.11"},
     "requirements": ["mammoedge==0.2.0"],
     "files": {"wheelhouse/mammoedge-0.2.0-py3-none-any.whl": {"sha256": "...", "length": 123}, ...}}

A bundle is only ever taken through signed TUF metadata (``fetch.py``), which covers the
tar's hash and length; the manifest's hashes then cover every payload file.
"""

from __future__ import annotations

import enum
import json
import platform
import re
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import BundleError, Rule
from ..runtime.digest import file_sha256

MANIFEST_NAME = "manifest.json"
BUNDLE_SCHEMA_VERSION = 1
PAYLOAD_DIRS = ("wheelhouse", "models", "migrations")
_VERSION = re.compile(r"^\d+(\.\d+){0,3}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BundleKind(enum.StrEnum):
    """What a bundle replaces: everything, or the models only (software kept from the running slot)."""

    FULL = "full"
    MODELS = "models"


def parse_version(text: str) -> tuple[int, ...]:
    """"0.10.2" -> (0, 10, 2); only dotted numbers are versions here."""
    if not _VERSION.match(text):
        raise BundleError(Rule.INVALID_MANIFEST, f"version {text!r} must be dotted numbers such as 1.2.0")
    parts = tuple(int(p) for p in text.split("."))
    return parts + (0,) * (4 - len(parts))


@dataclass(frozen=True, kw_only=True)
class FileEntry:
    sha256: str
    length: int


@dataclass(frozen=True, kw_only=True)
class HostInfo:
    """What a bundle's ``compatible`` block is checked against."""

    machine: str
    os: str
    python: str

    @classmethod
    def this_host(cls) -> HostInfo:
        fields: dict[str, str] = {}
        try:
            for line in Path("/etc/os-release").read_text().splitlines():
                key, _, value = line.partition("=")
                fields[key] = value.strip().strip('"')
        except OSError:
            pass
        return cls(machine=platform.machine(), os=f"{fields.get('ID', 'unknown')}:{fields.get('VERSION_ID', '')}",
                   python=f"{sys.version_info.major}.{sys.version_info.minor}")


@dataclass(frozen=True, kw_only=True)
class BundleManifest:
    """A parsed, validated manifest."""

    name: str
    kind: BundleKind
    version: str
    software_version: str
    min_from_version: str
    machines: tuple[str, ...]
    os: tuple[str, ...]
    python: str
    requirements: tuple[str, ...]
    files: dict[str, FileEntry]

    @classmethod
    def from_dict(cls, data: Any) -> BundleManifest:
        def need(key: str, kind: type) -> Any:
            if not isinstance(data, dict) or key not in data:
                raise BundleError(Rule.INVALID_MANIFEST, f"bundle manifest: missing field {key!r}")
            if not isinstance(data[key], kind):
                raise BundleError(Rule.INVALID_MANIFEST, f"bundle manifest: field {key!r} must be {kind.__name__}")
            return data[key]

        if need("schema_version", int) != BUNDLE_SCHEMA_VERSION:
            raise BundleError(Rule.INVALID_MANIFEST, f"bundle manifest: schema_version {data['schema_version']} "
                                                     f"is not {BUNDLE_SCHEMA_VERSION}")
        try:
            kind = BundleKind(need("kind", str))
        except ValueError:
            raise BundleError(Rule.INVALID_MANIFEST, f"bundle manifest: kind {data['kind']!r} is not one of "
                                                     f"{', '.join(k.value for k in BundleKind)}") from None
        compatible = need("compatible", dict)
        files: dict[str, FileEntry] = {}
        for name, entry in need("files", dict).items():
            path = PurePosixPath(name)
            if path.is_absolute() or ".." in path.parts or path.parts[0] not in PAYLOAD_DIRS:
                raise BundleError(Rule.INVALID_MANIFEST, f"bundle manifest: file {name!r} is outside "
                                                         f"{', '.join(PAYLOAD_DIRS)}")
            if (not isinstance(entry, dict) or not _SHA256.match(str(entry.get("sha256", "")))
                    or not isinstance(entry.get("length"), int) or entry["length"] < 0):
                raise BundleError(Rule.INVALID_MANIFEST, f"bundle manifest: file {name!r} needs a sha256 and a length")
            files[name] = FileEntry(sha256=entry["sha256"], length=entry["length"])
        manifest = cls(
            name=need("name", str), kind=kind, version=need("version", str),
            software_version=need("software_version", str), min_from_version=need("min_from_version", str),
            machines=tuple(compatible.get("machine", ())), os=tuple(compatible.get("os", ())),
            python=str(compatible.get("python", "")), requirements=tuple(need("requirements", list)), files=files)
        for value in (manifest.version, manifest.min_from_version):
            parse_version(value)
        if kind is BundleKind.FULL and not manifest.requirements:
            raise BundleError(Rule.INVALID_MANIFEST, "bundle manifest: a full bundle needs requirements to install")
        if not any(n.startswith("models/") for n in files):
            raise BundleError(Rule.INVALID_MANIFEST, "bundle manifest: no models/ files (every slot holds its models)")
        return manifest

    def as_dict(self) -> dict[str, Any]:
        return {"schema_version": BUNDLE_SCHEMA_VERSION, "name": self.name, "kind": self.kind.value,
                "version": self.version, "software_version": self.software_version,
                "min_from_version": self.min_from_version,
                "compatible": {"machine": list(self.machines), "os": list(self.os), "python": self.python},
                "requirements": list(self.requirements),
                "files": {k: {"sha256": v.sha256, "length": v.length} for k, v in sorted(self.files.items())}}

    def check_compatible(self, host: HostInfo) -> None:
        """Refuse a bundle built for another machine, OS or Python."""
        for what, allowed, actual in (("machine", self.machines, host.machine), ("os", self.os, host.os)):
            if allowed and actual not in allowed:
                raise BundleError(Rule.INCOMPATIBLE, f"bundle {self.version} is for {what} {', '.join(allowed)}; "
                                                     f"this box is {actual}")
        if self.python and self.python != host.python:
            raise BundleError(Rule.INCOMPATIBLE, f"bundle {self.version} is for Python {self.python}; "
                                                 f"this box runs {host.python}")

    def check_version(self, installed: str | None) -> None:
        """Never older than (or equal to) what is installed; the installed one at least ``min_from_version``."""
        if installed is None:
            return
        if parse_version(self.version) <= parse_version(installed):
            raise BundleError(Rule.DOWNGRADE, f"bundle version {self.version} is not newer than the installed "
                                              f"{installed} (updates never go back)")
        if parse_version(installed) < parse_version(self.min_from_version):
            raise BundleError(Rule.MIN_FROM_VERSION, f"bundle {self.version} updates from {self.min_from_version} "
                                                     f"or later; this box has {installed}")


def open_bundle(bundle: Path, dest: Path, *, max_bytes: int) -> BundleManifest:
    """Unpack ``bundle`` into ``dest`` (which must not exist) and check every payload file against the manifest."""
    try:
        with tarfile.open(bundle, "r:") as tar:
            members = tar.getmembers()
            total = sum(m.size for m in members)
            if total > max_bytes:
                raise BundleError(Rule.OVERSIZED, f"bundle unpacks to {total} bytes; the limit is {max_bytes}")
            names = {m.name for m in members if m.isfile()}
            if MANIFEST_NAME not in names:
                raise BundleError(Rule.INVALID_MANIFEST, f"bundle has no {MANIFEST_NAME}")
            dest.mkdir(parents=True)
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(Rule.INVALID_MANIFEST, f"bundle is not a readable tar: {exc}") from None
    try:
        manifest = BundleManifest.from_dict(json.loads((dest / MANIFEST_NAME).read_bytes()))
    except ValueError as exc:
        raise BundleError(Rule.INVALID_MANIFEST, f"bundle manifest is not JSON: {exc}") from None
    present = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()} - {MANIFEST_NAME}
    extra = sorted(present - set(manifest.files))
    if extra:
        raise BundleError(Rule.PAYLOAD_HASH, f"bundle holds {len(extra)} file(s) its manifest does not list, "
                                             f"first {extra[0]}")
    for name, entry in sorted(manifest.files.items()):
        path = dest / name
        if not path.is_file():
            raise BundleError(Rule.PAYLOAD_HASH, f"bundle file {name} listed in the manifest is missing")
        length = path.stat().st_size
        actual = file_sha256(path)
        if length != entry.length or actual != entry.sha256:
            raise BundleError(Rule.PAYLOAD_HASH, f"bundle file {name}: sha256 {actual} ({length} bytes) does not "
                                                 f"match the manifest's {entry.sha256} ({entry.length} bytes)")
    return manifest
