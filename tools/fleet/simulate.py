"""Synthetic devices for load tests: real paho MQTT 5 clients, a few shard threads, valid payloads.

Each device connects with the last will ``offline``, says ``online`` (retained),
then publishes health every ``health_interval_s``, metrics every
``metrics_interval_s`` and exam events at ``events_per_min`` (Poisson), all
built by the real allow-list serializer. Clients are shared out over
``threads`` threads, each driving its clients' sockets with one selector (no
thread per client). A clean end publishes ``offline`` for every device.
"""

from __future__ import annotations

import heapq
import logging
import random
import secrets
import selectors
import threading
import time
from dataclasses import dataclass
from collections.abc import Callable

import paho.mqtt.client as mqtt

from mammoedge.runtime import __version__
from mammoedge.runtime.telemetry.payloads import ExamEvent, build, event_payload

log = logging.getLogger(__name__)
MODELS = {"calc-detector": "1.0.0"}


@dataclass(frozen=True, kw_only=True)
class SimulationSettings:
    host: str
    port: int
    devices: int
    site: str = "sim"
    duration_s: float | None = None  #: None: until stopped
    health_interval_s: float = 10.0
    metrics_interval_s: float = 30.0
    events_per_min: float = 1.0  #: exam events per device per minute
    threads: int = 2
    keepalive_s: int = 60
    tls: tuple[str, str, str] | None = None  #: (CA file, client certificate, key) for every device


@dataclass(frozen=True, kw_only=True)
class SimulationReport:
    devices: int
    connected: int  #: devices that got a CONNACK
    published: int  #: messages handed to the sockets
    completed: int  #: publications paho completed: QoS 0 written to the socket, QoS 1 acknowledged by the broker
    seconds: float
    rss_mb: float  #: the simulator's resident memory at the end


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class _Device:
    def __init__(self, settings: SimulationSettings, index: int) -> None:
        self.name = f"sim-{index:05d}"
        self.base = f"mammoedge/v1/{settings.site}/{self.name}"
        self.settings = settings
        self.ever_connected = False
        self.published = self.completed = 0  # only its shard thread writes these
        self.rng = random.Random(index)
        self.queue_depth = 0
        self.exams = self.flags = 0
        self.started_at = time.time()
        self.connected = False
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.name, protocol=mqtt.MQTTv5)
        self.client.will_set(f"{self.base}/status", self._status("offline"), qos=1, retain=True)
        if settings.tls is not None:
            ca_file, cert_file, key_file = settings.tls
            self.client.tls_set(ca_certs=ca_file, certfile=cert_file, keyfile=key_file)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish

    def _status(self, state: str) -> bytes:
        return build("status", state=state, software_version=__version__, models=dict(MODELS), devices=["openvino:CPU"])

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("%s refused: %s", self.name, reason_code)
            return
        self.connected = self.ever_connected = True
        self.publish("status", self._status("online"), qos=1, retain=True)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self.completed += 1

    def publish(self, kind: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        info = self.client.publish(f"{self.base}/{kind}", payload, qos=qos, retain=retain)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self.published += 1

    def health(self) -> None:
        self.queue_depth = max(0, self.queue_depth + self.rng.choice((-1, 0, 0, 1)))
        self.publish("health", build("health", cpu_percent=round(self.rng.uniform(5, 60), 1),
                                     memory_used_percent=round(self.rng.uniform(20, 70), 1),
                                     disk_free_mb=round(self.rng.uniform(2e4, 9e4), 1), queue_depth=self.queue_depth,
                                     oldest_waiting_s=None, last_exam_age_s=None, errors={}, devices=["openvino:CPU"],
                                     events_dropped=0, outbox_backlog=0, exams_failed=0, device_fallback=False,
                                     uptime_s=round(time.time() - self.started_at, 1), restarts=0,
                                     unclean_restarts=0), retain=True)

    def metrics(self, uptime_s: float, interval_s: float) -> None:
        p50 = round(self.rng.uniform(2.0, 4.0), 3)
        window = {"exams_analyzed": self.exams, "flags_raised": self.flags, "exams_failed": 0, "rejects": {},
                  "latency_s": {"total": {"p50": p50, "p90": round(p50 * 1.4, 3), "p99": round(p50 * 2, 3),
                                          "n": self.exams}} if self.exams else {}}
        self.publish("metrics", build("metrics", interval_s=round(interval_s, 3), uptime_s=round(uptime_s, 3),
                                      counting_since=round(self.started_at, 3), interval=window, since_start=window),
                     retain=True)

    def event(self) -> None:
        flag = self.rng.random() < 0.1
        self.exams += 1
        self.flags += flag
        self.publish("event", event_payload(ExamEvent(
            study_key=secrets.token_hex(16), flag=flag, clusters_by_birads={"4B": 1} if flag else {},
            models=dict(MODELS), latency_s={"total": round(self.rng.uniform(2.0, 4.0), 3)})), qos=1)


class _Shard(threading.Thread):
    """Drives a share of the devices: socket I/O through one selector, publications from a time heap."""

    def __init__(self, devices: list[_Device], settings: SimulationSettings, stop: threading.Event) -> None:
        super().__init__(name=f"sim-shard-{devices[0].name}", daemon=True)
        self.devices, self.settings, self.stop = devices, settings, stop
        self.selector = selectors.DefaultSelector()
        self.started = time.monotonic()

    def _connect(self, device: _Device) -> None:
        device.client.connect(self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s)
        self.selector.register(device.client.socket(), selectors.EVENT_READ, device)

    def run(self) -> None:
        s, rng = self.settings, random.Random(len(self.devices))
        due: list[tuple[float, int, str]] = []
        for i, device in enumerate(self.devices):
            try:
                self._connect(device)
            except OSError as exc:
                log.warning("%s could not connect: %s", device.name, exc)
                continue
            now = time.monotonic()
            heapq.heappush(due, (now + rng.uniform(0, s.health_interval_s), i, "health"))
            heapq.heappush(due, (now + rng.uniform(0, s.metrics_interval_s), i, "metrics"))
            if s.events_per_min > 0:
                heapq.heappush(due, (now + rng.expovariate(s.events_per_min / 60), i, "event"))
        next_misc = time.monotonic() + 1.0
        while not self.stop.is_set():
            timeout = max(0.0, min(0.2, (due[0][0] - time.monotonic()) if due else 0.2))
            for key, _ in self.selector.select(timeout):
                device = key.data
                if device.client.loop_read() != mqtt.MQTT_ERR_SUCCESS:
                    self._drop(device)
            now = time.monotonic()
            while due and due[0][0] <= now:
                _, i, kind = heapq.heappop(due)
                device = self.devices[i]
                if device.connected:
                    if kind == "health":
                        device.health()
                    elif kind == "metrics":
                        device.metrics(now - self.started, s.metrics_interval_s)
                    else:
                        device.event()
                step = {"health": s.health_interval_s, "metrics": s.metrics_interval_s}.get(kind)
                heapq.heappush(due, (now + (step if step else rng.expovariate(s.events_per_min / 60)), i, kind))
            for device in self.devices:
                if device.connected and device.client.want_write():
                    device.client.loop_write()
            if now >= next_misc:
                next_misc = now + 1.0
                for device in self.devices:
                    if device.connected:
                        device.client.loop_misc()
        self._finish()

    def _drop(self, device: _Device) -> None:
        log.warning("%s lost its connection", device.name)
        device.connected = False
        try:
            self.selector.unregister(device.client.socket())
        except (KeyError, ValueError, TypeError):
            pass

    def _finish(self) -> None:
        """Clean end: ``offline`` (retained) for each device, then disconnect."""
        for device in self.devices:
            if device.connected:
                device.publish("status", device._status("offline"), qos=1, retain=True)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and any(d.connected and d.client.want_write() for d in self.devices):
            for device in self.devices:
                if device.connected and device.client.want_write():
                    device.client.loop_write()
            for key, _ in self.selector.select(0.05):
                key.data.client.loop_read()
        for device in self.devices:
            if device.connected:
                device.client.disconnect()
                device.client.loop_write()
        self.selector.close()


def _report(devices: list[_Device], started: float) -> SimulationReport:
    return SimulationReport(devices=len(devices), connected=sum(d.ever_connected for d in devices),
                            published=sum(d.published for d in devices),
                            completed=sum(d.completed for d in devices),
                            seconds=round(time.monotonic() - started, 2), rss_mb=round(rss_mb(), 1))


def simulate(settings: SimulationSettings, stop: threading.Event | None = None,
             progress: Callable[[SimulationReport], None] | None = None, progress_every_s: float = 5.0
             ) -> SimulationReport:
    """Run the devices until ``duration_s`` passes or ``stop`` is set; the report counts what happened."""
    stop = stop or threading.Event()
    devices = [_Device(settings, i) for i in range(settings.devices)]
    threads = max(1, min(settings.threads, settings.devices))
    shards = [_Shard(devices[i::threads], settings, stop) for i in range(threads)]
    started = time.monotonic()
    end = None if settings.duration_s is None else started + settings.duration_s
    for shard in shards:
        shard.start()
    try:
        while not stop.is_set() and (end is None or time.monotonic() < end):
            step = progress_every_s if end is None else max(0.0, min(progress_every_s, end - time.monotonic()))
            if stop.wait(step):
                break
            if progress is not None:
                progress(_report(devices, started))
    finally:
        stop.set()
        for shard in shards:
            shard.join(10)
    return _report(devices, started)
