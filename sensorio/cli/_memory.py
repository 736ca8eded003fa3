"""Keep the heap from holding on to freed block buffers (glibc only).

glibc serves an allocation of at least its mmap threshold with its own
mapping and unmaps it when freed, but it raises that threshold to the size
of every such block freed (up to 32 MB): after the first big Block is
freed, the next ones come from the heap arenas (one per thread), where
freed space is kept and fragments. Over an hour-long recording read in
4 MB blocks by two threads, that kept the resident set growing. Fixing the
threshold (mallopt M_MMAP_THRESHOLD, which also turns the adjustment off)
returns every large buffer to the system when it is freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: mallopt parameter number of M_MMAP_THRESHOLD in glibc's malloc.h
_M_MMAP_THRESHOLD = -3
#: allocations from this size up get their own mapping
THRESHOLD = 1 << 20

_done = False


def bound_heap() -> bool:
    """Fix glibc's mmap threshold at THRESHOLD (once); False where there is no glibc."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # musl and others: nothing to set
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, THRESHOLD))
    return _done
