"""Loads the compiled C core (sensorio._native) with a clear error if absent."""

from __future__ import annotations

from .errors import SensorioError

try:
    from ._native import ffi, lib
except ImportError as exc:  # pragma: no cover - only without a build
    raise SensorioError(
        "sensorio's C core is not built: install with 'pip install .' (or 'pip install -e .' in a checkout)"
    ) from exc

__all__ = ["ffi", "lib"]
