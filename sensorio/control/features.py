"""Per-channel EMG features over sliding windows, streaming and chunk-invariant.

Windows are ``window_ms`` long and start every ``increment_ms`` (default
200/50), aligned on the stream's sample clock: window k covers rows
``[origin + k*I, origin + k*I + W)`` where W and I are the lengths in samples
(rounded) and ``origin`` is the first row of the stream (or of the signal after
a reset). Whatever the chunking of the input (one sample at a time, odd sizes,
one big block) the same windows come out with the same values, equal to
:func:`reference_features` run on the whole signal.

Features, per channel and window (x: the window's samples in µV, d: its first
differences, ``thr``: the feature's noise threshold for that channel):

========  =====================================================================
mav       mean absolute value, mean(|x|)
wl        waveform length, sum(|d|)
zc        zero crossings: x[i] x[i+1] < 0 and |d[i]| >= thr
ssc       slope sign changes: (x[i]-x[i-1]) (x[i]-x[i+1]) > 0 and >= thr**2
rms       root mean square, sqrt(mean(x**2))
logvar    log of the variance, log(var(x) + 1e-12)
wamp      Willison amplitude: |d[i]| >= thr
ar1..ar4  autoregressive coefficients (order 4, Yule-Walker on the mean-removed
          window): x[t] = a1 x[t-1] + ... + a4 x[t-4] + e[t]; 0 for a flat window
mnf       mean frequency of the periodogram of the mean-removed window (Hz)
mdf       median frequency (Hz; linear between the periodogram's bins)
========  =====================================================================

MAV, WL, ZC and SSC are the Hudgins set. ZC, SSC and WAMP count events above a
noise threshold in µV: a number for every channel or one value per channel
(``thresholds_uv={"zc": 5.0, "wamp": np.array([...])}``); the defaults are 0
for ZC and SSC and 10 µV for WAMP; :func:`noise_thresholds` derives them per
channel from a stretch of rest, the way a trained model stores them.

Validity: a channel is valid in a window when all its samples in the window
are valid. Invalid samples still enter the feature values (NaN stays NaN): a
consumer must look at ``Windows.valid``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import SensorioError

#: every feature this module computes, in the order of the feature axis
FEATURES = ("mav", "wl", "zc", "ssc", "rms", "logvar", "wamp", "ar1", "ar2", "ar3", "ar4", "mnf", "mdf")
DEFAULT_FEATURES = FEATURES
#: features that count events above a noise threshold
THRESHOLD_FEATURES = ("zc", "ssc", "wamp")
DEFAULT_THRESHOLDS_UV = {"zc": 0.0, "ssc": 0.0, "wamp": 10.0}
AR_ORDER = 4
#: floor under the variance before the log (µV²)
LOGVAR_FLOOR = 1e-12


def window_lengths(rate_hz: float, window_ms: float, increment_ms: float) -> tuple[int, int]:
    """Window and increment in samples at rate_hz (rounded, at least 1 and
    AR_ORDER + 2 samples for the window)."""
    if not rate_hz > 0:
        raise SensorioError(f"sample rate {rate_hz} Hz: must be positive")
    w = int(round(window_ms * rate_hz / 1000.0))
    i = int(round(increment_ms * rate_hz / 1000.0))
    if w < AR_ORDER + 2:
        raise SensorioError(
            f"window of {window_ms} ms is {w} samples at {rate_hz:g} Hz: at least {AR_ORDER + 2} needed"
        )
    if i < 1:
        raise SensorioError(f"increment of {increment_ms} ms is less than one sample at {rate_hz:g} Hz")
    return w, i


def check_features(features: Sequence[str]) -> tuple[str, ...]:
    """The feature names, checked (unknown or repeated names are errors)."""
    names = tuple(str(f).lower() for f in features)
    unknown = [f for f in names if f not in FEATURES]
    if unknown:
        raise SensorioError(f"unknown feature(s) {', '.join(unknown)}: use {', '.join(FEATURES)}")
    if len(set(names)) != len(names) or not names:
        raise SensorioError("features: give each feature once, and at least one")
    return names


def resolve_thresholds(
    thresholds_uv: Mapping[str, float | Sequence[float] | np.ndarray] | None, n_channels: int
) -> dict[str, np.ndarray]:
    """Per-channel thresholds (µV) for zc, ssc and wamp, shape (n_channels,)."""
    given = dict(thresholds_uv or {})
    unknown = set(given) - set(THRESHOLD_FEATURES)
    if unknown:
        raise SensorioError(
            f"thresholds for {', '.join(sorted(unknown))}: only {', '.join(THRESHOLD_FEATURES)} have one"
        )
    out = {}
    for name in THRESHOLD_FEATURES:
        value = np.asarray(given.get(name, DEFAULT_THRESHOLDS_UV[name]), dtype=np.float64)
        if value.ndim == 0:
            value = np.full(n_channels, float(value))
        if value.shape != (n_channels,):
            raise SensorioError(f"{name} threshold: one value or one per channel ({n_channels})")
        if not np.all(np.isfinite(value)) or np.any(value < 0):
            raise SensorioError(f"{name} threshold: values must be finite and >= 0 µV")
        out[name] = value.copy()
    return out


def noise_thresholds(rest_uv: np.ndarray, valid: np.ndarray | None = None, k: float = 3.0) -> dict[str, np.ndarray]:
    """Per-channel ZC/SSC/WAMP thresholds from a stretch of rest (rows,
    channels) µV: ``k`` robust standard deviations (1.4826 MAD) of the first
    difference, from the valid samples only (0 where a channel has none)."""
    x = np.asarray(rest_uv, dtype=np.float64)
    d = np.diff(x, axis=0)
    ok = np.isfinite(d)
    if valid is not None:
        v = np.asarray(valid, dtype=bool)
        ok &= v[1:] & v[:-1]
    out = np.zeros(x.shape[1])
    for c in range(x.shape[1]):
        dc = d[ok[:, c], c]
        if dc.size:
            out[c] = k * 1.4826 * float(np.median(np.abs(dc - np.median(dc))))
    return {"zc": out.copy(), "ssc": out.copy(), "wamp": out.copy()}


@dataclass
class Windows:
    """Feature windows: ``features`` (n_win, channels, n_features) float64,
    ``valid`` (n_win, channels) bool (all the channel's samples in the window
    were valid), ``end_row`` (n_win,) int64: the absolute row just after each
    window's last sample (the window covers ``end_row - W .. end_row - 1``)."""

    features: np.ndarray
    valid: np.ndarray
    end_row: np.ndarray

    def __len__(self) -> int:
        return int(self.end_row.shape[0])

    @staticmethod
    def concatenate(parts: Sequence[Windows], n_channels: int, n_features: int) -> Windows:
        """One Windows from several in order (empty when there are none)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return Windows(
                np.zeros((0, n_channels, n_features)),
                np.zeros((0, n_channels), dtype=bool),
                np.zeros(0, dtype=np.int64),
            )
        if len(parts) == 1:
            return parts[0]
        return Windows(
            np.concatenate([p.features for p in parts]),
            np.concatenate([p.valid for p in parts]),
            np.concatenate([p.end_row for p in parts]),
        )


def windows_view(a: np.ndarray, first: int, n_win: int, window: int, increment: int) -> np.ndarray:
    """(n_win, channels, window) view of channel-major a (channels, rows):
    window k is columns first + k*increment .. + window."""
    ch = a.shape[0]
    s_ch, s_row = a.strides
    return np.lib.stride_tricks.as_strided(
        a[:, first:], (n_win, ch, window), (increment * s_row, s_ch, s_row), writeable=False
    )


class NativeFeatures:
    """The per-window kernel in C (csrc/sio_feat.c), with its constant
    arguments (thresholds, feature codes) bound once; the periodogram for
    MNF/MDF comes from numpy's FFT."""

    def __init__(
        self, window: int, increment: int, rate_hz: float, codes: np.ndarray, thresholds: Mapping[str, np.ndarray]
    ) -> None:
        from .._binding import ffi, lib

        self._ffi, self._lib = ffi, lib
        self.window, self.increment, self.rate_hz = window, increment, rate_hz
        self.codes = np.ascontiguousarray(codes, dtype=np.int32)
        self._thr = [np.ascontiguousarray(thresholds[k], dtype=np.float64) for k in ("zc", "ssc", "wamp")]
        self._thr_ptr = [ffi.from_buffer("double[]", t) for t in self._thr]
        self._codes_ptr = ffi.from_buffer("int32_t[]", self.codes)
        self.spectral = bool(np.any(self.codes >= FEATURES.index("mnf")))

    def __call__(self, data: np.ndarray, first: int, n_win: int) -> np.ndarray:
        """Features of n_win windows, the first starting at column ``first``
        of channel-major ``data`` (channels, rows), C-contiguous float64:
        (n_win, channels, n_features)."""
        ffi = self._ffi
        ch, rows = data.shape
        w, inc, n_feat = self.window, self.increment, len(self.codes)
        if n_win <= 0:
            return np.zeros((0, ch, n_feat))
        if not data.flags.c_contiguous or data.dtype != np.float64 or first + (n_win - 1) * inc + w > rows:
            raise SensorioError("features: the window data is not laid out as the native kernel needs")
        out = np.empty((n_win, ch, n_feat))
        power = ffi.NULL
        if self.spectral:
            view = windows_view(data, first, n_win, w, inc)
            spec = np.fft.rfft(view - view.mean(axis=-1, keepdims=True), axis=-1)
            p = np.ascontiguousarray(spec.real**2)
            p += spec.imag**2
            power = ffi.from_buffer("double[]", p)
        rc = self._lib.sio_feat_windows(
            n_win,
            ch,
            w,
            ffi.from_buffer("double[]", data) + first,
            inc,
            rows,
            *self._thr_ptr,
            power,
            w // 2 + 1,
            self.rate_hz / w,
            self._codes_ptr,
            n_feat,
            ffi.from_buffer("double[]", out),
        )
        if rc != 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"features: the native kernel refused {n_win} windows of {w} samples")
        return out


class FeatureExtractor:
    """Streaming feature windows (see the module docstring).

    >>> fx = FeatureExtractor(2000, 8)
    >>> for chunk, ok in source:          # (rows, 8) µV and (rows, 8) bool
    ...     win = fx.process(chunk, ok)   # Windows completed by this chunk
    """

    def __init__(
        self,
        rate_hz: float,
        n_channels: int,
        window_ms: float = 200.0,
        increment_ms: float = 50.0,
        features: Sequence[str] = DEFAULT_FEATURES,
        thresholds_uv: Mapping[str, float | Sequence[float] | np.ndarray] | None = None,
    ) -> None:
        if int(n_channels) < 1:
            raise SensorioError(f"{n_channels} channels: at least one is needed")
        self.rate_hz = float(rate_hz)
        self.n_channels = int(n_channels)
        self.window_ms = float(window_ms)
        self.increment_ms = float(increment_ms)
        self.window, self.increment = window_lengths(self.rate_hz, self.window_ms, self.increment_ms)
        self.features = check_features(features)
        self.thresholds = resolve_thresholds(thresholds_uv, self.n_channels)
        codes = np.array([FEATURES.index(f) for f in self.features], dtype=np.int32)
        self._kernel = NativeFeatures(self.window, self.increment, self.rate_hz, codes, self.thresholds)
        self.reset(0)

    @property
    def feature_names(self) -> list[str]:
        """The features computed per channel, in their order on the feature axis (a new list)."""
        return list(self.features)

    @property
    def n_features_per_channel(self) -> int:
        """How many features each channel gives per window (the feature axis' length)."""
        return len(self.features)

    @property
    def latency_s(self) -> float:
        """Delay from a window's centre to its decision (half a window)."""
        return 0.5 * self.window / self.rate_hz

    @property
    def next_row(self) -> int:
        """The absolute row the next sample given will have."""
        return self._row

    def reset(self, origin: int | None = None) -> None:
        """Forget the buffered samples; the next window starts at row
        ``origin`` (default: where the input stopped)."""
        self._origin = int(origin if origin is not None else getattr(self, "_row", 0))
        self._row = self._origin
        #: channel-major pending chunks, and the absolute row of the first
        self._data: list[np.ndarray] = []
        self._valid: list[np.ndarray] = []
        self._first = self._origin
        self._next_end = self._origin + self.window

    def process(self, samples: np.ndarray, valid: np.ndarray | None = None) -> Windows:
        """Append rows (rows, channels) µV, with their validity (None: all
        valid); returns the windows that end in them."""
        x = np.asarray(samples, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_channels:
            raise SensorioError(f"samples of shape {x.shape}: expected (rows, {self.n_channels}) for this extractor")
        if valid is None:
            v = np.ones(x.shape, dtype=bool)
        else:
            v = np.asarray(valid, dtype=bool)
            if v.shape != x.shape:
                raise SensorioError(f"validity mask of shape {v.shape} for samples of shape {x.shape}")
        n = x.shape[0]
        if n:
            self._data.append(x.T.copy())
            self._valid.append(v.T.copy())
            self._row += n
        if self._row < self._next_end:
            return self._empty()
        data = np.concatenate(self._data, axis=1) if len(self._data) > 1 else np.ascontiguousarray(self._data[0])
        ok = np.concatenate(self._valid, axis=1) if len(self._valid) > 1 else self._valid[0]
        # windows ending at _next_end, _next_end + I, ... <= _row
        n_win = (self._row - self._next_end) // self.increment + 1
        s0 = self._next_end - self.window - self._first
        if ok.all():
            wvalid = np.ones((n_win, self.n_channels), dtype=bool)
        else:
            wvalid = np.asarray(windows_view(ok, s0, n_win, self.window, self.increment).all(axis=-1))
        feats = self._kernel(data, s0, n_win)
        ends = self._next_end + self.increment * np.arange(n_win, dtype=np.int64)
        self._next_end = int(ends[-1]) + self.increment
        # keep what the next windows still need (nothing when they start
        # after the rows given: increments longer than the window)
        keep_from = min(self._next_end - self.window - self._first, data.shape[1])
        self._data = [data[:, keep_from:]]
        self._valid = [ok[:, keep_from:]]
        self._first += keep_from
        return Windows(feats, np.ascontiguousarray(wvalid), ends)

    def _empty(self) -> Windows:
        return Windows.concatenate([], self.n_channels, len(self.features))

    def describe(self) -> dict[str, object]:
        """Settings (JSON-able, thresholds as lists) to rebuild the extractor."""
        return {
            "rate_hz": self.rate_hz,
            "n_channels": self.n_channels,
            "window_ms": self.window_ms,
            "increment_ms": self.increment_ms,
            "features": list(self.features),
            "thresholds_uv": {k: v.tolist() for k, v in self.thresholds.items()},
        }


def reference_features(
    x: np.ndarray,
    rate_hz: float,
    window_ms: float = 200.0,
    increment_ms: float = 50.0,
    features: Sequence[str] = DEFAULT_FEATURES,
    thresholds_uv: Mapping[str, float | Sequence[float] | np.ndarray] | None = None,
) -> np.ndarray:
    """The features of a whole signal (rows, channels), one window and one
    channel at a time in plain numpy: (n_win, channels, n_features). The
    reference FeatureExtractor is tested against."""
    x = np.asarray(x, dtype=np.float64)
    w, inc = window_lengths(rate_hz, window_ms, increment_ms)
    names = check_features(features)
    thr = resolve_thresholds(thresholds_uv, x.shape[1])
    n_win = 0 if x.shape[0] < w else (x.shape[0] - w) // inc + 1
    out = np.zeros((n_win, x.shape[1], len(names)))
    freqs = np.arange(w // 2 + 1) * rate_hz / w
    for k in range(n_win):
        for c in range(x.shape[1]):
            s = x[k * inc : k * inc + w, c]
            values = {}
            d = s[1:] - s[:-1]
            values["mav"] = np.abs(s).sum() / w
            values["wl"] = np.abs(d).sum()
            zc = ssc = wamp = 0
            for i in range(w - 1):
                if s[i] * s[i + 1] < 0 and abs(d[i]) >= thr["zc"][c]:
                    zc += 1
                if abs(d[i]) >= thr["wamp"][c]:
                    wamp += 1
                if i >= 1:
                    p = (s[i] - s[i - 1]) * (s[i] - s[i + 1])
                    if p > 0 and p >= thr["ssc"][c] ** 2:
                        ssc += 1
            values.update(zc=zc, ssc=ssc, wamp=wamp)
            values["rms"] = np.sqrt((s**2).sum() / w)
            sc = s - s.sum() / w
            values["logvar"] = np.log((sc**2).sum() / w + LOGVAR_FLOOR)
            # Yule-Walker by solving the Toeplitz normal equations
            r = np.array([np.dot(sc[: w - j], sc[j:]) for j in range(AR_ORDER + 1)])
            if r[0] > 0:
                toeplitz = np.array([[r[abs(i - j)] for j in range(AR_ORDER)] for i in range(AR_ORDER)])
                a = np.linalg.solve(toeplitz, r[1:])
            else:
                a = np.zeros(AR_ORDER)
            for j in range(AR_ORDER):
                values[f"ar{j + 1}"] = a[j]
            p = np.abs(np.fft.rfft(sc)) ** 2
            total = p.sum()
            if total > 0:
                values["mnf"] = float((p * freqs).sum() / total)
                cum = np.cumsum(p)
                half = cum[-1] / 2
                j = int(np.nonzero(cum >= half)[0][0])
                lo_c = cum[j - 1] if j else 0.0
                lo_f = freqs[j - 1] if j else 0.0
                values["mdf"] = lo_f + (half - lo_c) / (cum[j] - lo_c) * (freqs[j] - lo_f)
            else:
                values["mnf"] = values["mdf"] = 0.0
            out[k, c] = [values[name] for name in names]
    return out
