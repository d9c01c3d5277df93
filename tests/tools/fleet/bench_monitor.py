"""Benchmark: how fast the monitor folds messages (schema check included), as at a subscription to 1000 boxes.

    .venv/bin/python tests/tools/fleet/bench_monitor.py [--devices 1000]

Builds a retained status, health and metrics message per device with the real serializer and times
``FleetState.apply`` over all of them (the schemas' first compilation included).
"""

from __future__ import annotations

import argparse
import json
import time

from mammoedge.runtime.telemetry.payloads import build
from mammoedge.tools.fleet.monitor import FleetState


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    args = parser.parse_args()
    window = {"exams_analyzed": 1, "flags_raised": 0, "exams_failed": 0, "rejects": {},
              "latency_s": {"total": {"p50": 1.0, "p90": 1.5, "p99": 2.0, "n": 1}}}
    messages = []
    for i in range(args.devices):
        base = f"mammoedge/v1/sim/sim-{i:05d}"
        messages += [
            (f"{base}/status", build("status", state="online", software_version="0.1.0", models={"m": "1"})),
            (f"{base}/health", build("health", cpu_percent=1.0, memory_used_percent=1.0, disk_free_mb=1.0,
                                     queue_depth=1, errors={}, devices=["openvino:CPU"])),
            (f"{base}/metrics", build("metrics", interval_s=1.0, uptime_s=1.0, counting_since=1.0, interval=window,
                                      since_start=window)),
        ]
    state = FleetState()
    started = time.perf_counter()
    for topic, payload in messages:
        state.apply(topic, payload, retained=True)
    seconds = time.perf_counter() - started
    rows = state.rows()
    print(json.dumps({"messages": len(messages), "seconds": round(seconds, 3),
                      "per_s": round(len(messages) / seconds), "devices": len(rows), "ignored": state.ignored}))


if __name__ == "__main__":
    main()
