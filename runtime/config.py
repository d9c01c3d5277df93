"""One TOML configuration file read into frozen dataclasses.

Each section is a frozen dataclass; each option is a field whose ``doc``
metadata says what it does (its default is the field default). An environment
variable ``MAMMOEDGE__<SECTION>__<OPTION>`` (upper case) overrides the file,
e.g. ``MAMMOEDGE__PREPROCESS__MODEL_SPACING_MM=0.07``.

``mammoedge config`` prints the effective configuration as documented TOML.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .codes import BiradsCategory
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


class InferenceBackend(enum.StrEnum):
    """Which inference library runs the models."""

    AUTO = "auto"
    OPENVINO = "openvino"
    ONNXRUNTIME = "onnxruntime"


class PerformanceHint(enum.StrEnum):
    """OpenVINO performance hint."""

    LATENCY = "LATENCY"
    THROUGHPUT = "THROUGHPUT"


#: OpenVINO CPU inference precisions (INFERENCE_PRECISION_HINT)
CPU_PRECISIONS = ("f32", "bf16")


@dataclass(frozen=True, kw_only=True)
class InferenceConfig:
    """Inference engine: backend, device, compiled-model cache and the model registry."""

    backend: InferenceBackend = option(
        InferenceBackend.AUTO,
        "auto (OpenVINO, onnxruntime if OpenVINO fails), openvino or onnxruntime.",
    )
    device: str = option(
        "AUTO", "OpenVINO device: AUTO (priority list below, present devices only), CPU, GPU, GPU.0, NPU, ..."
    )
    device_priority: tuple[str, ...] = option(
        ("NPU", "GPU", "CPU"), "Device order for AUTO; absent devices are left out, never passed to OpenVINO."
    )
    force: bool = option(
        False, "Refuse to fall back: an absent device or backend, or a failed compile, is an error (DeviceError)."
    )
    performance_hint: PerformanceHint = option(PerformanceHint.LATENCY, "OpenVINO hint: LATENCY or THROUGHPUT.")
    num_threads: int = option(0, "Inference threads per model; 0 = the backend's default.")
    cpu_precision: str = option(
        "f32", "Precision OpenVINO's CPU plugin runs float layers in: f32, or bf16 (its default on CPUs with "
               "AVX-512 BF16/AMX: faster, but moves detector scores by up to 0.004; docs/detector.md).")
    cache_dir: Path | None = option(None, "OpenVINO compiled-model cache directory; empty = no cache.")
    models_dir: Path | None = option(None, "Directory with manifest.json and the shipped models; empty = the package's models/.")
    extra_models_dir: Path | None = option(
        None, "Site models directory with its own manifest.json; its entries win over shipped ones of equal version."
    )

    def __post_init__(self) -> None:
        if self.cpu_precision not in CPU_PRECISIONS:
            raise ValueError(f"cpu_precision = {self.cpu_precision!r} must be one of {', '.join(CPU_PRECISIONS)}")


@dataclass(frozen=True, kw_only=True)
class AnalysisConfig:
    """Detection over a view (tiles, peaks), clustering in mm, descriptors and the triage rule."""

    detector_model: str = option("calc-detector", "Registry name of the calcification detector.")
    tile_size: int = option(512, "Tile side at the model spacing, px (a multiple of the model's output stride).")
    tile_overlap: int = option(64, "Overlap of neighbouring tiles, px; each output pixel comes from the nearest tile centre.")
    batch_size: int = option(4, "Tiles per inference call.")
    peak_threshold: float = option(
        0.2, "Smallest detector probability kept as a calcification; with triage_threshold, chosen on held-out "
             "phantom exams (docs/morphology.md, 'The flag on full exams').")
    skin_margin_mm: float = option(
        3.0, "Detections closer than this to the skin line are dropped (skin calcifications are benign), mm.")
    nms_distance_mm: float = option(0.3, "Two peaks closer than this are one calcification (the higher score wins), mm.")
    link_distance_mm: float = option(5.0, "Single-linkage distance: calcifications closer than this are in one group, mm.")
    split_levels: tuple[float, ...] = option(
        (0.15, 0.2, 0.3), "Ascending detector scores: a wide group (diffuse, or wider than grouped_max_extent_mm) is "
                          "re-linked from its members scoring at least the next level, and replaced by the clusters "
                          "that form (empty: never; docs/detector.md, 'Wide groups').")
    min_cluster_count: int = option(5, "Fewest calcifications in a cluster (BI-RADS 5th ed.: 5).")
    grouped_core_mm: float = option(10.0, "BI-RADS grouped: at least min_cluster_count within a circle of this diameter, mm.")
    grouped_max_extent_mm: float = option(20.0, "BI-RADS grouped: largest extent, mm; larger groups are regional/segmental.")
    linear_min_linearity: float = option(
        0.8, "Linear when 1 - sqrt(minor/major PCA eigenvalue) is at least this (and extent >= linear_min_extent_mm)."
    )
    linear_neighbourhood_mm: float = option(
        4.0, "Radius of the neighbourhood for local linearity (curved or branching lines), mm."
    )
    linear_min_extent_mm: float = option(5.0, "Shortest linear arrangement, mm.")
    segmental_max_angle_deg: float = option(
        30.0, "Segmental when a group wider than grouped_max_extent_mm has its long axis within this angle of the nipple."
    )
    segmental_min_linearity: float = option(0.4, "Segmental groups are at least this elongated (wedge toward the nipple).")
    diffuse_min_breast_fraction: float = option(
        0.3, "Diffuse when calcifications spread (convex hull) over at least this fraction of the breast area."
    )
    diffuse_min_count: int = option(10, "Fewest scattered calcifications called diffuse.")
    triage_threshold: float = option(
        0.3, "Operating point: a breast is flagged when its case score is at least this (docs/morphology.md).")
    morphology_model: str = option(
        "calc-morphology", "Registry name of the cluster morphology model; empty: morphology is not assessed."
    )
    flag_min_birads: str = option(
        "4A", "With morphology: a cluster counts toward the flag only if it suggests at least this BI-RADS category ..."
    )
    flag_uncertain: bool = option(True, "... or if its morphology is uncertain (so that someone looks).")

    def __post_init__(self) -> None:
        if self.flag_min_birads not in {c.value for c in BiradsCategory}:
            raise ValueError(f"flag_min_birads = {self.flag_min_birads!r} must be one of "
                             f"{[c.value for c in BiradsCategory]}")
        positive = ("tile_size", "batch_size", "nms_distance_mm", "link_distance_mm", "min_cluster_count",
                    "grouped_core_mm", "grouped_max_extent_mm", "linear_neighbourhood_mm", "diffuse_min_count")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} = {getattr(self, name)!r} must be > 0")
        levels = self.split_levels
        if any(not 0 < v <= 1 for v in levels) or list(levels) != sorted(set(levels)):
            raise ValueError(f"split_levels = {levels!r} must be strictly ascending scores in (0, 1]")
        if not 0 <= self.tile_overlap < self.tile_size:
            raise ValueError(f"tile_overlap = {self.tile_overlap!r} must be >= 0 and < tile_size ({self.tile_size})")
        for name in ("peak_threshold", "linear_min_linearity", "segmental_min_linearity",
                     "diffuse_min_breast_fraction", "triage_threshold"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} = {getattr(self, name)!r} must be between 0 and 1")


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


class MqttVersion(enum.StrEnum):
    """MQTT protocol version of the telemetry connection."""

    V5 = "5"
    V311 = "3.1.1"


@dataclass(frozen=True, kw_only=True)
class TelemetryConfig:
    """Fleet telemetry over MQTT (docs/telemetry.md); off unless enabled."""

    enabled: bool = option(False, "Report status, health and exam events to the fleet broker.")
    host: str = option("localhost", "Broker host name or address.")
    port: int = option(1883, "Broker port (8883 is usual with TLS).")
    mqtt_version: MqttVersion = option(MqttVersion.V5, "MQTT protocol: 5, or 3.1.1 for a broker without MQTT 5.")
    site: str = option("site", "Site name in the topic tree mammoedge/v1/<site>/<device>/...; no patient data.")
    device_id: str = option("", "MQTT client id and topic device name; empty: derived from /etc/machine-id.")
    username: str = option("", "Broker user name (empty: none).")
    password: str = option("", "Broker password.")
    ca_file: str = option("", "CA certificate file; set it to use TLS and verify the broker.")
    cert_file: str = option("", "Client certificate file for TLS client authentication.")
    key_file: str = option("", "Client private key file.")
    keepalive_s: int = option(30, "MQTT keep-alive, seconds; the last will is sent ~1.5x this after a silent death.")
    health_interval_s: float = option(60.0, "Seconds between health messages.")
    metrics_interval_s: float = option(300.0, "Seconds between metrics messages (counts and latency percentiles).")
    outbox_path: str = option("", "Outbox database; empty: <service.state_dir>/telemetry-outbox.sqlite.")
    outbox_max: int = option(10000, "Most events kept while the broker is away; older ones are dropped and counted.")


@dataclass(frozen=True, kw_only=True)
class Config:
    """The whole appliance configuration, one attribute per TOML section."""

    reader: ReaderConfig = field(default_factory=ReaderConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)


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
