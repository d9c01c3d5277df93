"""The MQTT reporter: status (retained, last will), periodic health, exam events through the outbox.

Topics: ``mammoedge/v1/<site>/<device>/{status,health,metrics,event}``, and
``.../command`` (subscribed; safe actions only, see :mod:`.commands`) answered on
``.../command/result``. Events go to
the durable outbox first (the analysis path never waits on the network) and
leave it only when the broker acknowledges them (``on_publish``); after a
reconnect every unacknowledged event is sent again, in order, so receivers
see each at least once and drop repeats by ``message_id``.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

from .. import __version__
from ..config import MqttVersion, TelemetryConfig
from .commands import Action, CommandError, parse_command
from .outbox import Outbox
from .payloads import ExamEvent, build, event_payload
from .topics import default_device_id, device_id, outbox_path, topic

__all__ = ["Reporter", "default_device_id", "system_health", "topic"]

log = logging.getLogger(__name__)

HealthSource = Callable[[], dict]
MetricsSource = Callable[[float], dict]  #: now (epoch s) -> fields of a metrics message
StatusSource = Callable[[], dict]  #: ``models`` and ``devices`` of the status message
COMMAND_BACKLOG = 16  #: commands waiting for the reporter thread; more are dropped


def system_health(state_dir: Path) -> dict:
    """CPU, memory and disk figures read from /proc and statvfs."""
    load1 = os.getloadavg()[0]
    cpu_percent = round(min(100.0, 100.0 * load1 / (os.cpu_count() or 1)), 1)
    meminfo = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, value = line.split(":", 1)
            meminfo[key] = int(value.split()[0])
        used = 100.0 * (1 - meminfo["MemAvailable"] / meminfo["MemTotal"])
    except (OSError, KeyError, ValueError):
        used = 0.0
    target = state_dir if state_dir.exists() else Path("/")
    return {"cpu_percent": cpu_percent, "memory_used_percent": round(used, 1),
            "disk_free_mb": round(shutil.disk_usage(target).free / 2**20, 1)}


class Reporter:
    """One device's MQTT connection; ``start``/``stop``, ``exam_analyzed`` never blocks on the network."""

    def __init__(self, config: TelemetryConfig, state_dir: Path, health_source: HealthSource | None = None,
                 metrics_source: MetricsSource | None = None, status_source: StatusSource | None = None) -> None:
        self.config = config
        self.device = device_id(config)
        self.state_dir = state_dir
        self.outbox = Outbox(outbox_path(config, state_dir), cap=config.outbox_max)
        self.health_source = health_source
        self.metrics_source = metrics_source
        self.status_source = status_source
        self._status_fields: dict = {}  # models and devices, read once at start
        self._commands: queue.Queue[bytes] = queue.Queue(maxsize=COMMAND_BACKLOG)
        self._inflight: dict[int, int] = {}  # mid -> outbox row
        self._early_acks: set[int] = set()
        self._sent_upto = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="telemetry", daemon=True)
        self.v5 = config.mqtt_version is MqttVersion.V5
        # persistent session: clean start off (MQTT 5), clean session off (3.1.1)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.device,
                                  protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
                                  clean_session=None if self.v5 else False)
        self.client.will_set(topic(config, self.device, "status"), self._status("offline"), qos=1, retain=True)
        if config.username:
            self.client.username_pw_set(config.username, config.password)
        if config.ca_file:
            self.client.tls_set(ca_certs=config.ca_file, certfile=config.cert_file or None,
                                keyfile=config.key_file or None)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message

    def _status(self, state: str) -> bytes:
        return build("status", state=state, software_version=__version__, models=self._status_fields.get("models", {}),
                     devices=self._status_fields.get("devices", []))

    def start(self) -> None:
        if self.status_source is not None:
            try:
                self._status_fields = self.status_source()
            except Exception as exc:  # the status still goes out, without models and devices
                log.warning("status details unavailable: %s", type(exc).__name__)
        if self.v5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = 3600
            self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s,
                                      clean_start=False, properties=properties)
        else:
            self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        self.client.loop_start()
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Say ``offline`` (retained), then disconnect; unsent events stay in the outbox."""
        self._stopping.set()
        self._wake.set()
        if self.client.is_connected():
            info = self.client.publish(topic(self.config, self.device, "status"), self._status("offline"),
                                       qos=1, retain=True)
            deadline = time.monotonic() + timeout
            while not info.is_published() and time.monotonic() < deadline:
                time.sleep(0.02)
        self.client.disconnect()
        self.client.loop_stop()
        self._thread.join(timeout)
        self.outbox.close()

    def exam_analyzed(self, event: ExamEvent) -> None:
        self.outbox.put(topic(self.config, self.device, "event"), event_payload(event), qos=1)
        self._wake.set()

    # paho callbacks (network thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("broker refused the connection: %s", reason_code)
            return
        client.publish(topic(self.config, self.device, "status"), self._status("online"), qos=1, retain=True)
        client.subscribe(topic(self.config, self.device, "command"), qos=1)
        with self._lock:
            self._inflight.clear()
            self._early_acks.clear()
            self._sent_upto = 0  # resend whatever was not acknowledged
        self._wake.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        log.info("broker connection lost (%s); events wait in the outbox", reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            row = self._inflight.pop(mid, None)
            if row is None:
                self._early_acks.add(mid)  # acked before _flush recorded the mid
                return
        if not reason_code.is_failure:
            self.outbox.ack(row)

    def _on_message(self, client, userdata, message) -> None:
        try:
            self._commands.put_nowait(bytes(message.payload))
        except queue.Full:
            log.warning("command backlog full: command dropped")
        self._wake.set()

    # reporter thread
    def _handle_commands(self) -> None:
        while True:
            try:
                payload = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                command = parse_command(payload)
            except CommandError as exc:
                log.warning("command refused (%s)", exc.rule)
                reply = {"accepted": False, "rule": exc.rule, "error": str(exc)[:200]}
                if exc.request_id is not None:
                    reply["request_id"] = exc.request_id
            else:
                reply = self._run(command)
            self.client.publish(topic(self.config, self.device, "command/result"), build("command_result", **reply),
                                qos=1)

    def _run(self, command) -> dict:
        reply: dict = {"action": command.action.value}
        if command.request_id is not None:
            reply["request_id"] = command.request_id
        if command.action is Action.REPORT_METRICS and self.metrics_source is None:
            return reply | {"accepted": False, "rule": "unavailable", "error": "this process keeps no metrics"}
        {Action.REPORT_HEALTH: self._publish_health, Action.REPORT_METRICS: self._publish_metrics,
         Action.REPORT_STATUS: self._publish_status}[command.action]()
        return reply | {"accepted": True}

    def _publish_status(self) -> None:
        self.client.publish(topic(self.config, self.device, "status"), self._status("online"), qos=1, retain=True)

    def _flush(self) -> None:
        while self.client.is_connected() and not self._stopping.is_set():
            with self._lock:
                after = self._sent_upto
            rows = self.outbox.pending(after=after, limit=100)
            if not rows:
                return
            for row_id, topic_name, payload, qos, retain in rows:
                # never hold our lock inside paho: its network thread takes it in on_publish
                info = self.client.publish(topic_name, payload, qos=qos, retain=retain)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    return
                with self._lock:
                    self._sent_upto = row_id
                    early = info.mid in self._early_acks
                    self._early_acks.discard(info.mid)
                    if not early:
                        self._inflight[info.mid] = row_id
                if early:
                    self.outbox.ack(row_id)

    def _publish_health(self) -> None:
        fields = system_health(self.state_dir)
        if self.health_source is not None:
            extra = self.health_source()
            fields.update({k: v for k, v in extra.items() if k in ("queue_depth", "oldest_waiting_s",
                                                                    "last_exam_age_s", "errors", "devices")})
        fields["events_dropped"] = self.outbox.dropped()
        self.client.publish(topic(self.config, self.device, "health"), build("health", **fields), qos=0)

    def _publish_metrics(self) -> None:
        if self.metrics_source is not None:
            fields = self.metrics_source(time.time())
            self.client.publish(topic(self.config, self.device, "metrics"), build("metrics", **fields), qos=0)

    def _loop(self) -> None:
        next_health = next_metrics = time.monotonic()
        while not self._stopping.is_set():
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            try:
                self._flush()
                self._handle_commands()
                if self.client.is_connected() and time.monotonic() >= next_health:
                    next_health = time.monotonic() + self.config.health_interval_s
                    self._publish_health()
                if self.client.is_connected() and time.monotonic() >= next_metrics:
                    next_metrics = time.monotonic() + self.config.metrics_interval_s
                    self._publish_metrics()
            except Exception as exc:  # telemetry must never take the appliance down
                log.error("telemetry loop error: %s", type(exc).__name__)
