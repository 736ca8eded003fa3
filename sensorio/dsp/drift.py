"""Slow changes: a baseline walking towards a rail, gain drift, and adaptive
normalisation that stops learning while a channel is faulty.

DriftMonitor passes samples through unchanged and emits warnings:
- ``baseline_near_rail``: the per-window mean code is within ``margin`` of the
  code range from a rail, or its linear trend over ``trend_s`` reaches a rail
  within ``horizon_s``;
- ``gain_drift``: the rest noise floor (a low quantile of the per-window RMS
  over ``floor_s``; put the stage after the band-pass, so this is the RMS in
  the EMG band) moved more than
  ``gain_tolerance`` from its reference (the calibration's ``noise_floor`` or
  the first floor measured);
- ``recalibrate``: "recalibration recommended", once per channel, when one of
  the above lasts ``persist_s``.
The noise floor counts only valid samples, so faults do not look like gain
drift. The baseline counts every sample the device sent whatever the fault
masks say (a false mask must not hide a rail approach), except filled gaps
and samples at the rails themselves (saturation is the fault stage's to
report).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

from .._optional_native import native_with
from ..blocks import EV_GAP, Block, SignalBlock
from ..errors import SensorioError
from .calibrate import Calibration, StreamInfo, measure_gain_from_test
from .stages import DspEvent, Stage, apply_policy, last_valid, register_stage

_native_ffi, _native_lib = native_with("sio_drift_window")

#: each window's end in C (csrc/sio_drift.c) when built (False: numpy, the
#: reference; tests compare them)
DRIFT_NATIVE = True


def _column_quantile(hist: np.ndarray, q: float) -> np.ndarray:
    """numpy.nanquantile(hist, q, axis=0) with the values that are not
    finite left out: numpy.quantile over the columns where every value is
    finite (the same values), nanquantile only over the others. nanquantile
    walks an array's columns one by one in Python: over a minute of 1 s
    windows at 256 channels it took 7 ms, once a second."""
    finite = np.isfinite(hist)
    whole = finite.all(axis=0)
    if whole.all():
        return np.asarray(np.quantile(hist, q, axis=0))
    out = np.empty(hist.shape[1])
    out[whole] = np.quantile(hist[:, whole], q, axis=0)
    part = ~whole
    out[part] = np.nanquantile(np.where(finite[:, part], hist[:, part], np.nan), q, axis=0)
    return out


class _Ahead(NamedTuple):
    """What DriftMonitor.watch_ahead worked out for the rows from start:
    the array it saw (channels, rows), its squares' sums per channel, the
    codes' sums per channel and their smallest and largest."""

    start: int
    data: np.ndarray
    hh: np.ndarray
    csum: np.ndarray
    lo: int
    hi: int


@register_stage
class DriftMonitor(Stage):
    """Baseline and gain-drift warnings (see the module text)."""

    kind = "drift"
    transparent = True  # passes every block on as it is

    def __init__(
        self,
        window_s: float = 1.0,
        margin: float = 0.1,
        trend_s: float = 20.0,
        horizon_s: float = 30.0,
        floor_s: float = 60.0,
        floor_quantile: float = 0.1,
        gain_tolerance: float = 0.3,
        persist_s: float = 10.0,
        noise_floor: list[float] | None = None,
    ) -> None:
        super().__init__()
        self.window_s = float(window_s)
        self.margin = float(margin)
        self.trend_s = float(trend_s)
        self.horizon_s = float(horizon_s)
        self.floor_s = float(floor_s)
        self.floor_quantile = float(floor_quantile)
        self.gain_tolerance = float(gain_tolerance)
        self.persist_s = float(persist_s)
        self.reference_floor = None if noise_floor is None else np.asarray(noise_floor, float)
        self._rate = 0.0

    def describe(self) -> dict[str, Any]:
        """The monitor's settings as a pipeline-file table (``{"type": "drift", "window_s": ..., ...}``)."""
        return {
            "type": self.kind,
            "window_s": self.window_s,
            "margin": self.margin,
            "trend_s": self.trend_s,
            "horizon_s": self.horizon_s,
            "floor_s": self.floor_s,
            "gain_tolerance": self.gain_tolerance,
            "persist_s": self.persist_s,
        }

    def use_calibration(self, cal: Calibration | None, stream: int) -> None:
        """Take the noise floor saved for ``stream`` in ``cal`` as the gain-drift reference (nothing if it has none)."""
        if cal is not None and stream in cal.streams and cal.streams[stream].noise_floor:
            self.reference_floor = np.asarray(cal.streams[stream].noise_floor, float)

    def _setup(self, block: SignalBlock) -> None:
        fs = block.rate_hz
        self._rate = fs
        ch = block.n_channels
        self.win = max(1, int(round(self.window_s * fs)))
        self._acc = np.zeros((3, ch))  # sum code, sum hp^2, count (valid samples)
        self._base = np.zeros((2, ch))  # sum code, count (samples sent, off the rails)
        self._pos: int | None = None  # absolute index of the current window's start
        n_trend = max(2, int(round(self.trend_s / self.window_s)))
        n_floor = max(2, int(round(self.floor_s / self.window_s)))
        # the last n_trend windows' baselines: a ring of rows, the oldest at
        # _trend_head (C reads it in place)
        self._trend = np.zeros((n_trend, ch))
        self._trend_head = 0
        self._trend_n = 0
        self._near = np.zeros(ch, dtype=bool)
        self._win_ptrs: list[Any] | None = None  # C pointers into the arrays above, made once
        self._rms: deque[np.ndarray] = deque(maxlen=n_floor)
        self._bad_since = {k: np.full(ch, -1.0) for k in ("baseline_near_rail", "gain_drift")}
        self._open: dict[tuple[str, int], DspEvent] = {}
        self._recommended = np.zeros(ch, dtype=bool)
        self.floor = np.full(ch, np.nan)
        self._ahead: _Ahead | None = None
        # codes' sums and range of the pieces run ahead (row, rows, sums, lo, hi)
        self._pieces: list[tuple[int, int, np.ndarray, int, int]] = []

    def reset(self) -> None:
        if self._rate:
            self._acc[:] = 0
            self._base[:] = 0
            self._pos = None
            self._trend_head = self._trend_n = 0
            self._pieces.clear()
            self._ahead = None

    def watch_ahead(self, row: int, codes: np.ndarray | None, stretch: tuple[int, np.ndarray] | None) -> None:
        """The sums process will need of the rows run ahead (Stage.watch_ahead),
        worked out as the Pipeline runs them, on blocks that complete no
        hop of the fault detector (on the block that lets them out they came
        cold from memory: 0.07 ms at 256 channels): their codes' sums
        (integers: the same whatever the pieces) and range, piece by piece
        while they are in the cache; and, once a stretch is complete, its
        squares' sums on the very array process will be given (so the same
        bits). Used when that block comes whole, as one window's part."""
        if not self._rate:
            return
        if codes is None:
            self._pieces.clear()
        else:
            lo, hi = int(codes.min()), int(codes.max())
            # (int32 sums are exact, and faster, while they cannot overflow)
            small = max(-lo, hi) * len(codes) < 2**31
            csum = codes.sum(axis=0, dtype=np.int32 if small else np.int64)
            self._pieces.append((row, len(codes), csum, lo, hi))
        if stretch is None:
            return
        start, data = stretch
        end = start + data.shape[1]
        pieces = [p for p in self._pieces if start <= p[0] < end]
        self._pieces = [p for p in self._pieces if p[0] >= end]
        at = start
        for r, n, _, _, _ in pieces:
            at = at + n if r == at else -1
        if at != end or data.shape[0] != self._acc.shape[1]:
            return  # (not every piece's codes)
        total = pieces[0][2].astype(np.int64)
        for p in pieces[1:]:
            total += p[2]
        lo, hi = min(p[3] for p in pieces), max(p[4] for p in pieces)
        self._ahead = _Ahead(start, data, np.einsum("ij,ij->i", data, data), total, lo, hi)

    def _taken_ahead(self, block: SignalBlock) -> _Ahead | None:
        """What watch_ahead worked out for block, when its data is the array
        it saw (the same shape and strides as that array, a view of it: the
        same memory) and it has codes; forgotten once its rows are past."""
        got = self._ahead
        if got is None or block.start + len(block) <= got.start:
            return None
        self._ahead = None
        hp = block.data.T
        if (
            got.start != block.start
            or block.codes is None
            or hp.base is not got.data
            or hp.shape != got.data.shape
            or hp.strides != got.data.strides
        ):
            return None
        return got

    def process(self, block: SignalBlock) -> SignalBlock:
        """The block unchanged; its samples go into the per-window sums, and the
        baseline and gain-drift warnings open and close at each full window."""
        if self._rate != block.rate_hz:
            self._setup(block)
        n = len(block)
        if n == 0:
            return block
        if self._pos is None:
            self._pos = block.start - (block.start % self.win)
        valid = block.valid
        hp = block.data  # band-passed already (the stage sits after the band-pass)
        codes = block.codes if block.codes is not None else block.data
        ahead = self._taken_ahead(block)
        sent = self._sent(block) if block.codes is None or not self._all_sent(block, ahead) else None
        i = 0
        while i < n:
            end_abs = self._pos + self.win
            j = min(n, end_abs - block.start)
            sl = slice(i, j)
            v = valid[sl]
            # sums channel-major (the stages' arrays are laid out that way)
            ct, ht = codes[sl].T, hp[sl].T
            csum = None
            if v.all():
                whole = ahead is not None and i == 0 and j == n  # (its sums: the block's)
                csum = ahead.csum if whole and ahead is not None else ct.sum(axis=1)
                self._acc[0] += csum
                self._acc[1] += ahead.hh if whole and ahead is not None else np.einsum("ij,ij->i", ht, ht)
                self._acc[2] += j - i
            else:
                vt = v.T
                self._acc[0] += np.where(vt, ct, 0).sum(axis=1)
                self._acc[1] += np.where(vt, ht * ht, 0).sum(axis=1)
                self._acc[2] += vt.sum(axis=1)
            if sent is None and csum is not None:
                # every sample sent: the same integer sums as above
                self._base[0] += csum
                self._base[1] += j - i
            elif sent is None:
                self._base[0] += ct.sum(axis=1)
                self._base[1] += j - i
            else:
                st = sent[sl].T
                self._base[0] += np.where(st, ct, 0).sum(axis=1)
                self._base[1] += st.sum(axis=1)
            i = j
            if block.start + j == end_abs:
                self._window_done(block, end_abs)
                self._pos = end_abs
                self._acc[:] = 0
                self._base[:] = 0
        return block

    def _all_sent(self, block: SignalBlock, ahead: _Ahead | None = None) -> bool:
        """Whether every sample of a block with codes was sent (no filled gap)
        and is off the rails (what _sent would give all True); ahead: its
        codes' range worked out ahead (None: not)."""
        codes = block.codes
        assert codes is not None
        if any(ev["kind"] == EV_GAP and int(ev["lost_samples"]) > 0 for ev in block.events):
            return False
        if block.code_range is None or not codes.size:
            return True
        lo, hi = block.code_range
        if ahead is not None:
            return ahead.lo > lo and ahead.hi < hi
        return bool(codes.min() > lo and codes.max() < hi)

    def _sent(self, block: SignalBlock) -> np.ndarray:
        """(rows, channels): samples the device sent (not a filled gap) and
        off the rails, whatever the fault masks say."""
        n = len(block)
        sent = np.ones((n, block.n_channels), dtype=bool)
        if block.codes is not None and block.code_range is not None:
            lo, hi = block.code_range
            sent &= (block.codes > lo) & (block.codes < hi)
        for ev in block.events if len(block.events) else ():
            if ev["kind"] == EV_GAP and int(ev["lost_samples"]) > 0:
                row = int(ev["row"])  # the gap's filled rows end where the stream resumes
                sent[max(0, row - int(ev["lost_samples"])) : max(0, row)] = False
        return sent

    def _window_done(self, block: SignalBlock, end_abs: int) -> None:
        # the window's row of the baselines' ring (the oldest goes when full)
        if self._trend_n < len(self._trend):
            self._trend_n += 1
        else:
            self._trend_head = (self._trend_head + 1) % len(self._trend)
        rng = block.code_range
        if DRIFT_NATIVE and _native_lib is not None:
            rms, mean, near = self._window_c(rng)
        else:
            rms, mean, near, _ = self._window_numpy(rng)
        self._rms.append(rms)
        t = end_abs / self._rate
        self._track("baseline_near_rail", near, t, block.stream, lambda c: {"baseline_code": float(mean[c])})
        drift = np.zeros(block.n_channels, dtype=bool)
        if len(self._rms) == self._rms.maxlen:
            with np.errstate(invalid="ignore"):
                hist = np.array(self._rms)
                enough = np.isfinite(hist).sum(axis=0) >= hist.shape[0] // 2
                floor = np.where(enough, _column_quantile(hist, self.floor_quantile), np.nan)
            self.floor = floor
            if self.reference_floor is None and np.isfinite(floor).all():
                self.reference_floor = floor.copy()
            if self.reference_floor is not None:
                ratio = floor / self.reference_floor
                tol = 1.0 + self.gain_tolerance
                drift = np.isfinite(ratio) & ((ratio > tol) | (ratio < 1 / tol))
        self._track(
            "gain_drift",
            drift,
            t,
            block.stream,
            lambda c: {
                "floor": float(self.floor[c]),
                "reference": float(self.reference_floor[c]) if self.reference_floor is not None else None,
            },
        )

    def _window_c(
        self, rng: tuple[int, int] | None, eta: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """_window_numpy's rms, baseline and "near a rail" flags in one C call
        (csrc/sio_drift.c; numpy took 0.12 ms at 256 channels, on the block
        that completes a hop); eta: where its times to a rail go (None: not
        wanted)."""
        ffi = _native_ffi
        assert ffi is not None and _native_lib is not None
        if self._win_ptrs is None:  # (the sums, the ring and near stay where they are)
            sums = (self._acc[1], self._acc[2], self._base[0], self._base[1], self._trend)
            self._win_ptrs = [ffi.from_buffer("double[]", a) for a in sums]
            self._win_ptrs.append(ffi.from_buffer("uint8_t[]", self._near))
        acc_hp2, acc_n, base_sum, base_n, trend, near_ptr = self._win_ptrs
        ch = len(self._near)
        rms, mean = np.empty(ch), np.empty(ch)  # (new arrays: the rms history keeps them)
        lo, hi = (0, 0) if rng is None else rng
        rc = _native_lib.sio_drift_window(
            ch, 0.5 * self.win, acc_hp2, acc_n, base_sum, base_n, rng is not None, float(lo), float(hi),
            self.margin * float(hi - lo), trend, len(self._trend), self._trend_head, self._trend_n, self.window_s,
            self.horizon_s, ffi.from_buffer("double[]", rms), ffi.from_buffer("double[]", mean), near_ptr,
            ffi.NULL if eta is None else ffi.from_buffer("double[]", eta),
        )  # fmt: skip
        if rc != 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"drift: native window end refused {ch} channels")
        return rms, mean, self._near

    def _window_numpy(self, rng: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A window's rms, baseline (put into the history), "near a rail"
        flags and the baselines' time to a rail (NaN: not tested), in numpy
        (the reference of sio_drift_window)."""
        cnt = self._acc[2]
        ok = cnt >= 0.5 * self.win
        rms = np.where(ok, np.sqrt(self._acc[1] / np.maximum(cnt, 1)), np.nan)
        n_sent = self._base[1]
        ok = n_sent >= 0.5 * self.win
        mean = np.where(ok, self._base[0] / np.maximum(n_sent, 1), np.nan)
        cap, head, n_hist = len(self._trend), self._trend_head, self._trend_n
        self._trend[(head + n_hist - 1) % cap] = mean
        near = np.zeros(len(mean), dtype=bool)
        eta = np.full(len(mean), np.nan)
        if rng is not None:
            lo, hi = rng
            span = float(hi - lo)
            with np.errstate(invalid="ignore"):
                near = (mean - lo < self.margin * span) | (hi - mean < self.margin * span)
            if n_hist >= 3:
                # least-squares slope per channel over the recent windows, oldest first
                base = self._trend[(head + np.arange(n_hist)) % cap]
                tt = np.arange(len(base))[:, None] * self.window_s
                m = np.isfinite(base)
                cnt = m.sum(axis=0)
                y = np.where(m, base, 0.0)
                tm = np.where(m, tt, 0.0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    t_mean = tm.sum(axis=0) / cnt
                    y_mean = y.sum(axis=0) / cnt
                    dt = np.where(m, tt - t_mean, 0.0)
                    slope = (dt * (y - y_mean)).sum(axis=0) / (dt * dt).sum(axis=0)
                    last = np.where(np.isfinite(mean), mean, y_mean)
                    eta = np.where(
                        slope > 0,
                        (hi - last) / slope,
                        np.where(slope < 0, (lo - last) / slope, np.inf),
                    )
                near |= (cnt >= 3) & np.isfinite(slope) & (eta < self.horizon_s)
        near &= ok
        return rms, mean, near, eta

    def _track(self, kind: str, bad: np.ndarray, t: float, stream: int, detail: Any) -> None:
        since = self._bad_since[kind]
        # only the channels with something to do (bad, or bad until now): a
        # loop over all of them cost 0.1 ms at 256 channels every window
        for c in np.flatnonzero(bad | (since >= 0)).tolist():
            key = (kind, c)
            if bad[c]:
                if since[c] < 0:
                    since[c] = t - self.window_s
                    ev = DspEvent(stream, c, kind, since[c], None, t, severity="warning", detail=detail(c))
                    self._open[key] = ev
                    self.emit(ev)
                if t - since[c] >= self.persist_s and not self._recommended[c]:
                    self._recommended[c] = True
                    self.emit(
                        DspEvent(
                            stream,
                            c,
                            "recalibrate",
                            t,
                            t,
                            t,
                            severity="warning",
                            detail={"reason": kind},
                        )
                    )
            elif since[c] >= 0:
                since[c] = -1.0
                closed = self._open.pop(key, None)
                if closed is not None:
                    closed.end_s = t - self.window_s
                    self.emit(closed)

    def finish(self, end_s: float) -> None:
        for (_, _c), ev in list(self._open.items()):
            ev.end_s = end_s
            self.emit(ev)
        self._open.clear()


def test_gain_drift(
    blocks: Iterable[Block],
    info: Mapping[str, Any],
    calibration: Calibration,
    stream: int = 0,
    tolerance: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Measure the TEST signal now and compare with the calibration's:
    returns (ratio now/then per channel, recalibration recommended per channel)."""
    ref = calibration.streams.get(stream)
    if ref is None or not ref.test_amplitude:
        raise SensorioError("the calibration has no TEST-signal reference: run 'sensorio calibrate' first")
    StreamInfo.from_descriptor(info, stream)
    _, amp = measure_gain_from_test(blocks, info, stream)
    ratio = amp / np.asarray(ref.test_amplitude, float)
    return ratio, np.abs(ratio - 1.0) > tolerance


@register_stage
class Normalise(Stage):
    """Divide by a per-channel reference level: the calibration's MVC when
    given (``mvc``), else an adaptive peak tracker that decays with time
    constant ``tau_s`` and stays frozen while the channel is invalid (a fault
    never teaches it a false level). Put it after an envelope stage."""

    kind = "normalise"

    def __init__(self, mvc: list[float] | None = None, tau_s: float = 60.0, min_level: float = 1e-6) -> None:
        super().__init__()
        self.mvc = None if mvc is None else np.asarray(mvc, float)
        # (a level of 0, a flat channel's MVC, is raised to min_level)
        if self.mvc is not None and (self.mvc.ndim > 1 or not self.mvc.size or not (self.mvc >= 0).all()):
            raise SensorioError(f"mvc must be a level, or one per channel, of 0 or more, not {mvc!r}")
        self.tau_s = float(tau_s)
        if not self.tau_s > 0:
            raise SensorioError(f"tau_s must be above 0 s, not {tau_s!r}")
        self.min_level = float(min_level)
        if not self.min_level > 0:
            raise SensorioError(f"min_level must be above 0, not {min_level!r}")
        self._log_peak: np.ndarray | None = None  # max over valid j of log x_j + k_j/tau
        self._k: np.ndarray | None = None  # valid samples seen, per channel
        self._held_out: np.ndarray | None = None

    def describe(self) -> dict[str, Any]:
        """``{"type": "normalise", "tau_s": ...}``, plus the ``mvc`` levels when given."""
        return {
            "type": self.kind,
            "tau_s": self.tau_s,
            **({"mvc": self.mvc.tolist()} if self.mvc is not None else {}),
        }

    def reset(self) -> None:
        pass  # the learnt level survives a discontinuity

    def level(self) -> np.ndarray | None:
        """The current reference level per channel."""
        if self.mvc is not None:
            return self.mvc
        if self._log_peak is None or self._k is None:
            return None
        return np.exp(self._log_peak - self._k * self._decay)

    def process(self, block: SignalBlock) -> SignalBlock:
        """The block divided by each channel's reference level (unit ``"1"``): the
        MVC, else the decaying peak of the valid samples so far, at least ``min_level``.
        Invalid samples follow the masking ``policy``."""
        n, ch = block.data.shape
        if self._held_out is None:
            self._held_out = np.full(ch, np.nan)
            self._k = np.zeros(ch)
            self._log_peak = np.full(ch, -np.inf)
        valid = block.valid
        if self.mvc is not None and self.mvc.ndim == 1 and self.mvc.size != ch:
            raise SensorioError(f"normalise: mvc gives {self.mvc.size} levels for {ch} channels")
        if self.mvc is not None:
            ref = np.broadcast_to(np.maximum(self.mvc, self.min_level), (n, ch))
        else:
            assert self._k is not None and self._log_peak is not None
            self._decay = 1.0 / (self.tau_s * block.rate_hz)
            k = self._k[None, :] + np.cumsum(valid, axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                lx = np.where(valid, np.log(np.abs(np.where(valid, block.data, 1.0))), -np.inf)
            cand = np.maximum.accumulate(np.vstack([self._log_peak[None, :], lx + k * self._decay]), axis=0)[1:]
            ref = np.maximum(np.exp(cand - k * self._decay), self.min_level)
            if n:
                self._log_peak = cand[-1].copy()
                self._k = k[-1].astype(float)
        y = np.where(valid, block.data, 0.0) / ref
        out = apply_policy(y, valid, self.policy, self._held_out)
        self._held_out = last_valid(y, valid, self._held_out)
        return block.replace(data=out, valid=valid, units=("1",) * ch)
