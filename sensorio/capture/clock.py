"""DeviceClock: map each stream's device clock (SIO-1's t_us, 32-bit, wraps
every 71.6 minutes; a spec's timestamp at its width) onto the host clock, online.

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

from dataclasses import dataclass

import numpy as np

from ..blocks import CLOCK_WRAP, Block, clock_step

#: the fit is renewed at most this often (device seconds)
REFIT_S = 0.05


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


class _Points:
    """The last `window` observations (device s, host s), oldest first, as
    two float64 arrays that need no conversion for a fit: each point is
    written twice, `window` apart, so the newest `window` of them are always
    one contiguous slice (np.asarray of a deque of tuples cost ~50 µs a fit)."""

    __slots__ = ("window", "dev", "host", "n", "i")

    def __init__(self, window: int) -> None:
        self.window = window
        self.dev = np.empty(2 * window)
        self.host = np.empty(2 * window)
        self.n = 0  # points held (at most window)
        self.i = 0  # where the next one goes (0..window-1)

    def append(self, dev_s: float, host_s: float) -> None:
        i, w = self.i, self.window
        self.dev[i] = self.dev[i + w] = dev_s
        self.host[i] = self.host[i + w] = host_s
        self.i = i + 1 if i + 1 < w else 0
        if self.n < w:
            self.n += 1

    def __len__(self) -> int:
        return self.n

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(dev, host), oldest first: views, valid until the next append."""
        end = self.i + self.window if self.n == self.window else self.i
        return self.dev[end - self.n : end], self.host[end - self.n : end]


class _StreamClock:
    __slots__ = ("ref_raw", "ref_unwrapped", "points", "fit", "period_us", "fitted_at", "wrap")

    def __init__(self, window: int, wrap: int) -> None:
        self.wrap = wrap
        self.ref_raw: int | None = None
        self.ref_unwrapped = 0
        self.points = _Points(window)
        self.fit: ClockFit | None = None
        self.period_us: float | None = None
        self.fitted_at = 0.0

    def unwrap(self, raw: np.ndarray) -> np.ndarray:
        """Unwrapped device µs near the reference (the latest frame seen)."""
        if self.ref_raw is None:
            return raw.astype(np.int64)
        return self.ref_unwrapped + clock_step(raw.astype(np.int64), self.ref_raw, self.wrap)


class DeviceClock:
    """Maps each stream's device clock (``frame_t_us``) onto host time (seconds
    since the epoch), refitted online from the Blocks' arrival times (see the
    module text). ``rates_hz``: the streams' sample rates from INFO, if known;
    ``window``: how many recent observations a fit uses; ``time_scale_us``:
    µs per unit of frame_t_us (Format.time_scale_us: a Cyton's sample number
    counts 4000 µs), None when unknown (no fit: no host times);
    ``clock_modulus``: where frame_t_us wraps (Format.clock_modulus)."""

    def __init__(
        self,
        window: int = 256,
        rates_hz: dict[int, float] | None = None,
        time_scale_us: float | None = 1.0,
        clock_modulus: int = CLOCK_WRAP,
    ) -> None:
        self._window = window
        self._scale = time_scale_us
        self._wrap = clock_modulus
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
        # scalar arithmetic and local names: this runs for every Block (with
        # a device read as it comes, for every packet)
        t_us = block.frame_t_us
        n_frames = t_us.size
        n_rows = block.samples.shape[0]
        scale = self._scale
        if not n_rows or not n_frames or scale is None:
            return
        stream = block.stream
        s = self._streams.get(stream)
        if s is None:
            s = self._streams[stream] = _StreamClock(self._window, self._wrap)
        frame_row = block.frame_row
        if n_frames == 1:
            first_raw = last_raw = int(t_us[0])
            last_row = int(frame_row[0])
        else:
            first_raw, last_raw = int(t_us[0]), int(t_us[-1])
            last_row = int(frame_row[-1])
        wrap = self._wrap
        if s.ref_raw is None:
            first = first_raw
        else:
            first = s.ref_unwrapped + clock_step(first_raw, s.ref_raw, wrap)
        last = first + ((last_raw - first_raw) % wrap)
        if n_frames >= 2:
            rows = last_row - int(frame_row[0])
            if rows > 0 and last > first:
                s.period_us = (last - first) * scale / rows
        s.ref_raw, s.ref_unwrapped = last_raw, last
        rate = self._rates.get(stream)
        period = 1e6 / rate if rate else s.period_us
        if period is None:
            return  # one frame, no rate yet: nothing to place the end of the block
        end_dev_s = (last * scale + (n_rows - last_row) * period) * 1e-6
        points = s.points
        points.append(end_dev_s, arrival_ns * 1e-9)
        # refitting costs ~50 µs: do it at most every REFIT_S of device time
        if s.fit is None or end_dev_s - s.fitted_at >= REFIT_S or points.n < 16:
            s.fit = _fit(*points.arrays())
            s.fitted_at = end_dev_s

    def host_times(self, block: Block) -> tuple[np.ndarray, float] | None:
        """Host time (s since the epoch) of every row of block and its
        uncertainty in s, or None while the stream has no fit yet."""
        s = self._streams.get(block.stream)
        if s is None or s.fit is None or not len(block):
            return None
        period = self._period(s, block.stream) or 0.0
        dev = s.unwrap(block.frame_t_us).astype(np.float64) * (self._scale or 1.0)
        counts = np.diff(np.append(block.frame_row.astype(np.int64), len(block)))
        start = np.repeat(dev - block.frame_row * period, counts)
        dev_rows = start + np.arange(len(block)) * period
        f = s.fit
        return f.offset_s + f.slope * dev_rows * 1e-6, f.uncertainty_s


def _slope(dev: np.ndarray, host: np.ndarray) -> float:
    # sum / n is what ndarray.mean computes for float64, without its ~5 µs of Python
    n = len(dev)
    dd = dev - dev.sum() / n
    return float(np.dot(dd, host - host.sum() / n) / np.dot(dd, dd))


def _fit(dev: np.ndarray, host: np.ndarray) -> ClockFit:
    """The fit of the observations dev (device s) against host (host s), oldest first."""
    if len(dev) < 3 or dev[-1] - dev[0] <= 0:
        slope = 1.0
    else:
        slope = _slope(dev, host)
        if len(dev) >= 16:
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
    return ClockFit(slope, offset, max(uncertainty, 1e-6), len(dev))
