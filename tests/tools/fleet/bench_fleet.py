"""Benchmark: N simulated devices against a local mosquitto; delivered messages/s, broker CPU, simulator RSS.

    .venv/bin/python tests/tools/fleet/bench_fleet.py [--devices 1000] [--duration 60] \
        [--health-interval 10] [--metrics-interval 30] [--rate 1]

A counting subscriber on ``mammoedge/v1/#`` measures delivery once every device
is online (steady window); broker and simulator CPU come from
/proc/<pid>/stat (utime + stime) over the same window; ``mammoedge fleet monitor
--json --once`` must then see every device online.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).parents[2]))
from mqtt_helpers import Broker

from mammoedge.tools.fleet.monitor import DeviceState, FleetState

MAMMOEDGE = Path(sys.executable).parent / "mammoedge"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60.0, help="steady-state seconds measured")
    parser.add_argument("--health-interval", type=float, default=10.0)
    parser.add_argument("--metrics-interval", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=1.0, help="events per device per minute")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(Path(tmp)).start()
        state, count, lock = FleetState(), [0], threading.Lock()

        def on_message(client, userdata, message):
            state.apply(message.topic, message.payload)
            with lock:
                count[0] += 1

        counter = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-counter", protocol=mqtt.MQTTv5)
        counter.on_message = on_message
        counter.on_connect = lambda c, u, f, rc, p: c.subscribe("mammoedge/v1/#", qos=1)
        counter.connect("127.0.0.1", broker.port)
        counter.loop_start()
        started = time.monotonic()
        sim = subprocess.Popen([str(MAMMOEDGE), "fleet", "simulate", "--devices", str(args.devices), "--port",
                                str(broker.port), "--health-interval", str(args.health_interval), "--metrics-interval",
                                str(args.metrics_interval), "--rate", str(args.rate), "--threads", str(args.threads),
                                "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            while sum(r.state is DeviceState.ONLINE for r in state.rows()) < args.devices:
                if time.monotonic() - started > 120 or sim.poll() is not None:
                    raise SystemExit("not every device came online")
                time.sleep(0.2)
            connect_s = time.monotonic() - started
            time.sleep(min(args.health_interval, 10.0))  # let the periodic schedule settle
            t0, n0, b0, s0 = time.monotonic(), count[0], cpu_seconds(broker.proc.pid), cpu_seconds(sim.pid)
            time.sleep(args.duration)
            t1, n1, b1, s1 = time.monotonic(), count[0], cpu_seconds(broker.proc.pid), cpu_seconds(sim.pid)
            sim_rss, broker_rss = rss_mb(sim.pid), rss_mb(broker.proc.pid)
            out = subprocess.run([str(MAMMOEDGE), "fleet", "monitor", "--port", str(broker.port), "--json", "--once",
                                  "--timeout", "5"], capture_output=True, text=True, check=True)
            seen = json.loads(out.stdout)["devices_by_state"]
            sim.send_signal(signal.SIGINT)
            report = json.loads(sim.communicate(timeout=60)[0].strip().splitlines()[-1])
        finally:
            sim.kill()
            counter.loop_stop()
            broker.stop()
    wall = t1 - t0
    print(json.dumps({
        "devices": args.devices, "all_online_after_s": round(connect_s, 1), "measured_s": round(wall, 1),
        "delivered_per_s": round((n1 - n0) / wall, 1),
        "broker_cpu_percent": round(100 * (b1 - b0) / wall, 1), "broker_rss_mb": round(broker_rss, 1),
        "simulator_cpu_percent": round(100 * (s1 - s0) / wall, 1), "simulator_rss_mb": round(sim_rss, 1),
        "monitor_saw": seen, "simulator_report": report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
