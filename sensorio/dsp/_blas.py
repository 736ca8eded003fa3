"""Matrix products of the signal path on one BLAS thread.

The fault detector's narrowband (mains) test multiplies every channel's
rows of a hop by a few dozen basis columns, a few times per 50 ms hop.
OpenBLAS, which numpy ships, splits a product that big over every core, and
its idle threads then spin until the next product comes. At 256 channels a
10 ms block took 2.8-3.5 ms of CPU (1.4-1.8 ms of wall time) with the two
threads a 2-core machine gets by default, and 1.3-1.6 ms of both with the
products held to one (tools/bench_dsp.py, docs/performance.md). That leaves
the other cores to the capture, the recording and whatever else the rig runs.

threadpoolctl finds the BLAS libraries loaded in the process and sets their
thread count; here that is done directly on its controllers (8 us a use with
two libraries to set and put back, against 19 us for its ``limit`` context),
and the count is put back after, so the rest of the program keeps its own.
Products too small for a BLAS to split run as they are (SPLIT_FROM).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

_lock = threading.RLock()
_libs: list[Any] | None = None  # threadpoolctl's controllers of the BLAS libraries loaded


def _blas_libraries() -> list[Any]:
    """The BLAS libraries loaded in this process (found once: numpy's is
    loaded with sensorio)."""
    global _libs
    if _libs is None:
        from threadpoolctl import ThreadpoolController

        _libs = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _libs


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Within the block, every BLAS library loaded runs on one thread; the
    thread counts they had are restored after. Uses in other threads wait
    (one use cannot put back a count while another runs products); a
    nested use finds one thread already."""
    with _lock:
        undo = []
        for lib in _blas_libraries():
            n = lib.get_num_threads()
            if n is not None and n > 1:
                lib.set_num_threads(1)
                undo.append((lib, n))
        try:
            yield
        finally:
            for lib, n in undo:
                lib.set_num_threads(n)


#: products of fewer multiply-adds than this run as they are: holding the
#: threads costs 8 us a use, and this is far below what numpy's OpenBLAS
#: splits here (the 96-channel products, 691 200 multiply-adds, and not the
#: 64-channel ones, 460 800)
SPLIT_FROM = 65536


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` (a: a vector or a matrix, b: a matrix), within
    :func:`one_blas_thread` when it is big enough for a BLAS to split it."""
    if a.size * b.shape[-1] < SPLIT_FROM:
        return a @ b
    with one_blas_thread():
        return a @ b
