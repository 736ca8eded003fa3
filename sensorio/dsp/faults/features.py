"""Features of complete hops and the conditions drawn from them (stuck, flat,
motion, noise, mains), with the levels each channel learns online; a mixin
of FaultDetector."""

from __future__ import annotations

import warnings
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from .._blas import matmul
from ._state import Flags, Floats, Ints, _DetectorState

_NEG = -(1 << 62)
#: a channel's run of invalid samples before its first valid one: the start
#: counts as a restart (csrc/sio_dsp.h's SIO_DSP_START_RUN, the same number)
START_RUN = 1 << 40


#: the share of broadband-noise power a clean hop of EMG may show, as a multiple
#: of what the reference EMG spectrum gives on average (a 50 ms hop's estimate
#: spreads widely, and muscles differ). At 1 kHz, where it sets the bar, the
#: real corpus's largest hop (of those above noise_uv) shows 1.35 x the
#: reference, so 3 x leaves it a margin of 2.2 (6 x, set for the emulator's
#: older, bluer EMG, missed noise as loud as a contraction's EMG)
NOISE_SHARE_MARGIN = 3.0


#: below this rate the noise test is off: EMG fills the band up to Nyquist
#: there and looks like white noise (and the real corpus, whose lowest rate
#: is 1 kHz, cannot say how far down the test still holds)
NOISE_MIN_HZ = 1000.0

#: broadband noise is a fault when its white-noise RMS stands this many times
#: above the channel's own floor of it (its learnt 10th percentile: the
#: amplifier and electrodes at rest), so the bar follows the channel's gain.
#: 3, not 6: at 1 kHz a quiet channel's rest is mostly that white noise (the
#: tai chi recordings', resampled from 1.26 and 2.2 kHz), so noise as loud
#: as the channel's EMG adds 1.4-3 x to the estimate, not 10-80 x as where
#: the rest is EMG below Nyquist (docs/dsp.md, "The noise bar at 3 x")
NOISE_FLOOR_K = 3.0


#: the grid test (_out_of_line) needs this many usable neighbours to
#: compare a channel with (a corner electrode has 3)
GRID_MIN_NEIGHBOURS = 2


#: motion during broadband noise: the 1-20 Hz band must exceed this many times
#: the noise's expected leak into it (a 50 ms hop of a 20 Hz wide band has
#: about two degrees of freedom: its power exceeds 7 x the mean once in a thousand)
NOISE_LEAK_MARGIN = 10.0


#: the motion floor: motion_uv, or this many times the channel's own 1-20 Hz
#: band at rest (its learnt 10th percentile) where that is lower. At x1 the
#: corpus's bipolar grid rests at about 6 uV there (the floor stays 40 uV);
#: a channel quieter at rest, or a quieter recording, gets a floor to match
#: (7 x lets the bipolar grid's own rest excursions through: 16.9 clean
#: events per channel-hour)
MOTION_FLOOR_K = 10.0

#: motion sits in the slow part of the 1-20 Hz band: a hop whose band has its
#: RMS frequency (from the power of its first difference against its own)
#: above this is not motion. The heart's QRS complexes that electrodes over a
#: trunk muscle pick up put 10-15 Hz there (median 12.5-12.8 over a real
#: ECG's loudest hops, MIT-BIH record 208; the hop after one rings down from
#: it), an artifact's swing 1-10 Hz (the scorer's 1-4 Hz swings under a
#: sin^2 envelope: 2 Hz median, at most 10.8 over their hops; a ramp
#: through zero mid-hop reads 11.0, the most a 50 ms hop gives slow
#: content); a step through the band gives about 3 Hz, an impulse (a spike,
#: not motion) about 20. See docs/dsp.md, "The heart in the signal"
MOTION_MAX_HZ = 11.0


#: the learnt levels' step up per hop, log10 (0.05: x1.12; down 1/9 of it)
LEARN_UP = 0.05
#: the low band's level starts this far (log10: x3) above its first judged
#: hop's level (one hop is a draw from what the level is the 90th percentile
#: of; started at the hop itself, a contraction's onset a second later was
#: motion at 5 x the corpus's gain); lower than motion_uv too: a quiet
#: channel's band is a few uV, which a start at motion_uv took the whole of
#: a short recording to learn down to. The white-noise floor starts as far
#: above its first usable hop where that is below its start from noise_uv
#: (_noise_verdicts)
LEARN_START_UP = 0.5
#: ... and at most this far (log10: x3) above motion_uv
LEARN_START_MAX = 0.5
#: a hop of the low band this far above its learnt level (log10: x2) with a
#: share above motion_loud_share does not teach it
LEARN_RISE = 0.3


#: a broadband hop's 1-20 Hz power, as the level the band may ring down
#: from after it (_ring_down), is taken at this many times its mean square:
#: the band-pass's output grows through a burst, so the ring it leaves
#: starts above the burst hop's mean (a linear build-up's mean square is a
#: third of its end's); at 1 it called a jump's 100 ms burst motion
RING_BUILD = 2.0

#: after a restart (a channel's first valid sample, or its first after a
#: code fault or a gap) the 1-20 Hz band is not judged for motion for this
#: long unless its level is known: the band-pass (1 Hz, second order) rings
#: from its re-priming, and after a code fault the amplifier's own recovery
#: rings with it
SETTLE_S = 0.8
#: ... and after the stream's start (a channel valid within a hop of it):
#: the filters are primed to the first sample, so only that sample's own
#: deviation rings, with no recovery behind it. At SETTLE_S an artifact in a stream's first second went
#: unjudged until 0.8 s (docs/dsp.md, "Motion in a stream's first second")
SETTLE_START_S = 0.5
#: after a restart, the hops within this long whose 1-20 Hz band is only the
#: re-primed filter's ringing (its step response peaks within 100 ms): no
#: motion verdict there, their power is what the band may ring down from
SETTLE_EARLY_S = 0.15
#: ... and the envelope of its ringing after them, in power, as a multiple of
#: the band-pass's slowest mode's decay: a 2nd-order Butterworth high-pass's
#: step response swings back to 1 / (1 - 0.5) = 2 x that, and the EMG's own
#: low band adds to it
SETTLE_RING = 4.0
#: a motion verdict on a band within this many times (in power) of what it
#: may ring down to after a burst stands only with another verdict in the
#: next two hops (_loud_needs_two): a swing as a contraction ends (the
#: muscle relaxing) outlives the band-pass's ring for a hop, an artifact lasts
RING_CONFIRM = 4.0
#: ... as the EMG fades: the hop's power above 20 Hz under this share of the
#: hop before's (an artifact under a contraction leaves the EMG as it was)
RING_FADE = 0.5


#: the narrowband test's neighbours of a mains line, in bins of the 2-hop
#: projection window (1 / (2 hops): 10 Hz at 50 ms hops): a Hann-windowed
#: sine leaks nothing 2 or more bins away, while EMG's spectrum is smooth
#: over a few tens of Hz
NARROWBAND_BINS = (2, 3)

#: mains is on after MAINS_RUN consecutive hops of its test, or after
#: MAINS_SURE_RUN when the lines stand MAINS_SURE x mains_ratio above their
#: neighbours in each of them: a hum is on from its onset, while physiological
#: rhythms near 50 Hz (a monopolar contraction's, 150 ms or so) pass the test
#: only for a few hops and with their lines less far above their neighbours
MAINS_RUN = 4
#: the mains floor: mains_uv, or this many times the channel's quiet level
#: (its high-passed RMS at rest, learnt: _mains_floor) where that is lower;
#: a hum always present is part of that level, so only one over it counts.
#: 2, not 4: a hum over a channel in a light contraction stood under 4 x its
#: rest while the share and line tests found it (docs/dsp.md)
MAINS_FLOOR_K = 2.0
#: ... or a hum that is this share of the hop's high-passed power at least,
#: of MAINS_ALONE_UV RMS or more, whatever the floor (_hum_alone)
MAINS_ALONE = 0.8
MAINS_ALONE_UV = 1.0
#: ... where a steady line gives the test at least this share of its power
#: (0.75 at the default 50 ms hops from 200 Hz up; 0 to 0.13 at 100-250 Hz
#: with short hops, where 50 and 60 Hz fall in one bin)
MAINS_ALONE_CONTRAST = 0.5
MAINS_SURE_RUN = 3
MAINS_SURE = 2.0
#: ... or when, in each of those hops, the hum is the channel's own: its
#: lines OWN_HUM_K x mains_ratio above their neighbours once what the other
#: channels share is taken out (_own_hum; with OWN_HUM_CHANNELS live
#: channels or more). A hum on one electrode (its contact) is its own; a monopolar
#: contraction's 50 Hz rhythm, which passes the test for a few hops, is
#: common to the grid. 1.25, not 1: a synthetic channel's steady hum (its
#: phase its own) with a lull in its EMG passed 3 hops at 8 x (docs/dsp.md)
OWN_HUM_CHANNELS = 4
OWN_HUM_K = 1.25
#: the narrowband test's product on a hop's own rows is summed from this
#: many pieces, each worked out as its rows come while the test has had a
#: candidate in the last NB_HOT_HOPS hops (docs/performance.md)
NB_PIECES = 4
NB_HOT_HOPS = 20


def narrowband_basis(
    lines: list[float], families: list[tuple[int, int]], window: Floats, fs: float
) -> tuple[Floats, Floats, Floats]:
    """The narrowband test's basis: the window times cosines and sines
    (samples, 2 x K) at the mains lines and at their neighbours
    NARROWBAND_BINS bins either side (below Nyquist), and per family (lines
    [i, j) of lines) two weight columns (K, families): the first sums the
    power of the family's lines, the second the mean power of each line's
    neighbours, summed over the lines."""
    n = len(window)
    t = np.arange(n) / fs
    bin_hz = fs / n
    freqs: list[float] = []

    def col(f: float) -> int:
        if f not in freqs:
            freqs.append(f)
        return freqs.index(f)

    line_w: list[dict[int, float]] = []
    side_w: list[dict[int, float]] = []
    for i, j in families:
        lw: dict[int, float] = {}
        sw: dict[int, float] = {}
        for f in lines[i:j]:
            lw[col(f)] = 1.0
            nbs = [f + s * b * bin_hz for b in NARROWBAND_BINS for s in (-1, 1)]
            nbs = [g for g in nbs if 0.0 < g < fs / 2]
            for g in nbs:
                k = col(g)
                sw[k] = sw.get(k, 0.0) + 1.0 / len(nbs)
        line_w.append(lw)
        side_w.append(sw)
    f_arr = np.array(freqs)
    basis = np.hstack(
        [
            window[:, None] * np.cos(2 * np.pi * t[:, None] * f_arr[None, :]),
            window[:, None] * np.sin(2 * np.pi * t[:, None] * f_arr[None, :]),
        ]
    )
    line = np.zeros((len(freqs), len(families)))
    side = np.zeros((len(freqs), len(families)))
    for fam, (lw, sw) in enumerate(zip(line_w, side_w, strict=True)):
        for k, w in lw.items():
            line[k, fam] = w
        for k, w in sw.items():
            side[k, fam] = w
    return basis, line, side


def emg_noise_share(fs: float, f_low: float = 60.0, f_high: float = 120.0) -> float:
    """What the noise test's share (third-difference power / 20 over 20 Hz
    high-passed power; 1 for white noise) comes to on surface EMG at rate fs,
    from the standard EMG spectrum model (Shwedyk et al. 1977):
    P(f) ~ f_high^4 f^2 / ((f^2 + f_low^2) (f^2 + f_high^2)^2)."""
    f = np.linspace(1.0, fs / 2, 4096)
    emg = f_high**4 * f**2 / ((f**2 + f_low**2) * (f**2 + f_high**2) ** 2)
    emg *= (f / 20.0) ** 4 / (1.0 + (f / 20.0) ** 4)  # the 20 Hz high-pass
    third_diff = (2.0 * np.sin(np.pi * f / fs)) ** 6 / 20.0
    return float(np.sum(emg * third_diff) / np.sum(emg))


def noise_share_limit(fs: float, base: float) -> float | None:
    """The noise test's share threshold at rate fs (None: the test is off, as
    EMG itself fills the band up to Nyquist and looks like white noise)."""
    if fs < NOISE_MIN_HZ:
        return None
    return max(base, NOISE_SHARE_MARGIN * emg_noise_share(fs))


#: from this rate up the spike test reads the second difference of the 20 Hz
#: high-passed signal, below it the high-passed signal itself: a 2 ms spike
#: is one sample there. At 1 kHz bipolar EMG's motor-unit potentials stand
#: out of the second difference too (tools/spike_contrast.py); the corner
#: rule (decision.SHARP_BELOW_HZ) tells them from spikes
SPIKE_SD_MIN_HZ = 1000.0
#: below this rate (where the test reads the second difference: 1 kHz) a
#: spike must have a corner (decision.SHARP_RATIO); from it a motor-unit
#: potential a few ms wide is smooth in the second difference, so its
#: figures there stand far below a spike's, and the test's fixed floor is
#: SPIKE_MIN_SMOOTH x spike_min_uv (15 uV): on a quiet channel (2-5 uV RMS)
#: a spike of 10-30 x that was under the 50 uV floor. At 1 kHz the floor
#: stays: potentials 2-3 ms wide of 90-250 uV on 20-30 uV channels have one
#: corner there, like a spike (docs/dsp.md, "A spike floor from 1.5 kHz")
SHARP_BELOW_HZ = 1500.0
SPIKE_MIN_SMOOTH = 0.3
#: ... and there the learnt peak level of the second difference (its floor:
#: spike_rel x it) learns SPIKE_FAST x as fast over the stream's first
#: SPIKE_FAST_HOPS hops: it starts at the fixed floor, and at x0.987 a hop
#: it took most of a short recording to come down to a quiet channel's own
SPIKE_FAST = 9.0
SPIKE_FAST_HOPS = 20


def spike_signal(x: Floats, before: Floats | None, after: Floats | None, fs: float, ok: Flags | None = None) -> Floats:
    """What the spike test reads of the high-passed rows x (channels, rows)
    at rate fs (see SPIKE_SD_MIN_HZ; before and after as second_difference's).
    ok (channels, rows + 2): whether the sample before, each row and the
    sample after are usable (None: all are); a second difference next to an
    unusable sample is 0, as is the high-passed value of one (what the
    filters give there depends on where the blocks were cut)."""
    if fs < SPIKE_SD_MIN_HZ:
        return x if ok is None else np.where(ok[:, 1:-1], x, 0.0)
    sd = second_difference(x, before, after)
    return sd if ok is None else np.where(ok[:, :-2] & ok[:, 1:-1] & ok[:, 2:], sd, 0.0)


def rank_median(x: Floats, ok: Flags) -> Floats:
    """Per row of x (..., samples): the element of rank n // 2 of its n
    samples where ok (0 where none is), as numpy.partition(x, L // 2) when
    every sample is: the fast path's and this one's figures for a hop must
    not differ, since which path a hop takes depends on the hops decided
    with it."""
    n = ok.sum(axis=-1)
    ranked = np.sort(np.where(ok, x, np.inf), axis=-1)
    pick = np.take_along_axis(ranked, (n // 2)[..., None], axis=-1)[..., 0]
    return np.where(n > 0, pick, 0.0)


def _clean_figures(
    codes: NDArray[Any], data: Floats, low: Floats, hp: Floats, need: int
) -> tuple[Floats, Floats, Floats, Floats, Floats, Flags, Floats]:
    """Per (channel, hop) of (channels, hops, samples) arrays whose every
    sample counts: the standard deviation, the MAD of the high-passed signal,
    its mean square, that of the 1-20 Hz band, the white-noise power, whether
    the codes are stuck, and the largest |high-passed| sample (the C front
    end's sio_dsp_hop_features in numpy)."""
    L = hp.shape[2]
    stuck = (codes.min(axis=2) == codes.max(axis=2)) & (L >= need)
    std = data.std(axis=2)
    # the 20 Hz high-passed signal has a median of ~0 over a hop: its
    # MAD is the median of |hp| (one partial sort instead of two)
    mad = np.partition(np.abs(hp), L // 2, axis=2)[:, :, L // 2]
    hp_ms = np.einsum("cmi,cmi->cm", hp, hp) / L
    low_ms = np.einsum("cmi,cmi->cm", low, low) / L
    # third difference: gain |2 sin(w/2)|^3, mean square 20 x that of
    # white noise, little from EMG (which sits well below Nyquist)
    d3 = np.diff(hp, 3, axis=2)
    hf_ms = np.einsum("cmi,cmi->cm", d3, d3) / (20.0 * max(L - 3, 1))
    return std, mad, hp_ms, low_ms, hf_ms, stuck, np.abs(hp).max(axis=2)


def _figures_where_ok(
    codes: NDArray[Any],
    data: Floats,
    low: Floats,
    hp: Floats,
    valid: Flags,
    hard_ok: Flags,
    spiky: Flags,
    need: int,
) -> tuple[Floats, Floats, Floats, Floats, Floats, Flags, Floats]:
    """_clean_figures' figures counting only the usable samples (hard_ok;
    the power figures leave the spikes out too, which are reported apart),
    for channels with some that are not; stuck reads the valid codes, and
    the standard deviation is infinite where fewer than need samples count."""
    big = np.iinfo(np.int64).max
    cmin = np.where(valid, codes, big).min(axis=2)
    cmax = np.where(valid, codes, -big).max(axis=2)
    stuck = (cmin == cmax) & (valid.sum(axis=2) >= need)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hpv = np.where(hard_ok, hp, np.nan)
        std = np.where(hard_ok.sum(axis=2) >= need, np.nanstd(np.where(hard_ok, data, np.nan), axis=2), np.inf)
        mad = rank_median(np.abs(hp), hard_ok)
        hpv = np.where(spiky, np.nan, hpv)
        d3 = np.diff(hpv, 3, axis=2)
        hf_ms = np.nan_to_num(np.nanmean(d3 * d3, axis=2)) / 20.0
        hp_ms = np.nan_to_num(np.nanmean(hpv * hpv, axis=2))
        low_ms = np.nan_to_num(np.nanmean(np.where(hard_ok & ~spiky, low, np.nan) ** 2, axis=2))
    return std, mad, hp_ms, low_ms, hf_ms, stuck, np.where(hard_ok, np.abs(hp), 0.0).max(axis=2)


def second_difference(x: Floats, before: Floats | None, after: Floats | None) -> Floats:
    """x[n] less the mean of its neighbours, along the last axis of x
    (channels, rows); before and after (channels,) are the samples either
    side of x (None: none, at a stream's start or end, where the first or
    last sample gets 0). Tissue low-passes EMG, so little of it is left
    here, while a pulse a few samples wide keeps most of its height: what the
    spike test reads (see tools/spike_contrast.py)."""
    n = x.shape[-1]
    padded = np.empty(x.shape[:-1] + (n + 2,))
    padded[..., 1:-1] = x
    if n:
        padded[..., 0] = x[..., 0] if before is None else before
        padded[..., -1] = x[..., -1] if after is None else after
    out = x - 0.5 * (padded[..., :-2] + padded[..., 2:])
    if n and before is None:
        out[..., 0] = 0.0
    if n and after is None:
        out[..., -1] = 0.0
    return out


def _peak_step(
    q: Floats,
    started: Flags,
    usable: Flags,
    peak: Floats,
    lpeak: Floats,
    own: Floats,
    floor: Floats,
    fast: float = 1.0,
) -> tuple[Floats, Flags]:
    """One hop of a learnt peak level (log10 uV, per channel): a step of
    LEARN_UP (times fast) towards the hop's peak (lpeak its log10), down by a
    ninth of it, where the hop is usable and its peak no outlier (above both
    the spike floor and the test's own-hop threshold own); the first usable
    hop starts it at its peak if higher. Returns the level and which have
    started."""
    finite = np.isfinite(lpeak)
    teach = usable & ~((peak > floor) & (peak > own)) & finite
    up = LEARN_UP * fast
    q = np.where(teach, q + np.where(lpeak > q, up, -up / 9.0), q)
    first = usable & ~started & finite
    if first.any():
        q = np.where(first, np.maximum(q, lpeak), q)
        started = started | first
    return q, started


def _any(a: NDArray[Any]) -> bool:
    """Whether any value of a is nonzero (True): a.any(), at a third of its
    cost on the small per-hop arrays (no Python-level reduction wrapper; the
    block that completes a hop makes about a dozen such tests)."""
    return bool(np.count_nonzero(a))


def _finite(x: Floats) -> Floats:
    """numpy.nan_to_num(x), x itself when every value is finite (the usual
    hop: nan_to_num's own checks cost several times the test)."""
    return x if np.isfinite(x).all() else np.nan_to_num(x)


def _low_quantile_step(q: Floats, x: Floats, teach: Flags, up_ratio: float) -> Floats:
    """One hop of a learnt low percentile (log10 uV, per channel): where
    teach and x (the hop's log10 level) is finite, a step of LEARN_UP down
    when x is below q, LEARN_UP / up_ratio up otherwise. It settles where
    1 / (1 + up_ratio) of the hops fall below: 9, the 10th percentile; 99,
    the 1st."""
    teach = teach & np.isfinite(x)
    return np.where(teach, q + np.where(x < q, -LEARN_UP, LEARN_UP / up_ratio), q)


class _Features(_DetectorState):
    """Per-hop features and conditions (FaultDetector's; see the package text)."""

    def _featurise(self, final: bool) -> None:
        """Features and hysteresis of the pending hops now complete (and, when
        final, of the short hop left at the end)."""
        n = self._pending_rows()
        done = self._lens_sum
        full = (n - done) // self.hop
        if self._native is not None and (full or final):
            self._native.catch_up(self._pend)
        if full:
            self._add_features(done, full, self.hop)
            done += full * self.hop
        if final and n > done:
            self._add_features(done, 1, n - done)

    def _add_features(self, a: int, m: int, L: int) -> None:
        """Featurise m hops of L rows from pending row a, run their hysteresis
        and store what the output needs of them."""
        f = self._features(a, m, L)
        const = self._consts(m, L)
        masked = self._masked_hop_kinds()
        zeros = const["zeros_cm"]
        cond = zeros
        for k in masked:
            if f[k] is not zeros:  # (the shared all-False constant adds nothing)
                cond = f[k] if cond is zeros else cond | f[k]
        # hysteresis as soon as a hop is complete (events do not wait for
        # the look-ahead, only the output does)
        active = self._hysteresis(f, cond, masked, self._pend_start + a, m, L)
        self._g_feat += m
        sat, lo = f["saturation"], f["leadoff"]
        blocked = f["stuck"]
        if sat is not const["zeros_cm"] or lo is not const["zeros_cm"]:
            blocked = blocked | sat | lo
        self._feat.append(
            L,
            m,
            {
                "cond": cond.T,
                "active": active,
                "blocked": blocked.T,
                "mad": f["mad"].T,
                "med": f["med"].T,
            },
            med_zero=f["med"] is const["zeros_f"],
        )
        self._lens_sum += m * L
        self._last_len = L

    def _consts(self, m: int, L: int) -> dict[str, NDArray[Any]]:
        """Shared, read-only arrays for m hops of L rows (an in-place change
        to one would be a bug): all-False (channels, hops) "zeros_cm" and
        (hops, channels) "zeros", float and int64 zeros "zeros_f" and
        "zeros_i", "L" and "-1" (channels, hops), "enough" (L rows are
        enough for a verdict), "nan" (channels, hops); "all" (channels,)
        all True."""
        c = self._bundles.get((m, L))
        if c is None:
            ch = self._ch
            c = {
                "all": np.ones(ch, dtype=bool),
                "zeros_cm": np.zeros((ch, m), dtype=bool),
                "zeros": np.zeros((m, ch), dtype=bool),
                "zeros_f": np.zeros((ch, m)),
                "zeros_i": np.zeros((ch, m), dtype=np.int64),
                "L": np.full((ch, m), L),
                "-1": np.full((ch, m), -1),
                "enough": np.full((ch, m), L >= max(4, L // 2)),
                "nan": np.full((ch, m), np.nan),
            }
            for arr in c.values():
                arr.setflags(write=False)
            self._bundles[(m, L)] = c
        return c

    def _features(self, a: int, m: int, L: int) -> dict[str, NDArray[Any]]:
        """Per (channel, hop) of m hops of L rows from pending row a: every
        hop-level condition (saturation and lead-off with their first and last
        flagged rows, stuck, flat, noise, motion, mains) and the spike test's
        MAD and median; the learnt levels and carried marks move on."""
        # a hop's figures may be 0 (log10: -inf) or 0 / 0 (NaN), which the
        # comparisons take as they are: one errstate for them all (its entry costs about
        # a microsecond, there were seven per hop)
        with np.errstate(invalid="ignore", divide="ignore"):
            return self._hop_conditions(a, m, L)

    def _hop_conditions(self, a: int, m: int, L: int) -> dict[str, NDArray[Any]]:
        """_features' work (in its errstate; so are the methods it calls)."""
        p = self._pend
        ch = self._ch
        at = p.o + a
        # the learnt levels' powers worked out ahead: of the levels as they
        # are now, before this hop moves them (taken or dropped here)
        pows_ahead, self._pows_ahead = self._pows_ahead, None

        def r(name: str) -> NDArray[Any]:
            # (channels, hops, samples): reductions run along contiguous memory
            return p.array(name)[:, at : at + m * L].reshape(ch, m, L)

        valid, spiky = r("valid"), r("spiky")
        const = self._consts(m, L)
        f: dict[str, NDArray[Any]] = {}
        # hops from quiet rows only: nothing to look for in the flags
        quiet = self._native is not None and self._pend_start + a >= self._native.quiet_from
        if quiet:
            for name in ("saturation", "leadoff"):  # shared constants
                f[name] = const["zeros_cm"]
                f[name + "_first"] = const["L"]
                f[name + "_last"] = const["-1"]
        else:
            hard_ok, rail, lead = r("hard_ok"), r("rail"), r("leadoff")
            idx = np.arange(L)[None, None, :]
            any_lead = bool(lead.any())
            for name, mask, present in (
                ("saturation", rail & ~lead if any_lead else rail, None),
                ("leadoff", lead, any_lead),
            ):
                if present is None:
                    present = bool(mask.any())
                if present:
                    f[name] = cast(Flags, mask.any(axis=2))  # (channels, hops): an array, not a scalar
                    f[name + "_first"] = np.where(mask, idx, L).min(axis=2)
                    f[name + "_last"] = np.where(mask, idx, -1).max(axis=2)
                else:  # the usual case: shared constants
                    f[name] = const["zeros_cm"]
                    f[name + "_first"] = const["L"]
                    f[name + "_last"] = const["-1"]
        need = max(4, L // 2)
        all_ok = quiet or bool(hard_ok.all())
        if all_ok:
            enough = const["enough"]
        else:
            enough = hard_ok.sum(axis=2) >= need
        hp = r("hp")
        fast = quiet or (all_ok and not spiky.any())
        # the spike test's scale is taken on the second difference (see
        # below); the usual hop's verdicts then run in C
        second = self._rate >= SPIKE_SD_MIN_HZ
        # (the spike level's first fast hops in numpy's loop: C steps at one pace)
        early_fast = self._spike_fast and self._g_feat < SPIKE_FAST_HOPS
        usual = m == 1 and second and self._native is not None and self._noise_share is not None and not early_fast
        # the figures of every channel as if all its samples counted (one C
        # call, or numpy); then, unless every one does, those of the channels
        # with an unusable or spiky sample again on the samples that count:
        # one faulty channel must not send all the others the slow way, and a
        # channel's figures must not depend on the others'
        if self._native is not None and L >= 4:
            # the usual hop's MAD lazily (finish_mads, below): its verdicts read it only here and there
            first = self._pend_start + a
            std, mad, hp_ms, low_ms, hf_ms, same, peak = self._native.hop_features(p, a, m, L, first, lazy=usual)
            stuck = same & (L >= need)
        else:
            std, mad, hp_ms, low_ms, hf_ms, stuck, peak = _clean_figures(r("codes"), r("data"), r("low"), hp, need)
        odd = None if fast else np.flatnonzero(~np.all(hard_ok, axis=(1, 2)) | np.any(spiky, axis=(1, 2)))
        # the channels whose MAD is C's to finish (the odd ones' is numpy's)
        mad_c = None
        if usual:
            mad_c = const["all"]  # (read only)
            if odd is not None:
                mad_c = mad_c.copy()
                mad_c[odd] = False
        if odd is not None and odd.size:
            figures = _figures_where_ok(
                r("codes")[odd], r("data")[odd], r("low")[odd], hp[odd], valid[odd], hard_ok[odd], spiky[odd], need
            )
            for full, part in zip((std, mad, hp_ms, low_ms, hf_ms, stuck, peak), figures, strict=True):
                full[odd] = part
        # the power above 20 Hz of the hop before these, and carried on
        # whatever path the hops take below (the motion rule reads it)
        prev_hp_ms, self._prev_hp_ms = self._prev_hp_ms, hp_ms[:, -1].copy()
        sat, lo = f["saturation"], f["leadoff"]
        # (no rail or lead-off flag, the usual hop: the terms that read them drop out)
        flagged = sat is not const["zeros_cm"] or lo is not const["zeros_cm"]
        flat = std < self.flat_uv
        if _any(stuck):
            if flagged:
                stuck &= ~(sat | lo)
            at_zero = r("zero").all(axis=2)
            f["stuck"] = stuck & ~at_zero
            flat = (enough & ~stuck & flat) | (stuck & at_zero)
        else:  # (no stuck hop: nothing to take off it, nor to add to flat)
            f["stuck"] = stuck
            flat &= enough
        blocked = stuck | ~enough
        if flagged:
            flat &= ~(sat | lo)
            blocked |= sat | lo
        f["flat"] = flat
        # the learnt floors (noise, mains, motion) learn from live hops only:
        # a flat one (a channel not yet connected) would drag them down to
        # nothing, and the channel come alive would be "noisy" for seconds
        live = ~(blocked | flat)
        # the spike test's scale, on the second difference (see below)
        if second:
            spike_mad, sd_peak = self._sd_stats(a, m, L, hp, None if fast else hard_ok)
        if usual:
            # the usual hop's log10 and powers (of the levels learnt before
            # it), numpy's, in one call each: the rest of the hop runs in C
            # (stacked as np.stack would, without its Python-level steps)
            logs = np.log10(np.concatenate((hp_ms, hf_ms, low_ms, peak, sd_peak)).reshape(5, ch, m))
            pows = pows_ahead if pows_ahead is not None else self._level_pows()
            mains, mains_sure = self._mains(a, m, L, hp, live, hp_ms, (logs[0], pows[0]))
        else:
            mains, mains_sure = self._mains(a, m, L, hp, live, hp_ms)
        # (one pass over the flags first: the usual hop has none, and the
        # tests of settling hops below are then skipped; quiet rows have
        # none, known without reading them)
        settle = None if quiet else r("settle")
        any_settle = settle is not None and bool(settle.any())
        settling = cast(Flags, settle.any(axis=2)) if settle is not None and any_settle else const["zeros_cm"]
        # a spike's edges ring into the 1-20 Hz band before it is flagged:
        # no motion verdict in a hop with spikes
        # (quiet rows: none is spiky, every one valid)
        spiked = const["zeros_cm"] if quiet else spiky.any(axis=2)
        # (the grid's neighbours: numpy's on both paths below, and read by
        # nothing else of the hop's, so the two paths stay one)
        apart = None if self._grid_near is None else self._out_of_line(hp_ms, live & ~spiked & ~mains)
        g = (self._g_feat + np.arange(m))[None, :]
        # a dropout holds the feature filters' input; the step that leaves
        # rings in the 1-20 Hz band like motion: no motion verdict in a hop
        # with missing rows or in the 2 hops after it
        if quiet:  # no row missing: the last gap hop stays the carried one
            last_gap = self._last_gap_hop[:, None]
        else:
            marks = np.where(~valid.all(axis=2), g, _NEG)
            marks[:, 0] = np.maximum(marks[:, 0], self._last_gap_hop)
            last_gap = np.maximum.accumulate(marks, axis=1)
            self._last_gap_hop = last_gap[:, -1].copy()
        if usual:
            # the rest in C, unless a motion candidate or a channel's first
            # judged hop, first usable hop (its noise floor) or first rest
            # hop (its band's rest) is among them (the code below then)
            assert self._native is not None
            flags = (
                blocked,
                live,
                mains,
                mains_sure,
                None if quiet else settling,
                None if quiet else cast(Flags, spiked),
            )
            # the MAD counts only where the hop's peak stands above both the
            # spike floor and the MAD's own threshold (sio_dsp_peak_step: an
            # outlier): there only (nothing reads the rest); not
            # where the peak is within the threshold of a lower bound of the
            # MAD (C's comparisons on the same bits; a positive constant
            # times the MAD rounds monotonically)
            assert mad_c is not None
            pk = peak[:, 0]
            outlier = pk > self.spike_rel * pows[4]
            if odd is not None:
                outlier &= mad_c
            floor = self._native.mad_floor(self._pend_start + a) if _any(outlier) else None
            if floor is not None and self.spike_k > 0:
                outlier &= ~(pk <= self.spike_k * 1.4826 * floor)
            self._native.finish_mads(p, self._pend_start, self._pend_start + a, outlier)
            figs = (hp_ms, low_ms, hf_ms, peak, mad, spike_mad, sd_peak)
            got = self._native.judge_hop(self, int(g[0, 0]), flags, figs, logs[1:], pows[1:])
            if got is not None:
                f["noise"], f["mains"], f["mains_first"], f["motion_floor_ms"], f["mad"] = got
                if apart is not None:
                    f["noise"] = f["noise"] | apart
                f["motion"], f["motion_first"] = const["zeros_cm"], const["zeros_i"]  # no candidate
                # (no motion starting: the levels only where it is on)
                on = _any(self.health_state["motion"])
                f["level"] = self._motion_levels(r("data"), f["motion"]) if on else const["nan"]
                f["med"] = const["zeros_f"]
                return f
            # (the reference's path reads every one)
            self._native.finish_mads(p, self._pend_start, self._pend_start + a, mad_c)
        share_hf = hf_ms / hp_ms
        if self._noise_share is None:
            noise = np.zeros_like(blocked)
        else:
            clear_of_gap = (g - last_gap) > 2
            noise = self._noise_verdicts(~blocked & (share_hf > self._noise_share), live, hf_ms, clear_of_gap)
        share_low = low_ms / (low_ms + hp_ms)
        # broadband noise leaks into the 1-20 Hz band and rings there after it
        # stops: no motion verdict during it or in the 4 hops after it
        any_noise = bool(noise.any())
        if any_noise:
            marks = np.where(noise, g, _NEG)
            marks[:, 0] = np.maximum(marks[:, 0], self._last_noise_hop)
            last_noise = np.maximum.accumulate(marks, axis=1)
            self._last_noise_hop = last_noise[:, -1].copy()
        else:  # the last noise hop stays the carried one
            last_noise = self._last_noise_hop[:, None]
        after_noise = (g - last_noise) <= 4
        # the white-noise power of the last noise hop (carried): what it leaks
        # into the 1-20 Hz band bounds what motion must exceed there meanwhile
        if any_noise or after_noise.any():
            nz = np.where(noise, hf_ms, -1.0)
            nz[:, 0] = np.where(nz[:, 0] >= 0, nz[:, 0], self._noise_ms)
            idx = np.maximum.accumulate(np.where(nz >= 0, np.arange(m)[None, :], 0), axis=1)
            noise_ms = np.maximum(np.take_along_axis(nz, idx, axis=1), 0.0)
            self._noise_ms = noise_ms[:, -1].copy()
        else:
            noise_ms = None
        after_gap = (g - last_gap) <= 2
        f["noise"] = noise
        judged = ~blocked & ~settling & ~after_noise & ~after_gap & ~spiked
        # after a restart (the stream's start, a code fault's end) the 1-20 Hz
        # band rings from its filter's re-priming for most of a second
        # (settling): the band's level does not learn then, but on a channel
        # whose level is known motion is judged SETTLE_EARLY_S after it,
        # above that ringing (the early hops are the ring-down's
        # reference): an artifact rising 0.3 s after a code fault was missed
        # (a blocked hop -- a second code fault -- ends the run: the restart
        # after it has early hops of its own)
        early = self._settle_early(settling & ~blocked)
        if any_settle:
            known = np.concatenate([self._q_low_set[:, None], (judged & (low_ms > 0))[:, :-1]], axis=1)
            known = np.logical_or.accumulate(known, axis=1)
            motion_ok = ~blocked & ~early & (known | ~settling) & ~after_gap & ~spiked
        else:  # (known | ~settling) holds throughout
            motion_ok = ~blocked & ~early & ~after_gap & ~spiked
        judged_motion = motion_ok & ~after_noise
        # the peaks teach from the start (the 20 Hz high-pass settles within
        # a hop; the 1-20 Hz band needs settle_s)
        # a hop with a fault of its own (a code fault, broadband noise, a hum)
        # does not teach the peaks: white noise is all peaks in the second
        # difference, and a second of it would raise the spike floor tenfold
        teaches = ~blocked & ~noise & ~mains
        # the band's rest learns from the settling hops after the early ones
        # too: their ringing only raises it (the floor it gives stays on the
        # safe side), and a quiet channel's floor would otherwise start
        # learning down from motion_uv only once the filters settled, deaf to
        # an artifact of a few tens of uV for its first seconds
        if any_settle:
            settled_rest = settling & ~early & ~blocked & ~after_noise & ~after_gap & ~spiked
            rest_ok = (judged | settled_rest) & live
        else:
            rest_ok = judged & live
        levels = self._learn(teaches, judged, rest_ok, low_ms, share_low, peak, mad)
        low_level, peak_floor, peak_ref, mfloor = levels
        # how far the hop's peak stands above the channel's learnt peaks as
        # they were when the low band's level last learnt (both levels from
        # the same hops: the peaks learn on through a contraction's onset,
        # while the low band is kept from learning from it)
        hp_rise = np.maximum(_finite(peak / peak_ref), 1.0)
        # a hop whose low band came with the rest of the spectrum: with
        # spikes, a small share, or risen less than motion_loud_rel x its
        # peak without dominating the power (a hop of motion does not start
        # a ring-down)
        like = self._motion_like(low_ms, share_low, low_level, hp_rise, mfloor)
        # a hop whose band is fast (the heart's QRS) is not motion, and the
        # band rings down after it as after a burst (what the noise path
        # below judges is no louder: _motion_like grows with the power)
        fast_band = ~self._slow_band(r("low"), motion_ok & like)
        broad = (
            spiked
            | early
            | fast_band
            | (share_low <= self.motion_loud_share)
            | ((share_low <= self.motion_share) & (low_ms <= (self.motion_loud_rel * hp_rise * low_level) ** 2))
        )
        ringing, near_ring = self._ring_down(low_ms, broad, settling)
        # ... as the EMG fades: its power above 20 Hz fell from the hop before
        near_ring &= hp_ms < RING_FADE * np.concatenate([prev_hp_ms[:, None], hp_ms[:, :-1]], axis=1)
        motion = judged_motion & ~ringing & like
        if noise_ms is not None:
            # during broadband noise (and while it rings out) motion is judged
            # on what stands above the noise's own leak into the band, by a
            # margin for a 50 ms hop's spread of that leak
            noisy = motion_ok & after_noise
            leak = NOISE_LEAK_MARGIN * self._low_leak * noise_ms
            over = np.maximum(low_ms - leak, 0.0)
            motion |= noisy & ~ringing & (over > 0) & self._motion_like(over, share_low, low_level, hp_rise, mfloor)
        motion &= ~fast_band
        if motion.any():
            self._motion_before_run(
                motion, r("codes"), r("hard_ok") & ~spiky, r("low"), hp, need, low_level, hp_rise, mfloor
            )
        f["motion"], f["motion_first"] = self._loud_needs_two(motion, low_ms, share_low, low_level, L, near_ring)
        f["level"] = self._motion_levels(r("data"), f["motion"])
        f["motion_floor_ms"] = mfloor  # (the ramp rule's)
        f["mains"], f["mains_first"] = self._mains_runs(mains & ~blocked, mains_sure & ~blocked, L)
        # the spike test's scale, on the second difference: never below what
        # the channel's own peaks there reach (spike_rel x their learnt 90th
        # percentile)
        if second:
            spike_floor = self._learn_sd(teaches, sd_peak, spike_mad)
        else:  # the test reads the high-passed signal itself, whose peaks _learn learnt
            spike_mad, spike_floor = mad, peak_floor
        f["mad"] = np.maximum(spike_mad, spike_floor / (self.spike_k * 1.4826))
        f["med"] = const["zeros_f"]
        if apart is not None:
            f["noise"] = f["noise"] | apart
        return f  # (channels, hops) each

    def _out_of_line(self, hp_ms: Floats, usable: Flags) -> Flags:
        """The grid test per (channel, hop): the hop's power above 20 Hz
        more than grid_ratio squared times the median of its neighbours'
        (the usable ones, at least GRID_MIN_NEIGHBOURS of them) and above
        noise_uv squared. Electrodes a centimetre apart over one muscle see
        much the same EMG (the corpus's clean grids: a hop at most 3.5 x its
        neighbours' median in RMS on monopolar channels, two hops in a row
        at most 5.8 x on single differentials); an electrode that lost its
        contact picks up noise its neighbours do not (scd's: 13 x). No
        single-channel test can tell a channel broken from its start: it
        learns its own floor from that. A hop of a hum is the mains test's,
        a spike's the spike test's."""
        near = self._grid_near
        assert near is not None
        # a row of NaN at index ch: the padding's
        levels = np.concatenate([np.where(usable, hp_ms, np.nan), np.full((1, hp_ms.shape[1]), np.nan)])
        around = np.sort(levels[near], axis=1)  # (channels, 8, hops), the NaN last
        n = (~np.isnan(around)).sum(axis=1)
        lo = np.take_along_axis(around, np.maximum(n - 1, 0)[:, None, :] // 2, axis=1)[:, 0]
        hi = np.take_along_axis(around, (n // 2)[:, None, :], axis=1)[:, 0]
        median = 0.5 * (lo + hi)
        return cast(
            Flags,
            usable & (n >= GRID_MIN_NEIGHBOURS) & (hp_ms > self.grid_ratio**2 * median) & (hp_ms > self.noise_uv**2),
        )

    def _level_pows(self) -> Floats:
        """10 ** the learnt levels (log10) that the usual hop's verdicts
        read, numpy's, in one call (7, channels): q_hp_rest, 2 q_hf, q_low,
        q_low_rest, q_peak, q_peak_ref, q_sd. Worked out ahead on a block
        that completes no hop when it can be (FaultDetector.process, 10 us at
        256 channels): the levels move only in _hop_conditions."""
        q = (self._q_hp_rest, 2.0 * self._q_hf, self._q_low, self._q_low_rest, self._q_peak, self._q_peak_ref)
        return 10.0 ** np.stack((*q, self._q_sd))

    def _slow_band(self, low: Floats, where: Flags) -> Flags:
        """Per (channel, hop): False where a hop of where has the 1-20 Hz
        band's RMS frequency above MOTION_MAX_HZ (the heart's QRS, not an
        artifact's swing); True elsewhere. low is (channels, hops, samples);
        only the channels with a hop in where are read."""
        slow = np.ones(where.shape, dtype=bool)
        if not where.any():  # the usual hop; and a last hop of 1 row has no difference
            return slow
        rows = np.flatnonzero(where.any(axis=1))
        x = low[rows]
        d = np.diff(x, axis=2)
        # the difference's gain is 2 sin(w / 2), w to within 0.2 % below 20 Hz at 1 kHz
        ratio = (d * d).mean(axis=2) / (x * x).mean(axis=2)
        slow[rows] = ~(where[rows] & (ratio > (2 * np.pi * MOTION_MAX_HZ / self._rate) ** 2))
        return slow

    def _motion_levels(self, data: Floats, motion: Flags) -> Floats:
        """Each hop's mean level (channels, hops) over its usable samples (a
        gap's NaN rows left out), on the channels the ramp rule may look at
        (decision.ramp_slopes: motion on or starting); NaN on the others (a
        mean of every channel's every hop is not needed) and on a hop
        without a usable sample."""
        need = np.flatnonzero(self.health_state["motion"] | motion.any(axis=1))
        if not need.size:
            return self._consts(*data.shape[1:])["nan"]
        level = np.full(motion.shape, np.nan)
        x = data[need]
        ok = np.isfinite(x)
        n = ok.sum(axis=2)
        level[need] = np.where(ok, x, 0.0).sum(axis=2) / n
        return level

    def _sd_stats(self, a: int, m: int, L: int, hp: Floats, ok: Flags | None) -> tuple[Floats, Floats]:
        """Per (channel, hop) of m hops of L rows from pending row a: the
        median and the largest |second difference| of the 20 Hz high-passed
        signal, each hop's last sample counted as 0 (ok: the samples to
        count, None: all). The channels whose every sample counts, the one
        before the hops included, go through C when the C core is there. hp
        is (channels, hops, samples)."""
        ch = self._ch
        p = self._pend
        hpa, oka = p.cm("hp"), p.cm("hard_ok")
        if a > 0:
            before, ok_before = hpa[:, a - 1], oka[:, a - 1]
        elif self._hp_back.shape[1]:
            before, ok_before = self._hp_back[:, -1], self._ok_back[:, -1]
        else:
            before, ok_before = None, np.ones(ch, dtype=bool)
        if self._native is None:
            return self._sd_numpy(hp, before, ok_before, ok, L)
        med, peak = self._native.hop_spikes(p, a, m, L, before, self._pend_start + a)
        redo = ~ok_before if ok is None else ~ok_before | ~np.all(ok, axis=(1, 2))
        if _any(redo):
            at = np.flatnonzero(redo)
            med[at], peak[at] = self._sd_numpy(
                hp[at], None if before is None else before[at], ok_before[at], None if ok is None else ok[at], L
            )
        return med, peak

    def _sd_numpy(
        self, hp: Floats, before: Floats | None, ok_before: Flags, ok: Flags | None, L: int
    ) -> tuple[Floats, Floats]:
        """_sd_stats' figures in numpy, for the channels of hp (channels,
        hops, samples), before and ok_before (the sample before the hops and
        whether it counts) and ok (the samples that count, None: all)."""
        ch, m, _ = hp.shape
        flat = hp.reshape(ch, m * L)
        # each hop's last sample counts as 0: the row after it may not have
        # arrived yet, and the figures must not depend on the blocks' sizes
        rows_ok = np.ones((ch, m * L), dtype=bool) if ok is None else ok.reshape(ch, m * L)
        pad = np.ones((ch, 1), dtype=bool)
        sd = spike_signal(flat, before, None, self._rate, np.hstack([ok_before[:, None], rows_ok, pad]))
        sd = np.abs(sd).reshape(ch, m, L)
        sd[:, :, -1] = 0.0
        if ok is None:
            return np.partition(sd, L // 2, axis=2)[:, :, L // 2], sd.max(axis=2)
        return rank_median(sd, ok), np.where(ok, sd, 0.0).max(axis=2)

    def _learn_sd(self, usable: Flags, peak: Floats, mad: Floats) -> Floats:
        """The spike floor per (channel, hop) on the second difference:
        spike_rel x the learnt 90th percentile of the hop's peak there (as
        _learn's peak level: log10 steps, outliers do not teach, the first
        usable hop starts it; the stream's first SPIKE_FAST_HOPS hops learn
        SPIKE_FAST x as fast from SHARP_BELOW_HZ), from what was learnt
        before the hop."""
        ch, m = peak.shape
        floor = np.empty((ch, m))
        q, started = self._q_sd, self._q_sd_set
        lpeak = np.log10(peak)
        own = self.spike_k * 1.4826 * mad
        for j in range(m):
            pf = self.spike_rel * 10.0**q
            floor[:, j] = pf
            fast = SPIKE_FAST if self._spike_fast and self._g_feat + j < SPIKE_FAST_HOPS else 1.0
            q, started = _peak_step(q, started, usable[:, j], peak[:, j], lpeak[:, j], own[:, j], pf, fast)
        self._q_sd, self._q_sd_set = q, started
        return floor

    def _settle_early(self, settling: Flags) -> Flags:
        """Per (channel, hop): the hops of a run of settling hops (carried
        across calls) that start within SETTLE_EARLY_S of its first."""
        early = np.zeros_like(settling)
        if not settling.any():  # no run goes on
            self._settle_hops = np.zeros_like(self._settle_hops)
            return early
        run = self._settle_hops
        hops = int(np.ceil(SETTLE_EARLY_S / self.hop_s - 1e-9))
        for j in range(settling.shape[1]):
            run = np.where(settling[:, j], run + 1, 0)
            early[:, j] = settling[:, j] & (run <= hops)
        self._settle_hops = run
        return early

    def _ring_down(self, low_ms: Floats, broad: Flags, settling: Flags) -> tuple[Flags, Flags]:
        """Per (channel, hop): the 1-20 Hz band may be ringing on after a
        broadband burst, its power no more than RING_BUILD x that of the last
        hop where it came with the rest of the spectrum (broad), decayed since as the
        band-pass's slowest mode does (the 1 Hz high-pass: amplitude x
        exp(-2 pi 1 Hz 0.707 t)). A burst of
        EMG (an evoked response after rest, a motor-unit volley) carries
        low-frequency power of its own, and the band-pass rings on after it
        while the rest of the spectrum is quiet again: the share looks like
        motion, but the band only decays. Motion raises the band above that.
        While settling after a restart the band rings from a step (its
        filter's re-priming), whose response swings back through zero: its
        envelope is SETTLE_RING x that decay (in power)."""
        ch, m = low_ms.shape
        out = np.zeros((ch, m), dtype=bool)
        near = np.zeros((ch, m), dtype=bool)
        ref = self._ring_ref
        decay = self._ring_decay
        x = _finite(low_ms)
        any_settling = settling.any()
        for j in range(m):
            ref = ref * decay
            bound = np.where(settling[:, j], SETTLE_RING * ref, ref) if any_settling else ref
            out[:, j] = x[:, j] <= bound
            near[:, j] = x[:, j] <= RING_CONFIRM * bound
            ref = np.where(broad[:, j], np.maximum(ref, RING_BUILD * x[:, j]), ref)
        self._ring_ref = ref
        return out, near

    def _motion_before_run(
        self,
        motion: Flags,
        codes: NDArray[np.int32],
        ok: Flags,
        low: Floats,
        hp: Floats,
        need: int,
        low_level: Floats,
        hp_rise: Floats,
        mfloor: Floats,
    ) -> None:
        """Re-judge, in place, the motion verdicts of hops that end in a run
        of identical codes, on the samples before that run. A stuck ADC (or a
        flat line at the zero code) starting in a hop holds one code, and its
        first half hop still reaches the feature filters (a stuck code is
        only known as such after half a hop): the held code, a sample of the
        EMG, sits off the baseline by up to the EMG's amplitude, a step that
        rings in the 1-20 Hz band like motion. The filters are causal, so the
        samples before the run are untouched by it; a natural run at the
        end of a hop (a coarse ADC) only costs those few samples. Arrays are
        (channels, hops, samples); motion is (channels, hops)."""
        L = codes.shape[2]
        cand = motion & (codes[:, :, -1] == codes[:, :, -2]) if L >= 2 else motion & False
        if not cand.any():
            return
        c, h = np.nonzero(cand)
        cc = codes[c, h]
        differs = cc != cc[:, -1:]
        # the run starts after the last sample that differs from the last code
        run_start = np.where(differs.any(axis=1), L - np.argmax(differs[:, ::-1], axis=1), 0)
        use = ok[c, h] & (np.arange(L)[None, :] < run_start[:, None])
        n = use.sum(axis=1)
        low_ms = np.where(use, low[c, h] ** 2, 0.0).sum(axis=1) / n
        hp_ms = np.where(use, hp[c, h] ** 2, 0.0).sum(axis=1) / n
        share = low_ms / (low_ms + hp_ms)
        motion[c, h] = (n >= need) & self._motion_like(low_ms, share, low_level[c, h], hp_rise[c, h], mfloor[c, h])

    def _loud_needs_two(
        self, motion: Flags, low_ms: Floats, share: Floats, level: Floats, L: int, near_ring: Flags | None = None
    ) -> tuple[Flags, Ints]:
        """Motion verdicts (channels, hops) where only the loud tier holds
        (the band's share below motion_share) stand when the band was already
        rising in the hop before (above motion_rel x its level with a share
        above motion_loud_share) or one of the two hops before had a verdict
        too: a lone hop of a low band three times its level with a third of
        the power, out of a quiet band, is also what a big motor-unit
        potential gives, while an artifact builds up and lasts (its 1-4 Hz
        swing may dip below the bar for a hop). Returns the verdicts and, per
        hop, the row from the hop's start where a run begins (back-dated to
        the earlier verdict that waited for this one). The hops before the
        first come from the last call."""
        bar = (self.motion_rel * level) ** 2
        rising = (low_ms > bar) & (share > self.motion_loud_share)
        raw = np.concatenate([self._motion_prev, motion], axis=1)  # the 2 hops before, then these
        if not motion.any():  # the usual hop: no verdict to keep or back-date
            self._motion_prev, self._motion_rising = raw[:, -2:].copy(), rising[:, -1].copy()
            return motion, np.zeros(motion.shape, dtype=np.int64)
        strong = motion & (share > self.motion_share) & (low_ms > bar)
        back1, back2 = raw[:, 1:-1], raw[:, :-2]
        rose = np.concatenate([self._motion_rising[:, None], rising[:, :-1]], axis=1)
        out = strong | (motion & (back1 | back2 | rose))
        if near_ring is not None:
            # near a burst's ring-down as the EMG fades: a verdict there stands
            # only once a later hop's does (which dates the run from it unless
            # its own verdict is strong: the run then starts there); the
            # burst's own hops before it do not count
            out &= ~near_ring
        self._motion_prev, self._motion_rising = raw[:, -2:].copy(), rising[:, -1].copy()
        # the hysteresis reads the offset only where a run starts (no verdict
        # the hop before), so it needs no test of that here
        waited = out & ~strong & (back1 | back2)
        first = np.where(waited & back2 & ~back1, -2 * L, np.where(waited, -L, 0))
        return out, first

    def _motion_like(
        self,
        low_ms: Floats,
        share: Floats,
        level: Floats,
        hp_rise: Floats | float = 1.0,
        floor: Floats | float | None = None,
    ) -> Flags:
        """The motion test on the 1-20 Hz band's mean square low_ms and its
        share of the power, given the channel's learnt level of that band
        (RMS, uV): above motion_rel x the level (and the floor, a mean
        square: the channel's from _learn, None: motion_uv) with a share
        above motion_share (the band dominates); or above motion_loud_rel x
        the level (and the floor) with a share above motion_loud_share, that
        bar raised by as much as the hop's peak above 20 Hz stands above the
        channel's learnt peaks (hp_rise, at least 1): a burst of EMG after
        rest raises the whole spectrum, its own low band with it (some 10 %
        of its power), an artifact only the low band."""
        if floor is None:
            floor = self.motion_uv**2
        thr = np.maximum(floor, (self.motion_rel * level) ** 2)
        loud = np.maximum(floor, (self.motion_loud_rel * hp_rise * level) ** 2)
        return ((low_ms > thr) & (share > self.motion_share)) | ((low_ms > loud) & (share > self.motion_loud_share))

    def _noise_verdicts(self, candidate: Flags, usable: Flags, hf_ms: Floats, clear_of_gap: Flags) -> Flags:
        """The noise test per (channel, hop) where candidate (not blocked,
        white-noise share above the bar): the white-noise power hf_ms above
        NOISE_FLOOR_K x the channel's learnt floor of it, squared. The floor
        is the 10th percentile of the hops' white-noise RMS, tracked in log10
        uV by steps of LEARN_UP down and LEARN_UP / 9 up from noise_uv /
        NOISE_FLOOR_K, or from LEARN_START_UP above the channel's first usable
        hop where that is lower (a quiet channel took 1.5 s to learn its floor
        down from noise_uv, deaf to noise until then), hop by hop (so the same
        whatever the chunking), from the usable hops (live: no code fault, not
        flat) without a verdict. The first usable hop must be clear_of_gap (more
        than 2 hops after one with rows missing): the white-noise figure of a hop
        just after a gap reads the filters' hold across it, which depends on
        where the blocks were cut (a stream starting with invalid rows gave one
        floor in one chunking and another in the next)."""
        ch, m = hf_ms.shape
        out = np.zeros((ch, m), dtype=bool)
        q = self._q_hf
        lhf = 0.5 * np.log10(hf_ms)
        k2 = NOISE_FLOOR_K**2
        for j in range(m):
            x = lhf[:, j]
            first = usable[:, j] & clear_of_gap[:, j] & ~self._q_hf_set & np.isfinite(x)
            if first.any():
                q = np.where(first, np.minimum(q, x + LEARN_START_UP), q)
                self._q_hf_set |= first
            out[:, j] = candidate[:, j] & (hf_ms[:, j] > k2 * 10.0 ** (2.0 * q))
            q = _low_quantile_step(q, x, usable[:, j] & ~out[:, j], 9.0)
        self._q_hf = q
        return out

    def _learn(
        self,
        usable: Flags,
        judged: Flags,
        rest_ok: Flags,
        low_ms: Floats,
        share_low: Floats,
        peak: Floats,
        mad: Floats,
    ) -> tuple[Floats, Floats, Floats, Floats]:
        """The channel's own levels, learnt hop by hop (so the same whatever
        the chunking): the 90th percentiles of the 1-20 Hz band's RMS and of
        the hop's peak |high-passed| sample, tracked in log10 uV by steps of
        LEARN_UP up and LEARN_UP / 9 down (a sign tracker: an outlier moves
        it one step, whatever its size). The peak learns only from usable
        hops (no fault verdict of their own); the low band learns only from hops judged (filters
        settled, no noise, gap or spike) and not shaped like motion (nor twice
        its level with a share above motion_loud_share) and starts at 3 x
        the first judged hop's level (at most 3 x motion_uv), the peak
        only from hops whose peak is not an outlier (above the spike floor
        and the spike test's own-hop threshold), and starts at the first
        usable hop's peak. The low band's 10th percentile (its rest) learns
        likewise (_low_quantile_step), from the hops of rest_ok (live, and
        judged or settling after SETTLE_EARLY_S) not shaped like motion, and
        starts LEARN_START_UP above the first of them where that is lower
        than where it starts (motion_uv / MOTION_FLOOR_K). Returns, per (channel, hop), the
        learnt level of the low band (RMS, uV), the spike floor (spike_rel x
        the learnt peak, uV),
        the learnt peak as it was when the low band last learnt (uV) and the
        motion floor (mean square, uV^2: motion_uv, or MOTION_FLOOR_K x the
        band's rest where lower), all from what was learnt before the hop."""
        ch, m = low_ms.shape
        low_level = np.empty((ch, m))
        peak_floor = np.empty((ch, m))
        peak_ref = np.empty((ch, m))
        mfloor = np.empty((ch, m))
        q10 = self._q_low_rest
        qr = self._q_peak_ref
        up, down = LEARN_UP, LEARN_UP / 9.0
        ql, qp = self._q_low, self._q_peak
        llow = 0.5 * np.log10(low_ms)
        lpeak = np.log10(peak)
        # one hop (the usual) in C: this loop's steps, one call; not a
        # channel's first rest hop (it starts the rest: the loop below)
        rest_starts = not self._q_rest_set.all() and bool(
            (rest_ok & ~self._q_rest_set[:, None] & np.isfinite(llow)).any()
        )
        if m == 1 and self._native is not None and not rest_starts:
            got = self._native.learn_hop(self, (usable, judged, rest_ok), (low_ms, share_low, peak, mad, llow, lpeak))
            if got is not None:
                return got
        own = self.spike_k * 1.4826 * mad
        for j in range(m):
            # the first judged hop sets the level it is judged by (a window
            # may start in a contraction), LEARN_START_UP above it, up to
            # LEARN_START_MAX above motion_uv
            first = judged[:, j] & ~self._q_low_set & np.isfinite(llow[:, j])
            if first.any():
                cap = np.log10(max(self.motion_uv, 1e-3)) + LEARN_START_MAX
                ql = np.where(first, np.minimum(llow[:, j] + LEARN_START_UP, cap), ql)
                self._q_low_set |= first
            # the rest starts LEARN_START_UP above the first hop it may learn
            # from where that is lower (as the white-noise floor does)
            first_rest = rest_ok[:, j] & ~self._q_rest_set & np.isfinite(llow[:, j])
            if first_rest.any():
                q10 = np.where(first_rest, np.minimum(q10, llow[:, j] + LEARN_START_UP), q10)
                self._q_rest_set |= first_rest
            low_level[:, j] = 10.0**ql
            mfloor[:, j] = np.minimum(self.motion_uv, MOTION_FLOOR_K * 10.0**q10) ** 2
            pf = self.spike_rel * 10.0**qp
            peak_floor[:, j] = pf
            peak_ref[:, j] = 10.0**qr
            # a hop shaped like motion (low band share above motion_share)
            # does not teach, whatever its level: an artefact's slow onset
            # must not raise the bar it is to be judged by
            x = llow[:, j]
            like = self._motion_like(low_ms[:, j], share_low[:, j], low_level[:, j], 1.0, mfloor[:, j])
            # nor a hop well above the level with a share of a loud artifact
            # (the onset of one that is still below the bar)
            rising = (share_low[:, j] > self.motion_loud_share) & (x > ql + LEARN_RISE)
            teach = judged[:, j] & ~like & ~rising & (share_low[:, j] <= self.motion_share) & np.isfinite(x)
            ql = np.where(teach, ql + np.where(x > ql, up, -down), ql)
            q10 = _low_quantile_step(q10, x, rest_ok[:, j] & ~like, 9.0)
            qr = np.where(teach, qp, qr)
            qp, self._q_peak_set = _peak_step(
                qp, self._q_peak_set, usable[:, j], peak[:, j], lpeak[:, j], own[:, j], pf
            )
        self._q_low, self._q_peak, self._q_peak_ref = ql, qp, qr
        self._q_low_rest = q10
        return low_level, peak_floor, peak_ref, mfloor

    def _mains_floor(self, usable: Flags, hp_ms: Floats) -> Floats:
        """The mains test's floor per (channel, hop), a mean square: mains_uv,
        or MAINS_FLOOR_K x the channel's quiet level where lower -- the 1st
        percentile of its hops' high-passed RMS, tracked in log10 uV by steps
        of LEARN_UP down and LEARN_UP / 99 up from the usable hops (live: no
        code fault, not flat; a hum among them too: a lasting hum raises the
        floor, only up to mains_uv; a hum with nothing under it is the
        test's other arm, MAINS_ALONE), hop by hop, from what was learnt
        before the hop. Not the
        10th: in a window that is mostly contraction it climbs to the
        contraction's level (a floor of 35-40 uV on the bipolar grid at
        --gain 0.2, where its rest is 1.6 uV)."""
        ch, m = hp_ms.shape
        out = np.empty((ch, m))
        q = self._q_hp_rest
        lhp = 0.5 * np.log10(hp_ms)
        for j in range(m):
            out[:, j] = np.minimum(self.mains_uv, MAINS_FLOOR_K * 10.0**q) ** 2
            x = lhp[:, j]
            q = _low_quantile_step(q, x, usable[:, j], 99.0)
        self._q_hp_rest = q
        return out

    def _mains_runs(self, mains: Flags, sure: Flags, L: int) -> tuple[Flags, Ints]:
        """The mains condition per (channel, hop): the test held in the last
        MAINS_RUN hops, or the sure test in the last MAINS_SURE_RUN (the
        hops before these come from the carried history); and the row, from
        the hop's start, of the run's first hop (negative: an event's onset
        is back-dated to it)."""
        ch, m = mains.shape
        hist, hist_sure = self._mains_hist
        n = MAINS_RUN - 1
        if m == 1:  # the usual call: each run at once over the history
            run = mains & hist.all(axis=1, keepdims=True)
            run_sure = sure & hist_sure[:, n - (MAINS_SURE_RUN - 1) :].all(axis=1, keepdims=True)
            self._mains_hist = (
                np.concatenate([hist[:, 1:], mains], axis=1),
                np.concatenate([hist_sure[:, 1:], sure], axis=1),
            )
        else:
            b = np.concatenate([hist, mains], axis=1)  # MAINS_RUN - 1 hops before
            s = np.concatenate([hist_sure, sure], axis=1)
            run = b[:, n:].copy()
            for back in range(1, MAINS_RUN):
                run &= b[:, n - back : n - back + m]
            run_sure = s[:, n:].copy()
            for back in range(1, MAINS_SURE_RUN):
                run_sure &= s[:, n - back : n - back + m]
            self._mains_hist = (b[:, -n:].copy(), s[:, -n:].copy())
        first = np.where(run, -(MAINS_RUN - 1) * L, -(MAINS_SURE_RUN - 1) * L)
        return run | run_sure, first

    def _mains(
        self, a: int, m: int, L: int, hp: Floats, live: Flags, hp_ms: Floats, logs: tuple[Floats, Floats] | None = None
    ) -> tuple[Flags, Flags]:
        """Mains verdicts per hop from the hop and the one before it: the
        signal projected on 50/60 Hz and two harmonics (a windowed DFT at just
        those frequencies, one matrix product), above the floor (the hum's
        mean square, per channel and hop: _mains_floor, learnt from the live
        hops' high-passed mean square hp_ms) and kept where the hum is
        narrowband (see _narrowband): the test and the sure test. hp is
        (channels, hops, samples); the results (channels, hops). logs:
        log10(hp_ms) and 10 ** the quiet level, numpy's, for the usual hop
        (one, whole), whose floor and verdict then come from C."""
        ch = self._ch
        usual = logs is not None and m == 1 and L == self.hop and self._native is not None
        floor_ms = None if usual else self._mains_floor(live, hp_ms)
        if L != self.hop:
            none = np.zeros((ch, m), dtype=bool)
            return none, none
        prev = self._pend.cm("hp")[:, a - L : a] if a >= L else self._prev_hp
        first_ok = prev.shape[1] == L
        if not first_ok:
            prev = np.zeros((ch, L))
        if self._native is not None:
            # worked out as the rows came (the same figures), else projected now
            got = self._native.mains_verdicts(self._pend_start + a, m, L)
            if got is None:
                pending = a >= L  # the hop before is in the pending rows: no copy
                best, total, verdict = self._native.mains(self._pend, a, m, L, None if pending else prev, self)
                mains_ms = best * self._ms_scale
            else:
                verdict, mains_ms, total = got
            if usual:  # (_mains_floor, _hum_alone and the verdict in C)
                assert logs is not None
                verdict = self._native.mains_judge(self, live, *logs, verdict, mains_ms, total)
            else:
                assert floor_ms is not None
                verdict = (verdict & (mains_ms > floor_ms)) | self._hum_alone(mains_ms, total, live)
            if not first_ok:
                verdict[:, 0] = False
        else:
            ok = np.ones(m, dtype=bool)
            ok[0] = first_ok
            best, total = self._mains_numpy(m, L, hp, prev)
            mains_ms = best * self._ms_scale
            with np.errstate(invalid="ignore", divide="ignore"):
                share = mains_ms / total
            assert floor_ms is not None  # (no C: not the usual path)
            above = (mains_ms > floor_ms) & (share > self.mains_share)
            verdict = ok[None, :] & (above | self._hum_alone(mains_ms, total, live))
        return self._narrowband(verdict, hp, prev, a if a >= L else None, live)

    def _hum_alone(self, mains_ms: Floats, total_ms: Floats, live: Flags) -> Flags:
        """The mains test's other arm, per (channel, hop): a live hop whose
        two hops of high-passed signal (total_ms, every sample, the window
        the hum is projected over) are nearly all hum (MAINS_ALONE of it, the
        hum's mean square being the test's figure over what it gives a steady
        line) of at least MAINS_ALONE_UV RMS, however low: an input with no
        sensor on skin, or on a dry or loose electrode, carries hum and
        little else. The floor cannot see it, as the hum is all of the
        channel's quiet level. Real EMG, even at rest, is far from it: its
        hum is at most 0.6 x its rest RMS over the corpus (a share under 0.3;
        docs/dsp.md). Off where the test cannot tell a line from what is
        near it (_line_contrast under MAINS_ALONE_CONTRAST: low rates, short
        hops)."""
        if self._line_contrast < MAINS_ALONE_CONTRAST:
            return np.zeros_like(live)
        hum_ms = mains_ms / self._line_contrast
        with np.errstate(invalid="ignore"):
            return live & (hum_ms > MAINS_ALONE * total_ms) & (hum_ms > MAINS_ALONE_UV**2)

    def _narrowband(
        self, verdict: Flags, hp: Floats, prev: Floats, a: int | None = None, live: Flags | None = None
    ) -> tuple[Flags, Flags]:
        """Keep the mains verdicts (channels, hops) whose hum is narrowband:
        the stronger family's lines stand more than mains_ratio x above their
        neighbouring frequencies (NARROWBAND_BINS bins away, in power). A hum
        is a line: its Hann-windowed projection leaks nothing there. EMG, even
        a monopolar contraction whose spectrum peaks near 50 Hz, is smooth
        over those few tens of Hz (a ratio of about 1). Judged on the same
        two hops as the verdict (the hop before: prev for the first), only
        where the verdict holds. hp is (channels, hops, samples). Returns the
        verdicts kept and those sure: their lines stand MAINS_SURE x that far
        above their neighbours, or their hum is the channel's own
        (_own_hum). a: the hops' first pending row when the hop before is
        pending too (None: it is not); live (channels, hops): the hops the own
        test may read (None: no own test)."""
        c, j = np.nonzero(verdict)
        # (while the test has candidates, and a second after, what it will
        # need of the next hop is worked out as its rows come: _nb_ahead)
        self._nb_hot = NB_HOT_HOPS if len(c) else max(0, self._nb_hot - verdict.shape[1])
        if not len(c):
            return verdict, verdict
        # each candidate's projection on the two hops: that of the hop
        # before on the basis's first half plus that of its hop on the
        # second half, piece by piece (_nb_pieces), each product over every
        # channel: the same products, of the same shapes, on the same rows,
        # summed in the same order in every path and chunking, so the same
        # bits whether worked out a hop early (_nb_ahead) or now
        if hp.shape[1] == 1:  # one hop (the usual): its candidates' rows, no copy into place
            proj = (self._nb_first(0, hp, prev, a) + self._nb_second(0, hp, a))[c]
        else:
            proj = np.empty((len(c), self._nb_basis.shape[1]))
            for h in np.unique(j):
                at = j == h
                proj[at] = (self._nb_first(h, hp, prev, a) + self._nb_second(h, hp, a))[c[at]]
        lines, sides = self._lines_and_sides(proj)
        kept = lines > self.mains_ratio * sides
        kept_sure = lines > MAINS_SURE * self.mains_ratio * sides
        out = verdict.copy()
        out[c, j] = kept
        sure = verdict.copy()
        sure[c, j] = kept_sure
        maybe = kept & ~kept_sure
        if live is not None and self._ch >= OWN_HUM_CHANNELS and _any(maybe):
            sure[c[maybe], j[maybe]] = self._own_hum(proj[maybe], c[maybe], j[maybe], hp, prev, a, live)
        return out, sure

    def _nb_first(self, h: int, hp: Floats, prev: Floats, a: int | None) -> Floats:
        """The narrowband projection's first half for hop h of hp (as
        _narrowband takes it): every channel's rows of the hop before it on
        the basis's first half (channels, basis columns); the one worked out
        ahead when it is that hop's (see _nb_ahead), else now."""
        L = hp.shape[2]
        got = self._nb_before
        if a is not None and got is not None and got[0] == self._pend_start + a + (h - 1) * L:
            return got[1]
        return matmul(self._two_hops(h, hp, prev, a)[:, :L], self._nb_halves[0])

    @staticmethod
    def _nb_pieces(L: int) -> list[tuple[int, int]]:
        """The row ranges of a hop of L rows whose products on the basis's
        second half _nb_second sums, in this order."""
        q = L // NB_PIECES if L >= 2 * NB_PIECES else L
        return [(lo, min(lo + q, L)) for lo in range(0, L, q)]

    def _nb_second(self, h: int, hp: Floats, a: int | None) -> Floats:
        """The narrowband projection's second half for hop h of hp: every
        channel's rows of the hop on the basis's second half, the sum of
        the products of _nb_pieces in their order (channels, basis
        columns); the pieces worked out ahead as the rows came, when they
        are that hop's (see _nb_ahead), and the rest now."""
        L = hp.shape[2]
        acc: Floats | None = None
        done = 0
        got = self._nb_cur
        if a is not None and got is not None and got[0] == self._pend_start + a + h * L:
            _, done, acc = got
        acc = self._nb_sum(acc, hp[:, h], self._nb_pieces(L)[done:])
        assert acc is not None  # (a hop has a piece)
        return acc

    def _nb_sum(self, acc: Floats | None, rows: Floats, pieces: list[tuple[int, int]]) -> Floats | None:
        """acc (None: nothing yet) plus the products of the pieces (row
        ranges of a hop, in their order) of rows (channels, the hop's rows
        from its first) on the narrowband basis's second half."""
        second = self._nb_halves[1]
        for lo, hi in pieces:
            part = matmul(rows[:, lo:hi], second[lo:hi])
            acc = part if acc is None else acc + part
        return acc

    def _nb_ahead(self, come: int) -> None:
        """What the narrowband test of the hop under way (come rows of it
        here) will need, worked out before the block that completes it,
        from the rows pending (see _nb_first and _nb_second): the second
        half's pieces whose rows are all there but the last, and from half
        a hop on, on a block of its own, the first half, on the hop before
        (the last featurised): 0.14 ms of products at 256 channels in all,
        off the dearest block, while the mains test has candidates."""
        L = self.hop
        if self._last_len != L:
            return
        before = self._lens_sum - L  # the hop before's first pending row
        start = self._pend_start + self._lens_sum  # the hop under way's first stream row
        if come >= L // 2 and (self._nb_before is None or self._nb_before[0] != start - L):
            self._nb_before = (start - L, matmul(self._pend.cm("hp")[:, before : before + L], self._nb_halves[0]))
            return  # (the pieces on another block)
        got = self._nb_cur
        done, acc = (got[1], got[2]) if got is not None and got[0] == start else (0, None)
        there = len(self._pend) - self._lens_sum  # its rows pending (not those waiting)
        pieces = self._nb_pieces(L)
        upto = done
        while upto < len(pieces) - 1 and pieces[upto][1] <= there:  # (the last one with the hop)
            upto += 1
        acc = self._nb_sum(acc, self._pend.cm("hp")[:, self._lens_sum :], pieces[done:upto])
        if acc is not None:
            self._nb_cur = (start, upto, acc)

    def _own_hum(self, proj: Floats, c: Ints, j: Ints, hp: Floats, prev: Floats, a: int | None, live: Flags) -> Flags:
        """Per candidate of _narrowband (proj its projection's row, c its
        channel, j its hop): whether its hum is its own -- the stronger
        family's lines stand OWN_HUM_K x mains_ratio above their neighbours
        once what the other channels share is taken out: the projection less
        its least-squares multiple (where positive: a bipolar neighbour's
        share of an electrode's hum comes with the opposite sign) of the
        other live channels' mean over the same two hops, each weighed by 1
        / its RMS there, so that one loud channel (a hum of its own, a noisy
        input) does not make that mean its own. A hum common to the channels
        (with a gain of its own on each) leaves little; a hum on this channel
        alone is all left. False in a hop with fewer than OWN_HUM_CHANNELS
        live channels. Each hop is one (1, 2 hops) product, whatever the
        block (the same bits)."""
        own = np.zeros(len(j), dtype=bool)
        for h in np.unique(j):
            w_live = live[:, h]
            if np.count_nonzero(w_live) < OWN_HUM_CHANNELS:
                continue
            seg = self._two_hops(h, hp, prev, a)
            # (the feature filters hold a gap's rows at their last value: finite)
            rms = np.sqrt(np.einsum("ij,ij->i", seg, seg) / seg.shape[1])
            w = np.divide(1.0, rms, out=np.zeros_like(rms), where=w_live & (rms > 0))
            at = j == h
            others = (w @ seg)[None, :] @ self._nb_basis - w[c[at], None] * proj[at]  # (vector products: see matmul)
            mine = proj[at]
            fit = np.einsum("ij,ij->i", mine, others) / np.maximum(np.einsum("ij,ij->i", others, others), 1e-300)
            lines, sides = self._lines_and_sides(mine - np.maximum(fit, 0.0)[:, None] * others)
            own[at] = lines > OWN_HUM_K * self.mains_ratio * sides
        return own

    def _two_hops(self, h: int, hp: Floats, prev: Floats, a: int | None) -> Floats:
        """Every channel's rows of hop h and the hop before it (channels, 2
        hops), as _narrowband reads them: a view of the pending rows when
        both are pending (a: the hops' first pending row), else hp's (channels,
        hops, samples) with prev before the first."""
        L = hp.shape[2]
        if a is not None:
            return self._pend.cm("hp")[:, a + (h - 1) * L : a + (h + 1) * L]
        return np.concatenate([prev if h == 0 else hp[:, h - 1], hp[:, h]], axis=1)

    def _lines_and_sides(self, proj: Floats) -> tuple[Floats, Floats]:
        """Per row of narrowband projections (cosines then sines, on
        _nb_basis): the power of the stronger family's lines and that of
        their neighbours (_nb_line, _nb_side)."""
        k = self._nb_basis.shape[1] // 2
        sq = proj * proj  # (as ** 2 squares, in one pass)
        power = sq[:, :k] + sq[:, k:]
        line = power @ self._nb_line  # (rows, families)
        side = power @ self._nb_side
        strong = np.argmax(line, axis=1)
        rows = np.arange(len(proj))
        return line[rows, strong], side[rows, strong]
