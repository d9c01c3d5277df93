"""Benchmark: a burst of exams from several storescu processes; latency from last instance to result.

    .venv/bin/python tests/runtime/service/bench_service.py [--exams 20] [--senders 4] [--workers 2]

Latency per exam = result written (exams.finished_at) - last instance durably received
(max instances.received_at), both from the service's queue database.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from service_helpers import Served, clone_exams


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exams", type=int, default=20)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sequential", action="store_true",
                        help="one exam at a time, each after the previous result (latency without queueing)")
    args = parser.parse_args()
    from mammoedge.tools.phantom import make_exam

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_exam(root / "phantom", seed=7, size="small")
        exams = clone_exams(root / "phantom", root / "src", args.exams)
        served = Served(root / "serve", options={"workers": args.workers, "max_associations": 16}).start()
        try:
            t0 = time.monotonic()
            if args.sequential:
                for n, exam in enumerate(exams, 1):
                    subprocess.run(["storescu", "-aec", "MAMMOEDGE", "127.0.0.1", str(served.port),
                                    *map(str, exam)], check=True)
                    served.wait_results(n, timeout=120)
            senders = [] if args.sequential else [
                subprocess.Popen(["storescu", "-aec", "MAMMOEDGE", "127.0.0.1", str(served.port),
                                  *[str(f) for exam in exams[i::args.senders] for f in exam]])
                for i in range(args.senders)]
            for sender in senders:
                sender.wait()
            served.wait_results(args.exams, timeout=600)
            wall = time.monotonic() - t0
            db = sqlite3.connect(served.state / "queue.sqlite")
            rows = db.execute("SELECT e.finished_at - MAX(i.received_at) FROM exams e JOIN instances i "
                              "USING (study_key) WHERE e.state='done' GROUP BY e.study_key").fetchall()
        finally:
            served.terminate()
    latencies = sorted(r[0] for r in rows)
    mode = "sequential" if args.sequential else f"burst from {args.senders} storescu processes"
    print(f"{mode}: exams {len(latencies)}, workers {args.workers}, wall {wall:.1f} s")
    print(f"last instance -> result: median {statistics.median(latencies):.2f} s, "
          f"p90 {latencies[int(0.9 * (len(latencies) - 1))]:.2f} s, max {latencies[-1]:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
