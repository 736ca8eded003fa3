"""The C core for the parts that also run without it (the DSP kernels have
numpy twins): its binding when it is built and has a given function."""

from __future__ import annotations

from typing import Any


def native_with(symbol: str) -> tuple[Any, Any]:
    """(ffi, lib) of the C core when it is built and has symbol; (None,
    None) without a build, or with an older one that lacks symbol."""
    try:
        from ._binding import ffi, lib
    except Exception:  # no C core built: the caller's numpy path runs
        return None, None
    if not hasattr(lib, symbol):
        return None, None
    return ffi, lib
