"""A/B of the service path (``bench_service.measure``) between variants, alternating in one sitting.

A variant is ``NAME=TREE[:VAR=VALUE...]``: a source tree with its own ``.venv`` (e.g. a git worktree of the base
commit) and environment settings (``MAMMOEDGE__SERVICE__MAX_PDU_BYTES=16382``,
``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304``). Each round runs every variant once, so a drift of the
machine's load falls on all of them; compare the per-variant medians. Used for the figures in docs/bench.md:

    python -m mammoedge.tools.bench_ab --rounds 3 base=/work/wt-base new=.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

MEASURE = ("import json, sys; from pathlib import Path; from mammoedge.tools.bench_service import measure; "
           "m = measure(Path(sys.argv[1]), repeats=int(sys.argv[2]), burst=int(sys.argv[3]), senders=4); "
           "print(json.dumps(m))")
COLUMNS = {"flag s": lambda m: m["last_ack_to_flag_s"]["median"],
           "all outputs s": lambda m: m["last_ack_to_all_outputs_s"]["median"],
           "burst exams/hour": lambda m: m["burst"]["exams_per_hour"],
           "lost/duplicated": lambda m: f"{m['burst']['lost']}/{m['burst']['duplicated']}",
           "peak RSS MB": lambda m: m["peak_rss_mb"], "CPU s/exam": lambda m: m["cpu_s_per_exam"],
           "burst CPU s/exam": lambda m: m["burst"]["cpu_s_per_exam"]}


def parse_variant(text: str) -> tuple[str, Path, dict[str, str]]:
    name, _, rest = text.partition("=")
    tree, *settings = rest.split(":")
    if not name or not tree:
        raise argparse.ArgumentTypeError(f"variant {text!r}: NAME=TREE[:VAR=VALUE...]")
    env = dict(s.split("=", 1) for s in settings)
    return name, Path(tree).resolve(), env


def run(tree: Path, env: dict[str, str], exam: Path, repeats: int, burst: int) -> dict[str, Any]:
    out = subprocess.run([str(tree / ".venv/bin/python"), "-c", MEASURE, str(exam), str(repeats), str(burst)],
                         cwd=tree, env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", type=parse_variant, help="NAME=TREE[:VAR=VALUE...]")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="one-at-a-time exams per run")
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--exam", type=Path, help="a four-view exam folder (default: the bench's 3328x4096 exam)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        exam = args.exam
        if exam is None:
            from .bench import EXAMS, make_bench_exam

            exam = make_bench_exam(Path(tmp) / "exam", EXAMS["3328x4096 uncompressed"])
        rows: dict[str, list[dict[str, Any]]] = {}
        print("| round | variant | load before | " + " | ".join(COLUMNS) + " |")
        print("|---" * (len(COLUMNS) + 3) + "|")
        for round_ in range(1, args.rounds + 1):
            for name, tree, env in args.variants:
                load = os.getloadavg()[0]
                m = run(tree, env, exam, args.repeats, args.burst)
                rows.setdefault(name, []).append(m)
                print(f"| {round_} | {name} | {load:.1f} | " + " | ".join(str(f(m)) for f in COLUMNS.values()) + " |",
                      flush=True)
    print("\nMedians over the rounds:\n")
    numeric = {k: f for k, f in COLUMNS.items() if k != "lost/duplicated"}
    print("| variant | " + " | ".join(numeric) + " |")
    print("|---" * (len(numeric) + 1) + "|")
    for name, runs in rows.items():
        print(f"| {name} | " + " | ".join(f"{statistics.median(f(m) for m in runs):g}" for f in numeric.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
