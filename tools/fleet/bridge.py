"""A site broker's mosquitto configuration, bridged to a central broker (``mammoedge fleet bridge-config``).

The boxes of a site report to a broker at the site; its bridge forwards their telemetry to the central broker
and brings operators' commands back. The topics come from ``runtime/telemetry/topics.py``; the bridge is
persistent (``cleansession false``: the central broker keeps the bridge's session, the site broker queues what
the bridge has not delivered while the link is down, up to ``max_queued_messages``), QoS 1 both ways, with fixed
client ids on both sides and a reconnect backoff (``restart_timeout``). Over QoS 1 a message can arrive twice
after a reconnect; receivers drop repeats by ``message_id`` (the monitor does).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from mammoedge.runtime.config import TelemetryConfig
from mammoedge.runtime.errors import MammoedgeError
from mammoedge.runtime.telemetry.topics import topic

from .monitor import NAME


class BridgeConfigError(MammoedgeError):
    """A bridge option is out of range or inconsistent."""


class Direction(enum.StrEnum):
    OUT = "out"  #: site -> centre
    IN = "in"  #: centre -> site


#: Each telemetry kind a box publishes or receives, and which way it crosses the bridge.
KINDS: dict[str, Direction] = {"status": Direction.OUT, "health": Direction.OUT, "metrics": Direction.OUT,
                               "event": Direction.OUT, "command/result": Direction.OUT, "command": Direction.IN}
BRIDGE_QOS = 1


@dataclass(frozen=True, kw_only=True)
class BridgeSettings:
    site: str
    remote_host: str
    remote_port: int = 1883
    listen_address: str = "0.0.0.0"  #: where the site broker listens for its boxes
    listen_port: int = 1883
    persistence_dir: Path | None = Path("/var/lib/mosquitto/")  #: None: no persistence (tests only)
    connection: str | None = None  #: bridge name; default ``mammoedge-<site>``
    remote_clientid: str | None = None  #: default: the connection name
    local_clientid: str | None = None  #: default ``local.<remote client id>``
    restart_timeout: tuple[int, int] = (5, 30)  #: reconnect backoff: base and cap, seconds
    keepalive_s: int = 60
    max_queued_messages: int = 100_000  #: per client, above those in flight: what the bridge holds while cut
    remote_username: str | None = None
    remote_password: str | None = None
    cafile: Path | None = None  #: CA of the central broker: TLS on the bridge
    certfile: Path | None = None  #: the site's client certificate (with keyfile)
    keyfile: Path | None = None
    allow_anonymous: bool = False  #: boxes on the site listener without user name (tests and closed LANs)
    password_file: Path | None = None  #: mosquitto_passwd file for the boxes
    protocol: str = "mqttv311"  #: bridge_protocol_version: mqttv311 (every broker) or mqttv50

    def check(self) -> None:
        TelemetryConfig(site=self.site)  # the site must be one topic level (ConfigError otherwise)
        for name in ("site", "connection", "remote_clientid", "local_clientid", "remote_host"):
            value = getattr(self, name)
            if value is not None and not NAME.fullmatch(value):
                raise BridgeConfigError(f"{name} = {value!r} must match {NAME.pattern} (as the monitor requires of "
                                        "topic names; no spaces in mosquitto.conf)")
        for name, port in (("remote_port", self.remote_port), ("listen_port", self.listen_port)):
            if not 1 <= port <= 65535:
                raise BridgeConfigError(f"{name} = {port} must be 1..65535")
        base, cap = self.restart_timeout
        if not 1 <= base <= cap:
            raise BridgeConfigError(f"restart_timeout = {base} {cap}: needs 1 <= base <= cap seconds")
        if self.keepalive_s < 5:
            raise BridgeConfigError(f"keepalive_s = {self.keepalive_s} must be >= 5 (mosquitto's minimum)")
        if self.max_queued_messages < 1:
            raise BridgeConfigError(f"max_queued_messages = {self.max_queued_messages} must be >= 1 (0 would be "
                                    "unbounded)")
        if (self.certfile is None) != (self.keyfile is None):
            raise BridgeConfigError("certfile and keyfile go together")
        if self.certfile is not None and self.cafile is None:
            raise BridgeConfigError("a client certificate needs cafile (TLS to the central broker)")
        if (self.remote_password is not None) and self.remote_username is None:
            raise BridgeConfigError("remote_password needs remote_username")
        if self.protocol not in ("mqttv311", "mqttv50"):
            raise BridgeConfigError(f"protocol = {self.protocol!r} is not one of: mqttv311, mqttv50")
        if not self.allow_anonymous and self.password_file is None:
            raise BridgeConfigError("the site listener needs password_file, or allow_anonymous for a closed network")


def topic_patterns(site: str) -> list[tuple[str, Direction]]:
    """The bridge's topic patterns for one site: ``mammoedge/v1/<site>/+/<kind>``."""
    config = TelemetryConfig(site=site)
    return [(topic(config, "+", kind), direction) for kind, direction in KINDS.items()]


def render(settings: BridgeSettings) -> str:
    """The site broker's whole mosquitto.conf: the listener for the boxes, persistence, and the bridge."""
    settings.check()
    name = settings.connection or f"mammoedge-{settings.site}"
    remote_id = settings.remote_clientid or name
    lines = [
        f"# Site broker for site {settings.site!r}, bridged to {settings.remote_host}:{settings.remote_port}",
        "# (generated by 'mammoedge fleet bridge-config'; docs/telemetry.md, docs/scale.md)",
        "per_listener_settings false",
        f"listener {settings.listen_port} {settings.listen_address}",
        f"allow_anonymous {'true' if settings.allow_anonymous else 'false'}",
    ]
    if settings.password_file is not None:
        lines.append(f"password_file {settings.password_file}")
    if settings.persistence_dir is not None:
        lines += ["persistence true", f"persistence_location {str(settings.persistence_dir).rstrip('/')}/",
                  "autosave_interval 60"]
    else:
        lines.append("persistence false")
    lines += [
        "# QoS 1/2 messages held per client (the bridge is one) while it is cut; beyond this they are dropped",
        f"max_queued_messages {settings.max_queued_messages}",
        "",
        f"connection {name}",
        f"address {settings.remote_host}:{settings.remote_port}",
        f"bridge_protocol_version {settings.protocol}",
        "cleansession false",
        f"remote_clientid {remote_id}",
        f"local_clientid {settings.local_clientid or 'local.' + remote_id}",
        "start_type automatic",
        f"restart_timeout {settings.restart_timeout[0]} {settings.restart_timeout[1]}",
        f"keepalive_interval {settings.keepalive_s}",
        "try_private true",
        "notifications true",
    ]
    if settings.remote_username is not None:
        lines.append(f"remote_username {settings.remote_username}")
    if settings.remote_password is not None:
        lines.append(f"remote_password {settings.remote_password}")
    if settings.cafile is not None:
        lines += [f"bridge_cafile {settings.cafile}", "bridge_tls_version tlsv1.2"]
    if settings.certfile is not None:
        lines += [f"bridge_certfile {settings.certfile}", f"bridge_keyfile {settings.keyfile}"]
    lines += [f"topic {pattern} {direction.value} {BRIDGE_QOS}" for pattern, direction in topic_patterns(settings.site)]
    return "\n".join(lines) + "\n"
