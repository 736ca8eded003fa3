"""Calibration of a device stream for the exporters: codes to physical units.

Every export (CSV, NPZ, EDF/BDF) uses the same relation, from the stream's
descriptor (the device INFO, else the format's own)::

    value = (code - zero) * scale        code = value / scale + zero

``unit`` names what ``value`` is in (``uV`` for EMG). A stream without a
calibration (no numeric ``scale``, or a zero one) has scale 1, zero 0 and
unit ``code``: its values are the codes themselves. A calibrated stream whose
descriptor names no unit has unit ``""``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..descriptor import channel_labels

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

    def to_physical(self, codes: np.ndarray) -> np.ndarray:
        """The codes (rows, channels) as float32 values in ``unit`` (computed in
        float64, rounded once)."""
        values = codes.astype(np.float64)
        if self.zero:
            values -= self.zero
        if self.scale != 1.0:
            values *= self.scale
        return values.astype(np.float32)


def exact_format(dtype: Any) -> str:
    """The printf format that writes a value of the float ``dtype`` with the
    fewest significant digits that always read back to that same value:
    ``%.9g`` for float32, ``%.17g`` for float64."""
    # the round-trip digit count of a binary float with p significand bits
    p = np.finfo(dtype).nmant + 1
    return f"%.{math.ceil(p * math.log10(2)) + 1}g"


def stream_calibration(desc: Mapping[str, Any], n_channels: int) -> Calibration:
    """The Calibration of a stream from its descriptor (``{"scale", "zero",
    "unit", "labels"}``); labels missing from it are ``ch1``, ``ch2``, ...
    (sensorio.descriptor.channel_labels)."""
    labels = channel_labels(desc.get("labels"), n_channels)
    scale, zero = desc.get("scale"), desc.get("zero", 0)
    if (
        isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale != 0 and np.isfinite(scale)
        and isinstance(zero, (int, float)) and not isinstance(zero, bool) and np.isfinite(zero)
    ):  # fmt: skip
        return Calibration(str(desc.get("unit") or ""), float(scale), float(zero), labels)
    return Calibration(CODE_UNIT, 1.0, 0.0, labels, calibrated=False)


__all__ = ["CODE_UNIT", "Calibration", "exact_format", "stream_calibration"]
