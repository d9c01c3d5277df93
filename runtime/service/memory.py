"""Give freed image buffers back to the system: glibc's malloc, set once when the service starts.

glibc raises its mmap threshold each time a large mmapped block is freed (up to 32 MB on 64-bit), after which
the service's 20-60 MB image arrays come from the heap arenas of whichever thread made them and stay resident
when freed. Fixing the threshold keeps every block from ``MMAP_THRESHOLD_BYTES`` up in its own mapping,
returned on free (measured with ``mammoedge bench --service``: docs/bench.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

#: allocations at least this large are mmapped and unmapped on free (glibc's M_MMAP_THRESHOLD)
MMAP_THRESHOLD_BYTES = 4 << 20
_M_MMAP_THRESHOLD = -3  # glibc malloc.h


def keep_large_blocks_unmapped() -> bool:
    """Fix glibc's mmap threshold at ``MMAP_THRESHOLD_BYTES``; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    if not done:
        log.warning("malloc's mmap threshold could not be set; freed image buffers may stay resident")
    return done
