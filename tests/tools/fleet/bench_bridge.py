"""Benchmark: N simulated devices on a site mosquitto bridged to a central one (the configuration of
``mammoedge fleet bridge-config``); delivered messages/s at the centre, broker CPU, and the events counted
through an outage of the link.

    .venv/bin/python tests/tools/fleet/bench_bridge.py [--devices 1000] [--duration 30] [--outage 10] \
        [--outage-kind cut|central-term|central-kill] [--health-interval 10] [--metrics-interval 30] [--rate 1]

A persistent subscriber at the centre and one at the site count every message and every event by message id;
the steady window starts once every device is online at the centre. Then the outage: ``cut`` drops the link
(a relay between the brokers refuses it), ``central-term`` stops the central broker with SIGTERM (it saves its
sessions), ``central-kill`` with SIGKILL; after ``--outage`` seconds it is restored and the benchmark waits for the
centre to hold every event the site saw (or 60 s; at the end 120 s), then reports lost and repeated events.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[2]))
from bridge_helpers import Collector, Mosquitto, Relay, bridge_state, central_conf, site_conf, wait_until

from mammoedge.tools.fleet.monitor import DeviceState

MAMMOEDGE = Path(sys.executable).parent / "mammoedge"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=30.0, help="steady-state seconds measured")
    parser.add_argument("--outage", type=float, default=10.0, help="seconds the link or central broker is away")
    parser.add_argument("--outage-kind", choices=("cut", "central-term", "central-kill"), default="cut")
    parser.add_argument("--direct", action="store_true",
                        help="the site bridges straight to the central broker (no relay; not with --outage-kind cut)")
    parser.add_argument("--health-interval", type=float, default=10.0)
    parser.add_argument("--metrics-interval", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=1.0, help="events per device per minute")
    args = parser.parse_args()
    if args.direct and args.outage_kind == "cut":
        parser.error("--direct needs an outage of the central broker (--outage-kind central-term|central-kill)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        conf, central_port = central_conf(tmp)
        central = Mosquitto(conf, central_port, tmp / "central.log").start()
        relay = Relay(central_port)
        relay.start()
        conf, site_port, bridge_id = site_conf(tmp, central_port if args.direct else relay.port, "bench")
        site = Mosquitto(conf, site_port, tmp / "site.log").start()
        assert wait_until(lambda: bridge_state(central_port, bridge_id, 2) == "1", 20)
        centre, at_site = Collector(central_port, "bench-centre"), Collector(site_port, "bench-site")
        started = time.monotonic()
        sim = subprocess.Popen([str(MAMMOEDGE), "fleet", "simulate", "--devices", str(args.devices), "--port",
                                str(site_port), "--site", "bench", "--health-interval", str(args.health_interval),
                                "--metrics-interval", str(args.metrics_interval), "--rate", str(args.rate), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            online = lambda: sum(r.state is DeviceState.ONLINE for r in centre.state.rows())  # noqa: E731
            if not wait_until(online_all := (lambda: online() == args.devices), 120, 0.2):
                raise SystemExit(f"only {online()} of {args.devices} online at the centre")
            all_online_s = time.monotonic() - started
            time.sleep(min(args.health_interval, 10.0))
            t0, m0, s0 = time.monotonic(), centre.messages, at_site.messages
            c0, k0 = central.cpu_seconds(), site.cpu_seconds()
            time.sleep(args.duration)
            t1, m1, s1 = time.monotonic(), centre.messages, at_site.messages
            c1, k1 = central.cpu_seconds(), site.cpu_seconds()
            rss = {"central_rss_mb": round(central.rss_mb(), 1), "site_rss_mb": round(site.rss_mb(), 1)}

            before = len(at_site.event_ids())
            if args.outage_kind == "cut":
                relay.cut()
            else:
                central.stop(signal.SIGTERM if args.outage_kind == "central-term" else signal.SIGKILL)
            time.sleep(args.outage)
            during = len(at_site.event_ids()) - before
            restored = time.monotonic()
            if args.outage_kind == "cut":
                relay.restore()
            else:
                central.start()
            wait_until(lambda: bridge_state(central_port, bridge_id, 1) == "1", 60, 0.1)
            bridge_up_s = time.monotonic() - restored
            sent = at_site.event_ids()
            caught_up = wait_until(lambda: sent <= centre.event_ids(), 60, 0.1)
            drain_s = time.monotonic() - restored
            still_online = online_all()
            sim.send_signal(signal.SIGINT)
            report = json.loads(sim.communicate(timeout=60)[0].strip().splitlines()[-1])
            final, stopped = at_site.event_ids(), time.monotonic()
            wait_until(lambda: final <= centre.event_ids(), 120, 0.1)
            final_catch_up_s = time.monotonic() - stopped
            lost = len(final - centre.event_ids())
            repeats = sum(n - 1 for n in centre.events.values() if n > 1)
        finally:
            sim.kill()
            centre.close()
            at_site.close()
            relay.close()
            site.stop()
            central.stop()
    wall = t1 - t0
    print(json.dumps({
        "devices": args.devices, "all_online_at_centre_after_s": round(all_online_s, 1), "measured_s": round(wall, 1),
        "delivered_per_s_centre": round((m1 - m0) / wall, 1), "delivered_per_s_site": round((s1 - s0) / wall, 1),
        "central_cpu_percent": round(100 * (c1 - c0) / wall, 1), "site_cpu_percent": round(100 * (k1 - k0) / wall, 1),
        **rss, "outage": args.outage_kind, "relay": not args.direct, "outage_s": args.outage, "events_during_outage": during,
        "caught_up": caught_up, "bridge_up_after_s": round(bridge_up_s, 1),
        "catch_up_s": round(drain_s, 1), "all_online_after_outage": still_online,
        "events_at_site": len(final),
        "final_catch_up_s": round(final_catch_up_s, 1), "events_lost_at_centre": lost, "events_repeated_at_centre": repeats,
        "payload_bytes_by_kind": {k: round(b / n) for k, (n, b) in sorted(centre.sizes.items())},
        "simulator_report": report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
