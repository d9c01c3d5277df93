"""The MQTT reporter: status (retained, last will), health and metrics (retained), exam events via the outbox.

Topics: ``mammoedge/v1/<site>/<device>/{status,health,metrics,event}``, and
``.../command`` (subscribed; safe actions only, see :mod:`.commands`) answered on
``.../command/result``.

Retransmission has one owner at a time. Events and metrics go to the durable
outbox first (the analysis path never waits on the network); the reporter hands
each outbox row to paho **once per process** and deletes it when paho reports
it complete (``on_publish``). Within the process paho alone resends what was
not acknowledged (it does so on every reconnect, with the session kept:
clean start off); the outbox resends only after a restart, when paho's memory
is gone. Events and metrics are QoS 2, so a resend on reconnect is not
delivered twice; each event carries a message id derived from its result, so
the one repeat a kill can still cause (after the broker released it, before
the row was deleted) is recognisable.
"""

from __future__ import annotations

import logging
import queue as queue_module
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .. import __version__
from ..config import MqttVersion, TelemetryConfig
from ..jobs.queue import JobQueue
from .commands import MAX_COMMAND_BYTES, Action, Command, CommandError, parse_command
from .events import EventReconciler, UpdateEventReconciler, queue_event
from .health import CpuSampler, service_health, system_health
from .metrics import STATE_NAME, CollectorState, MetricsCollector
from .outbox import Outbox
from .payloads import ExamEvent, build
from .topics import default_device_id, device_id, outbox_path, topic

__all__ = ["Reporter", "default_device_id", "system_health", "topic"]

log = logging.getLogger(__name__)

HealthSource = Callable[[], dict[str, Any]]
MetricsSource = Callable[[float], dict[str, Any]]  #: now (epoch s) -> fields of a metrics message
StatusSource = Callable[[], dict[str, Any]]  #: ``models`` and ``devices`` of the status message
COMMAND_BACKLOG = 16  #: commands waiting for the reporter thread; more are answered "busy"
COMMAND_BURST, COMMAND_RATE_PER_S = 10, 1.0  #: token bucket: 10 at once, then one per second; more: "busy"
HANDED_MAX = 100  #: outbox rows handed to paho and not yet complete, at most
RECONCILE_EVERY_S = 5.0
METRICS_QOS = 2
HEALTH_FIELDS = ("queue_depth", "oldest_waiting_s", "last_exam_age_s", "exams_failed", "errors", "devices",
                 "device_fallback", "update")


class _Bucket:
    """A token bucket (thread-safe): :meth:`take` is False when the rate is exceeded."""

    def __init__(self, burst: int, rate_per_s: float) -> None:
        self.burst, self.rate = float(burst), rate_per_s
        self._tokens, self._at = float(burst), time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


class Reporter:
    """One device's MQTT connection; ``start``/``stop``, ``exam_analyzed`` never blocks on the network.

    With ``queue`` (the service's job queue) it also reports the service's health,
    durable metrics, and derives events the worker could not queue (see :mod:`.events`).
    With ``update_state`` (the updater's state file) it sends one ``update`` event per concluded update.
    """

    def __init__(self, config: TelemetryConfig, state_dir: Path, health_source: HealthSource | None = None,
                 metrics_source: MetricsSource | None = None, status_source: StatusSource | None = None,
                 queue: JobQueue | None = None, update_state: Path | None = None) -> None:
        self.config = config
        self.device = device_id(config)
        self.state_dir = state_dir
        self.outbox = Outbox(outbox_path(config, state_dir), cap=config.outbox_max)
        self.health_source = health_source
        self.status_source = status_source
        self.queue = queue
        self.started_at = time.time()
        self.collector: MetricsCollector | None = None
        self.reconciler: EventReconciler | None = None
        self.metrics_source = metrics_source
        self.update_events = None if update_state is None else UpdateEventReconciler(
            update_state, self.outbox, topic(config, self.device, "event"), self.device)
        try:
            self._resume()
        except sqlite3.Error as exc:  # e.g. a full disk: the service starts anyway; retried by the loop
            log.error("telemetry state not readable yet (%s)", type(exc).__name__)
        self._cpu = CpuSampler()
        self._status_fields: dict[str, Any] = {}  # models and devices, read once at start
        self._connected_at = 0.0
        self._commands: queue_module.Queue[bytes] = queue_module.Queue(maxsize=COMMAND_BACKLOG)
        self._bucket = _Bucket(COMMAND_BURST, COMMAND_RATE_PER_S)
        self.commands_busy = 0
        self._inflight: dict[int, int] = {}  # mid -> outbox row, handed to paho in this process
        self._early_acks: set[int] = set()
        self._sent_upto = 0  # outbox rows up to this id were handed to paho (once per process)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="telemetry", daemon=True)
        self.v5 = config.mqtt_version is MqttVersion.V5
        # persistent session: clean start off (MQTT 5), clean session off (3.1.1)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.device,
                                  protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
                                  clean_session=None if self.v5 else False)
        if config.username:
            self.client.username_pw_set(config.username, config.password)
        if config.ca_file:
            self.client.tls_set(ca_certs=str(config.ca_file),
                                certfile=str(config.cert_file) if config.cert_file else None,
                                keyfile=str(config.key_file) if config.key_file else None)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_pre_connect = self._on_pre_connect
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message

    def _resume(self) -> None:
        """With a queue: the metrics collector from its stored state, and the event reconciler."""
        if self.queue is None or (self.collector is not None and self.reconciler is not None):
            return
        if self.collector is None:
            stored = self.outbox.get_state(STATE_NAME)
            state = None
            if stored is not None:
                try:
                    state = CollectorState.loads(stored)
                except (ValueError, KeyError, TypeError):
                    log.error("stored metrics state unreadable: counting starts again")
            collector = MetricsCollector(self.queue, started_at=self.started_at, state=state)
            if state is None:  # counting starts now, also for a process killed before its first message
                self.outbox.set_state(STATE_NAME, collector.state.dumps())
            self.collector = collector
        self.reconciler = EventReconciler(self.queue, self.outbox, topic(self.config, self.device, "event"))

    def _status(self, state: str, *, will: bool = False) -> bytes:
        return build("status", state=state, software_version=__version__, models=self._status_fields.get("models", {}),
                     devices=self._status_fields.get("devices", []), last_will=will,
                     connected_at=round(self._connected_at, 3))

    def start(self) -> None:
        if self.status_source is not None:
            try:
                self._status_fields = self.status_source()
            except Exception as exc:  # the status still goes out, without models and devices
                log.warning("status details unavailable: %s", type(exc).__name__)
        try:
            self._count_start()
        except sqlite3.Error as exc:  # e.g. a full disk: report anyway
            log.error("restart counters not written (%s)", type(exc).__name__)
        self._on_pre_connect(self.client, None)  # the first connect_async does not call it
        if self.v5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = 3600
            self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s,
                                      clean_start=False, properties=properties)
        else:
            self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        self.client.loop_start()
        self._thread.start()

    def _count_start(self) -> None:
        """Restarts, and the ones after an unclean end (the previous run never reached :meth:`stop`)."""
        if self.outbox.get_state("running") == "1":
            self.outbox.bump("unclean_restarts")
        self.outbox.bump("starts")
        self.outbox.set_state("running", "1")

    def stop(self, timeout: float = 3.0) -> None:
        """Send what the outbox holds and say ``offline`` (retained) within ``timeout``, then disconnect.

        Rows not acknowledged by then stay in the outbox for the next start.
        """
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        if self.client.is_connected():
            try:
                self._flush(draining=True)
            except sqlite3.Error as exc:
                log.error("outbox not drained at stop (%s)", type(exc).__name__)
            while self._inflight and self.client.is_connected() and time.monotonic() < deadline:
                time.sleep(0.02)
            info = self.client.publish(topic(self.config, self.device, "status"), self._status("offline"),
                                       qos=1, retain=True)
            while not info.is_published() and time.monotonic() < deadline:
                time.sleep(0.02)
        self.client.disconnect()
        self.client.loop_stop()
        try:
            self.outbox.set_state("running", "0")
        except sqlite3.Error as exc:
            log.error("clean stop not recorded (%s)", type(exc).__name__)
        self.outbox.close()

    def exam_analyzed(self, event: ExamEvent) -> None:
        """Queue the exam's event (once per result: see :mod:`.events`) and wake the sender."""
        queue_event(self.outbox, topic(self.config, self.device, "event"), event)
        self._wake.set()

    # paho callbacks (network thread)
    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        """Before every connection attempt: a last will with this attempt's time, models and devices."""
        self._connected_at = time.time()
        client.will_set(topic(self.config, self.device, "status"), self._status("offline", will=True), qos=1,
                        retain=True)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            log.warning("broker refused the connection: %s", reason_code)
            return
        client.publish(topic(self.config, self.device, "status"), self._status("online"), qos=1, retain=True)
        client.subscribe(topic(self.config, self.device, "command"), qos=1)
        self._wake.set()  # paho resends what it holds; the reporter hands over only rows it never handed

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        log.info("broker connection lost (%s); events wait in the outbox", reason_code)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        with self._lock:
            row = self._inflight.pop(mid, None)
            if row is None:
                self._early_acks.add(mid)  # acked before _flush recorded the mid
                return
        if reason_code.is_failure:
            log.warning("broker refused an outbox message (%s): kept for the next start", reason_code)
            return
        self.outbox.ack(row)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        if self._bucket.take():
            try:
                self._commands.put_nowait(payload)
                self._wake.set()
                return
            except queue_module.Full:
                pass
        self._answer_busy(payload)

    def _answer_busy(self, payload: bytes) -> None:
        """A command over the rate limit or the backlog: reply ``busy`` at once (it is not run)."""
        self.commands_busy += 1
        reply: dict[str, Any] = {"accepted": False, "rule": "busy",
                                 "error": f"over the command rate limit ({COMMAND_BURST} at once, then "
                                          f"{COMMAND_RATE_PER_S:g}/s) or backlog ({COMMAND_BACKLOG}); try again later"}
        request_id = None
        if len(payload) <= MAX_COMMAND_BYTES:
            try:
                request_id = parse_command(payload).request_id
            except CommandError as exc:
                request_id = exc.request_id
        if request_id is not None:
            reply["request_id"] = request_id
        log.warning("command answered busy (%d so far)", self.commands_busy)
        self.client.publish(topic(self.config, self.device, "command/result"), build("command_result", **reply),
                            qos=1)

    # reporter thread
    def _handle_commands(self) -> None:
        while True:
            try:
                payload = self._commands.get_nowait()
            except queue_module.Empty:
                return
            try:
                command = parse_command(payload)
            except CommandError as exc:
                log.warning("command refused (%s)", exc.rule)
                reply: dict[str, Any] = {"accepted": False, "rule": exc.rule, "error": str(exc)[:200]}
                if exc.request_id is not None:
                    reply["request_id"] = exc.request_id
            else:
                reply = self._run(command)
            self.client.publish(topic(self.config, self.device, "command/result"), build("command_result", **reply),
                                qos=1)

    def _run(self, command: Command) -> dict[str, Any]:
        reply: dict[str, Any] = {"action": command.action.value}
        if command.request_id is not None:
            reply["request_id"] = command.request_id
        if command.action is Action.REPORT_METRICS and self.queue is None and self.metrics_source is None:
            return reply | {"accepted": False, "rule": "unavailable", "error": "this process keeps no metrics"}
        {Action.REPORT_HEALTH: self._publish_health, Action.REPORT_METRICS: self._publish_metrics,
         Action.REPORT_STATUS: self._publish_status}[command.action]()
        return reply | {"accepted": True}

    def _publish_status(self) -> None:
        self.client.publish(topic(self.config, self.device, "status"), self._status("online"), qos=1, retain=True)

    def _flush(self, *, draining: bool = False) -> None:
        """Hand outbox rows paho has never had to paho, in order; at most :data:`HANDED_MAX` at a time."""
        while self.client.is_connected() and (draining or not self._stopping.is_set()):
            with self._lock:
                after, room = self._sent_upto, HANDED_MAX - len(self._inflight)
            if room <= 0:
                return
            rows = self.outbox.pending(after=after, limit=room)
            if not rows:
                return
            for row_id, topic_name, payload, qos, retain in rows:
                # never hold our lock inside paho: its network thread takes it in on_publish
                info = self.client.publish(topic_name, payload, qos=qos, retain=retain)
                if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                    return  # not taken by paho (e.g. queue full): handed again later
                with self._lock:  # NO_CONN with QoS > 0: paho keeps it and sends it on reconnect
                    self._sent_upto = row_id
                    early = info.mid in self._early_acks
                    self._early_acks.discard(info.mid)
                    if not early:
                        self._inflight[info.mid] = row_id
                if early:
                    self.outbox.ack(row_id)

    def health_fields(self) -> dict[str, Any]:
        """The fields of a health message now."""
        fields = system_health(self.state_dir, self._cpu)
        if self.queue is not None:
            fields.update(service_health(self.queue))
        if self.health_source is not None:
            extra = self.health_source()
            fields.update({k: v for k, v in extra.items() if k in HEALTH_FIELDS})
        fields.update(commands_busy=self.commands_busy, uptime_s=round(time.time() - self.started_at, 1))
        try:
            starts = self.outbox.counter("starts")
            fields.update(outbox_backlog=len(self.outbox), events_dropped=self.outbox.dropped(),
                          restarts=max(0, starts - 1), unclean_restarts=self.outbox.counter("unclean_restarts"))
        except sqlite3.Error as exc:  # the outbox cannot be opened (full disk): health without its figures
            log.warning("outbox figures unavailable: %s", type(exc).__name__)
        return fields

    def _publish_health(self) -> None:
        self.client.publish(topic(self.config, self.device, "health"), build("health", **self.health_fields()),
                            qos=1, retain=True)

    def _publish_metrics(self) -> None:
        now, name = time.time(), topic(self.config, self.device, "metrics")
        if self.collector is not None:
            fields, state = self.collector.prepare(now)
            self.outbox.put(name, build("metrics", **fields), qos=METRICS_QOS, retain=True,
                            state={STATE_NAME: state.dumps()})
            self.collector.adopt(state)  # only once the message and the state after it are stored together
            self._flush()
        elif self.metrics_source is not None:
            self.client.publish(name, build("metrics", **self.metrics_source(now)), qos=1, retain=True)

    def _loop(self) -> None:
        next_health = next_metrics = next_reconcile = next_update_event = time.monotonic()
        while not self._stopping.is_set():
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            try:
                if self.queue is not None and time.monotonic() >= next_reconcile:
                    next_reconcile = time.monotonic() + RECONCILE_EVERY_S
                    self._resume()  # when the state could not be read or written at start
                    if self.reconciler is not None:
                        self.reconciler.run()
                if self.update_events is not None and time.monotonic() >= next_update_event:
                    next_update_event = time.monotonic() + RECONCILE_EVERY_S
                    self.update_events.run()
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

