"""One TOML configuration file read into frozen dataclasses.

Each section is a frozen dataclass; each option is a field whose ``doc``
metadata says what it does (its default is the field default). An environment
variable ``MAMMOEDGE__<SECTION>__<OPTION>`` (upper case) overrides the file,
e.g. ``MAMMOEDGE__PREPROCESS__MODEL_SPACING_MM=0.07``.

``mammoedge config`` prints the effective configuration as documented TOML.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError

ENV_PREFIX = "MAMMOEDGE__"


def option(default: Any, doc: str) -> Any:
    """A documented configuration option with its default."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple for sequence defaults (sections are frozen)")
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, kw_only=True)
class ReaderConfig:
    """Which DICOM mammograms are accepted and how far headers are trusted."""

    accept_secondary_capture: bool = option(
        False, "Accept MG Secondary Capture images (1.2.840.10008.5.1.4.1.1.7) besides DX mammography."
    )
    max_pixels: int = option(
        60_000_000, "Largest Rows x Columns accepted (decompression-bomb guard); 4096x5625 is 23 M."
    )
    min_spacing_mm: float = option(0.02, "Smallest plausible pixel spacing at the breast, mm.")
    max_spacing_mm: float = option(0.5, "Largest plausible pixel spacing at the breast, mm.")


@dataclass(frozen=True, kw_only=True)
class PreprocessConfig:
    """Normalization of a read mammogram into the models' input space."""

    model_spacing_mm: float = option(0.1, "Pixel spacing the models work at, mm.")


@dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    """The appliance service: DICOM receiver, hot folder, spool, job queue, workers, retention."""

    state_dir: Path = option(Path("/var/lib/mammoedge"),
                             "Spool, quarantine, results, queue database and device secret live here.")
    results_dir: Path | None = option(None, "Where <study key>.json results go; empty: <state_dir>/results.")
    ae_title: str = option("MAMMOEDGE", "Our DICOM AE title (called AE title).")
    bind_address: str = option("0.0.0.0", "Address the DICOM receiver listens on.")
    port: int = option(11112, "TCP port of the DICOM receiver; 0 disables the receiver.")
    allowed_calling_aets: tuple[str, ...] = option(
        (), "Calling AE titles allowed to associate; empty: any (rejected with reason 0x03 otherwise).")
    allowed_addresses: tuple[str, ...] = option(
        (), "Source IP addresses or CIDR networks allowed to associate; empty: any.")
    tls_cert_file: Path | None = option(None, "PEM server certificate; set (with the key) to make the port "
                                              "TLS-only (TLS >= 1.2); plain associations are then refused.")
    tls_key_file: Path | None = option(None, "PEM private key of the server certificate.")
    tls_client_ca_file: Path | None = option(None, "PEM CA bundle; set to require client certificates it signed.")
    acse_timeout_s: float = option(10.0, "Seconds to wait for association messages (A-ASSOCIATE, A-RELEASE).")
    dimse_timeout_s: float = option(30.0, "Seconds to wait for DIMSE messages within an association.")
    network_timeout_s: float = option(30.0, "Seconds an association may stay idle on the network.")
    max_associations: int = option(8, "Most concurrent associations; more are rejected (local limit exceeded).")
    hot_folder: Path | None = option(None, "Watched directory: DICOM files dropped here are taken in, "
                                           "then removed; empty: no hot folder.")
    hot_folder_poll_s: float = option(1.0, "How often the hot folder is scanned, seconds.")
    hot_folder_stable_s: float = option(2.0, "A hot-folder file is taken once unchanged for this long, seconds.")
    settle_s: float = option(30.0, "An exam without all four screening views is analyzed this long after "
                                   "its last instance (and says which views are missing).")
    workers: int = option(1, "Analysis worker threads.")
    max_attempts: int = option(3, "Analysis attempts per exam (including ones cut short by a crash) before "
                                  "it is marked failed.")
    analysis_timeout_s: float = option(600.0, "An analysis running longer than this stops the systemd watchdog "
                                              "pings, so the service is restarted and the exam resumed.")
    analyzer: str = option("mammoedge.runtime.service.default:analyze",
                           "Analyzer callable 'module:function' taking (instances, missing_views) -> dict.")
    shutdown_grace_s: float = option(20.0, "On SIGTERM, wait this long for in-flight analyses; "
                                           "unfinished ones are resumed at the next start.")
    retention_days: float = option(30.0, "Spool files, results and quarantine older than this are pruned "
                                         "(only exams whose result is written); 0 keeps forever.")
    spool_max_mb: float = option(0.0, "Prune the oldest finished exams' spool files beyond this size; 0: no cap.")

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"service.port {self.port} is not a TCP port (0-65535)")
        if not 1 <= len(self.ae_title.strip()) <= 16:
            raise ValueError(f"service.ae_title {self.ae_title!r} must be 1-16 characters")
        for name in ("max_associations", "workers", "max_attempts"):
            if getattr(self, name) < 1:
                raise ValueError(f"service.{name} {getattr(self, name)} must be at least 1")
        for name in ("acse_timeout_s", "dimse_timeout_s", "network_timeout_s", "hot_folder_poll_s",
                     "analysis_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"service.{name} {getattr(self, name)} must be positive")
        for name in ("settle_s", "hot_folder_stable_s", "shutdown_grace_s", "retention_days", "spool_max_mb"):
            if getattr(self, name) < 0:
                raise ValueError(f"service.{name} {getattr(self, name)} must not be negative")


@dataclass(frozen=True, kw_only=True)
class Config:
    """The whole appliance configuration, one attribute per TOML section."""

    reader: ReaderConfig = field(default_factory=ReaderConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)


def _convert(value: Any, annotation: Any, where: str) -> Any:
    """Convert a TOML or environment value to the field's declared type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("", "none")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], where)
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"{where}: {value!r} is not a list")
        item_type = args[0] if args else str
        return tuple(_convert(v.strip() if isinstance(v, str) else v, item_type, where) for v in items if v != "")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{where}: {value!r} is not a boolean (true/false)")
    if annotation in (int, float, str):
        try:
            if annotation is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return annotation(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {value!r} is not a valid {annotation.__name__}") from None
    if annotation is Path:
        return Path(value)
    if isinstance(annotation, type) and issubclass(annotation, __import__("enum").Enum):
        try:
            return annotation(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in annotation)
            raise ConfigError(f"{where}: {value!r} is not one of: {allowed}") from None
    return value


def _build(cls: type, table: Mapping[str, Any], env: Mapping[str, str], path: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"[{path}]: unknown option(s) {sorted(unknown)}; known: {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        where = f"{path}.{f.name}" if path else f.name
        annotation = hints[f.name]
        if dataclasses.is_dataclass(annotation):
            sub = table.get(f.name, {})
            if not isinstance(sub, Mapping):
                raise ConfigError(f"[{where}] must be a table, got {type(sub).__name__}")
            kwargs[f.name] = _build(annotation, sub, env, where)
            continue
        env_name = ENV_PREFIX + where.replace(".", "__").upper()
        if env_name in env:
            kwargs[f.name] = _convert(env[env_name], annotation, f"{env_name}")
        elif f.name in table:
            kwargs[f.name] = _convert(table[f.name], annotation, where)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{path or 'config'}]: {exc}") from None


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (TOML; optional) and apply ``MAMMOEDGE__*`` environment overrides."""
    table: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                table = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"configuration file {os.fspath(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {os.fspath(path)!r} is not valid TOML: {exc}") from None
    return _build(Config, table, os.environ if env is None else env, "")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if value is None:
        return '""'
    if hasattr(value, "value"):  # enum
        return _toml_value(value.value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dump_config(config: Config) -> str:
    """The configuration as TOML, every option preceded by its documentation."""
    lines: list[str] = []
    for section in dataclasses.fields(config):
        obj = getattr(config, section.name)
        lines.append(f"# {type(obj).__doc__.strip().splitlines()[0]}")
        lines.append(f"[{section.name}]")
        for f in dataclasses.fields(obj):
            lines.append(f"# {f.metadata.get('doc', '')}")
            lines.append(f"{f.name} = {_toml_value(getattr(obj, f.name))}")
        lines.append("")
    return "\n".join(lines)
