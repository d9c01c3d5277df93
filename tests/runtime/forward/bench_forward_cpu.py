"""Benchmark: CPU and wall seconds of the forward path for one exam: build + write its DICOM results, then
queue and C-STORE them to a real Orthanc, repeated; with bytes sent and associations used.

    .venv/bin/python tests/runtime/forward/bench_forward_cpu.py [--size full|small] [--repeat 3]

A phantom exam (the demo's seed, hologic profile) through the real exam pipeline; its normalized views are
handed to the SCs as the service does. CPU time (``time.process_time``: this process, all its threads,
pynetdicom's included; Orthanc's own CPU is not) does not depend on what else the machine runs; wall time
does. Run it with another checkout's interpreter (``/work/main/.venv/bin/python``) to compare code versions
in the same conditions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))
from pacs_helpers import Orthanc, analyse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("small", "full"), default="full")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from mammoedge.runtime.config import DestinationConfig, ForwardConfig
    from mammoedge.runtime.dicom_results import write_exam_dicom
    from mammoedge.runtime.forward import Sender, SendQueue, enqueue_results
    from mammoedge.tools.demo import DEMO_SEED
    from mammoedge.tools.phantom import make_exam

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_exam(root / "exam", seed=DEMO_SEED, profile="hologic", size=args.size, normal_fraction=0.0)
        paths = sorted((root / "exam").glob("*.dcm"))
        exam = analyse(paths)
        (root / "orthanc").mkdir()
        orthanc = Orthanc(root / "orthanc").start()
        try:
            config = ForwardConfig(destinations=(DestinationConfig(name="pacs", ae_title="ORTHANC", host="127.0.0.1",
                                                                   port=orthanc.dicom_port),),
                                   calling_ae_title="MAMMOEDGE")
            for i in range(args.repeat):
                c, w = time.process_time(), time.perf_counter()
                written = write_exam_dicom(exam.result, exam.images, paths, root / f"out{i}")
                build_cpu, build_wall = time.process_time() - c, time.perf_counter() - w
                queue = SendQueue(root / f"forward{i}.sqlite")
                enqueue_results(queue, config, exam.result.study_key, [(item.kind, p) for item, p in written])
                sender = Sender(config, queue)
                c, w = time.process_time(), time.perf_counter()
                tally = sender.send_due(config.destinations[0])
                send_cpu, send_wall = time.process_time() - c, time.perf_counter() - w
                queue.close()
                rows.append({"objects": len(written), "delivered": int(tally[next(iter(tally))]),
                             "mb": round(sum(p.stat().st_size for _, p in written) / 1e6, 2),
                             "build_cpu_s": build_cpu, "build_wall_s": build_wall, "send_cpu_s": send_cpu,
                             "send_wall_s": send_wall, "associations": getattr(sender, "associations", None)})
        finally:
            orthanc.stop()
    keys = ("build_cpu_s", "build_wall_s", "send_cpu_s", "send_wall_s")
    print(json.dumps({"size": args.size, "repeat": args.repeat, "objects": rows[-1]["objects"], "mb": rows[-1]["mb"],
                      **{f"{k}_median": round(statistics.median(r[k] for r in rows), 3) for k in keys},
                      "per_repeat": [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}
                                     for r in rows]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
