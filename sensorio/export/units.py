"""Calibration of a device stream for the exporters: codes to physical units.

Every export (CSV, NPZ, EDF/BDF) uses the same relation, from the stream's
descriptor (the device INFO, else the format's own)::

    value = (code - zero) * scale        code = value / scale + zero

``unit`` names what ``value`` is in (``uV`` for EMG). A stream without a
calibration (no numeric ``scale``, or a zero one) has scale 1, zero 0 and
unit ``code``: its values are the codes themselves. A calibrated stream whose
descriptor names no unit has unit ``""``.

Values are float32 when float32 keeps every code apart, float64 when the
codes are wider (see :func:`physical_dtype`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..descriptor import channel_labels
from ..formats.base import ENC_F32
from ..sio1 import ENC_RANGE

#: the unit of a stream whose values are its raw codes
CODE_UNIT = "code"


@dataclass(frozen=True)
class Calibration:
    """How one stream's codes become values: value = (code - zero) * scale."""

    unit: str
    scale: float
    zero: float
    labels: tuple[str, ...]
    #: False: the stream has no calibration (scale 1, zero 0, unit "code")
    calibrated: bool = True
    #: the dtype of the values (:func:`physical_dtype`)
    dtype: np.dtype = np.dtype(np.float64)

    def to_physical(self, codes: np.ndarray) -> np.ndarray:
        """The codes (rows, channels) as values in ``unit``, of ``dtype``
        (computed in float64, rounded once)."""
        values = codes.astype(np.float64)
        if self.zero:
            values -= self.zero
        if self.scale != 1.0:
            values *= self.scale
        return values.astype(self.dtype, copy=False)


#: float32's significand has 24 bits: codes up to 2^23 from zero stay apart
#: whatever the scale (float32's spacing there is at most one code step)
FLOAT32_CODES = 2**23


def _number(v: Any) -> float | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
    return float(v) if ok else None


def physical_dtype(desc: Mapping[str, Any]) -> np.dtype:
    """The dtype of a stream's physical values, from what its descriptor
    declares (never from the data, so every block of a stream gets the same):
    float32 for float32 samples (``enc`` 32) and for codes no further than
    2^23 from ``zero`` (int8, int16, uint16, int24), float64 for wider codes
    (int32) and when the descriptor declares neither ``min_code`` and
    ``max_code`` nor ``enc``."""
    enc = desc.get("enc")
    zero = _number(desc.get("zero", 0)) or 0.0
    if enc == ENC_F32:
        return np.dtype(np.float32)
    lo, hi = _number(desc.get("min_code")), _number(desc.get("max_code"))
    if lo is None or hi is None:
        lo, hi = ENC_RANGE.get(enc, (None, None)) if isinstance(enc, int) else (None, None)
    if lo is None or hi is None:
        return np.dtype(np.float64)
    fits = max(abs(lo - zero), abs(hi - zero)) <= FLOAT32_CODES
    return np.dtype(np.float32 if fits else np.float64)


def exact_format(dtype: Any) -> str:
    """The printf format that writes a value of the float ``dtype`` with the
    fewest significant digits that always read back to that same value:
    ``%.9g`` for float32, ``%.17g`` for float64."""
    # the round-trip digit count of a binary float with p significand bits
    p = np.finfo(dtype).nmant + 1
    return f"%.{math.ceil(p * math.log10(2)) + 1}g"


def stream_calibration(desc: Mapping[str, Any], n_channels: int) -> Calibration:
    """The Calibration of a stream from its descriptor (``{"scale", "zero",
    "unit", "labels"}``, and ``min_code``, ``max_code``, ``enc`` for the
    dtype); labels missing from it are ``ch1``, ``ch2``, ...
    (sensorio.descriptor.channel_labels)."""
    labels = channel_labels(desc.get("labels"), n_channels)
    scale, zero = desc.get("scale"), desc.get("zero", 0)
    if (
        isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale != 0 and np.isfinite(scale)
        and isinstance(zero, (int, float)) and not isinstance(zero, bool) and np.isfinite(zero)
    ):  # fmt: skip
        return Calibration(str(desc.get("unit") or ""), float(scale), float(zero), labels, dtype=physical_dtype(desc))
    return Calibration(CODE_UNIT, 1.0, 0.0, labels, calibrated=False)


__all__ = ["CODE_UNIT", "Calibration", "exact_format", "physical_dtype", "stream_calibration"]
