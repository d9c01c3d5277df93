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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pynetdicom._validators import validate_ae

from .codes import BiradsCategory
from .errors import ConfigError

ENV_PREFIX = "MAMMOEDGE__"


def ae_title_rule(value: Any) -> str | None:
    """pynetdicom's rule for an AE value, and not blank; the broken rule, or None."""
    ok, why = validate_ae(value)
    if not ok:
        return f"is not a DICOM AE title: {why}"
    return None if value.strip() else "is not a DICOM AE title: must not be blank"


def option(default: Any, doc: str, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
           rule: Callable[[Any], str | None] | None = None) -> Any:
    """A documented configuration option with its default and its checks: bounds (``ge``/``gt``/``le``, applied to
    each item of a tuple) and a ``rule`` that returns what is wrong with a value (or None)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple for sequence defaults (sections are frozen)")
    return field(default=default, metadata={"doc": doc, "ge": ge, "gt": gt, "le": le, "rule": rule})


def port_option(default: int, doc: str, *, allow_zero: bool = False) -> Any:
    return option(default, doc, ge=0 if allow_zero else 1, le=65535)


def _broken_rule(value: Any, meta: Mapping[str, Any]) -> str | None:
    for item in value if isinstance(value, tuple) else (value,):
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            if meta.get("ge") is not None and not item >= meta["ge"]:
                return f"must be >= {meta['ge']:g}"
            if meta.get("gt") is not None and not item > meta["gt"]:
                return f"must be > {meta['gt']:g}"
            if meta.get("le") is not None and not item <= meta["le"]:
                return f"must be <= {meta['le']:g}"
        if meta.get("rule") is not None and (why := meta["rule"](item)):
            return str(why)
    return None


class Section:
    """A configuration section: every option is checked against its declared rule when the section is made."""

    name: ClassVar[str]

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            kind = hints[f.name]
            if isinstance(kind, type) and issubclass(kind, enum.Enum) and not isinstance(value, kind):
                try:  # a choice given as its string in code
                    object.__setattr__(self, f.name, kind(value))
                except ValueError:
                    allowed = ", ".join(str(m.value) for m in kind)
                    raise ConfigError(f"{self.name}.{f.name} = {value!r} is not one of: {allowed}") from None
            why = _broken_rule(value, f.metadata)
            if why:
                raise ConfigError(f"{self.name}.{f.name} = {value!r} {why}")
        self.check()

    def check(self) -> None:
        """Rules between options of the section (raise ``self.invalid``)."""

    def invalid(self, option_name: str, why: str) -> ConfigError:
        return ConfigError(f"{self.name}.{option_name} = {getattr(self, option_name)!r} {why}")


@dataclass(frozen=True, kw_only=True)
class ReaderConfig(Section):
    """Which DICOM mammograms are accepted and how far headers are trusted."""

    name = "reader"
    accept_secondary_capture: bool = option(
        False, "Accept MG Secondary Capture images (1.2.840.10008.5.1.4.1.1.7) besides DX mammography."
    )
    max_pixels: int = option(
        60_000_000, "Largest Rows x Columns accepted (decompression-bomb guard); 4096x5625 is 23 M.", ge=1
    )
    min_spacing_mm: float = option(0.02, "Smallest plausible pixel spacing at the breast, mm.", gt=0)
    max_spacing_mm: float = option(0.5, "Largest plausible pixel spacing at the breast, mm.", gt=0)
    max_inflated_mb: float = option(
        160.0, "Largest size a Deflated Explicit VR Little Endian data set may inflate to, MB (deflate-bomb guard; "
               "60 M pixels of 16 bits are 120 MB).", gt=0)
    max_inflate_ratio: float = option(
        50.0, "Largest inflated/compressed ratio of a deflated data set past its first 16 MiB (deflate-bomb guard; "
              "phantom views deflate about 3:1, docs/reliability.md).", gt=1)

    def check(self) -> None:
        if self.max_spacing_mm < self.min_spacing_mm:
            raise self.invalid("max_spacing_mm", f"must be >= min_spacing_mm ({self.min_spacing_mm:g})")


@dataclass(frozen=True, kw_only=True)
class PreprocessConfig(Section):
    """Normalization of a read mammogram into the models' input space."""

    name = "preprocess"
    model_spacing_mm: float = option(0.1, "Pixel spacing the models work at, mm.", gt=0)


class InferenceBackend(enum.StrEnum):
    """Which inference library runs the models."""

    AUTO = "auto"
    OPENVINO = "openvino"
    ONNXRUNTIME = "onnxruntime"


class PerformanceHint(enum.StrEnum):
    """OpenVINO performance hint."""

    LATENCY = "LATENCY"
    THROUGHPUT = "THROUGHPUT"


class CpuPrecision(enum.StrEnum):
    """OpenVINO CPU inference precision (INFERENCE_PRECISION_HINT)."""

    F32 = "f32"
    BF16 = "bf16"


@dataclass(frozen=True, kw_only=True)
class InferenceConfig(Section):
    """Inference engine: backend, device, compiled-model cache and the model registry."""

    name = "inference"
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
    num_threads: int = option(0, "Inference threads per model; 0 = the backend's default.", ge=0)
    cpu_precision: CpuPrecision = option(
        CpuPrecision.F32, "Precision OpenVINO's CPU plugin runs float layers in: f32, or bf16 (its default on CPUs "
                          "with AVX-512 BF16/AMX: faster, but moves detector scores by up to 0.004).")
    cache_dir: Path | None = option(None, "OpenVINO compiled-model cache directory; empty = no cache.")
    models_dir: Path | None = option(
        None, "Directory with manifest.json and the shipped models; empty = the package's models/.")
    extra_models_dir: Path | None = option(
        None, "Site models directory with its own manifest.json; its entries win over shipped ones of equal version."
    )


@dataclass(frozen=True, kw_only=True)
class AnalysisConfig(Section):
    """Detection over a view (tiles, peaks), clustering in mm, descriptors and the triage rule."""

    name = "analysis"
    detector_model: str = option("calc-detector", "Registry name of the calcification detector.")
    tile_size: int = option(512, "Tile side at the model spacing, px (a multiple of the model's output stride).", gt=0)
    tile_overlap: int = option(
        64, "Overlap of neighbouring tiles, px; each output pixel comes from the nearest tile centre.", ge=0)
    batch_size: int = option(4, "Tiles per inference call.", gt=0)
    peak_threshold: float = option(
        0.2, "Smallest detector probability kept as a calcification; with triage_threshold, chosen on held-out "
             "phantom exams (docs/morphology.md, 'The flag on full exams').", ge=0, le=1)
    skin_margin_mm: float = option(
        3.0, "Detections closer than this to the skin line are dropped (skin calcifications are benign), mm.", ge=0)
    nms_distance_mm: float = option(
        0.3, "Two peaks closer than this are one calcification (the higher score wins), mm.", gt=0)
    link_distance_mm: float = option(
        5.0, "Single-linkage distance: calcifications closer than this are in one group, mm.", gt=0)
    split_levels: tuple[float, ...] = option(
        (0.15, 0.2, 0.3), "Ascending detector scores: a wide group (diffuse, or wider than grouped_max_extent_mm) is "
                          "re-linked from its members scoring at least the next level, and replaced by the clusters "
                          "that form (empty: never; docs/detector.md, 'Wide groups').", gt=0, le=1)
    min_cluster_count: int = option(5, "Fewest calcifications in a cluster (BI-RADS 5th ed.: 5).", gt=0)
    grouped_core_mm: float = option(
        10.0, "BI-RADS grouped: at least min_cluster_count within a circle of this diameter, mm.", gt=0)
    grouped_max_extent_mm: float = option(
        20.0, "BI-RADS grouped: largest extent, mm; larger groups are regional/segmental.", gt=0)
    linear_min_linearity: float = option(
        0.8, "Linear when 1 - sqrt(minor/major PCA eigenvalue) is at least this (and extent >= linear_min_extent_mm).",
        ge=0, le=1)
    linear_neighbourhood_mm: float = option(
        4.0, "Radius of the neighbourhood for local linearity (curved or branching lines), mm.", gt=0)
    linear_min_extent_mm: float = option(5.0, "Shortest linear arrangement, mm.", ge=0)
    segmental_max_angle_deg: float = option(
        30.0, "Segmental when a group wider than grouped_max_extent_mm has its long axis within this angle of the "
              "nipple.", ge=0, le=90)
    segmental_min_linearity: float = option(
        0.4, "Segmental groups are at least this elongated (wedge toward the nipple).", ge=0, le=1)
    diffuse_min_breast_fraction: float = option(
        0.3, "Diffuse when calcifications spread (convex hull) over at least this fraction of the breast area.",
        ge=0, le=1)
    diffuse_min_count: int = option(10, "Fewest calcifications in a diffuse group.", gt=0)
    regional_link_distance_mm: float = option(
        12.0, "Calcifications in no cluster are linked again at this distance into wide (regional, diffuse) groups; "
              "at most link_distance_mm: never (docs/analysis.md), mm.", gt=0)
    wide_group_max_p: float = option(
        1e-3, "A regional or diffuse group is a finding only when the Poisson probability of its count, at the "
              "view's rate of detections outside it, is at most this.", gt=0, le=1)
    wide_group_min_outside_fraction: float = option(
        0.25, "... and at least this fraction of the breast lies outside it (else there is no background to "
              "compare with: not a finding).", ge=0, le=0.95)
    triage_threshold: float = option(
        0.3, "Operating point: a breast is flagged when its case score is at least this (docs/morphology.md).",
        ge=0, le=1)
    morphology_model: str = option(
        "calc-morphology", "Registry name of the cluster morphology model; empty: morphology is not assessed."
    )
    risk_model: str = option(
        "", "Registry name of the four-view risk/asymmetry/density model (e.g. risk-fourview; trained on a "
        "SIMULATED cohort, docs/risk.md); empty: risk is not assessed."
    )
    flag_min_birads: BiradsCategory = option(
        BiradsCategory.SUSPICIOUS_LOW,
        "With morphology: a cluster counts toward the flag only if it suggests at least this BI-RADS category ..."
    )
    flag_uncertain: bool = option(True, "... or if its morphology is uncertain (so that someone looks).")

    def check(self) -> None:
        if list(self.split_levels) != sorted(set(self.split_levels)):
            raise self.invalid("split_levels", "must be strictly ascending")
        if self.tile_overlap >= self.tile_size:
            raise self.invalid("tile_overlap", f"must be < tile_size ({self.tile_size})")

def address_rule(value: Any) -> str | None:
    """An IP address or CIDR network (allow-lists)."""
    import ipaddress

    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return "is not an IP address or CIDR network"
    return None


class StereoUnit(enum.StrEnum):
    """How a stereotactic unit's detector moves (auto: read it from DetectorPrimaryAngle)."""

    AUTO = "auto"
    DETECTOR_FIXED = "detector_fixed"
    ISOCENTRIC = "isocentric"


@dataclass(frozen=True, kw_only=True)
class BiopsyConfig(Section):
    """Stereotactic biopsy targeting: stereo-set checks, matching tolerances, warnings (docs/biopsy.md)."""

    name = "biopsy"
    unit: StereoUnit = option(
        StereoUnit.AUTO, "auto (DetectorPrimaryAngle: 0 = isocentric, -tube angle = detector fixed), "
                         "detector_fixed or isocentric (for units that do not write DetectorPrimaryAngle).")
    isocenter_height_mm: float | None = option(
        None, "Height of the tube's rotation axis above the detector, mm; empty: DistanceSourceToDetector - "
              "DistanceSourceToIsocenter from each image.", ge=0, le=500)
    angle_tolerance_deg: float = option(0.5, "The two stereo angles must be +theta and -theta within this, deg.", gt=0)
    min_angle_deg: float = option(
        5.0, "Smallest stereo angle theta accepted, deg (depth error grows as 1/tan theta).", gt=0, le=45)
    thickness_tolerance_mm: float = option(
        1.0, "All images of a set must show one compression: BodyPartThickness equal within this, mm.", gt=0)
    epipolar_tolerance_mm: float = option(
        0.25, "Two detections match only if their source rays pass within this of each other, mm.", gt=0)
    scout_tolerance_mm: float = option(
        0.5, "With a scout, a match's 3-D point should project within this of a scout detection (detector mm).", gt=0)
    require_scout_match: bool = option(
        True, "With a scout, keep only pairs whose 3-D point lands on a scout detection (else those are preferred; "
              "chosen on BIOPSY_TUNE, docs/biopsy.md).")
    ambiguity_margin: float = option(
        0.5, "A match is ambiguous when another candidate's normalized cost is within this of its own.", ge=0)
    group_distance_mm: float = option(
        8.0, "Matched calcifications closer than this in 3-D form one target candidate (single linkage), mm.", gt=0)
    outlier_distance_mm: float = option(
        9.0, "Members of the chosen candidate farther than this from its median point are left out, mm.", gt=0)
    min_matches: int = option(3, "Fewer matched calcifications in the target cluster than this gives a warning.", ge=1)
    stroke_margin_mm: float = option(
        5.0, "A target closer than this to the breast support gives a warning (the needle's throw), mm.", ge=0)


@dataclass(frozen=True, kw_only=True)
class ServiceConfig(Section):
    """The appliance service: DICOM receiver, hot folder, spool, job queue, workers, retention."""

    name = "service"
    state_dir: Path = option(Path("/var/lib/mammoedge"),
                             "Spool, quarantine, results, queue database and device secret live here.")
    results_dir: Path | None = option(None, "Where <study key>.json results go; empty: <state_dir>/results.")
    ae_title: str = option("MAMMOEDGE", "Our DICOM AE title (called AE title).", rule=ae_title_rule)
    bind_address: str = option("0.0.0.0", "Address the DICOM receiver listens on.", rule=address_rule)
    port: int = port_option(11112, "TCP port of the DICOM receiver; 0 disables the receiver.", allow_zero=True)
    allowed_calling_aets: tuple[str, ...] = option(
        (), "Calling AE titles allowed to associate; empty: any (rejected with reason 0x03 otherwise).",
        rule=ae_title_rule)
    allowed_addresses: tuple[str, ...] = option(
        (), "Source IP addresses or CIDR networks allowed to associate; empty: any.", rule=address_rule)
    tls_cert_file: Path | None = option(None, "PEM server certificate; set (with the key) to make the port "
                                              "TLS-only (TLS >= 1.2); plain associations are then refused.")
    tls_key_file: Path | None = option(None, "PEM private key of the server certificate.")
    tls_client_ca_file: Path | None = option(None, "PEM CA bundle; set to require client certificates it signed.")
    acse_timeout_s: float = option(10.0, "Seconds to wait for association messages (A-ASSOCIATE, A-RELEASE).", gt=0)
    dimse_timeout_s: float = option(30.0, "Seconds to wait for DIMSE messages within an association.", gt=0)
    network_timeout_s: float = option(30.0, "Seconds an association may stay idle on the network.", gt=0)
    max_associations: int = option(8, "Most concurrent associations; more are rejected (local limit exceeded).", ge=1)
    max_pdu_bytes: int = option(
        1_048_576, "Largest PDU this AE receives (announced in A-ASSOCIATE-AC); larger PDUs cost the receiver less CPU "
                   "per image (dcmtk sends at most 131072). 0: no limit.", ge=0)
    association_request_timeout_s: float = option(
        5.0, "A connection must deliver its whole A-ASSOCIATE-RQ (and TLS handshake) this many seconds after "
             "it is accepted, and be associated by then, or it is closed (stalled or idle peers).", gt=0)
    max_pending_connections: int = option(
        64, "Most connections waiting for their association request; a new one closes the oldest waiting.", ge=1)
    max_connections_per_address: int = option(
        4, "Most waiting connections, and most associations, from one source address; a new connection closes "
           "that address's oldest waiting one, a further association is rejected (local limit exceeded).", ge=1)
    hot_folder: Path | None = option(None, "Watched directory: DICOM files dropped here are taken in, "
                                           "then removed; empty: no hot folder.")
    hot_folder_poll_s: float = option(1.0, "How often the hot folder is scanned, seconds.", gt=0)
    hot_folder_stable_s: float = option(2.0, "A hot-folder file is taken once unchanged for this long, seconds.", ge=0)
    settle_s: float = option(30.0, "An exam without all four screening views is analyzed this long after "
                                   "its last instance (and says which views are missing).", ge=0)
    workers: int = option(1, "Analysis worker threads.", ge=1)
    max_attempts: int = option(3, "Analysis attempts per exam that end in an error before it is given up (its "
                                  "result says why); a service killed mid-analysis counts apart.", ge=1)
    max_interruptions: int = option(
        10, "An exam during whose analysis the service died this many times (kill, crash, power cut) is given up "
            "as the likely cause; an interrupted exam goes behind the others.", ge=1)
    analysis_timeout_s: float = option(600.0, "An analysis running longer than this stops the systemd watchdog "
                                              "pings, so the service is restarted and the exam resumed.", gt=0)
    shutdown_grace_s: float = option(20.0, "On SIGTERM, wait this long for in-flight analyses; "
                                           "unfinished ones are resumed at the next start.", ge=0)
    retention_days: float = option(30.0, "Spool files, results and quarantine older than this are pruned "
                                         "(only exams whose result is written); 0 keeps forever.", ge=0)
    spool_max_mb: float = option(0.0, "Prune the oldest finished exams' spool files beyond this size; 0: no cap.", ge=0)
    min_free_mb: float = option(
        1024.0, "Instances are refused (0xA700, the modality retries) while the state, spool or results file "
                "system has less free space than this, MB: the rest is kept for the queue and results; 0: no rule.",
        ge=0)
    reserve_mb: float = option(
        64.0, "Size of the ballast file <state_dir>/space-reserve, MB: released when the file system is nearly "
              "full anyway (so the queue opens and results are written), made again when space returns; 0: none.",
        ge=0)

    def check(self) -> None:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise self.invalid("tls_key_file", "must be set together with tls_cert_file")


def topic_level_rule(value: Any) -> str | None:
    """One MQTT topic level: not empty, no '/', '+', '#' or NUL."""
    if not value or any(c in value for c in "/+#\0"):
        return "must be one MQTT topic level (not empty; no '/', '+', '#')"
    return None


class MqttVersion(enum.StrEnum):
    """MQTT protocol version of the telemetry connection."""

    V5 = "5"
    V311 = "3.1.1"


@dataclass(frozen=True, kw_only=True)
class TelemetryConfig(Section):
    """Fleet telemetry over MQTT (docs/telemetry.md); off unless enabled."""

    name = "telemetry"
    enabled: bool = option(False, "Report status, health and exam events to the fleet broker.")
    host: str = option("localhost", "Broker host name or address.")
    port: int = port_option(1883, "Broker port (8883 is usual with TLS).")
    mqtt_version: MqttVersion = option(MqttVersion.V5, "MQTT protocol: 5, or 3.1.1 for a broker without MQTT 5.")
    site: str = option("site", "Site name in the topic tree mammoedge/v1/<site>/<device>/...; no patient data.",
                       rule=topic_level_rule)
    device_id: str = option("", "MQTT client id and topic device name; empty: derived from /etc/machine-id.",
                            rule=lambda v: topic_level_rule(v) if v else None)
    username: str = option("", "Broker user name (empty: none).")
    password: str = option("", "Broker password.")
    ca_file: Path | None = option(None, "CA certificate file; set it to use TLS and verify the broker.")
    cert_file: Path | None = option(None, "Client certificate file for TLS client authentication.")
    key_file: Path | None = option(None, "Client private key file.")
    keepalive_s: int = option(30, "MQTT keep-alive, seconds; the last will is sent ~1.5x this after a silent death.",
                              ge=1)
    health_interval_s: float = option(60.0, "Seconds between health messages.", gt=0)
    metrics_interval_s: float = option(300.0, "Seconds between metrics messages (counts and latency percentiles).",
                                       gt=0)
    outbox_path: Path | None = option(None, "Outbox database; empty: <service.state_dir>/telemetry-outbox.sqlite.")
    outbox_max: int = option(10000, "Most events kept while the broker is away; older ones are dropped and counted.",
                             ge=1)

    def check(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise self.invalid("key_file", "must be set together with cert_file")


def update_window_rule(value: Any) -> str | None:
    """``HH:MM-HH:MM`` on a 24-hour clock (the window may cross midnight)."""
    import re

    if re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", str(value)):
        return None
    return "must be HH:MM-HH:MM (24 h)"


@dataclass(frozen=True, kw_only=True)
class UpdateConfig(Section):
    """Signed updates into A/B slots, health check and rollback (docs/updates.md)."""

    name = "update"
    root: Path = option(Path("/opt/mammoedge"), "Update root: slots/a, slots/b, the current and good links, "
                                                "the state file and the TUF metadata cache.")
    repository: str = option("", "Update repository: http(s) URL or a local directory (offline copy); "
                                 "empty: 'update check/apply' need one on the command line.")
    trusted_root: Path = option(Path("/etc/mammoedge/update-root.json"),
                                "The repository's TUF root.json this box trusts first (installed with it).")
    max_bundle_mb: float = option(4096.0, "Largest bundle downloaded or unpacked, MB (endless-data guard).", gt=0)
    max_trial_starts: int = option(3, "Starts a new slot gets to pass its health check before the box rolls back.",
                                   ge=1)
    crash_loop_starts: int = option(5, "After a commit: this many service starts within crash_loop_window_s "
                                       "roll back to the previous good slot.", ge=1)
    crash_loop_window_s: float = option(600.0, "Window of the crash-loop rule, seconds.", gt=0)
    start_command: tuple[str, ...] = option(("systemctl", "restart", "mammoedge.target"),
                                            "Command that (re)starts the services on the current slot.")
    start_timeout_s: float = option(120.0, "Seconds the start command may take.", gt=0)
    health_timeout_s: float = option(300.0, "Seconds the new slot's health check may take (a hang rolls back).", gt=0)
    window: str = option("01:00-05:00", "Local time window (HH:MM-HH:MM) in which the timer applies updates; "
                                        "outside clinical hours.", rule=update_window_rule)
    base_site: Path | None = option(None, "Read-only directory of dependencies shared by both slots; "
                                          "empty: every dependency comes from the bundle's wheelhouse.")

    def check(self) -> None:
        if not self.start_command:
            raise self.invalid("start_command", "must not be empty")


class ForwardObject(enum.StrEnum):
    """DICOM result objects a destination can receive (runtime/dicom_results)."""

    CAD_SR = "cad_sr"
    SUMMARY_SR = "summary_sr"
    GSPS = "gsps"
    SC = "sc"
    BIOPSY_SR = "biopsy_sr"  #: the biopsy target of a stereotactic set (Comprehensive 3D SR, docs/biopsy.md)


@dataclass(frozen=True, kw_only=True)
class DestinationConfig:
    """One C-STORE destination (a PACS or workstation): a ``[[forward.destinations]]`` table."""

    name: str = option("", "Short name shown in status and the exam result (1-32 letters, digits, - and _).")
    ae_title: str = option("", "Called AE title of the destination.")
    host: str = option("", "Host name or address of the destination.")
    port: int = option(104, "TCP port of the destination.")
    objects: tuple[ForwardObject, ...] = option(
        (ForwardObject.CAD_SR, ForwardObject.SUMMARY_SR, ForwardObject.GSPS, ForwardObject.SC, ForwardObject.BIOPSY_SR),
        "Which objects it gets: cad_sr, summary_sr, gsps, sc, biopsy_sr.")
    tls: bool = option(False, "Associate over TLS (>= 1.2), verifying the destination's certificate.")
    tls_ca_file: Path | None = option(None, "PEM CA bundle that signed the destination's certificate; empty: "
                                            "the system's.")
    tls_cert_file: Path | None = option(None, "PEM client certificate, when the destination requires one.")
    tls_key_file: Path | None = option(None, "PEM private key of the client certificate.")

    def __post_init__(self) -> None:
        import re

        where = f"forward.destinations[{self.name!r}]"
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", self.name):
            raise ConfigError(f"{where}.name must be 1-32 letters, digits, - or _")
        objects = tuple(ForwardObject(o) for o in self.objects)  # a kind given as its string in code
        object.__setattr__(self, "objects", objects)
        for option_name, why in (("ae_title", ae_title_rule(self.ae_title)),
                                 ("host", None if self.host else "must be set"),
                                 ("port", None if 1 <= self.port <= 65535 else "is not a TCP port (1-65535)"),
                                 ("objects", None if objects else "must name at least one object"),
                                 ("tls_key_file", None if (self.tls_cert_file is None) == (self.tls_key_file is None)
                                  else "must be set together with tls_cert_file")):
            if why:
                raise ConfigError(f"{where}.{option_name} = {getattr(self, option_name)!r} {why}")


@dataclass(frozen=True, kw_only=True)
class ForwardConfig(Section):
    """Sending the DICOM results to PACS destinations by C-STORE from a durable queue (docs/outputs.md)."""

    name = "forward"
    destinations: tuple[DestinationConfig, ...] = option(
        (), "Destinations, one [[forward.destinations]] table each (name, ae_title, host, port, objects, tls, "
            "tls_ca_file, tls_cert_file, tls_key_file; docs/outputs.md); none: nothing is sent.")
    calling_ae_title: str = option("MAMMOEDGE", "Our calling AE title toward the destinations.", rule=ae_title_rule)
    queue_path: Path | None = option(None, "Send queue database; empty: <service.state_dir>/forward.sqlite.")
    objects_dir: Path | None = option(None, "Where objects wait (and stay) until sent; empty: "
                                            "<service.state_dir>/dicom-out.")
    retry_initial_s: float = option(2.0, "First retry after a failed attempt, seconds; doubled each time.", gt=0)
    retry_max_s: float = option(300.0, "Longest wait between retries, seconds.", gt=0)
    max_attempts: int = option(20, "Attempts per object and destination before it is marked refused (kept, "
                                   "reason shown).", ge=1)
    timeout_s: float = option(10.0, "ACSE, DIMSE and network timeout of each association, seconds.", gt=0)
    poll_s: float = option(0.5, "How often the sender looks for due objects when idle, seconds.", gt=0)

    def check(self) -> None:
        names = [d.name for d in self.destinations]
        if len(set(names)) != len(names):
            raise self.invalid("destinations", f"names {names} must be unique")
        if self.retry_max_s < self.retry_initial_s:
            raise self.invalid("retry_max_s", "must be at least retry_initial_s")


def ip_address_rule(value: Any) -> str | None:
    """An IP address to listen on."""
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "is not an IP address"
    return None


@dataclass(frozen=True, kw_only=True)
class WebConfig(Section):
    """The technologist's page: worklist, exam, biopsy and box views over HTTPS (docs/web.md)."""

    name = "web"
    bind_address: str = option("127.0.0.1", "Address the page listens on; anything but a loopback address needs TLS.",
                               rule=ip_address_rule)
    port: int = port_option(8443, "TCP port of the page.")
    tls_cert_file: Path | None = option(
        None, "PEM server certificate; empty: <service.state_dir>/identity/device.crt (the box's certificate, "
              "signed from `mammoedge device`'s CSR) when it exists, with the device key.")
    tls_key_file: Path | None = option(None, "PEM private key of the certificate; empty: the device key with "
                                             "the box's certificate.")
    state_dir: Path | None = option(None, "Accounts database and audit log; empty: <service.state_dir>/web.")
    session_hours: float = option(10.0, "A login lasts this long (one shift), hours.", gt=0, le=24 * 7)
    lockout_failures: int = option(5, "Wrong passwords in a row that lock an account (an admin unlocks it).",
                                   ge=1, le=100)
    poll_s: float = option(0.2, "How often the page's event stream looks for new results, seconds.", gt=0, le=5)
    display_max_px: int = option(1400, "Longest side of a view rendered for the exam page, px.", ge=256, le=4096)


@dataclass(frozen=True, kw_only=True)
class Config:
    """The whole appliance configuration, one attribute per TOML section."""

    reader: ReaderConfig = field(default_factory=ReaderConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    biopsy: BiopsyConfig = field(default_factory=BiopsyConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    update: UpdateConfig = field(default_factory=UpdateConfig)
    forward: ForwardConfig = field(default_factory=ForwardConfig)
    web: WebConfig = field(default_factory=WebConfig)


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
        if isinstance(item_type, type) and dataclasses.is_dataclass(item_type):  # an array of tables
            if not all(isinstance(v, Mapping) for v in items):
                raise ConfigError(f"{where}: every entry must be a table")
            return tuple(_build(item_type, v, {}, f"{where}[{i}]") for i, v in enumerate(items))
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
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
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
        if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
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
    if dataclasses.is_dataclass(value):  # an entry of an array of tables: an inline table
        items = (f"{f.name} = {_toml_value(getattr(value, f.name))}" for f in dataclasses.fields(value))
        return "{" + ", ".join(items) + "}"
    if hasattr(value, "value"):  # enum
        return _toml_value(value.value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dump_config(config: Config) -> str:
    """The configuration as TOML, every option preceded by its documentation."""
    lines: list[str] = []
    for section in dataclasses.fields(config):
        obj = getattr(config, section.name)
        lines.append(f"# {(type(obj).__doc__ or section.name).strip().splitlines()[0]}")
        lines.append(f"[{section.name}]")
        for f in dataclasses.fields(obj):
            lines.append(f"# {f.metadata.get('doc', '')}")
            lines.append(f"{f.name} = {_toml_value(getattr(obj, f.name))}")
        lines.append("")
    return "\n".join(lines)
