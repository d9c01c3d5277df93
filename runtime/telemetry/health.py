"""The figures of a ``health`` message: the machine (CPU, load, memory, disk) and the service (from its queue).

The shipped units run with ``ProcSubset=pid``, which hides ``/proc/stat``,
``/proc/meminfo`` and ``/proc/loadavg``. Memory and load then come from the
``sysinfo(2)`` system call (``memory_source`` says which was used); CPU busy
time has no such source, so ``cpu_percent`` is ``null`` there rather than a
made-up figure.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ..jobs.queue import JobQueue, JobState
from .metrics import exam_outcome

log = logging.getLogger(__name__)
PROC = Path("/proc")
SI_LOAD_SHIFT = 16  #: sysinfo's load averages are fixed point


class _SysInfo(ctypes.Structure):
    """``struct sysinfo`` of linux/sysinfo.h (64-bit layout)."""

    _fields_ = [("uptime", ctypes.c_long), ("loads", ctypes.c_ulong * 3), ("totalram", ctypes.c_ulong),
                ("freeram", ctypes.c_ulong), ("sharedram", ctypes.c_ulong), ("bufferram", ctypes.c_ulong),
                ("totalswap", ctypes.c_ulong), ("freeswap", ctypes.c_ulong), ("procs", ctypes.c_ushort),
                ("pad", ctypes.c_ushort), ("totalhigh", ctypes.c_ulong), ("freehigh", ctypes.c_ulong),
                ("mem_unit", ctypes.c_uint), ("_f", ctypes.c_char * 8)]


def sysinfo() -> _SysInfo | None:
    """The kernel's ``sysinfo(2)`` (no /proc needed), or None where it cannot be called."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        info = _SysInfo()
        return info if libc.sysinfo(ctypes.byref(info)) == 0 else None
    except (OSError, AttributeError):
        return None


class CpuSampler:
    """System CPU busy percent between two calls, from ``/proc/stat`` (100 = every core busy)."""

    def __init__(self, proc: Path = PROC) -> None:
        self.proc = proc
        self._last = self._read()

    def _read(self) -> tuple[int, int] | None:
        try:
            first = (self.proc / "stat").read_text().splitlines()[0].split()
        except (OSError, IndexError):
            return None
        if first[:1] != ["cpu"]:
            return None
        ticks = [int(v) for v in first[1:]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        return sum(ticks[:8]), idle

    def percent(self) -> float | None:
        now, last = self._read(), self._last
        self._last = now
        if now is None or last is None or now[0] <= last[0]:
            return None
        busy = (now[0] - last[0]) - (now[1] - last[1])
        return round(100.0 * busy / (now[0] - last[0]), 1)


def memory_used(proc: Path = PROC) -> tuple[float | None, str]:
    """(memory used %, source): ``meminfo`` (MemAvailable), or ``sysinfo`` (free + buffers: page cache is "used")."""
    try:
        fields = {}
        for line in (proc / "meminfo").read_text().splitlines():
            key, value = line.split(":", 1)
            fields[key] = int(value.split()[0])
        return round(100.0 * (1 - fields["MemAvailable"] / fields["MemTotal"]), 1), "meminfo"
    except (OSError, KeyError, ValueError, ZeroDivisionError):
        pass
    info = sysinfo()
    if info is None or not info.totalram:
        return None, "none"
    return round(100.0 * (1 - (info.freeram + info.bufferram) / info.totalram), 1), "sysinfo"


def load_1m() -> float | None:
    """One-minute load average: ``os.getloadavg`` (/proc/loadavg), else ``sysinfo``."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        info = sysinfo()
        return None if info is None else round(info.loads[0] / (1 << SI_LOAD_SHIFT), 2)


def system_health(state_dir: Path, cpu: CpuSampler | None = None, proc: Path = PROC) -> dict[str, Any]:
    """CPU (busy % since the sampler's last call), load, memory and free disk of the state directory."""
    memory, source = memory_used(proc)
    target = state_dir if state_dir.exists() else Path("/")
    return {"cpu_percent": None if cpu is None else cpu.percent(), "load_1m": load_1m(),
            "memory_used_percent": memory, "memory_source": source,
            "disk_free_mb": round(shutil.disk_usage(target).free / 2**20, 1)}


def service_health(queue: JobQueue, now: float | None = None) -> dict[str, Any]:
    """Queue depth, oldest waiting exam, last exam age, failed exams, errors by reason, device used last."""
    now = time.time() if now is None else now
    stats = queue.stats(now)
    fields: dict[str, Any] = {
        "queue_depth": stats.queue_depth,
        "oldest_waiting_s": None if stats.oldest_waiting_s is None else round(stats.oldest_waiting_s, 1),
        "last_exam_age_s": None if stats.last_exam_at is None else round(max(0.0, now - stats.last_exam_at), 1),
        "exams_failed": int(stats.exams_by_state.get(JobState.FAILED, 0)),
        "errors": {str(k): int(v) for k, v in stats.errors_by_reason.items()},
        "devices": [], "device_fallback": False}
    if stats.last_exam_at is not None:  # the device the newest analyzed exam ran on, read from its result
        newest = [row for row in queue.finished_between(stats.last_exam_at - 1e-3, stats.last_exam_at)
                  if row[1] == JobState.DONE]
        if newest:
            _, _, used, fallback = exam_outcome(newest[-1][2])
            fields["devices"], fields["device_fallback"] = list(used), fallback
    return fields

