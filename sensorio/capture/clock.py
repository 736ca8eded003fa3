"""DeviceClock: map each stream's device clock (t_us, 32-bit, wraps every
71.6 minutes) onto the host clock, online.

Each Block gives one observation: the device time at the end of its last
sample against the host time its bytes arrived. Arrival is always later than
sampling by a varying transport delay, so the map is the line under the
observations (the lower envelope): its slope is the least-squares slope of
the recent window refitted on the quarter of points nearest the envelope,
its offset the smallest residual. The reported
uncertainty is how far above that line the closest tenth of the
observations lie, i.e. how well the envelope is pinned down.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from ..blocks import Block

#: the fit is renewed at most this often (device seconds)
REFIT_S = 0.05
WRAP = 1 << 32
HALF = 1 << 31


@dataclass(frozen=True)
class ClockFit:
    """The map from one stream's device clock to the host clock:
    ``host_s = offset_s + slope * device_s`` (device time unwrapped);
    ``uncertainty_s`` is how well the fit's line is pinned down, from ``points``
    observations."""

    slope: float  # host seconds per device second
    offset_s: float  # host seconds at device time 0 (unwrapped)
    uncertainty_s: float
    points: int


class _StreamClock:
    __slots__ = ("ref_raw", "ref_unwrapped", "points", "fit", "period_us", "fitted_at")

    def __init__(self, window: int) -> None:
        self.ref_raw: int | None = None
        self.ref_unwrapped = 0
        self.points: deque[tuple[float, float]] = deque(maxlen=window)
        self.fit: ClockFit | None = None
        self.period_us: float | None = None
        self.fitted_at = 0.0

    def unwrap(self, raw: np.ndarray) -> np.ndarray:
        """Unwrapped device µs near the reference (the latest frame seen)."""
        if self.ref_raw is None:
            return raw.astype(np.int64)
        delta = (raw.astype(np.int64) - self.ref_raw + HALF) % WRAP - HALF
        return self.ref_unwrapped + delta


class DeviceClock:
    """Maps each stream's 32-bit device clock (``t_us``) onto host time (seconds
    since the epoch), refitted online from the Blocks' arrival times (see the
    module text). ``rates_hz``: the streams' sample rates from INFO, if known;
    ``window``: how many recent observations a fit uses."""

    def __init__(self, window: int = 256, rates_hz: dict[int, float] | None = None) -> None:
        self._window = window
        self._streams: dict[int, _StreamClock] = {}
        self._rates = dict(rates_hz or {})

    def rate_hz(self, stream: int) -> float | None:
        """The stream's rate: from INFO if given, else as measured."""
        rate = self._rates.get(stream)
        if rate:
            return rate
        s = self._streams.get(stream)
        return 1e6 / s.period_us if s is not None and s.period_us else None

    def set_rate(self, stream: int, rate_hz: float) -> None:
        """Use rate_hz (from INFO) for this stream's sample period instead of the measured one."""
        self._rates[stream] = float(rate_hz)

    def reset(self, stream: int) -> None:
        """Forget a stream's fit (the device restarted its clock)."""
        self._streams.pop(stream, None)

    def fit(self, stream: int) -> ClockFit | None:
        """The stream's current clock fit, or None before its first observation with a known rate."""
        s = self._streams.get(stream)
        return s.fit if s else None

    def _period(self, s: _StreamClock, stream: int) -> float | None:
        rate = self._rates.get(stream)
        return 1e6 / rate if rate else s.period_us

    def observe(self, block: Block, arrival_ns: int) -> None:
        """Add one observation: the device time at the end of the block's last sample
        against ``arrival_ns``, the host time (ns since the epoch) its bytes arrived.
        Blocks without frame times are ignored."""
        if not len(block) or not block.frame_t_us.size:
            return
        s = self._streams.get(block.stream)
        if s is None:
            s = self._streams[block.stream] = _StreamClock(self._window)
        # scalar arithmetic: this runs for every Block
        first_raw, last_raw = int(block.frame_t_us[0]), int(block.frame_t_us[-1])
        if s.ref_raw is None:
            first = first_raw
        else:
            first = s.ref_unwrapped + ((first_raw - s.ref_raw + HALF) % WRAP - HALF)
        last = first + ((last_raw - first_raw) % WRAP)
        if block.frame_t_us.size >= 2:
            rows = int(block.frame_row[-1]) - int(block.frame_row[0])
            if rows > 0 and last > first:
                s.period_us = (last - first) / rows
        s.ref_raw, s.ref_unwrapped = last_raw, last
        period = self._period(s, block.stream)
        if period is None:
            return  # one frame, no rate yet: nothing to place the end of the block
        last_rows = len(block) - int(block.frame_row[-1])
        end_dev_s = (last + last_rows * period) * 1e-6
        s.points.append((end_dev_s, arrival_ns * 1e-9))
        # refitting costs ~50 µs: do it at most every REFIT_S of device time
        if s.fit is None or end_dev_s - s.fitted_at >= REFIT_S or len(s.points) < 16:
            s.fit = _fit(s.points)
            s.fitted_at = end_dev_s

    def host_times(self, block: Block) -> tuple[np.ndarray, float] | None:
        """Host time (s since the epoch) of every row of block and its
        uncertainty in s, or None while the stream has no fit yet."""
        s = self._streams.get(block.stream)
        if s is None or s.fit is None or not len(block):
            return None
        period = self._period(s, block.stream) or 0.0
        dev = s.unwrap(block.frame_t_us).astype(np.float64)
        counts = np.diff(np.append(block.frame_row.astype(np.int64), len(block)))
        start = np.repeat(dev - block.frame_row * period, counts)
        dev_rows = start + np.arange(len(block)) * period
        f = s.fit
        return f.offset_s + f.slope * dev_rows * 1e-6, f.uncertainty_s


def _slope(dev: np.ndarray, host: np.ndarray) -> float:
    dd = dev - dev.mean()
    return float(np.dot(dd, host - host.mean()) / np.dot(dd, dd))


def _fit(points: deque[tuple[float, float]]) -> ClockFit:
    arr = np.asarray(points)
    dev, host = arr[:, 0], arr[:, 1]
    if len(arr) < 3 or dev[-1] - dev[0] <= 0:
        slope = 1.0
    else:
        slope = _slope(dev, host)
        if len(arr) >= 16:
            # refit on the quarter of points closest to the envelope: the
            # transport delay only ever adds, so those carry the least of it
            resid = host - slope * dev
            quarter = len(resid) // 4
            low = resid <= np.partition(resid, quarter)[quarter]  # (np.percentile costs ~1 ms)
            if low.sum() >= 4 and np.ptp(dev[low]) > 0:
                slope = _slope(dev[low], host[low])
        if not 0.9 < slope < 1.1:  # nonsense (restart, clock jump): trust the nominal rate
            slope = 1.0
    resid = host - slope * dev
    offset = float(resid.min())
    if len(resid) > 1:
        tenth = max(1, len(resid) // 10)
        uncertainty = float(np.partition(resid - offset, tenth)[tenth])
    else:
        uncertainty = 0.05
    return ClockFit(slope, offset, max(uncertainty, 1e-6), len(arr))
