"""Two real mosquitto brokers bridged on 127.0.0.1 (site -> relay -> central), a relay that can cut the link,
and counting collectors, for the bridge test and its benchmark."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from mammoedge.tools.fleet.bridge import BridgeSettings, render
from mammoedge.tools.fleet.monitor import TOPIC_FILTER, FleetState
from mqtt_helpers import RECORDED, free_port


class Mosquitto:
    """A mosquitto process from a config file; ``kill`` (SIGKILL) or ``stop`` (SIGTERM: persistence saved)."""

    def __init__(self, conf: Path, port: int, log: Path) -> None:
        self.conf, self.port, self.log, self.proc = conf, port, log, None

    def start(self) -> Mosquitto:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-1500:]}") from None
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


class Relay(threading.Thread):
    """A TCP relay 127.0.0.1:port -> 127.0.0.1:target; ``cut()`` drops every connection and refuses new ones
    (a WAN outage between site and centre), ``restore()`` lets them through again."""

    def __init__(self, target: int) -> None:
        super().__init__(daemon=True, name="relay")
        self.target, self.port = target, free_port()
        self.server = socket.create_server(("127.0.0.1", self.port))
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.server, selectors.EVENT_READ, None)
        self.pairs: dict[socket.socket, socket.socket] = {}
        self.open, self.running, self.lock = True, True, threading.Lock()

    def run(self) -> None:
        while self.running:
            for key, _ in self.selector.select(0.1):
                if key.data is None:
                    client, _ = self.server.accept()
                    if not self.open:
                        client.close()
                        continue
                    try:
                        upstream = socket.create_connection(("127.0.0.1", self.target), timeout=2)
                    except OSError:
                        client.close()
                        continue
                    with self.lock:
                        self.pairs[client], self.pairs[upstream] = upstream, client
                    self.selector.register(client, selectors.EVENT_READ, "pipe")
                    self.selector.register(upstream, selectors.EVENT_READ, "pipe")
                    continue
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                with self.lock:
                    peer = self.pairs.get(sock)
                if not data or peer is None:
                    self._close(sock)
                    continue
                try:
                    peer.sendall(data)
                except OSError:
                    self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self.lock:
            peer = self.pairs.pop(sock, None)
            if peer is not None:
                self.pairs.pop(peer, None)
        for s in (sock, peer):
            if s is None:
                continue
            try:
                self.selector.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()

    def cut(self) -> None:
        self.open = False
        with self.lock:
            socks = list(self.pairs)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.running = False
        self.cut()


class Collector:
    """A persistent-session subscriber (clean session off, fixed id) feeding ``FleetState`` and counting events
    by ``message_id``; it reconnects by itself when its broker restarts."""

    def __init__(self, port: int, client_id: str) -> None:
        self.state, self.lock = FleetState(), threading.Lock()
        self.events: dict[str, int] = {}  # message_id -> deliveries
        self.messages = 0
        self.sizes: dict[str, list[int]] = {}  # kind -> [messages, payload bytes]
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                                  protocol=mqtt.MQTTv311)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(TOPIC_FILTER, qos=1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the collector was not subscribed"

    def _on_message(self, client, userdata, message) -> None:
        payload = bytes(message.payload)
        RECORDED.append((message.topic, payload))
        self.state.apply(message.topic, payload, retained=message.retain, received_at=time.time())
        with self.lock:
            self.messages += 1
            size = self.sizes.setdefault(message.topic.split("/", 4)[-1], [0, 0])
            size[0], size[1] = size[0] + 1, size[1] + len(payload)
            if message.topic.endswith("/event"):
                try:
                    key = json.loads(payload)["message_id"]
                except (ValueError, KeyError):
                    return
                self.events[key] = self.events.get(key, 0) + 1

    def event_ids(self) -> set[str]:
        with self.lock:
            return set(self.events)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def central_conf(tmp: Path) -> tuple[Path, int]:
    port = free_port()
    (tmp / "central").mkdir(exist_ok=True)
    conf = tmp / "central.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    f"persistence_location {tmp / 'central'}/\nautosave_interval 60\nmax_queued_messages 1000000\n"
                    "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n")
    return conf, port


def site_conf(tmp: Path, remote_port: int, site: str) -> tuple[Path, int, str]:
    """The site broker's configuration as ``mammoedge fleet bridge-config`` renders it, reconnecting after 1-2 s."""
    port = free_port()
    (tmp / "site").mkdir(exist_ok=True)
    settings = BridgeSettings(site=site, remote_host="127.0.0.1", remote_port=remote_port, listen_address="127.0.0.1",
                              listen_port=port, persistence_dir=tmp / "site", restart_timeout=(1, 2), keepalive_s=5,
                              allow_anonymous=True)
    conf = tmp / "site.conf"
    conf.write_text(render(settings) + "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n")
    return conf, port, f"mammoedge-{site}"


def wait_until(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def bridge_state(port: int, remote_clientid: str, timeout: float = 15.0) -> str | None:
    """The bridge's retained notification (``1`` connected, ``0`` not) as the central broker holds it."""
    got: list[str] = []
    done = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"probe-{os.getpid()}-{time.monotonic_ns()}")

    def on_message(c, u, message):
        got.append(message.payload.decode())
        done.set()

    client.on_message = on_message
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"$SYS/broker/connection/{remote_clientid}/state", qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(timeout)
    client.loop_stop()
    client.disconnect()
    return got[-1] if got else None
