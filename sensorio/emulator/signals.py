"""Physical signals of an emulated device, generated chunk by chunk.

Every generator is deterministic for its seed and gives the same samples
whatever the chunking of the requests (random draws are sequential, filters
carry their state, everything else is a function of the absolute sample
index). Values are in the stream's physical unit (uV for EMG).
"""

from __future__ import annotations

import functools
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal as sps

from ..errors import UsageError
from .profiles import StreamProfile
from .settings import SignalConfig

__all__ = [
    "ActivitySchedule",
    "EMG_SPECTRA",
    "EmgShaper",
    "SignalConfig",
    "StreamSignal",
    "to_codes",
]


class ActivitySchedule:
    """Alternating rest / contraction periods with smooth ramps; the same
    schedule drives EMG amplitude, grip force and hand position."""

    RAMP_S = 0.2

    def __init__(self, seed: int, rest_s: float, contraction_s: float) -> None:
        self._rng = np.random.default_rng([seed, 0xAC71])
        self._rest_s = rest_s
        self._con_s = contraction_s
        self._edges = [0.0]  # start times of alternating periods, rest first
        self._levels = [0.0]

    def _extend(self, t_end: float) -> None:
        while self._edges[-1] <= t_end:
            resting = len(self._edges) % 2 == 1
            mean = self._rest_s if resting else self._con_s
            dur = float(self._rng.uniform(0.5, 1.5) * mean)
            self._edges.append(self._edges[-1] + max(dur, 2 * self.RAMP_S))
            self._levels.append(0.0 if not resting else float(self._rng.uniform(0.4, 1.0)))

    def level(self, t: np.ndarray) -> np.ndarray:
        """Activation 0..1 at times t (seconds)."""
        if t.size == 0:
            return np.zeros(0)
        self._extend(float(t[-1]) + 1.0)
        edges = np.asarray(self._edges)
        levels = np.asarray(self._levels)
        i = np.searchsorted(edges, t, side="right") - 1
        prev = np.where(i > 0, levels[np.maximum(i - 1, 0)], 0.0)
        frac = np.clip((t - edges[i]) / self.RAMP_S, 0.0, 1.0)
        ramp = 0.5 - 0.5 * np.cos(np.pi * frac)
        return prev + (levels[i] - prev) * ramp

    def emg_activation(self, t: np.ndarray, weights: np.ndarray, first: int = 0) -> np.ndarray:
        """Activation 0..1 of a stream's EMG channels at times t, (len(t),
        channels): the level times the channels' ``weights`` (a schedule with
        its own spatial model, such as the gestures', uses that instead, from
        the device's EMG channel ``first`` on)."""
        return np.outer(self.level(t), weights)

    def periods(self, t_end: float) -> list[tuple[float, float, float]]:
        """(start_s, end_s, level) of each contraction up to t_end."""
        self._extend(t_end)
        return [
            (self._edges[i], self._edges[i + 1], self._levels[i])
            for i in range(1, len(self._edges) - 1, 2)
            if self._edges[i] < t_end
        ]


#: the synthetic EMG's power spectrum per electrode layout, fitted to the
#: real-EMG corpus (tools/real_emg.py, docs/emulator.md): a high-pass of
#: ``hp_order`` at ``hp_hz`` and a low-pass of ``lp_order`` at ``lp_hz``
#: (Butterworth), plus ``low_weight`` x a 1-20 Hz band-pass of the same
#: noise (the low-frequency content of real EMG, large in monopolar leads).
#: Fitted to the corpus' median frequency, share of power in 1-20 Hz and
#: share above 150 Hz (monopolar 48 Hz, 10.8 %, 2.8 %; bipolar 74.5 Hz,
#: 0.9 %, 10.7 %: the medians over the corpus' first five recordings of each
#: layout; docs/emulator.md says what the three added since change)
EMG_SPECTRA: dict[str, dict[str, float]] = {
    "bipolar": {"hp_hz": 27.26, "hp_order": 2, "lp_hz": 103.05, "lp_order": 2, "low_weight": 0.066},
    "monopolar": {
        "hp_hz": 19.67,
        "hp_order": 1,
        "lp_hz": 62.19,
        "lp_order": 2,
        "low_weight": 0.135,
    },
}


class EmgShaper:
    """White noise to surface EMG of one layout's spectrum (EMG_SPECTRA),
    chunk by chunk (filter state carried), unit RMS for unit white noise:
    the sum of two filter branches, each an sos cascade with its weight."""

    def __init__(self, rate_hz: float, layout: str = "bipolar", channels: int = 1) -> None:
        spec = EMG_SPECTRA[layout]
        lp = min(spec["lp_hz"], 0.45 * rate_hz)
        main = np.vstack(
            [
                sps.butter(int(spec["hp_order"]), spec["hp_hz"], "highpass", fs=rate_hz, output="sos"),
                sps.butter(int(spec["lp_order"]), lp, "lowpass", fs=rate_hz, output="sos"),
            ]
        )
        low = sps.butter(2, [1.0, 20.0], "bandpass", fs=rate_hz, output="sos")
        weights = [1.0, float(spec["low_weight"])]
        impulse = np.zeros(int(rate_hz * 8))
        impulse[0] = 1.0
        h = sum(w * sps.sosfilt(sos, impulse) for sos, w in zip((main, low), weights, strict=True))
        gain = float(np.sqrt(np.sum(h**2)))
        self.branches = [(main, weights[0] / gain), (low, weights[1] / gain)]
        self._zi = [np.zeros((sos.shape[0], 2, channels)) for sos, _ in self.branches]

    def __call__(self, white: np.ndarray) -> np.ndarray:
        """Shape white noise (samples x channels)."""
        out = np.zeros_like(white)
        for i, (sos, w) in enumerate(self.branches):
            y, self._zi[i] = sps.sosfilt(sos, white, axis=0, zi=self._zi[i])
            out += w * y
        return out

    def power(self, freqs: np.ndarray, rate_hz: float) -> np.ndarray:
        """The power spectrum the shaper gives unit white noise, at freqs (Hz)."""
        h = sum(w * sps.sosfreqz(sos, worN=freqs, fs=rate_hz)[1] for sos, w in self.branches)
        return np.abs(h) ** 2


class _Sinusoids:
    """sum_k a[k, c] * sin(2 pi f_k t + phi[k, c]) evaluated as one matrix
    product over a sin/cos basis (cheap for many channels)."""

    def __init__(self, freqs: np.ndarray, amps: np.ndarray, phases: np.ndarray) -> None:
        self.freqs = np.asarray(freqs, dtype=float)
        # a sin(w t + p) = (a cos p) sin(w t) + (a sin p) cos(w t)
        self.coef = np.vstack([amps * np.cos(phases), amps * np.sin(phases)])

    def __call__(self, t: np.ndarray) -> np.ndarray:
        wt = 2 * np.pi * np.outer(t, self.freqs)
        return np.hstack([np.sin(wt), np.cos(wt)]) @ self.coef


class StreamSignal:
    """Generator of one stream's physical signal; ``next(n)`` returns the next
    n samples (n, channels). ``activity`` is shared between a device's streams."""

    def __init__(self, stream: StreamProfile, cfg: SignalConfig, seed: int, activity: ActivitySchedule) -> None:
        self.stream = stream
        self.cfg = cfg
        self.rate = stream.rate_hz
        self.n_ch = stream.channels
        self.activity = activity
        self.index = 0  # absolute sample index of the next sample
        self.t_offset = 0.0  # time of sample 0 (moves when the rate changes)
        # the device's internal test signal (applied by the stream, see StreamState.produce)
        self.test_mode = False
        self.test_uv = 0.0
        self.test_hz = 1.0
        rng = np.random.default_rng([seed, 0x5160, stream.id])
        # one generator per noise source: draws stay in sample order whatever the chunking
        self._noise = np.random.default_rng([seed, 0x4015E, stream.id])
        self._floor = np.random.default_rng([seed, 0xF1002, stream.id])
        ch = self.n_ch
        self._source: np.ndarray | None = None
        if stream.kind == "emg":
            self._shaper = EmgShaper(self.rate, cfg.layout, ch)
            self._weights = rng.uniform(0.3, 1.0, ch)
            offset_uv = cfg.additive("offset_uv")
            self._offset = rng.uniform(-offset_uv, offset_uv, ch)  # electrode DC offset
            mains_uv = cfg.additive("mains_uv")
            harmonics = [h for h in (1, 3, 5) if h * cfg.mains_hz < self.rate / 2] if cfg.mains_hz else []
            rel = {1: 1.0, 3: 0.3, 5: 0.1}
            self._mains = _Sinusoids(
                np.array([h * cfg.mains_hz for h in harmonics]),
                np.array(
                    [[rel[h] * mains_uv * np.sqrt(2) * u for u in rng.uniform(0.5, 1.5, ch)] for h in harmonics]
                ).reshape(len(harmonics), ch),
                rng.uniform(0, 2 * np.pi, (len(harmonics), ch)),
            )
            drift_f = rng.uniform(0.02, 0.3, 3)
            self._drift = _Sinusoids(
                drift_f,
                rng.uniform(0.3, 1.0, (3, ch)) * cfg.additive("drift_uv"),
                rng.uniform(0, 2 * np.pi, (3, ch)),
            )
            self._gain = _Sinusoids(
                np.array([1 / 120.0]),
                np.full((1, ch), cfg.additive("gain_drift")),
                rng.uniform(0, 2 * np.pi, (1, ch)),
            )
            if cfg.source:
                # the source's columns for this stream's channels (the rig's, on several streams)
                self._source = _load_source(cfg.source, ch, self.rate, stream.first_channel)
        elif stream.kind == "accel":
            self._tilt = rng.uniform(-0.3, 0.3, 2)
        elif stream.kind in ("force", "position"):
            self._weights = rng.uniform(0.5, 1.0, ch)
        else:
            raise UsageError(f"unknown stream kind {stream.kind!r}")

    def times(self, n: int) -> np.ndarray:
        """The device times in seconds of the next n samples (without advancing)."""
        return self.t_offset + np.arange(self.index, self.index + n, dtype=np.int64) / self.rate

    def next(self, n: int) -> np.ndarray:
        """The next n samples (n, channels) in the stream's physical units (µV for EMG),
        from the stream kind's signal model; advances the sample index."""
        t = self.times(n)
        kind = self.stream.kind
        if kind == "emg":
            out = self._emg(n, t)
        elif kind == "accel":
            out = self._accel(n, t)
        elif kind == "force":
            level = self.activity.level(t)
            out = np.outer(level * 25.0, self._weights)  # up to ~25 N at full grip
            out += 0.05 * self._noise.standard_normal((n, self.n_ch))
        else:  # position: joints follow the grasp with a lag, rotation drifts slowly
            level = self.activity.level(np.maximum(t - 0.15, 0.0))
            out = np.outer(level * 80.0, self._weights)
            out[:, 0] = 30.0 * np.sin(2 * np.pi * 0.05 * t)
            out += 0.1 * self._noise.standard_normal((n, self.n_ch))
        self.index += n
        return out

    def _emg(self, n: int, t: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        white = self._noise.standard_normal((n, self.n_ch))
        if self._source is not None:
            # by device time, so that a RATE change does not jump in the source
            rows = np.rint(t * self.rate).astype(np.int64) % self._source.shape[0]
            emg = self._source[rows]
        else:
            shaped = self._shaper(white)
            act = self.activity.emg_activation(t, self._weights, self.stream.first_channel)
            amp = cfg.rest_uv + act * (cfg.contraction_uv - cfg.rest_uv)
            emg = shaped * amp
        # the amplifier's own noise is independent of the muscle signal
        floor = self._floor.standard_normal((n, self.n_ch)) * cfg.additive("noise_uv")
        gain = 1.0 + self._gain(t)
        return (emg + self._mains(t)) * gain + self._drift(t) + self._offset + floor

    def _accel(self, n: int, t: np.ndarray) -> np.ndarray:
        level = self.activity.level(t)
        ax = np.sin(self._tilt[0]) + 0.05 * level * np.sin(2 * np.pi * 1.3 * t)
        ay = np.sin(self._tilt[1]) + 0.05 * level * np.cos(2 * np.pi * 0.9 * t)
        az = np.sqrt(np.maximum(1.0 - ax**2 - ay**2, 0.0))
        return np.column_stack([ax, ay, az]) + 0.01 * self._noise.standard_normal((n, 3))


def _load_source(path: str, n_ch: int, rate_hz: float, first: int = 0) -> np.ndarray:
    """The signal source's samples (samples x n_ch, uV, at rate_hz) for the
    device's EMG channels first .. first + n_ch (a stream's, on a rig of
    several): the source's columns in turn, repeated when it has fewer."""
    from ..recording import RecordingReader

    src_rate = rate_hz
    if RecordingReader.is_recording(path):
        arr, src_rate = _recorded_emg(path)
    else:
        try:
            arr = np.load(Path(path), allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:  # EOFError: an empty file
            if "allow_pickle" in str(exc):
                # numpy reads any file that is not .npy or .npz as a pickle
                # and suggests loading it unsafely: neither applies here
                raise UsageError(f"signal source {path} is not a .npy array file (nor a recording)") from None
            raise UsageError(f"cannot read signal source {path}: {exc or 'empty'}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
        raise UsageError(f"signal source {path} must be one array of numbers (a .npy file)")
    arr = np.asarray(arr, dtype=float)
    if not np.isfinite(arr).all():
        raise UsageError(f"signal source {path} holds NaN or infinite values")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise UsageError(f"signal source {path} must be a 2-D array (samples x channels) in uV")
    if 0 in arr.shape:
        raise UsageError(f"signal source {path} holds no values (its shape is {arr.shape})")
    up, down = 1, 1
    if src_rate != rate_hz:
        ratio = Fraction(rate_hz / src_rate).limit_denominator(1000)
        up, down = ratio.numerator, ratio.denominator
    played = -(-arr.shape[0] * up // down)  # samples once resampled (resample_poly's length)
    if played < arr.shape[1] and arr.shape[1] > first + n_ch:
        # (channels x samples played as it is loops a few samples over thousands of channels)
        raise UsageError(
            f"signal source {path} has {played} samples of {arr.shape[1]} channels: "
            "give samples x channels (numpy: save the array's .T)"
        )
    # fewer channels than the device: repeat them; more: keep the first ones.
    # Only this stream's columns are kept, and resampled (each column alone)
    arr = arr[:, np.arange(first, first + n_ch) % arr.shape[1]]
    return sps.resample_poly(arr, up, down, axis=0) if (up, down) != (1, 1) else arr


@functools.lru_cache(maxsize=4)
def _decoded_recording(path: str, mtime_ns: int) -> tuple[np.ndarray, float]:
    from ..descriptor import is_emg, microvolts_per_unit
    from ..dsp.calibrate import StreamInfo
    from ..errors import SensorioError
    from ..parser import concat_blocks
    from ..recording.source import read_source

    try:
        blocks, info, _, _ = read_source(Path(path))
        if info is None:
            raise SensorioError("it holds no device descriptor, so its units are unknown")
        streams = sorted({b.stream for b in blocks})
        # the EMG stream: the first that is EMG (sensorio.descriptor.is_emg), else the first
        infos = {s: StreamInfo.from_descriptor(info, s) for s in streams}
        sid = next((s for s in streams if is_emg({"name": infos[s].name, "unit": infos[s].unit})), streams[0])
        ours = [b for b in blocks if b.stream == sid]
        codes = concat_blocks(ours)[sid]["samples"]
        _warn_gaps(path, ours)
        # in microvolts, as the emulator's signals are (a stream in another unit is taken as it is)
        return infos[sid].to_physical(codes) * (microvolts_per_unit(infos[sid].unit) or 1.0), infos[sid].rate_hz
    except SensorioError as exc:
        raise UsageError(f"cannot use recording {path} as a signal source: {exc}") from None


def _warn_gaps(path: str, blocks: list[Any]) -> None:
    """Say in one warning that the source's stream has gaps, which the
    source joins end to end (the signal jumps there): how many, and the
    samples they lost."""
    from ..blocks import EV_GAP, EVF_AT_LEAST

    gaps = [ev for b in blocks for ev in b.events if ev["kind"] == EV_GAP]
    if not gaps:
        return
    lost = sum(int(ev["lost_samples"]) for ev in gaps)
    at_least = "at least " if any(int(ev["flags"]) & EVF_AT_LEAST for ev in gaps) else ""
    warnings.warn(
        f"signal source {path}: its EMG stream has {len(gaps)} gap{'s' if len(gaps) != 1 else ''} "
        f"({at_least}{lost} samples lost), joined end to end: the signal jumps there",
        UserWarning,
        stacklevel=2,
    )


def _recorded_emg(path: str) -> tuple[np.ndarray, float]:
    """A recording's EMG stream in µV (a stream in another unit: in that unit), and its rate (samples
    lost in the recording are left out, not filled, with a warning that says so)."""
    return _decoded_recording(str(Path(path).resolve()), Path(path).stat().st_mtime_ns)


def to_codes(values: np.ndarray, stream: StreamProfile) -> np.ndarray:
    """ADC conversion: physical values to int64 codes clipped at the rails."""
    lo, hi = stream.code_range
    codes = np.rint(values / stream.scale) + stream.zero
    return np.clip(codes, lo, hi).astype(np.int64)
