"""``mammoedge status``: queue depth, last exam, errors and versions of the service."""

from __future__ import annotations

import argparse
import json
import time

from ..config import Config
from ..service.health import health_snapshot


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the health snapshot as JSON")


def _when(epoch: float | None) -> str:
    return "never" if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def run(args: argparse.Namespace, config: Config) -> int:
    snap = health_snapshot(config)
    if args.json:
        print(json.dumps(snap.as_dict(), indent=1, sort_keys=True))
        return 0
    oldest = "-" if snap.oldest_waiting_s is None else f"{snap.oldest_waiting_s:.0f} s"
    print(f"queue depth: {snap.queue_depth} (oldest waiting {oldest})")
    print("exams: " + (", ".join(f"{k} {v}" for k, v in sorted(snap.exams_by_state.items())) or "none"))
    print(f"instances: {snap.instances}")
    print(f"last exam: {_when(snap.last_exam_at)}")
    print("errors: " + (", ".join(f"{k} {v}" for k, v in sorted(snap.errors_by_reason.items())) or "none"))
    for name, states in sorted(snap.forward.items()):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "nothing queued"
        reason = snap.forward_reasons.get(name)
        print(f"forward {name}: {counts}" + (f" (last problem: {reason})" if reason else ""))
    print("versions: " + ", ".join(f"{k} {v}" for k, v in snap.versions.items()))
    return 0
