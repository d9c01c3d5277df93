"""``mammoedge fleet monitor|simulate``: watch every device on a broker, or load-test it with synthetic devices."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from mammoedge.runtime.errors import MammoedgeError

from .bridge import BridgeSettings, render
from .monitor import SILENT_AFTER_S, TOPIC_FILTER, FleetState, as_json, as_table, matches
from .simulate import SimulationSettings, simulate


class FleetError(MammoedgeError):
    """The broker could not be reached or refused us, or an option is out of range."""


def _broker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="broker host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=1883, help="broker port (default 1883)")
    parser.add_argument("--ca-file", help="CA certificate: use TLS and verify the broker")
    parser.add_argument("--cert-file", help="client certificate (TLS client authentication)")
    parser.add_argument("--key-file", help="client private key")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)
    monitor = sub.add_parser("monitor", help="every device, problems first: state, last seen, health, latency, flags "
                                             "(a terminal UI; --once for a one-shot table or JSON)")
    _broker_options(monitor)
    monitor.add_argument("--json", action="store_true", help="print a JSON document (implies --once)")
    monitor.add_argument("--once", action="store_true", help="listen for --timeout seconds, print once, exit")
    monitor.add_argument("--timeout", type=float, default=5.0, help="seconds to listen with --once (default 5)")
    monitor.add_argument("--refresh", type=float, default=2.0, help="seconds between live refreshes (default 2)")
    monitor.add_argument("--silent-after", type=float, default=SILENT_AFTER_S,
                         help=f"an online device without health for this long is 'silent' (default {SILENT_AFTER_S:g})")
    monitor.add_argument("--filter", default="", help="show only devices matching these words (table and JSON)")
    simulate_parser = sub.add_parser("simulate", help="run N synthetic devices against a broker (load test)")
    _broker_options(simulate_parser)
    simulate_parser.add_argument("--devices", type=int, default=10, help="number of devices (default 10)")
    simulate_parser.add_argument("--site", default="sim", help="site name in their topics (default sim)")
    simulate_parser.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    simulate_parser.add_argument("--rate", type=float, default=1.0,
                                 help="exam events per device per minute (default 1)")
    simulate_parser.add_argument("--health-interval", type=float, default=10.0, help="seconds (default 10)")
    simulate_parser.add_argument("--metrics-interval", type=float, default=30.0, help="seconds (default 30)")
    simulate_parser.add_argument("--threads", type=int, default=2, help="threads driving the clients (default 2)")
    simulate_parser.add_argument("--json", action="store_true", help="print the final report as JSON")
    bridge = sub.add_parser("bridge-config", help="mosquitto.conf for a site broker bridged to the central broker "
                                                  "(persistent, QoS 1; docs/telemetry.md)")
    bridge.add_argument("--site", required=True, help="the site's name in the topic tree (one topic level)")
    bridge.add_argument("--remote-host", required=True, help="central broker host")
    bridge.add_argument("--remote-port", type=int, default=1883, help="central broker port (8883 is usual with TLS)")
    bridge.add_argument("--listen-address", default="0.0.0.0", help="site listener address (default 0.0.0.0)")
    bridge.add_argument("--listen-port", type=int, default=1883, help="site listener port (default 1883)")
    bridge.add_argument("--persistence-dir", default="/var/lib/mosquitto/",
                        help="site broker's persistence directory; 'none' for none (tests)")
    bridge.add_argument("--connection", help="bridge name (default mammoedge-<site>)")
    bridge.add_argument("--remote-clientid", help="client id at the central broker (default: the bridge name)")
    bridge.add_argument("--local-clientid", help="client id at the site broker (default local.<remote client id>)")
    bridge.add_argument("--restart-timeout", type=int, nargs=2, default=(5, 30), metavar=("BASE", "CAP"),
                        help="reconnect backoff, seconds (default 5 30)")
    bridge.add_argument("--keepalive", type=int, default=60, help="bridge keep-alive, seconds (default 60)")
    bridge.add_argument("--max-queued-messages", type=int, default=100_000,
                        help="messages the site broker holds for the cut bridge (default 100000)")
    bridge.add_argument("--remote-username", help="user name at the central broker")
    bridge.add_argument("--remote-password", help="its password (written into the file: protect it)")
    bridge.add_argument("--cafile", help="CA of the central broker: TLS on the bridge")
    bridge.add_argument("--certfile", help="the site's client certificate for the central broker")
    bridge.add_argument("--keyfile", help="its private key")
    bridge.add_argument("--password-file", help="mosquitto_passwd file for the boxes on the site listener")
    bridge.add_argument("--allow-anonymous", action="store_true", help="boxes without user name (closed LAN, tests)")
    bridge.add_argument("--protocol", choices=("mqttv311", "mqttv50"), default="mqttv311",
                        help="bridge protocol (default mqttv311)")
    bridge.add_argument("--out", help="write the file here (default: standard output)")


def run(args: argparse.Namespace, config) -> int:
    if args.fleet_command == "bridge-config":
        return _bridge_config(args)
    return _monitor(args) if args.fleet_command == "monitor" else _simulate(args)


def _bridge_config(args: argparse.Namespace) -> int:
    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    text = render(BridgeSettings(
        site=args.site, remote_host=args.remote_host, remote_port=args.remote_port, listen_address=args.listen_address,
        listen_port=args.listen_port,
        persistence_dir=None if args.persistence_dir.lower() == "none" else Path(args.persistence_dir),
        connection=args.connection, remote_clientid=args.remote_clientid, local_clientid=args.local_clientid,
        restart_timeout=tuple(args.restart_timeout), keepalive_s=args.keepalive,
        max_queued_messages=args.max_queued_messages, remote_username=args.remote_username,
        remote_password=args.remote_password, cafile=path(args.cafile), certfile=path(args.certfile),
        keyfile=path(args.keyfile), allow_anonymous=args.allow_anonymous, password_file=path(args.password_file),
        protocol=args.protocol))
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


def _tls(args: argparse.Namespace) -> tuple[str, str, str] | None:
    return (args.ca_file, args.cert_file, args.key_file) if args.ca_file else None


def _monitor(args: argparse.Namespace) -> int:
    if args.silent_after <= 0 or args.timeout < 0 or args.refresh <= 0:
        raise FleetError("--silent-after and --refresh must be > 0 and --timeout >= 0")
    state = FleetState(silent_after_s=args.silent_after)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"mammoedge-monitor-{os.getpid()}",
                         protocol=mqtt.MQTTv5)
    if args.ca_file:
        client.tls_set(ca_certs=args.ca_file, certfile=args.cert_file, keyfile=args.key_file)
    subscribed = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: None if rc.is_failure else c.subscribe(TOPIC_FILTER, qos=1)
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = lambda c, u, message: state.apply(message.topic, message.payload, retained=message.retain,
                                                          received_at=time.time())
    try:
        client.connect(args.host, args.port, keepalive=30)
    except OSError as exc:
        raise FleetError(f"broker {args.host}:{args.port} cannot be reached: {exc.strerror or exc}") from None
    client.loop_start()
    try:
        if not subscribed.wait(10):
            raise FleetError(f"broker {args.host}:{args.port} did not accept the subscription to {TOPIC_FILTER}")
        if args.once or args.json or not sys.stdout.isatty():
            time.sleep(max(0.0, args.timeout))
            now = time.time()
            rows = [r for r in state.rows(now) if matches(r, args.filter)]
            print(as_json(rows, now, state) if args.json else as_table(rows, now, state), flush=True)
            return 0
        from .tui import run_tui

        run_tui(state, broker=f"{args.host}:{args.port}", refresh_s=max(0.2, args.refresh), filter_text=args.filter)
        return 0
    finally:
        client.loop_stop()
        client.disconnect()


def _simulate(args: argparse.Namespace) -> int:
    if not 1 <= args.devices <= 100_000:
        raise FleetError(f"--devices {args.devices} is out of range; allowed: 1..100000")
    if args.rate < 0 or args.health_interval <= 0 or args.metrics_interval <= 0:
        raise FleetError("--rate must be >= 0 and the intervals > 0")
    settings = SimulationSettings(host=args.host, port=args.port, devices=args.devices, site=args.site,
                                  duration_s=args.duration, health_interval_s=args.health_interval,
                                  metrics_interval_s=args.metrics_interval, events_per_min=args.rate,
                                  threads=args.threads, tls=_tls(args))

    def progress(report) -> None:
        print(f"{report.connected}/{report.devices} connected, {report.published} published, "
              f"{report.completed} completed, {report.seconds:.0f} s", file=sys.stderr, flush=True)

    stop = threading.Event()  # SIGINT/SIGTERM: a clean end (every device says offline), then the report
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    report = simulate(settings, stop=stop, progress=progress)
    if args.json:
        print(json.dumps(dataclasses.asdict(report)))
    else:
        print(f"{report.connected}/{report.devices} devices connected; {report.published} messages published "
              f"({report.published / max(report.seconds, 1e-9):.0f}/s), {report.completed} completed, "
              f"{report.seconds} s, simulator RSS {report.rss_mb} MB")
    return 0 if report.connected == report.devices else 1
