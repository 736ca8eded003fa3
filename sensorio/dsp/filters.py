"""Streaming filters: high-pass, low-pass, band-pass, mains notch, envelope,
decimation. All are scipy ``sosfilt`` with carried state (never filtfilt,
which cannot stream), so their output equals ``sosfilt`` run once on the whole
signal with the same initial state.

Initial state: a filter is primed on each channel's first valid sample x0
with the steady-state memory for a constant x0 (``sosfilt_zi * x0``), so a
large DC offset at start-up gives no transient. The offline reference is
therefore ``sosfilt(sos, x, zi=sosfilt_zi(sos) * x[0])``. Invalid samples
(gaps, faults) are replaced, for the filter's memory only, by the channel's
last valid input (a hold: no step, no transient), and stay invalid.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import signal

from .._optional_native import native_with
from ..blocks import SignalBlock
from ..errors import SensorioError
from ..faultkinds import MAINS_HZ, check_mains_hz
from .stages import Stage, apply_policy, concat_signal, forward_fill, last_valid, register_stage

try:
    # scipy's own sosfilt kernel, without the public wrapper's per-call checks
    # and axis juggling (~250 us a call, more than filtering a 10 ms block);
    # the public function is used if a scipy release moves it.
    from scipy.signal._sosfilt import _sosfilt as _sosfilt_kernel
except ImportError:  # pragma: no cover
    _sosfilt_kernel = None

_native_ffi, _native_lib = native_with("sio_sos_filter")


#: filter with csrc/sio_sos.c when built (False: scipy's kernel; tests compare them)
SOSFILT_NATIVE = True


def sosfilt_channels(sos: np.ndarray, xt: np.ndarray, zi: np.ndarray) -> None:
    """Filter xt (channels, samples; C-contiguous float64) in place, with
    zi (channels, sections, 2) updated in place: scipy.signal.sosfilt.

    Not scipy's code when the C core has csrc/sio_sos.c: the same arithmetic
    in the same order, with four channels in lockstep so their serial filter
    chains overlap (scipy filters one channel after another; the default
    pipeline's filters took three times as long there). scipy's kernel is the
    reference it is tested against, and the fallback."""
    if SOSFILT_NATIVE and _native_lib is not None and xt.flags.c_contiguous and zi.flags.c_contiguous:
        ffi = _native_ffi
        assert ffi is not None
        rc = _native_lib.sio_sos_filter(
            sos.shape[0],
            ffi.from_buffer("double[]", sos),
            xt.shape[0],
            xt.shape[1],
            xt.shape[1],
            ffi.from_buffer("double[]", xt),
            ffi.from_buffer("double[]", zi),
        )
        if rc != 0:  # pragma: no cover - shapes come from the filter design
            raise SensorioError(f"sosfilt: native kernel refused {sos.shape[0]} sections")
        return
    if _sosfilt_kernel is not None:
        _sosfilt_kernel(sos, xt, zi)
        return
    y, zf = signal.sosfilt(sos, xt, axis=-1, zi=np.moveaxis(zi, 0, 1))
    xt[...] = y
    zi[...] = np.moveaxis(zf, 1, 0)


#: after this many seconds of invalid input a filter re-primes on the next
#: valid sample instead of ringing from the step between old and new value
REPRIME_S = 0.1
#: frequency (Hz) at which band-pass-like stages report their group delay:
#: the middle of the surface-EMG power spectrum
REF_HZ = 100.0


def sos_group_delay(sos: np.ndarray, freq_hz: float, rate_hz: float) -> float:
    """Group delay in samples of a cascade of biquads at one frequency."""
    w = 2 * np.pi * freq_hz / rate_hz
    total = 0.0
    for sec in np.atleast_2d(sos):
        _, gd = signal.group_delay((sec[:3], sec[3:]), w=[w])
        total += float(gd[0])
    return total


class SosState:
    """sosfilt over (rows, channels) with carried memory and a hold across
    invalid samples. A channel is (re)primed -- its memory set to the steady
    state of its current value -- on its first valid sample, and again after
    ``reprime_after`` or more invalid samples in a row (the signal may have
    moved meanwhile: a step would ring through the filter)."""

    def __init__(self, sos: np.ndarray, reprime_after: int | None = None) -> None:
        self.sos = np.ascontiguousarray(sos, dtype=np.float64)
        self._unit = signal.sosfilt_zi(self.sos)
        self.reprime_after = reprime_after
        self.reset()

    @property
    def unit_state(self) -> np.ndarray:
        """The filter memory (sections, 2) of a unit step's steady state; a channel primes to it times its value."""
        return self._unit

    def reset(self) -> None:
        self.zi: np.ndarray | None = None
        self._steady = False  # every channel primed, none invalid just before
        self.held: np.ndarray | None = None
        self.invalid_run: np.ndarray | None = None  # invalid samples just before the next one

    def run(self, x: np.ndarray, valid: np.ndarray, all_valid: bool | None = None) -> np.ndarray:
        """Filter x (rows, channels); all_valid: valid.all(), if the caller knows."""
        n, ch = x.shape
        if self.zi is None:
            self.zi = np.zeros((ch, self.sos.shape[0], 2))
            self.held = np.zeros(ch)
            self.invalid_run = np.full(ch, np.iinfo(np.int64).max // 2, dtype=np.int64)
            self._steady = False
        assert self.held is not None and self.invalid_run is not None
        if n == 0:
            return np.zeros((0, ch))
        if all_valid is None:
            all_valid = bool(valid.all())
        if all_valid and self._steady:
            # the common case: every channel primed and valid up to here
            yt = np.array(x.T, dtype=np.float64, order="C")
            sosfilt_channels(self.sos, yt, self.zi)
            self.held = x[-1].copy()
            return yt.T
        limit = self.reprime_after
        if all_valid:
            never = self.invalid_run >= np.iinfo(np.int64).max // 4
            need = never | ((self.invalid_run >= limit) if limit else False)
            prime_cols = np.nonzero(need)[0]
            prime_rows = np.zeros(prime_cols.size, dtype=np.int64)
            filled = x
            self.invalid_run[:] = 0
        else:
            # only the channels with an invalid sample in the block or just
            # before it: for the others nothing primes and nothing is filled
            # (one faulty channel of 256 must not cost a pass over all)
            cols = np.flatnonzero(~valid.all(axis=0) | (self.invalid_run != 0))
            v = valid[:, cols]
            carried = self.invalid_run[cols]
            rows = np.arange(n)[:, None]
            lastv = np.where(v, rows, -1)
            np.maximum.accumulate(lastv, axis=0, out=lastv)
            # invalid samples right before each row
            before = np.vstack([np.full((1, cols.size), -1), lastv[:-1]])
            run = np.where(before >= 0, rows - before - 1, rows + carried[None, :])
            never = carried >= np.iinfo(np.int64).max // 4
            need = (run >= limit) if limit else np.zeros_like(v)
            # a channel that was never valid primes on its first valid sample
            first_ever = never[None, :] & (before < 0)
            prime = v & (need | first_ever)
            prime_rows, at = np.nonzero(prime)
            prime_cols = cols[at]
            held = self.held.copy()
            for j in at[np.unique(at, return_index=True)[1]]:
                # samples before a channel's first prime hold that first value
                r0 = prime_rows[at == j].min()
                if never[j] and not v[:r0, j].any():
                    held[cols[j]] = x[r0, cols[j]]
            filled = forward_fill(x, valid, held)
            last = lastv[-1]
            self.invalid_run[cols] = np.where(last >= 0, n - 1 - last, carried + n)
        # filter channel-major: contiguous rows for scipy's kernel; the result
        # goes back as a (samples, channels) view, so stages chain without copies
        yt = np.array(filled.T, dtype=np.float64, order="C")
        if prime_rows.size == 0:
            sosfilt_channels(self.sos, yt, self.zi)
        else:
            cuts = np.unique(np.concatenate([prime_rows, [n]]))
            a = 0
            for b in cuts:
                if b > a:
                    part = np.ascontiguousarray(yt[:, a:b])
                    sosfilt_channels(self.sos, part, self.zi)
                    yt[:, a:b] = part
                cols = prime_cols[prime_rows == b]
                if cols.size:
                    self.zi[cols] = self._unit[None, :, :] * filled[b, cols][:, None, None]
                a = b
        self.held = filled[-1].copy()
        self._steady = not self.invalid_run.any()
        return yt.T

    def snapshot(self) -> tuple[Any, ...]:
        """The memory, for :meth:`restore` (copies)."""
        copy = None if self.zi is None else (self.zi.copy(), self.held.copy(), self.invalid_run.copy())  # type: ignore[union-attr]
        return (copy, self._steady)

    def restore(self, state: tuple[Any, ...]) -> None:
        """Back to the memory :meth:`snapshot` gave (copied again: it may be restored twice)."""
        copy, self._steady = state
        if copy is None:
            self.zi = self.held = self.invalid_run = None
        else:
            self.zi, self.held, self.invalid_run = (a.copy() for a in copy)


class SosStage(Stage):
    """A stage that is one SosState designed for the stream's rate."""

    runs_ahead = True

    def __init__(self) -> None:
        super().__init__()
        self._state: SosState | None = None
        self._rate = 0.0
        self._held_out: np.ndarray | None = None
        self.warnings: list[str] = []

    def design(self, rate_hz: float) -> np.ndarray:
        """The second-order sections (n, 6) of this filter at rate_hz.

        Raises:
            SensorioError: the filter's frequencies do not fit below the Nyquist
                frequency of rate_hz."""
        raise NotImplementedError

    def prepare(self, x: np.ndarray) -> np.ndarray:
        """The input the filter runs on, from the block's data (rows, channels); the data itself here."""
        return x

    def _setup(self, block: SignalBlock) -> SosState:
        if self._state is None or self._rate != block.rate_hz:
            self._state = SosState(
                self.design(block.rate_hz),
                reprime_after=max(1, int(round(REPRIME_S * block.rate_hz))),
            )
            self._rate = block.rate_hz
            self._held_out = None
        return self._state

    def reset(self) -> None:
        if self._state is not None:
            self._state.reset()
        self._held_out = None

    def process(self, block: SignalBlock) -> SignalBlock:
        """Filter the block, carrying each channel's memory over from the last call.

        Invalid samples keep their ``valid=False``; their output value follows the
        masking ``policy``. The filter is designed (again) when the rate changes."""
        st = self._setup(block)
        valid = block.valid
        all_valid = bool(valid.all())
        y = st.run(self.prepare(block.data), valid, all_valid)
        return self.output(block, y, valid, all_valid)

    def output(self, block: SignalBlock, y: np.ndarray, valid: np.ndarray, all_valid: bool = False) -> SignalBlock:
        """The output block from the filtered values y: invalid samples set by the
        masking ``policy`` (``hold`` repeats the last valid output across blocks)."""
        if self._held_out is None:
            self._held_out = np.full(block.n_channels, np.nan)
        if all_valid:
            self._held_out = y[-1].copy() if len(y) else self._held_out
            return block.replace(data=y, valid=valid)
        out = apply_policy(y, valid, self.policy, self._held_out)
        self._held_out = last_valid(y, valid, self._held_out)
        return block.replace(data=out, valid=valid)

    def snapshot(self) -> Any:
        """The filter's memory and last valid output (see Stage.snapshot)."""
        held = None if self._held_out is None else self._held_out.copy()
        return (self._state, None if self._state is None else self._state.snapshot(), self._rate, held)

    def restore(self, state: Any) -> None:
        """Back to a :meth:`snapshot` (see Stage.restore)."""
        self._state, inner, self._rate, held = state
        if self._state is not None:
            self._state.restore(inner)
        self._held_out = None if held is None else held.copy()

    def sos_for(self, rate_hz: float) -> np.ndarray:
        """The second-order sections this stage filters with at rate_hz (:meth:`design`)."""
        return self.design(rate_hz)

    def latency(self, rate_hz: float) -> float:
        return sos_group_delay(self.design(rate_hz), self.latency_ref_hz(rate_hz), rate_hz)

    def latency_ref_hz(self, rate_hz: float) -> float:
        """The frequency in Hz at which :meth:`latency` measures the group delay:
        100 Hz (the middle of the surface-EMG spectrum), at most 0.4 x rate_hz."""
        return min(REF_HZ, 0.4 * rate_hz)

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)
            warnings.warn(text, stacklevel=4)


def _positive(name: str, value: float) -> float:
    """value as a float, refused unless above 0 (NaN too)."""
    v = float(value)
    if not v > 0:
        raise SensorioError(f"{name} must be above 0, not {value!r}")
    return v


def _check_order(order: int) -> int:
    if not 1 <= int(order) <= 10:
        raise SensorioError(f"filter order {order} out of range 1..10")
    return int(order)


def _butter_edge(order: int, cutoff_hz: float, btype: str, rate_hz: float) -> np.ndarray:
    """Butterworth high- or low-pass SOS, with the cutoff checked against Nyquist."""
    if not 0 < cutoff_hz < 0.5 * rate_hz:
        name = "high-pass" if btype == "highpass" else "low-pass"
        raise SensorioError(f"{name} cutoff {cutoff_hz:g} Hz must be above 0 and below {rate_hz / 2:g} Hz")
    return signal.butter(order, cutoff_hz, btype, fs=rate_hz, output="sos")


@register_stage
class HighPass(SosStage):
    """Butterworth high-pass (removes baseline and motion below cutoff)."""

    kind = "highpass"

    def __init__(self, cutoff_hz: float = 20.0, order: int = 4) -> None:
        super().__init__()
        self.cutoff_hz = _positive("cutoff_hz", cutoff_hz)
        self.order = _check_order(order)

    def design(self, rate_hz: float) -> np.ndarray:
        """Butterworth high-pass sections at cutoff_hz (raises SensorioError unless 0 < cutoff < rate_hz / 2)."""
        return _butter_edge(self.order, self.cutoff_hz, "highpass", rate_hz)

    def latency_ref_hz(self, rate_hz: float) -> float:
        """Group-delay frequency in Hz: 100 Hz or twice the cutoff, whichever is higher, at most 0.45 x rate_hz."""
        return min(max(REF_HZ, 2 * self.cutoff_hz), 0.45 * rate_hz)

    def describe(self) -> dict[str, Any]:
        """``{"type": "highpass", "cutoff_hz": ..., "order": ...}``."""
        return {"type": self.kind, "cutoff_hz": self.cutoff_hz, "order": self.order}


@register_stage
class LowPass(SosStage):
    """Butterworth low-pass."""

    kind = "lowpass"

    def __init__(self, cutoff_hz: float = 6.0, order: int = 2) -> None:
        super().__init__()
        self.cutoff_hz = _positive("cutoff_hz", cutoff_hz)
        self.order = _check_order(order)

    def design(self, rate_hz: float) -> np.ndarray:
        """Butterworth low-pass sections at cutoff_hz (raises SensorioError unless 0 < cutoff < rate_hz / 2)."""
        return _butter_edge(self.order, self.cutoff_hz, "lowpass", rate_hz)

    def latency_ref_hz(self, rate_hz: float) -> float:
        """Group-delay frequency in Hz: a quarter of the cutoff (in the pass band), at most 100 Hz."""
        return min(self.cutoff_hz / 4, REF_HZ)

    def describe(self) -> dict[str, Any]:
        """``{"type": "lowpass", "cutoff_hz": ..., "order": ...}``."""
        return {"type": self.kind, "cutoff_hz": self.cutoff_hz, "order": self.order}


@register_stage
class BandPass(SosStage):
    """Butterworth band-pass, default 20-450 Hz (surface EMG). The upper edge
    is capped at 0.45 x the sample rate, with a warning."""

    kind = "bandpass"

    def __init__(self, low_hz: float = 20.0, high_hz: float = 450.0, order: int = 2) -> None:
        super().__init__()
        self.low_hz = _positive("low_hz", low_hz)
        self.high_hz = _positive("high_hz", high_hz)
        if not self.high_hz > self.low_hz:
            raise SensorioError(f"high_hz {self.high_hz:g} must be above low_hz {self.low_hz:g}")
        self.order = _check_order(order)

    def edges(self, rate_hz: float) -> tuple[float, float]:
        """The (low, high) edges in Hz used at rate_hz: the upper edge capped at
        0.45 x rate_hz, with a warning once.

        Raises:
            SensorioError: the band is empty (low_hz not between 0 and the upper edge)."""
        high = self.high_hz
        if high > 0.45 * rate_hz:
            high = 0.45 * rate_hz
            self._warn(
                f"band-pass upper edge {self.high_hz:g} Hz capped at {high:g} Hz "
                f"(0.45 x the {rate_hz:g} Hz sample rate)"
            )
        if not 0 < self.low_hz < high:
            raise SensorioError(f"band-pass {self.low_hz:g}-{high:g} Hz is empty at {rate_hz:g} Hz")
        return self.low_hz, high

    def design(self, rate_hz: float) -> np.ndarray:
        """Butterworth band-pass sections between :meth:`edges` at rate_hz."""
        return signal.butter(self.order, self.edges(rate_hz), "bandpass", fs=rate_hz, output="sos")

    def latency_ref_hz(self, rate_hz: float) -> float:
        """Group-delay frequency in Hz: the geometric centre of the pass band, sqrt(low x high)."""
        lo, hi = self.edges(rate_hz)
        return float(np.sqrt(lo * hi))

    def describe(self) -> dict[str, Any]:
        """``{"type": "bandpass", "low_hz": ..., "high_hz": ..., "order": ...}``."""
        return {
            "type": self.kind,
            "low_hz": self.low_hz,
            "high_hz": self.high_hz,
            "order": self.order,
        }


#: detect_mains works on this many channels at a time
MAINS_GROUP = 8
#: over a window of at least two of these, detect_mains reads each channel's
#: spectrum over segments this long, bin by bin its MAINS_QUANTILE across
#: the segments: a hum is in every segment, a contraction's EMG in some.
#: Over 30 s of the emulator's rest and contraction one spectrum put its
#: 3 uV hum 3.7 x above its neighbourhood (the median 1.7 x), the 20th
#: percentile 17 x, as the rest's first second alone (14 x); on white noise
#: the ratio stays 1.0-2.1 (the bar is 10)
MAINS_SEGMENT_S = 1.0
MAINS_QUANTILE = 0.2


def mains_segment(n: int, rate_hz: float) -> int:
    """Rows per segment of detect_mains' spectra for a window of n rows:
    MAINS_SEGMENT_S, or the whole window when it is shorter than two."""
    seg = int(round(MAINS_SEGMENT_S * rate_hz))
    return n if n < 2 * seg else seg


def mains_power(x: np.ndarray, valid: np.ndarray | None = None, segment: int | None = None) -> np.ndarray:
    """The power spectrum detect_mains reads (np.fft.rfftfreq bins of
    segment rows; None: of the whole), summed over channels: each channel
    with its invalid samples held at the last valid value, then per segment
    its mean removed, under a Hann window, and bin by bin the MAINS_QUANTILE
    over the segments.
    Channel by channel in groups (each channel's power is its own), so a 30 s
    window of 64 channels needs a few copies of a group, not of the whole;
    numpy may sum a narrow group's means in another order than all channels'
    at once, so the result equals the all-at-once one to rounding."""
    x = np.asarray(x, dtype=np.float64)
    seg = x.shape[0] if segment is None else segment
    k = x.shape[0] // seg
    window = np.hanning(seg)[None, :, None]
    power = np.empty((seg // 2 + 1, x.shape[1]))
    for g in range(0, x.shape[1], MAINS_GROUP):
        part = x[:, g : g + MAINS_GROUP]
        if valid is not None:
            part = forward_fill(part, valid[:, g : g + MAINS_GROUP], np.zeros(part.shape[1]))
        parts = part[: k * seg].reshape(k, seg, part.shape[1])
        parts = np.nan_to_num(parts - np.nanmean(parts, axis=1, keepdims=True))
        spectra = np.abs(np.fft.rfft(parts * window, axis=1)) ** 2
        if k == 1:
            power[:, g : g + MAINS_GROUP] = spectra[0]
            continue
        if valid is not None:
            # a segment mostly masked is held flat: no power at all, and a
            # fifth of them made the quantile 0 in every bin; a channel's
            # quantile is over its segments at least half valid (all of them
            # when it has none)
            ok = valid[: k * seg, g : g + MAINS_GROUP].reshape(k, seg, -1).mean(axis=1) >= 0.5
            ok[:, ~ok.any(axis=0)] = True
            spectra = np.where(ok[:, None, :], spectra, np.nan)
        power[:, g : g + MAINS_GROUP] = np.nanquantile(spectra, MAINS_QUANTILE, axis=0)
    return power.sum(axis=1)


def detect_mains(x: np.ndarray, rate_hz: float, valid: np.ndarray | None = None) -> tuple[float | None, float]:
    """50 or 60 Hz, whichever stands out more above its spectral neighbourhood
    (summed over channels and the first harmonics; a low quantile over
    segments of MAINS_SEGMENT_S in a longer window); returns (frequency,
    peak-to-background ratio), frequency None when neither shows."""
    n = x.shape[0]
    if n < int(rate_hz * 0.2) or rate_hz < 130:
        return None, 0.0
    seg = mains_segment(n, rate_hz)
    return mains_in_power(mains_power(x, valid, seg), seg, rate_hz)


def mains_in_power(spec: np.ndarray, n: int, rate_hz: float) -> tuple[float | None, float]:
    """detect_mains' verdict from a mains_power spectrum of n rows (summed
    over channels; a caller may add up the spectra of groups of channels)."""
    if n < int(rate_hz * 0.2) or rate_hz < 130:
        return None, 0.0
    freqs = np.fft.rfftfreq(n, 1 / rate_hz)
    df = freqs[1]
    best: tuple[float | None, float] = (None, 0.0)
    for f0 in MAINS_HZ:
        peak = back = 0.0
        for k in (1, 2, 3):
            f = f0 * k
            if f > 0.45 * rate_hz:
                break
            near = np.abs(freqs - f) <= max(1.5 * df, 1.0)
            ring = (np.abs(freqs - f) > max(3 * df, 2.0)) & (np.abs(freqs - f) <= max(3 * df, 2.0) + 8.0)
            peak += spec[near].max()
            back += np.median(spec[ring]) if ring.any() else 0.0
        ratio = peak / back if back > 0 else (np.inf if peak > 0 else 0.0)
        if ratio > best[1]:
            best = (f0, float(ratio))
    if best[1] < 10.0:
        return None, best[1]
    return best


@register_stage
class Notch(SosStage):
    """Mains notch at 50 or 60 Hz and harmonics (IIR notches, quality q).

    ``mains="auto"`` listens to the first ``detect_s`` seconds, picks 50 or
    60 Hz (50 Hz with a warning if neither shows) and only then outputs
    them, filtered: a one-off start-up delay, no added steady-state latency
    beyond the notches' own group delay."""

    kind = "notch"

    def __init__(
        self,
        mains: float | str = "auto",
        harmonics: int = 3,
        q: float = 30.0,
        detect_s: float = 1.0,
    ) -> None:
        super().__init__()
        if mains != "auto":
            # the grids' frequencies (faultkinds.check_mains_hz, the emulator's
            # rule too): the only ones detect_mains and the fault detector know
            try:
                hz = float(mains)
            except (TypeError, ValueError):
                raise SensorioError(f"mains is a frequency in Hz or 'auto', not {mains!r}") from None
            try:
                mains = check_mains_hz(hz)
            except ValueError as exc:
                raise SensorioError(f"{exc} (or 'auto': found in the signal)") from None
        self.mains: float | str = mains
        self.harmonics = max(1, int(harmonics))
        self.q = _positive("q", q)
        self.detect_s = float(detect_s)
        self.detected: float | None = None if mains == "auto" else float(mains)
        self._pending: list[SignalBlock] = []
        self._pending_rows = 0

    def frequencies(self, rate_hz: float) -> list[float]:
        """The notch frequencies in Hz at rate_hz: the mains frequency (50 Hz while
        not yet detected) and its harmonics, those below 0.45 x rate_hz."""
        f0 = self.detected or 50.0
        return [f0 * k for k in range(1, self.harmonics + 1) if f0 * k < 0.45 * rate_hz]

    def design(self, rate_hz: float) -> np.ndarray:
        """IIR notch sections (quality q) at each of :meth:`frequencies`; a pass-through section if there is none."""
        sections = []
        for f in self.frequencies(rate_hz):
            b, a = signal.iirnotch(f, self.q, fs=rate_hz)
            sections.append(signal.tf2sos(b, a))
        if not sections:
            return np.array([[1.0, 0, 0, 1.0, 0, 0]])
        return np.vstack(sections)

    def process(self, block: SignalBlock) -> SignalBlock:
        """Notch the block. With ``mains="auto"``, blocks are held back (an empty
        block is returned) until ``detect_s`` seconds have arrived; then the
        frequency is chosen and all the held rows come out filtered at once."""
        if self.detected is None:
            self._pending.append(block)
            self._pending_rows += len(block)
            if self._pending_rows < self.detect_s * block.rate_hz:
                return block.replace(
                    data=block.data[:0],
                    valid=block.valid[:0],
                    events=block.events[:0],
                    reset=False,
                    leadoff=None,
                    codes=None,
                )
            block = self._decide()
        return super().process(block)

    def _decide(self) -> SignalBlock:
        whole = concat_signal(self._pending)
        self._pending, self._pending_rows = [], 0
        n = max(1, int(round(self.detect_s * whole.rate_hz)))
        f, ratio = detect_mains(whole.data[:n], whole.rate_hz, whole.valid[:n])
        if f is None:
            self._warn(f"no mains hum found in the first {len(whole) / whole.rate_hz:.1f} s: notching 50 Hz")
            f = 50.0
        self.detected = f
        self.detection_ratio = ratio
        return whole

    def flush(self) -> SignalBlock | None:
        if self._pending:
            return super().process(self._decide())
        return None

    def snapshot(self) -> Any:
        """As SosStage's, once the mains frequency is chosen (None while listening)."""
        if self.detected is None or self._pending:
            return None
        return super().snapshot()

    def latency(self, rate_hz: float) -> float:
        # between the fundamental and the first harmonic, away from the notches
        return sos_group_delay(self.design(rate_hz), min(1.5 * (self.detected or 50.0), 0.4 * rate_hz), rate_hz)

    def describe(self) -> dict[str, Any]:
        """``{"type": "notch", "mains": ..., "harmonics": ..., "q": ..., "detect_s": ...}``."""
        return {
            "type": self.kind,
            "mains": self.mains,
            "harmonics": self.harmonics,
            "q": self.q,
            "detect_s": self.detect_s,
        }


@register_stage
class Envelope(Stage):
    """Amplitude envelope: ``method="rms"``, a causal moving RMS over
    ``window_s``; or ``method="rectify"``, |x| through a Butterworth low-pass
    at ``cutoff_hz``. Invalid samples are left out of the RMS window."""

    kind = "envelope"
    #: the moving RMS in C when the C core has it (False: numpy)
    native: bool = True
    runs_ahead = True

    def __init__(self, method: str = "rms", window_s: float = 0.05, cutoff_hz: float = 6.0, order: int = 2) -> None:
        super().__init__()
        if method not in ("rms", "rectify"):
            raise SensorioError(f"envelope method {method!r}: use 'rms' or 'rectify'")
        self.method = method
        self.window_s = _positive("window_s", window_s)
        self._lowpass = LowPass(cutoff_hz, order) if method == "rectify" else None
        self._tail_sq: np.ndarray | None = None
        self._tail_n: np.ndarray | None = None
        self._tail_full = False
        self._native_state: tuple[Any, dict[str, np.ndarray]] | None = None
        self._rate = 0.0
        self._held_out: np.ndarray | None = None

    def window(self, rate_hz: float) -> int:
        """The moving-RMS window in samples at rate_hz: window_s rounded, at least 1."""
        return max(1, int(round(self.window_s * rate_hz)))

    def reset(self) -> None:
        self._tail_sq = self._tail_n = None
        self._held_out = None
        if self._lowpass is not None:
            self._lowpass.reset()

    def process(self, block: SignalBlock) -> SignalBlock:
        """The envelope of the block, same rows and rate: the causal moving RMS (a
        sample is invalid when its window holds no valid sample) or the
        rectified, low-passed signal."""
        if self._lowpass is not None:
            self._lowpass.policy = self.policy
            rect = block.replace(data=np.abs(block.data))
            return self._lowpass.process(rect)
        n_win = self.window(block.rate_hz)
        ch = block.n_channels
        if self._tail_sq is None or self._rate != block.rate_hz:
            self._rate = block.rate_hz
            # channel-major (channels, samples), as the filters hand data on:
            # the running sums then run along contiguous memory
            self._tail_sq = np.zeros((ch, n_win - 1))
            self._tail_n = np.zeros((ch, n_win - 1))
            self._tail_full = False
            self._native_state = None
            self._held_out = np.full(ch, np.nan)
        assert self._tail_n is not None
        valid = block.valid
        all_valid = bool(valid.all())
        if self.native and _native_lib is not None:
            env, out_valid = self._rms_native(block, n_win, all_valid)
        else:
            env, out_valid = self._rms_numpy(block, n_win, all_valid)
        assert self._held_out is not None
        out = apply_policy(env, out_valid, self.policy, self._held_out)
        self._held_out = last_valid(env, out_valid, self._held_out)
        return block.replace(data=out, valid=out_valid)

    def snapshot(self) -> Any:
        """The C moving RMS's state and the last valid output (None: the
        numpy or rectify envelope, which are not run ahead)."""
        if self._lowpass is not None or not (self.native and _native_lib is not None):
            return None
        held = None if self._held_out is None else self._held_out.copy()
        if self._native_state is None:
            return (self._rate, held, None)
        st, keep = self._native_state
        # a segment just completed (pos == w): the next sample makes the suffix
        # sums from it and zeroes the prefix sums, so the segment is the state
        names = ("seg_sq", "seg_n") if st.pos == st.w else tuple(keep)
        return (self._rate, held, (int(st.pos), {k: keep[k].copy() for k in names}))

    def restore(self, state: Any) -> None:
        """Back to a :meth:`snapshot` (see Stage.restore)."""
        rate, held, native = state
        if native is None:
            self._tail_sq = self._tail_n = None  # set up afresh by the next block
            self._native_state = None
            self._rate = rate
            self._held_out = held
            return
        self._rate = rate
        self._held_out = None if held is None else held.copy()
        assert self._native_state is not None  # the state's arrays are reused
        st, keep = self._native_state
        st.pos = native[0]
        for k, a in native[1].items():
            keep[k][...] = a

    def _rms_native(self, block: SignalBlock, n_win: int, all_valid: bool) -> tuple[np.ndarray, np.ndarray]:
        """The moving RMS in C (csrc/sio_env.c): the channels' sums side by
        side in one pass, exact whatever the chunking."""
        assert _native_ffi is not None and _native_lib is not None
        ffi = _native_ffi
        rows, ch = block.data.shape
        if self._native_state is None:
            keep = {
                "seg_sq": np.zeros((ch, n_win)),
                "seg_n": np.zeros((ch, n_win)),
                "suf_sq": np.zeros((ch, n_win + 1)),
                "suf_n": np.zeros((ch, n_win + 1)),
                "pre_sq": np.zeros(ch),
                "pre_n": np.zeros(ch),
            }
            st = ffi.new("sio_env_state *")
            st.w = n_win
            st.pos = 0
            for name, arr in keep.items():
                setattr(st, name, ffi.from_buffer("double[]", arr))
            self._native_state = (st, keep)
        st = self._native_state[0]
        xt = np.ascontiguousarray(block.data.T, dtype=np.float64)
        vt = None if all_valid else np.ascontiguousarray(block.valid.T)
        env = np.empty((ch, rows))
        ok = np.empty((ch, rows), dtype=bool)
        rc = _native_lib.sio_env_rms(
            st,
            ch,
            rows,
            rows,
            ffi.from_buffer("double[]", xt),
            ffi.NULL if vt is None else ffi.from_buffer("uint8_t[]", vt),
            ffi.from_buffer("double[]", env),
            ffi.from_buffer("uint8_t[]", ok),
        )
        if rc != 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"envelope: native moving RMS refused {rows} x {ch}")
        out_valid = block.valid if all_valid and ok.all() else block.valid & ok.T
        return env.T, out_valid

    def _rms_numpy(self, block: SignalBlock, n_win: int, all_valid: bool) -> tuple[np.ndarray, np.ndarray]:
        """The moving RMS from running sums (the reference for sio_env_rms)."""
        assert self._tail_sq is not None and self._tail_n is not None
        valid = block.valid
        rows, ch = block.data.shape
        xt = block.data.T
        # the tail of the last block and this one, squared, with a leading
        # zero column: the running sums' differences are the window sums
        ext_sq = np.empty((ch, n_win + rows))
        ext_sq[:, 0] = 0.0
        ext_sq[:, 1:n_win] = self._tail_sq
        sq = ext_sq[:, n_win:]
        if all_valid:
            np.multiply(xt, xt, out=sq)
        else:
            np.copyto(sq, np.where(valid.T, xt, 0.0))
            sq *= sq
        self._tail_sq = ext_sq[:, rows + 1 :].copy()
        c_sq = np.cumsum(ext_sq, axis=1)
        s = c_sq[:, n_win:]
        s -= c_sq[:, :rows]
        np.maximum(s, 0.0, out=s)  # rounding in the differences
        if all_valid and self._tail_full:
            # every window is full: no counting
            s *= 1.0 / n_win
            env = np.sqrt(s, out=s).T
            out_valid = valid
        else:
            ext_n = np.concatenate([self._tail_n, valid.T.astype(np.float64)], axis=1)
            c_n = np.concatenate([np.zeros((ch, 1)), np.cumsum(ext_n, axis=1)], axis=1)
            k = c_n[:, n_win : n_win + rows] - c_n[:, :rows]
            with np.errstate(invalid="ignore", divide="ignore"):
                env = np.sqrt(s / k).T
            out_valid = valid & (k.T > 0)
            self._tail_n = ext_n[:, ext_n.shape[1] - (n_win - 1) :].copy()
            self._tail_full = bool(self._tail_n.all())
        return env, out_valid

    def latency(self, rate_hz: float) -> float:
        if self._lowpass is not None:
            return self._lowpass.latency(rate_hz)
        return (self.window(rate_hz) - 1) / 2.0

    def describe(self) -> dict[str, Any]:
        """``{"type": "envelope", "method": ..., "window_s": ...}``, plus ``cutoff_hz`` for ``rectify``."""
        d: dict[str, Any] = {"type": self.kind, "method": self.method, "window_s": self.window_s}
        if self._lowpass is not None:
            d["cutoff_hz"] = self._lowpass.cutoff_hz
        return d


@register_stage
class Decimate(SosStage):
    """Anti-alias low-pass (Chebyshev I, order 8, edge at 0.8 x the new
    Nyquist, as scipy.signal.decimate) then keep every ``factor``-th sample,
    aligned on the stream's sample clock (so chunking cannot shift it)."""

    kind = "decimate"
    runs_ahead = False  # its output rows are not its input rows

    def __init__(self, factor: int = 2) -> None:
        super().__init__()
        if isinstance(factor, bool) or float(factor) != int(factor) or int(factor) < 1:
            raise SensorioError(f"decimation factor {factor!r} must be a whole number, 1 or more")
        self.factor = int(factor)

    def design(self, rate_hz: float) -> np.ndarray:
        """Chebyshev I anti-alias sections (order 8, 0.05 dB ripple, edge at 0.8 x
        the new Nyquist frequency); a pass-through section for factor 1."""
        if self.factor == 1:
            return np.array([[1.0, 0, 0, 1.0, 0, 0]])
        return signal.cheby1(8, 0.05, 0.8 / self.factor, output="sos")

    def process(self, block: SignalBlock) -> SignalBlock:
        """Low-pass the block, then keep the rows whose sample index is a multiple
        of ``factor``; the output block's rate is rate_hz / factor, its ``start``
        counted at that rate, events moved to the next kept row, raw codes dropped."""
        q = self.factor
        filtered = super().process(block)
        first = (-block.start) % q
        keep = slice(first, None, q)
        new_start = (block.start + first) // q
        ev = block.events.copy()
        # an event moves to the first kept row at or after it
        ev["row"] = (ev["row"].astype(np.int64) - first + q - 1) // q if ev.size else ev["row"]
        return filtered.replace(
            data=filtered.data[keep],
            valid=filtered.valid[keep],
            rate_hz=block.rate_hz / q,
            start=new_start,
            events=ev,
            leadoff=None if block.leadoff is None else block.leadoff[keep],
            codes=None,
        )

    def output_rate(self, rate_hz: float) -> float:
        """rate_hz / factor."""
        return rate_hz / self.factor

    def latency_ref_hz(self, rate_hz: float) -> float:
        """Group-delay frequency in Hz: 100 Hz, at most 0.3 x the output rate."""
        return min(REF_HZ, 0.3 * rate_hz / self.factor)

    def describe(self) -> dict[str, Any]:
        """``{"type": "decimate", "factor": ...}``."""
        return {"type": self.kind, "factor": self.factor}
