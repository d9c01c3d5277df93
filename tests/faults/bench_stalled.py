"""Figures for docs/reliability.md: a good C-ECHO and C-STORE (dcmtk) while N stalled or idle connections are open.

    .venv/bin/python tests/faults/bench_stalled.py [N] [ROUNDS]

Half of the N connections send the first 95 bytes of echoscu's A-ASSOCIATE-RQ and stall, half send nothing,
from N/2 loopback addresses (127.0.0.2, ...). Each round opens them, waits 0.5 s, times echoscu and storescu
(one 400x320 instance) from 127.0.0.1, then closes them. Prints JSON.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "runtime" / "intake"))
import time

import test_stalled_associations as t


def main(count: int, rounds: int) -> dict[str, object]:
    rq = t.association_rq.__wrapped__()  # type: ignore[attr-defined]
    echo_s: list[float] = []
    store_s: list[float] = []
    ok = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        instance = t._instance(root)
        for receiver in t._receiver(root):
            for _ in range(rounds):
                socks = [t._stall(receiver.port, f"127.0.0.{2 + i // 2}", rq[:95] if i % 2 else b"")
                         for i in range(count)]
                time.sleep(0.5)
                echo, e = t._echo(receiver.port)
                store, s = t._store(receiver.port, instance)
                ok += echo.returncode == 0 and store.returncode == 0
                echo_s.append(e)
                store_s.append(s)
                for sock in socks:
                    sock.close()
                time.sleep(0.2)
    return {"connections": count, "rounds": rounds, "both_succeeded": ok,
            "echo_s": {"median": round(statistics.median(echo_s), 3), "max": round(max(echo_s), 3)},
            "store_s": {"median": round(statistics.median(store_s), 3), "max": round(max(store_s), 3)}}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50,
                          int(sys.argv[2]) if len(sys.argv) > 2 else 10), indent=1))
