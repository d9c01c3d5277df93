"""Benchmark: phantom exams sent by storescu to ``mammoedge serve``; seconds from each exam's result to all its
DICOM results (CAD SR, summary SR, GSPS, SCs) stored in a real Orthanc.

    .venv/bin/python tests/runtime/forward/bench_serve_orthanc.py [--exams 5] [--size small|full]

Per exam, from the service's own databases: result = ``exams.finished_at`` (queue.sqlite, the result JSON is
written); queued = the deliveries' ``created_at`` (forward.sqlite: objects built and queued); stored = the
last ``delivered_at`` (Orthanc's C-STORE success response). Exams are sent one at a time, each after the
previous one's objects are in Orthanc (``settle_s`` 10: a loaded machine must not split an exam). Orthanc's
instance count is checked at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom

sys.path.insert(0, str(Path(__file__).parents[2]))
from pacs_helpers import Orthanc, free_port

MAMMOEDGE = Path(sys.executable).parent / "mammoedge"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exams", type=int, default=5)
    parser.add_argument("--size", choices=("small", "full"), default="small")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run([str(MAMMOEDGE), "phantom", "--out", str(root / "exams"), "--exams", str(args.exams),
                        "--seed", "11", "--size", args.size, "--normal-fraction", "0", "--vendor", "hologic"],
                       check=True, capture_output=True)
        (root / "orthanc").mkdir()
        orthanc = Orthanc(root / "orthanc").start()
        port = free_port()
        config = root / "service.toml"
        config.write_text(f'[service]\nstate_dir = "{root / "state"}"\nbind_address = "127.0.0.1"\nport = {port}\n'
                          f'settle_s = 10.0\n[forward]\npoll_s = 0.05\n[[forward.destinations]]\nname = "orthanc"\n'
                          f'ae_title = "ORTHANC"\nhost = "127.0.0.1"\nport = {orthanc.dicom_port}\n')
        log = open(root / "serve.log", "ab")
        proc = subprocess.Popen([str(MAMMOEDGE), "--config", str(config), "serve"], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 120
            while subprocess.run(["echoscu", "-aec", "MAMMOEDGE", "127.0.0.1", str(port)], check=False,
                                 capture_output=True).returncode != 0:
                if time.monotonic() > deadline:
                    raise SystemExit("serve did not listen")
                time.sleep(0.2)
            expected = 0
            for exam in sorted((root / "exams").glob("exam_*")):
                files = sorted(exam.glob("*.dcm"))
                sent = subprocess.run(["storescu", "-aec", "MAMMOEDGE", "127.0.0.1", str(port), *map(str, files)],
                                      check=False, capture_output=True, text=True)
                if sent.returncode != 0:
                    raise SystemExit(f"storescu failed: {sent.stderr[-1500:]}")
                headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
                expected += 2 + len({(h.SeriesInstanceUID, h.ImageLaterality) for h in headers}) + len(files)
                deadline = time.monotonic() + 300
                while len(orthanc.instances()) < expected:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"only {len(orthanc.instances())} of {expected} objects in Orthanc")
                    time.sleep(0.05)
            queue = sqlite3.connect(root / "state" / "queue.sqlite")
            forward = sqlite3.connect(root / "state" / "forward.sqlite")
            deadline = time.monotonic() + 30  # Orthanc has them all: wait for the last rows to be marked
            while forward.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'").fetchone()[0] < expected:
                if time.monotonic() > deadline:
                    raise SystemExit("deliveries not all marked delivered")
                time.sleep(0.05)
            rows, unforwarded = [], 0
            for study_key, finished in queue.execute("SELECT study_key, finished_at FROM exams ORDER BY finished_at"):
                queued, stored, n = forward.execute("SELECT MAX(created_at), MAX(delivered_at), COUNT(*) FROM "
                                                    "deliveries WHERE study_key = ? AND state = 'delivered'",
                                                    (study_key,)).fetchone()
                if not n:  # an exam row without objects (e.g. a part assembled apart under heavy load)
                    unforwarded += 1
                    continue
                rows.append({"objects": n, "result_to_queued_s": queued - finished,
                             "queued_to_stored_s": stored - queued, "result_to_stored_s": stored - finished})
        finally:
            proc.terminate()
            proc.wait(30)
            orthanc.stop()
    total = [r["result_to_stored_s"] for r in rows]
    print(json.dumps({"exams": len(rows), "exam_rows_without_objects": unforwarded, "size": args.size,
                      "orthanc_instances": expected, "load_average_1m": os.getloadavg()[0],
                      "result_to_stored_s": {"median": round(statistics.median(total), 3),
                                             "max": round(max(total), 3)},
                      "result_to_queued_s_median": round(statistics.median(r["result_to_queued_s"] for r in rows), 3),
                      "queued_to_stored_s_median": round(statistics.median(r["queued_to_stored_s"] for r in rows), 3),
                      "per_exam": [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}
                                   for r in rows]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
