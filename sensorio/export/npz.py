"""The arrays of an NPZ export: samples in physical units with their calibration beside them.

Per device stream (stream 0's names bare, stream k's prefixed ``s<k>_``):

``samples``
    (rows, channels): float32 values in ``unit`` (default), or with ``raw`` the
    device's codes in their native dtype (int16 and uint16 stay 16-bit, 24-bit
    codes are int32). A stream without a calibration always holds its codes.
``unit``
    0-d string: the physical unit of the calibration (``uV`` for EMG; ``code``
    when the stream has none).
``samples_unit``
    0-d string: what ``samples`` holds: ``unit``, or ``code`` for raw codes.
``labels``
    (channels,) strings: the channel labels.
``scale``, ``zero``
    (channels,) float64: value = (code - zero) * scale, code = value / scale + zero.
``frame_seq``, ``frame_t_us``, ``frame_leadoff``, ``events``
    as ``sensorio decode`` writes them.

Beside them: ``messages`` (the device's text lines), ``device_info`` (the
descriptor as JSON) and ``stats`` (the parser's counters as JSON).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .units import CODE_UNIT, stream_calibration


def _stream_desc(info: Mapping[str, Any] | None, sid: int) -> Mapping[str, Any]:
    for s in (info or {}).get("streams", []) or []:
        if isinstance(s, dict) and s.get("id") == sid:
            return s
    return {}


def npz_arrays(
    streams: Mapping[int, Mapping[str, np.ndarray]],
    info: Mapping[str, Any] | None,
    *,
    raw: bool = False,
    native: Mapping[int, np.dtype] | None = None,
) -> dict[str, np.ndarray]:
    """The per-stream arrays described in the module docstring, from
    ``concat_blocks`` output and the device descriptor; raw: keep the codes,
    in ``native[stream]`` (``sensorio.npystream.native_dtype`` of the stream's
    blocks) where given."""
    out: dict[str, np.ndarray] = {}
    for sid, arrays in sorted(streams.items()):
        prefix = "" if sid == 0 else f"s{sid}_"
        codes = arrays["samples"]
        n_ch = int(codes.shape[1])
        cal = stream_calibration(_stream_desc(info, sid), n_ch)
        physical = cal.calibrated and not raw
        if physical:
            out[prefix + "samples"] = cal.to_physical(codes)
        else:
            dtype = (native or {}).get(sid, codes.dtype)
            out[prefix + "samples"] = codes if codes.dtype == dtype else codes.astype(dtype)
        out[prefix + "unit"] = np.array(cal.unit)
        out[prefix + "samples_unit"] = np.array(cal.unit if physical else CODE_UNIT)
        out[prefix + "labels"] = np.array(cal.labels, dtype=str).reshape(n_ch)
        out[prefix + "scale"] = np.full(n_ch, cal.scale)
        out[prefix + "zero"] = np.full(n_ch, cal.zero)
        for name in ("frame_seq", "frame_t_us", "frame_leadoff", "events"):
            out[prefix + name] = arrays[name]
    return out


__all__ = ["npz_arrays"]
