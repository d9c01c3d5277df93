"""The service path of ``mammoedge bench --service``: dcmtk ``storescu`` → ``mammoedge serve`` on 127.0.0.1.

Per exam: last acknowledged C-STORE → flag (the result file appears) and → all outputs (the result lists its
overlays); a burst of exams from several ``storescu`` processes at once (exams/hour, latency percentiles);
every figure beside the decode floor measured in the same run (decoding the exam's four files serially, and the
last view alone with every core), the service's peak RSS (VmHWM) and the load average.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pydicom
from pydicom.uid import generate_uid

POLL_S = 0.005


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clone(source: Path, folder: Path) -> list[Path]:
    """The four files of ``source`` as a new study (fresh Study/Series/SOP Instance UIDs)."""
    folder.mkdir(parents=True)
    study, files = generate_uid(), []
    for path in sorted(source.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, generate_uid(), generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(folder / path.name, enforce_file_format=True)
        files.append(folder / path.name)
    return files


class Service:
    """``mammoedge serve`` in a subprocess with its own state directory and port."""

    def __init__(self, root: Path) -> None:
        self.port, self.state = free_port(), root / "state"
        env = {**os.environ, "MAMMOEDGE__SERVICE__STATE_DIR": str(self.state), "MAMMOEDGE__SERVICE__PORT": str(self.port),
               "MAMMOEDGE__SERVICE__BIND_ADDRESS": "127.0.0.1", "MAMMOEDGE__SERVICE__SETTLE_S": "60"}
        self.proc = subprocess.Popen([sys.executable, "-m", "mammoedge.runtime.cli", "serve"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while subprocess.run(["echoscu", "-aec", "MAMMOEDGE", "127.0.0.1", str(self.port)],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("mammoedge serve did not start")
            time.sleep(0.2)

    @property
    def results(self) -> Path:
        return self.state / "results"

    def send(self, files: list[Path]) -> float:
        """Send with storescu; the time its last C-STORE was acknowledged (its exit)."""
        syntax = ["-xv"] if pydicom.dcmread(files[0], stop_before_pixels=True).file_meta.TransferSyntaxUID.is_compressed \
            else []
        out = subprocess.run(["storescu", "-aec", "MAMMOEDGE", *syntax, "127.0.0.1", str(self.port), *map(str, files)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"storescu failed: {out.stderr[-300:]}")
        return time.monotonic()

    def wait(self, known: set[Path], count: int, timeout: float = 300,
             partial: bool = False) -> dict[Path, tuple[float, float]]:
        """New result files -> (monotonic time the file appeared, time it listed its overlays); with ``partial``
        the complete ones when ``timeout`` passes, else RuntimeError."""
        seen: dict[Path, tuple[float, float | None]] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for path in set(self.results.glob("*.json")) - known:
                flag, done = seen.get(path, (time.monotonic(), None))
                if done is None:
                    try:
                        document = json.loads(path.read_text())
                    except (OSError, ValueError):
                        document = {}
                    views = (document.get("result") or {}).get("views") or []
                    if views and all(v.get("overlay") for v in views):
                        done = time.monotonic()
                seen[path] = (flag, done)
            if len(seen) >= count and all(d is not None for _, d in seen.values()):
                return {p: (f, d) for p, (f, d) in seen.items() if d is not None}
            time.sleep(POLL_S)
        if partial:
            return {p: (f, d) for p, (f, d) in seen.items() if d is not None}
        raise RuntimeError(f"{count} result(s) not complete within {timeout:.0f} s")

    def cpu_s(self) -> float:
        """CPU seconds (user + system, every thread) the serve process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """The serve process's peak resident set (VmHWM) so far, MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return 0.0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]  # noqa: E731
    return {"median": round(statistics.median(ordered), 3), "p90": round(pick(0.9), 3), "max": round(ordered[-1], 3)}


def breakdown(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median per step over the exams' timelines (``runtime/service/timeline.py``): seconds since the last
    instance was queued, the step's own share (since the step before it), and CPU since the claim."""
    rows: dict[str, dict[str, list[float]]] = {}
    for document in documents:
        previous = 0.0
        seen: dict[str, int] = {}
        for mark in document.get("timeline") or []:
            seen[mark["step"]] = seen.get(mark["step"], 0) + 1
            name = mark["step"] if seen[mark["step"]] == 1 else f"{mark['step']} ({seen[mark['step']]})"
            row = rows.setdefault(name, {"at_s": [], "step_s": [], "cpu_s": []})
            row["at_s"].append(mark["at_s"])
            row["step_s"].append(mark["at_s"] - previous)
            row["cpu_s"].append(mark["cpu_s"])
            previous = mark["at_s"]
    return [{"step": name, "exams": len(v["at_s"]), **{k: round(statistics.median(x), 4) for k, x in v.items()}}
            for name, v in rows.items()]


def breakdown_markdown(rows: list[dict[str, Any]], title: str) -> str:
    lines = [f"{title}", "", "| step | exams | at (s after the last instance queued) | step's own s | "
             "process CPU s since the claim |", "|---|---|---|---|---|"]
    lines += [f"| {r['step']} | {r['exams']} | {r['at_s']:.3f} | {r['step_s']:.3f} | {r['cpu_s']:.3f} |" for r in rows]
    return "\n".join(lines) + "\n"


def measure(exam: Path, *, repeats: int, burst: int, senders: int) -> dict[str, Any]:
    """Last ack → flag and → all outputs per exam (``repeats``), then ``burst`` exams from ``senders``."""
    from mammoedge.runtime.config import Config
    from mammoedge.runtime.dicom import read_mammogram

    config = Config()
    load_before = os.getloadavg()
    files = sorted(exam.glob("*.dcm"))
    read_mammogram(files[-1], config.reader)  # warm-up (imports, codec tables)
    started = time.monotonic()
    for path in files:
        read_mammogram(path, config.reader)
    decode_floor = time.monotonic() - started
    started = time.monotonic()
    read_mammogram(files[-1], config.reader)  # storescu sends in this order: the last view alone
    last_view = time.monotonic() - started
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        service = Service(root)
        try:
            known: set[Path] = set()
            flag, outputs, cpu, documents = [], [], [], []
            for i in range(repeats + 1):  # the first exam compiles the models: a warm-up
                files = clone(exam, root / f"one{i}")
                cpu_before = service.cpu_s()
                acked = service.send(files)
                ((path, (t_flag, t_done)),) = service.wait(known, 1).items()
                known.add(path)
                if i:
                    flag.append(t_flag - acked)
                    outputs.append(t_done - acked)
                    time.sleep(0.2)  # the last result write and the queue's bookkeeping end
                    cpu.append(service.cpu_s() - cpu_before)
                    documents.append(json.loads(path.read_text()))
            exams = [clone(exam, root / f"burst{i}") for i in range(burst)]
            cpu_before = service.cpu_s()
            begin = time.monotonic()
            with ThreadPoolExecutor(senders) as pool:
                acks = list(pool.map(service.send, exams))
            done = service.wait(known, burst, timeout=max(300.0, 90.0 * burst), partial=True)
            end = max((d for _, d in done.values()), default=time.monotonic())
            burst_cpu = service.cpu_s() - cpu_before
            time.sleep(1.0)  # a duplicate result would show up beside the others
            results = len(set(service.results.glob("*.json")) - known)
            peak = service.peak_rss_mb()
            burst_documents = [json.loads(p.read_text()) for p in done]
        finally:
            service.stop()
            shutil.rmtree(root / "state", ignore_errors=True)
    flags = sorted(f for f, _ in done.values()) or [begin]
    return {
        "load_before": [round(v, 2) for v in load_before], "load_after": [round(v, 2) for v in os.getloadavg()],
        "decode_floor_s": round(decode_floor, 3), "last_view_decode_s": round(last_view, 3),
        "last_ack_to_flag_s": percentiles(flag), "last_ack_to_all_outputs_s": percentiles(outputs),
        "flag_over_decode_floor": round(statistics.median(flag) / decode_floor, 2),
        "flag_over_last_view_decode": round(statistics.median(flag) / last_view, 2),
        "all_outputs_over_decode_floor": round(statistics.median(outputs) / decode_floor, 2),
        "peak_rss_mb": peak,
        "cpu_s_per_exam": round(statistics.median(cpu), 3),
        "breakdown": breakdown(documents),
        "burst": {"cpu_s_per_exam": round(burst_cpu / max(1, len(done)), 3),
                  "breakdown": breakdown(burst_documents), "exams": burst, "senders": senders, "complete": len(done),
                  "exams_per_hour": round(len(done) / (end - begin) * 3600),
                  "results": results, "lost": max(0, burst - results), "duplicated": max(0, results - burst),
                  "seconds_per_exam_over_floor": round((end - begin) / max(1, len(done)) / decode_floor, 2),
                  "last_ack_to_flag_s": percentiles([f - a for f, a in zip(flags, sorted(acks))])},
    }
