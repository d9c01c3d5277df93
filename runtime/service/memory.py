"""glibc's malloc for the service, set once when it starts: freed image buffers are reused, not zeroed again.

Every view allocates ~150 MB of 20-60 MB arrays. Left to glibc, blocks from 32 MB are mmapped and each new
one is page-faulted and zeroed by the kernel: measured with ``perf`` in the worker, 29 % of its CPU went to
``clear_page_erms``. So blocks below ``MMAP_THRESHOLD_BYTES`` come from one heap (``ARENAS``), whose free
memory is kept (``TRIM_THRESHOLD_BYTES``) for the next view: worker CPU per 3328x4096 exam 1.69 -> 1.12 s.
The price is a resident heap at its high-water mark (docs/bench.md: peak RSS with a 20-exam burst).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

#: blocks at least this large are mmapped (the 54 MB float32 full-size views): they would fragment the heap
MMAP_THRESHOLD_BYTES = 32 << 20
#: free heap memory kept for reuse, not returned to the system
TRIM_THRESHOLD_BYTES = 1 << 30
#: one heap for every thread: a block freed by one thread is reused by the next view's, whichever thread it runs in
ARENAS = 1
# glibc malloc.h
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8


def reuse_freed_image_buffers() -> bool:
    """Set glibc's malloc as the module docstring says; False where the C library is not glibc, or where the
    environment sets malloc's tunables itself (``GLIBC_TUNABLES`` with ``glibc.malloc.``: the operator's wins)."""
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        log.info("malloc left as GLIBC_TUNABLES sets it")
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = all([mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
                mallopt(_M_ARENA_MAX, ARENAS)])
    if not done:
        log.warning("malloc could not be set up; image buffers are page-faulted and zeroed for every view")
    return done
