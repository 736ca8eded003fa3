"""Per-channel sensor-fault detection, with hysteresis, a health state per
channel, fault events and a per-sample validity mask.

How it decides. The signal is cut into hops of ``hop_s`` (50 ms), aligned on
the stream's sample clock. Some conditions are known per sample and masked
exactly: samples at or beyond the device rails (``saturation``, plus
``blank_s`` of recovery after each), the device's lead-off flag (``leadoff``),
filled gaps (``dropout``, from the link events) and ``spikes`` (samples of
the second difference of the 20 Hz high-passed signal -- below 1 kHz the
high-passed signal itself, see features.SPIKE_SD_MIN_HZ -- further than
``spike_k`` robust sigmas -- 1.4826 x the median absolute deviation -- from
the median, sigma taken as the larger of the two neighbouring hops', so a
contraction's onset is not a spike and a spike's own pulse and high-pass
tail do not hide it; and alone: within 20 ms the signal stays below half its
peak, so a twitch's burst is not a spike, see decision.BURST_RATIO; at
1 kHz with a corner, not a rounded top, see decision.SHARP_BELOW_HZ, and
one-signed, not a potential's two phases, see decision.BIPHASE_RATIO; from
1.5 kHz sharper than a motor-unit potential's rounded top, see
decision.SMOOTH_HZ; and back where it was after it: a step is not a spike). Others are
properties of a hop: ``stuck`` (every code identical), ``flat`` (standard
deviation below ``flat_uv``, or exactly the zero code), ``motion`` (power of
the 1-20 Hz band above ``motion_uv`` RMS -- or 10 x that band's own rest where
lower -- and the channel's own learnt level of that band, with ``motion_share`` of the power, or louder with less share
when the band rose more than the spectrum above 20 Hz -- that louder tier only
when the band was rising the hop before or again within two hops; not while the band only
rings down after a burst of EMG or a QRS complex, and near that ring as the EMG fades
only when a later hop's verdict confirms it (a swing as a contraction ends, see
features.RING_CONFIRM); not when the band is fast:
its RMS frequency above features.MOTION_MAX_HZ, as the heart's QRS complexes
that electrodes over a trunk muscle pick up; during broadband noise, on what stands above
the noise's own leak into the band; measured before a run of identical codes
at the hop's end: a stuck code's step rings in that band), ``noise`` (broadband noise: white-noise power
estimated from the third difference, which EMG -- well below Nyquist --
hardly reaches, above 3 x the channel's own floor of it -- learnt online,
starting where the bar is ``noise_uv`` RMS, or from the channel's first hop
where lower -- and ``noise_share`` of the 20 Hz
high-passed power; at rates where EMG reaches Nyquist the share asked for
rises, see noise_share_limit, and below 1 kHz the test is off; or, where the
blocks give an electrode grid, the power above 20 Hz more than ``grid_ratio`` x
in RMS the median of its neighbours' and above ``noise_uv``: a loose electrode
on an HD grid, see features._Features._out_of_line) and ``mains`` (50/60 Hz and harmonics above
``mains_uv`` RMS -- or 2 x the channel's quiet level where lower -- and ``mains_share`` of the
high-passed power, or, whatever the floor, 80 % of that power and at least 1 uV
RMS (a hum with nothing under it: an input with no sensor on skin; see
features.MAINS_ALONE), projected over two hops, and
narrowband: its lines ``mains_ratio`` x above their neighbouring frequencies; on after 4 such
hops, or 3 when the lines stand twice that far above, see features.MAINS_RUN).
A motion event whose baseline still runs on in a straight line away from
where it began when it closes, or after a second open, becomes a ``ramp``
then (the start of a drift toward a rail, whose kink rings in the 1-20 Hz
band; see decision.RAMP_HOPS, RAMP_OPEN_S).

Hysteresis: a kind turns on after ``on`` consecutive hops with its condition
and off after ``off`` consecutive hops without (a flare-up within
``merge_s`` of the end reopens the same event); an event opens then (its
``start_s`` back-dated to the first hop of the run, or the first flagged
sample) and closes with ``end_s`` at the end of the condition. While a
lead-off, saturation or stuck condition holds on a channel, the conditions
that they would fake (spikes, motion, noise, flat) are not evaluated.

Masking: the stage looks one hop ahead (its latency is one hop), so a hop is
masked when a hop-level condition holds in it or in the next one, or while
that kind is on; invalid samples get the pipeline's policy value. Mains
contamination is reported but not masked by default (a notch removes it).

Layout: this module holds the stage (set-up, streaming, health);
``features`` the per-hop features, conditions and learnt levels;
``decision`` the hysteresis, events, spike test and output mask; ``_native``
the C front end's cffi plumbing (csrc/sio_dsp.c, any channel count);
``_reference`` its numpy twin (run without the C core; the C is tested
against it); ``_buffers`` the growable sample and hop buffers; ``_state``
the settings and carried state the parts share, declared once with their
types (the mixins derive from it, so a type checker sees what they use).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import signal

from ...blocks import EV_GAP, SignalBlock
from ...errors import SensorioError
from ...faultkinds import DETECTED_KINDS as KINDS  # fault kinds, in the order they are reported
from ...faultkinds import MAINS_HZ
from ..filters import SosState
from ..stages import DspEvent, register_stage
from ._buffers import _Hops, _Rows
from ._native import _native_available, _NativeFront
from ._reference import _NumpyReference
from .decision import HOP_KINDS, HYSTERESIS, RAMP_HOPS, _Decision
from .features import (
    _NEG,
    MAINS_FLOOR_K,
    MAINS_RUN,
    MOTION_FLOOR_K,
    NOISE_FLOOR_K,
    SETTLE_S,
    SETTLE_START_S,
    SHARP_BELOW_HZ,
    SPIKE_MIN_SMOOTH,
    START_RUN,
    _Features,
    emg_noise_share,
    narrowband_basis,
    noise_share_limit,
)

__all__ = [
    "DEFAULT_MASK",
    "HOP_KINDS",
    "HYSTERESIS",
    "KINDS",
    "FaultDetector",
    "emg_noise_share",
    "noise_share_limit",
]

DEFAULT_MASK = ("leadoff", "saturation", "stuck", "flat", "spikes", "motion", "noise", "dropout")


def _line_contrast(
    basis: np.ndarray, families: list[tuple[int, int]], fundamentals: list[float], ms_scale: float, t: np.ndarray
) -> float:
    """The mains test's figure (one family's projected power less the
    other's, as a mean square) for a steady line of unit mean square at the
    fundamental of each family with a line below the rate's limit, the
    smaller over them; 0 with none."""
    k = basis.shape[1] // 2
    out = []
    for hz, (a, b) in zip(fundamentals, families, strict=True):
        if b == a:
            continue  # no line of this family below 0.45 x the rate
        power = (np.sqrt(2.0) * np.sin(2 * np.pi * hz * t) @ basis) ** 2
        fam = [power[i:j].sum() + power[k + i : k + j].sum() for i, j in families]
        out.append(abs(fam[0] - fam[1]) * ms_scale)
    return float(min(out, default=0.0))


@register_stage
class FaultDetector(_Features, _Decision, _NumpyReference):
    """Sensor faults per channel (see the module text for the rules).

    Settings (the ``faults`` stage's options in a pipeline file): ``hop_s``
    the hop (s); ``blank_s`` the recovery masked after a rail sample (s);
    ``flat_uv`` the standard deviation below which a hop is flat (uV);
    ``spike_k`` the spike threshold in robust sigmas, ``spike_min_uv`` its
    floor (uV; from 1.5 kHz features.SPIKE_MIN_SMOOTH x it), ``spike_rel``
    the floor as a multiple of the channel's learnt peak level,
    ``spike_gap_s`` the gap that ends a spike event (s);
    ``motion_uv`` the 1-20 Hz band's RMS floor for motion (uV; lower, 10 x
    the band's own rest, on a channel quiet there: features.MOTION_FLOOR_K),
    ``motion_share`` its share of the power, ``motion_rel`` the multiple of
    the channel's learnt level of that band, ``motion_loud_rel`` and
    ``motion_loud_share`` the louder tier's multiple and share; ``noise_uv``
    the white-noise RMS (uV) the ``noise`` bar starts at, or lower from the
    channel's first hop (it then follows the channel's own floor, see
    features.NOISE_FLOOR_K) and ``noise_share``
    its share;
    ``mains_uv`` the hum's RMS floor (uV; lower on a quiet channel, see
    features.MAINS_FLOOR_K) and ``mains_share`` its share, ``mains_ratio``
    how far the hum's lines must stand above their neighbouring frequencies
    (power, see features.narrowband_basis); ``grid_ratio`` how far (RMS)
    a channel's power above 20 Hz must stand above its grid neighbours'
    median to be noise (0: no such test; only where the device's
    descriptor gives the grid); ``merge_s`` a
    flare-up this soon after an event's end reopens it (s); ``mask`` the
    kinds whose samples are made invalid (default DEFAULT_MASK: every kind
    but mains; a ramp's samples are masked as the motion it opened as). An
    unknown kind in ``mask`` raises SensorioError.
    """

    kind = "faults"
    #: per-sample front end in C when the C core has it (False: numpy)
    native: bool = True
    #: it outputs rows a hop late, whole hops, with their values unchanged
    holds_rows = True

    def __init__(
        self,
        hop_s: float = 0.05,
        blank_s: float = 0.05,
        flat_uv: float = 0.1,
        spike_k: float = 10.0,
        spike_min_uv: float = 50.0,
        spike_gap_s: float = 1.0,
        motion_uv: float = 40.0,
        motion_share: float = 0.6,
        motion_rel: float = 1.5,
        motion_loud_rel: float = 2.5,
        motion_loud_share: float = 0.12,
        spike_rel: float = 2.75,
        noise_uv: float = 50.0,
        noise_share: float = 0.27,
        mains_uv: float = 40.0,
        mains_share: float = 0.35,
        mains_ratio: float = 8.0,
        grid_ratio: float = 8.0,
        merge_s: float = 0.5,
        mask: tuple[str, ...] | list[str] = DEFAULT_MASK,
    ) -> None:
        """A detector with these settings (see the class text); the rate and
        channel count come with the first block."""
        super().__init__()
        self.hop_s = float(hop_s)
        if not self.hop_s > 0:  # (NaN too)
            raise ValueError(f"hop_s must be above 0 s, not {hop_s!r}")
        self.blank_s = float(blank_s)
        self.flat_uv = float(flat_uv)
        self.spike_k = float(spike_k)
        self.spike_min_uv = float(spike_min_uv)
        self.spike_gap_s = float(spike_gap_s)
        self.motion_uv = float(motion_uv)
        self.motion_share = float(motion_share)
        self.motion_rel = float(motion_rel)
        self.motion_loud_rel = float(motion_loud_rel)
        self.motion_loud_share = float(motion_loud_share)
        self.spike_rel = float(spike_rel)
        self.noise_uv = float(noise_uv)
        self.noise_share = float(noise_share)
        self.mains_uv = float(mains_uv)
        self.mains_share = float(mains_share)
        self.mains_ratio = float(mains_ratio)
        self.grid_ratio = float(grid_ratio)
        self.merge_s = float(merge_s)
        # a setting out of its range gave nonsense quietly (spike_k -5: every
        # hop a spike); NaN fails every test here too
        if not self.spike_k > 0:
            raise ValueError(f"spike_k must be above 0, not {self.spike_k!r}")
        # (a ratio of 0 turns its test off: mains_ratio 0, no narrowband test)
        rel = ("motion_rel", "motion_loud_rel", "spike_rel", "mains_ratio", "grid_ratio")
        floors = ("blank_s", "flat_uv", "spike_min_uv", "spike_gap_s", "motion_uv", "noise_uv", "mains_uv", "merge_s")
        for name in (*floors, *rel):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be 0 or more, not {getattr(self, name)!r}")
        for name in ("motion_share", "motion_loud_share", "noise_share", "mains_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} is a share of the power: 0 to 1, not {getattr(self, name)!r}")
        # one kind named alone is that kind, not its letters
        self.mask_kinds = (mask,) if isinstance(mask, str) else tuple(mask)
        unknown = set(self.mask_kinds) - set(KINDS)
        if unknown:
            raise SensorioError(f"faults: unknown kinds to mask {sorted(unknown)}; use {', '.join(KINDS)}")
        self._rate = 0.0
        self._ch = 0
        self._grid = None
        self._grid_near = None

    def describe(self) -> dict[str, Any]:
        """The stage's type and settings, as a pipeline file gives them."""
        keys = (
            "hop_s",
            "blank_s",
            "flat_uv",
            "spike_k",
            "spike_min_uv",
            "spike_gap_s",
            "motion_uv",
            "motion_share",
            "motion_rel",
            "motion_loud_rel",
            "motion_loud_share",
            "spike_rel",
            "noise_uv",
            "noise_share",
            "mains_uv",
            "mains_share",
            "mains_ratio",
            "grid_ratio",
            "merge_s",
        )
        d: dict[str, Any] = {"type": self.kind}
        d.update({k: getattr(self, k) for k in keys})
        d["mask"] = list(self.mask_kinds)
        return d

    def latency(self, rate_hz: float) -> float:
        """The one-hop look-ahead, in samples at rate_hz."""
        return float(max(4, int(round(self.hop_s * rate_hz))))

    def output_cut(self, row: int) -> int | None:
        """The end of the hop that stream row row is in: output blocks end
        at hop ends (but at a flush); None before the first block."""
        if not self._ch or self._seg_start is None:
            return None
        return self._seg_start + ((row - self._seg_start) // self.hop + 1) * self.hop

    # -- set-up -----------------------------------------------------------------
    def _setup(self, block: SignalBlock) -> None:
        """Everything that depends on the rate and channel count: hop
        lengths, feature filters, the mains basis, the health state."""
        fs = block.rate_hz
        self._rate = fs
        self._ch = ch = block.n_channels
        self.hop = hop = max(4, int(round(self.hop_s * fs)))
        self.blank = int(round(self.blank_s * fs))
        self.settle = int(round(SETTLE_S * fs))
        self.settle_start = min(self.settle, int(round(SETTLE_START_S * fs)))
        self._noise_share = noise_share_limit(fs, self.noise_share)
        # the spike test's fixed floor, and whether its level starts fast
        # (a potential's top is smooth in the second difference from there)
        self._spike_fast = fs >= SHARP_BELOW_HZ
        self._spike_min = self.spike_min_uv * (SPIKE_MIN_SMOOTH if self._spike_fast else 1.0)
        if self._noise_share is None:
            on_grid = block.grid is not None and self.grid_ratio > 0
            warnings.warn(
                f"broadband-noise detection is off at {fs:g} Hz: surface EMG fills the band "
                f"up to Nyquist there (it needs 1 kHz or more)"
                + ("; an electrode out of line with its grid neighbours is still found" if on_grid else ""),
                stacklevel=4,
            )
        nyq = fs / 2
        self._hp = SosState(signal.butter(2, min(20.0, 0.4 * nyq), "highpass", fs=fs, output="sos"), hop)
        # 1-20 Hz, second order: baseline drift (below 0.3 Hz) must not leak in
        low_sos = signal.butter(2, [1.0, min(20.0, 0.4 * nyq)], "bandpass", fs=fs, output="sos")
        self._low = SosState(low_sos, hop)
        # the share of white noise's power the 1-20 Hz band passes
        _, h = signal.sosfreqz(low_sos, worN=8192, fs=fs)
        self._low_leak = float(np.mean(np.abs(h) ** 2))
        # the power decay per hop of the band's slowest mode (its 1 Hz high-pass poles)
        self._ring_decay = float(np.exp(-2.0 * 2.0 * np.pi * 1.0 * np.sqrt(0.5) * hop / fs))
        # windowed sine/cosine basis at 50 and 60 Hz and harmonics below 0.45 fs
        window = np.hanning(2 * hop)
        t = np.arange(2 * hop) / fs
        freqs: list[float] = []
        self._families = []
        for f0 in MAINS_HZ:
            fam = [f0 * k for k in (1, 2, 3) if f0 * k < 0.45 * fs]
            self._families.append((len(freqs), len(freqs) + len(fam)))
            freqs.extend(fam)
        self._n_freq = len(freqs)
        f = np.array(freqs)
        self._basis = np.hstack(  # C-contiguous: the C projection reads it row by row
            [
                window[:, None] * np.cos(2 * np.pi * t[:, None] * f[None, :]),
                window[:, None] * np.sin(2 * np.pi * t[:, None] * f[None, :]),
            ]
        )
        # a sine of amplitude A gives |projection|^2 = (A * sum(w) / 2)^2; its
        # mean square is A^2 / 2
        self._ms_scale = 2.0 / float(window.sum()) ** 2
        # the mains test measures a family's power less the other's, and a
        # steady line leaks into the other family's bins (a 50 Hz line gives
        # 0.75 of its mean square at 50 ms hops): what it gives a unit line
        self._line_contrast = _line_contrast(self._basis, self._families, list(MAINS_HZ), self._ms_scale, t)
        self._nb_basis, self._nb_line, self._nb_side = narrowband_basis(freqs, self._families, window, fs)
        L = self._nb_basis.shape[0] // 2
        self._nb_halves = (np.ascontiguousarray(self._nb_basis[:L]), np.ascontiguousarray(self._nb_basis[L:]))
        # rows of one array: "is anything on" is one test
        self._health = np.zeros((len(KINDS), ch), dtype=bool)
        self.health_state = {k: self._health[i] for i, k in enumerate(KINDS)}
        self._hop_rows = [KINDS.index(k) for k in HOP_KINDS]
        self._open = {}
        self._closed = {}
        self._spare_events = []
        self._stream = block.stream
        self._set_grid(block)
        self._reset_signal()

    def _set_grid(self, block: SignalBlock) -> None:
        """The neighbours the grid test compares each channel with, from
        the block's electrode grid (none without one, or with the test off)."""
        self._grid = grid = block.grid
        self._grid_near = None
        if grid is None or not self.grid_ratio > 0:
            return
        if len(grid.cells) != self._ch:
            warnings.warn(
                f"faults: the electrode grid places {len(grid.cells)} channels, the stream has {self._ch}: "
                "its electrodes are not compared with their neighbours",
                stacklevel=3,
            )
            return
        near = np.full((self._ch, 8), self._ch, dtype=np.int64)
        for c, nb in enumerate(grid.neighbours()):
            near[c, : len(nb)] = nb
        self._grid_near = near

    def _reset_signal(self) -> None:
        """Forget the signal: pending rows, undecided hops, carried state and
        learnt levels (the settings of _setup stay)."""
        ch = self._ch
        for st in (self._hp, self._low):
            st.reset()
        self._seg_start = None
        self._pend = _Rows(ch)
        self._pend.on_move = self._own_tails  # the tails may be views of its rows
        self._pend_lo = None
        self._pend_start = 0
        self._pend_events = []
        self._feat = _Hops(ch)  # per complete, undecided hop
        self._lens_sum = 0  # rows in the featurised, undecided hops
        self._last_len = 0  # rows in the last of them
        self._bundles = {}
        self._masked_key = None
        self._masked = []
        self._unmasked = []
        self._g_feat = 0  # segment hop index of the next hop to featurise
        self._prev_mad = None
        self._prev_hp = np.zeros((ch, 0))
        self._nb_before = None
        self._nb_cur = None
        self._nb_hot = 0
        self._pows_ahead = None
        self._hp_back = np.zeros((ch, 0))
        self._data_back = np.zeros((ch, 0))
        self._ok_back = np.zeros((ch, 0), dtype=bool)
        # the "last clean hop" of every kind in one array (set at once when nothing happens)
        self._lf = np.full((len(HOP_KINDS), ch), -1, np.int64)
        self._carry = {
            k: {
                "lf": self._lf[i],
                "lt": np.full(ch, _NEG, np.int64),
                "onset": np.full(ch, _NEG, np.int64),
                "flag": np.full(ch, _NEG, np.int64),
            }
            for i, k in enumerate(HOP_KINDS)
        }
        for k in HOP_KINDS:
            self.health_state[k][:] = False
        self._level_back = np.full((ch, RAMP_HOPS), np.nan)
        self._ramp_from = {}
        self._last_rail = np.full(ch, _NEG, dtype=np.int64)
        self._prev_code = np.full(ch, np.iinfo(np.int64).min, dtype=np.int64)
        self._same_run = np.zeros(ch, dtype=np.int64)
        self._ema_a = 1.0 - np.exp(-1.0 / (0.1 * self._rate))
        self._ema_zi = np.zeros((ch, 1))
        self._ema_last = np.zeros(ch)
        self._last_spiky = np.full(ch, _NEG, dtype=np.int64)
        self._last_noise_hop = np.full(ch, _NEG, dtype=np.int64)
        self._noise_ms = np.zeros(ch)  # white-noise power of the last noise hop
        # the 1-20 Hz band's power it may ring down from (see _ring_down)
        self._ring_ref = np.zeros(ch)
        self._prev_hp_ms = np.full(ch, np.nan)  # the last hop's power above 20 Hz (see _loud_needs_two)
        self._settle_hops = np.zeros(ch, dtype=np.int64)  # settling hops in a row (see _settle_early)
        # the last 2 hops' motion verdicts before _loud_needs_two, and whether
        # the last hop's band was rising
        self._motion_prev = np.zeros((ch, 2), dtype=bool)
        self._motion_rising = np.zeros(ch, dtype=bool)
        # the mains tests of the last hops (see _mains_runs)
        self._mains_hist = (np.zeros((ch, MAINS_RUN - 1), dtype=bool), np.zeros((ch, MAINS_RUN - 1), dtype=bool))
        # the channel's own levels, learnt online (log10 uV, see _learn): the
        # 90th percentile of the 1-20 Hz band's RMS and of the hop's peak
        # |high-passed| sample, starting from the fixed floors
        self._q_low = np.full(ch, np.log10(max(self.motion_uv, 1e-3)))
        self._q_peak = np.full(ch, np.log10(max(self.spike_min_uv, 1e-3)))
        # the peak level starts from the channel's first usable hop (a
        # recording may start in a contraction, far above spike_min_uv)
        self._q_peak_set = np.zeros(ch, dtype=bool)
        # the peak level as it was when the low band's level last learnt
        self._q_peak_ref = self._q_peak.copy()
        self._q_low_set = np.zeros(ch, dtype=bool)
        # the spike test's peak level, on the second difference
        self._q_sd = np.full(ch, np.log10(max(self._spike_min, 1e-3)))
        # the floor of the white-noise RMS (see _noise_verdicts), starting so
        # that the bar is noise_uv until the channel teaches its own, or lower
        # from its first usable hop; whether that hop has come
        self._q_hf = np.full(ch, np.log10(max(self.noise_uv, 1e-3) / NOISE_FLOOR_K))
        self._q_hf_set = np.zeros(ch, dtype=bool)
        self._q_sd_set = np.zeros(ch, dtype=bool)
        # the 1-20 Hz band at rest (its 10th percentile, see _learn), starting
        # where the motion floor it gives is motion_uv
        self._q_low_rest = np.full(ch, np.log10(max(self.motion_uv, 1e-3) / MOTION_FLOOR_K))
        # ... or lower from the first hop it may learn from; whether that has come
        self._q_rest_set = np.zeros(ch, dtype=bool)
        # the high-passed RMS at rest (its 1st percentile, see _mains_floor),
        # starting where the mains floor it gives is mains_uv
        self._q_hp_rest = np.full(ch, np.log10(max(self.mains_uv, 1e-3) / MAINS_FLOOR_K))
        self._last_gap_hop = np.full(ch, _NEG, dtype=np.int64)
        self._spike_pad = max(1, int(round(0.005 * self._rate)))
        # the start counts as a restart: the feature filters settle first
        self._bad_run = np.full(ch, START_RUN, dtype=np.int64)
        self._last_restart = np.full(ch, _NEG, dtype=np.int64)
        self._last_spike = np.full(ch, _NEG, dtype=np.int64)
        self._spike_carry = np.zeros(ch, dtype=np.int64)  # spike-mask rows due in the next output
        self._held_out = np.full(ch, np.nan)
        self._template = None
        self._empty_rows = None
        use_c = self.native and _native_available()
        self._native = _NativeFront(self) if use_c else None

    def reset(self) -> None:
        """Close the open events at the end of what was received and forget
        the signal (after a discontinuity)."""
        if self._ch:
            self._close_all(self._pend_start + self._pending_rows())
            self._reset_signal()

    def health(self) -> list[dict[str, Any]]:
        """Per channel: ``state`` ("ok", "warning" or "faulty") and the active kinds."""
        out = []
        for c in range(self._ch):
            kinds = [k for k in KINDS if self.health_state[k][c]]
            bad = any(k in self.mask_kinds for k in kinds)
            out.append(
                {
                    "channel": c,
                    "state": "faulty" if bad else ("warning" if kinds else "ok"),
                    "kinds": kinds,
                }
            )
        return out

    # -- streaming --------------------------------------------------------------
    def process(self, block: SignalBlock) -> SignalBlock:
        """Take a block; return the rows whose look-ahead is complete (whole
        hops, possibly none), their validity masked and the policy applied."""
        if self._rate != block.rate_hz or self._ch != block.n_channels:
            self._setup(block)
        elif block.grid is not self._grid:
            self._set_grid(block)
        if self._seg_start is None:
            self._seg_start = block.start
            self._pend_start = block.start
        self._template = block
        completes = self._pending_rows() + len(block) - self._lens_sum >= self.hop or len(self._feat) > 1
        moved = False
        if not completes:
            # the pending rows move to the front of their buffer when the room
            # at its end runs out (_Rows.reserve; 0.45 ms at 256 channels about
            # once a second): on a block that completes no hop, make room for
            # this block and two hops more, so that the move comes here and
            # not on the block that completes the next hop, already the
            # dearest (docs/performance.md); the room left stays bounded
            waiting = self._native.waiting if self._native is not None else 0
            o, gen = self._pend.o, self._pend.generation
            self._pend.reserve(waiting + len(block) + 2 * self.hop)
            moved = self._pend.o != o or self._pend.generation != gen
        self._append(block)
        if not completes:
            come = self._pending_rows() - self._lens_sum  # rows of the hop under way
            # what the next decision can know already, worked out now (not on
            # the first block after a hop: the stages after this one run ahead
            # there; nor on one that moved the pending rows: a later one)
            if not moved and self._native is not None and len(self._feat) and come >= self.hop // 4:
                self._native.hop_far(self._pend, self._feat, self)
            if not moved and self._nb_hot and len(self._feat):
                self._nb_ahead(come)
            if not moved and self._pows_ahead is None and self._native is not None and come >= self.hop // 4:
                self._pows_ahead = self._level_pows()  # (the next hop's, if it is the usual one)
            self._make_spare_events()
            return self._empty()  # no hop complete, none to decide (the usual small block)
        self._featurise(final=False)
        return self._decide(final=False)

    def flush(self) -> SignalBlock | None:
        """End of stream: decide and return every pending row (the last hop
        may be short); None when nothing is pending."""
        if not self._ch or self._template is None or not self._pending_rows():
            return None
        self._featurise(final=True)
        return self._decide(final=True)

    def finish(self, end_s: float) -> None:
        """Close every open event at end_s (seconds on the stream's clock)."""
        if self._ch:
            self._close_all(int(round(end_s * self._rate)))

    def _append(self, block: SignalBlock) -> None:
        """Add a block's rows to the pending rows, with their per-sample flags
        and feature filters (C or numpy), lead-off masks and link events; a
        gap's lost samples become dropout events."""
        # everything per sample is computed channel-major (channels, rows): the
        # stages' arrays are laid out that way, so no strided copies
        n, ch = block.data.shape
        first = not self._pending_rows()
        if self._native is not None:
            self._native.run(block, self._pend, defer=True)
        else:
            front = self._front_numpy(block)
            ct = block.codes.T if block.codes is not None else np.zeros((ch, n), dtype=np.int32)
            self._pend.append({"data": block.data.T, "valid": block.valid.T, "codes": ct, **front})
        if first:
            self._pend_lo = block.leadoff
        else:
            if self._pend_lo is not None and block.leadoff is not None:
                self._pend_lo = np.concatenate([self._pend_lo, block.leadoff])
            else:
                self._pend_lo = None
        offset = block.start - self._pend_start
        for ev in block.events if len(block.events) else ():
            e = ev.copy()
            e["row"] = int(ev["row"]) + offset
            self._pend_events.append(e)
            if ev["kind"] == EV_GAP and int(ev["lost_samples"]) > 0:
                self._dropout(block.start + int(ev["row"]), int(ev["lost_samples"]))

    def _dropout(self, resume: int, lost: int) -> None:
        """A dropout event on every channel for lost samples before stream row resume."""
        fs = self._rate
        for c in range(self._ch):
            self.emit(
                DspEvent(
                    self._stream,
                    c,
                    "dropout",
                    (resume - lost) / fs,
                    resume / fs,
                    resume / fs,
                    detail={"lost_samples": lost},
                )
            )

    # -- features of complete hops ------------------------------------------------
    def _pending_rows(self) -> int:
        """Rows received and not output yet."""
        waiting = self._native.waiting if self._native is not None else 0
        return len(self._pend) + waiting
