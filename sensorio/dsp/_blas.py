"""Matrix products of the signal path on one BLAS thread.

The fault detector's narrowband (mains) test multiplies every channel's
rows of a hop by a few dozen basis columns, a few times per 50 ms hop.
OpenBLAS, which numpy ships, splits a product that big over every core, and
its idle threads then spin for about 0.1 s before they sleep (measured):
longer than a hop, so they never sleep. At 256 channels a 10 ms block took
2.8-3.5 ms of CPU (1.4-1.8 ms of wall time) with the two threads a 2-core
machine gets by default, and 1.3-1.6 ms of both with the products held to
one (tools/bench_dsp.py, docs/performance.md). That leaves the other cores
to the capture, the recording and whatever else the rig runs.

threadpoolctl finds the BLAS libraries loaded; here numpy's own (the one
``@`` calls) has its thread count set to 1 for the product and put back
after, directly on threadpoolctl's controller (6 us a use, against 19 us
for its ``limit`` context over every library). The count is the process's:
while a product is held, another thread's products run on one thread too,
and a count another thread sets meanwhile is overwritten when it is put
back. Products too small for a BLAS to split run as they are (SPLIT_FROM).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

#: products of fewer multiply-adds than this run as they are: holding the
#: threads costs 6 us a use. numpy's OpenBLAS (0.3.31) here splits a matrix
#: product from between 518 400 and 576 000 multiply-adds (measured: a
#: channel count of 72 or 80 by 200 rows by 36 basis columns); this is half
#: that, for a build that splits sooner
SPLIT_FROM = 262144

_lock = threading.RLock()
_libs: list[Any] | None = None  # threadpoolctl's controllers of numpy's BLAS


def _blas_libraries() -> list[Any]:
    """The controllers of the BLAS library numpy calls: the one inside
    numpy's installation (a wheel bundles its own), or, where none is (a
    system or conda BLAS that numpy and scipy share), every one loaded.
    Found on first use: numpy's is loaded with numpy."""
    global _libs
    if _libs is None:
        from threadpoolctl import ThreadpoolController

        found = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        home = Path(np.__file__).resolve().parent.parent
        paths = [Path(lib.filepath).resolve() for lib in found]
        numpys = [
            lib
            for lib, p in zip(found, paths, strict=True)
            if p.parent.name == "numpy.libs" or p.is_relative_to(home / "numpy")
        ]
        _libs = numpys or found
    return _libs


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Within the block, numpy's BLAS runs on one thread; the count it had
    is put back after (see the module's docstring for what that means to
    other threads). Uses in other threads wait: one use cannot put back a
    count while another runs products. A nested use finds one thread."""
    with _lock:
        undo = []
        try:
            for lib in _blas_libraries():
                n = lib.get_num_threads()
                if n is not None and n > 1:
                    undo.append((lib, n))
                    lib.set_num_threads(1)
            yield
        finally:
            for lib, n in undo:
                lib.set_num_threads(n)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` of two matrices, within :func:`one_blas_thread` when it is
    big enough for a BLAS to split it (SPLIT_FROM). Products with a vector
    need nothing: numpy's OpenBLAS did not split one at any size the
    detector makes (up to 256 channels by 400 rows)."""
    if a.shape[0] * a.shape[1] * b.shape[1] < SPLIT_FROM:
        return a @ b
    with one_blas_thread():
        return a @ b
