"""Decisions from the hop conditions: hysteresis, fault events, the spike
test and the output mask; a mixin of FaultDetector."""

from __future__ import annotations

from itertools import repeat
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from ...blocks import SignalBlock
from ..stages import DspEvent, apply_policy, last_valid
from ._state import Flags, Floats, Ints, _DetectorState
from .features import _NEG, SHARP_BELOW_HZ, SPIKE_SD_MIN_HZ, _any, spike_signal

#: (on, off) hysteresis in hops for the hop-level kinds
HYSTERESIS = {
    "leadoff": (1, 2),
    "saturation": (1, 2),
    "stuck": (1, 2),
    "flat": (2, 2),
    "motion": (1, 4),
    "noise": (2, 3),
    # its condition is itself a run of hops (features.MAINS_RUN, MAINS_SURE_RUN)
    "mains": (1, 10),
}


HOP_KINDS = tuple(HYSTERESIS)

#: blank events a block that completes no hop makes ahead, at most, for the
#: hops' turn-ons to fill (_Decision._new_event), up to the channel count
#: in all: a hum on every channel turns on on dozens at once, and making
#: an event on the block completing the hop cost 1.2 us, filling one 0.4
SPARE_EVENTS_PER_BLOCK = 64

#: A motion event whose baseline, when the event closes, runs on in a
#: straight line away from where the event began is the start of a ramp
#: toward a rail (a drift), and its kind becomes "ramp" then. Within the
#: motion deadline the 1-20 Hz band cannot tell the two (the ramp's kink rings
#: there like a slow swing); the hop means can when the event closes, four
#: quiet hops on, when a swing is over. RAMP_HOPS: the last hops of the event
#: the line is fitted to; RAMP_STRAIGHT: its slope per hop over its
#: residuals' SD, at least; RAMP_SPAN: the change since the event's first
#: hop over what the slope makes of those hops; RAMP_FLOOR_K: that change
#: over the channel's motion floor (RMS), at least.
RAMP_HOPS = 8
RAMP_STRAIGHT = 2.0
RAMP_SPAN = (0.6, 1.6)
RAMP_FLOOR_K = 4.0
#: ... and a motion event still open after RAMP_OPEN_S (two half-periods of
#: the slowest swing the band holds) becomes a ramp as soon as its baseline
#: runs on so: a drift on a quiet channel keeps the band above that
#: channel's low bar until the rail or the stream's end
RAMP_OPEN_S = 1.0

#: a spike stands alone: within BURST_S of its peak (outside BURST_GUARD_S,
#: the pulse's own slopes), the high-passed signal stays below BURST_RATIO x
#: that peak. A burst of EMG (a twitch, a motor-unit volley) peaking
#: above the neighbouring hops' scale swings near its peak again and again.
BURST_S = 0.02
BURST_GUARD_S = 0.003
BURST_RATIO = 0.5
#: ... but a second pulse within BURST_S, with the signal quiet around
#: both (below BURST_QUIET x the peak), is a pair of discharges, not a
#: burst: in the second difference (from SPIKE_SD_MIN_HZ), not in the
#: high-passed signal, where a biphasic motor-unit potential is two pulses
BURST_QUIET = 0.25
#: below features.SHARP_BELOW_HZ (where the test reads the second difference: 1 kHz)
#: a spike must have a corner: in the second difference its peak stands in
#: one sample, the samples either side of the opposite sign or none (a
#: straight edge), up to the EMG beneath. A pulse whose neighbour there
#: keeps more than SHARP_RATIO x the peak, of the peak's sign, is rounded: a
#: motor-unit potential a few ms wide is two or three samples there. From
#: 2 kHz those are smooth in the second difference already, while a spike's
#: corner falling between two samples (any pulse through an anti-alias
#: filter, a symmetric one at most phases) looks rounded: no such test.
#: At 1 kHz it costs some of those too; 0.5 passes a corner within a third
#: of a sample of the grid (docs/dsp.md, "Spikes at 1 kHz", has each
#: ratio's cost).
SHARP_RATIO = 0.5
#: from features.SHARP_BELOW_HZ a spike's corner is sharper than a motor-unit
#: potential's: a sensor's pulse (a discharge, a connector's pop) is a step
#: or a corner at the sampling grid's scale, whatever the rate, while a
#: surface potential, smoothed by the tissue, is a swing of a few ms at any
#: rate. A pulse whose spike signal (features.second_difference) peaks no
#: higher than a sine's of SMOOTH_HZ of the same height, 1 - cos(2 pi
#: SMOOTH_HZ / fs) x its swing in the high-passed signal (0.29 at 2 kHz,
#: 0.076 at 4 kHz), is rounded like a potential (_smooth). 250 Hz is the top
#: of surface EMG's main band; a step on the sampling grid gives 0.5 (one
#: whose edge falls halfway between two samples 0.25: from 1.5 kHz to about
#: 2.17 kHz, where the bar is above that, such a pulse reads as a potential)
SMOOTH_HZ = 250.0
#: ... and below features.SHARP_BELOW_HZ, where a motor-unit potential 3-6
#: ms wide can have a corner too (two or three samples a phase at 1 kHz,
#: one or two at 500 Hz), its second phase tells it: a sensor's pulse is
#: one-signed (a discharge, a pop, a glitch of the converter), while a
#: surface potential swings to the other sign and back within a few ms. A
#: pulse whose level, less a line through the medians of the BIPHASE_END_S
#: either side beyond BIPHASE_S of its peak, swings within BIPHASE_S to the
#: other sign by at least BIPHASE_RATIO x its peak and comes back by as much
#: further out is a potential (_biphasic). Read in the level, not the
#: high-passed signal, whose 20 Hz tail after a one-signed pulse is 0.1-0.3
#: x it.
BIPHASE_S = 0.006
BIPHASE_END_S = 0.003
BIPHASE_RATIO = 0.5
#: a corner of the baseline (a drift setting off) is not a spike: the level
#: around the pulse, less a line that steps and bends there, keeps under
#: BEND_RATIO x its swing (_bends)
BEND_RATIO = 0.25


def _fit_rows(level: Floats, i: int, guard: int, w: int, other: int | None) -> Floats | None:
    """The rows a line is fitted to around a pulse at i, as offsets from i:
    the w before i - guard and the w after i + guard, less those within a
    guard of the other pulse of a pair (at other); None where the windows
    run past level's ends or over a gap's NaN rows."""
    a, b = i - guard - w, i + guard + w
    if a < 0 or b >= len(level) or not np.isfinite(level[a : b + 1]).all():
        return None
    at = np.concatenate([np.arange(a, i - guard), np.arange(i + guard + 1, b + 1)])
    if other is not None:
        at = at[np.abs(at - other) > guard]
    return (at - i).astype(float)


def _steps(level: Floats, i: int, guard: int, w: int, other: int | None = None) -> bool:
    """Whether the signal level (1-D) steps across a pulse at i, or cannot be
    told (the windows run past its ends or over a gap's NaN rows): a line
    with a step at i fitted to _fit_rows; a step when it is more than
    BURST_RATIO x the pulse's swing above that line (within the guard). A
    line takes a drift; w samples average EMG's swings out."""
    if w < 2:
        return False  # hops too short for a fit: no step test
    t = _fit_rows(level, i, guard, w, other)
    if t is None:
        return True  # near a gap too: the filters' hold across it makes a step
    design = np.stack([np.ones_like(t), t, (t > 0).astype(float)], axis=1)
    coef = np.linalg.lstsq(design, level[i + t.astype(int)], rcond=None)[0]
    base = coef[0] + coef[1] * np.arange(-guard, guard + 1)
    swing = np.abs(level[i - guard : i + guard + 1] - base).max()
    return bool(abs(coef[2]) > BURST_RATIO * swing)


def _bends(level: Floats, i: int, guard: int, w: int, other: int | None = None) -> bool:
    """Whether the signal level (1-D) only bends at i: a line that may step
    and change its slope at i, fitted to _fit_rows, leaves less than
    BEND_RATIO x the pulse's swing (from the line before i) within the
    guard. A baseline that starts to run (a drift's onset) has a corner as
    sharp as a spike's in the second difference, but no pulse. Where the
    windows cannot be read, not a bend (_steps says so first)."""
    t = _fit_rows(level, i, guard, w, other) if w >= 2 else None
    if t is None:
        return False
    after = (t > 0).astype(float)
    design = np.stack([np.ones_like(t), t, after, t * after], axis=1)
    coef = np.linalg.lstsq(design, level[i + t.astype(int)], rcond=None)[0]
    near = np.arange(-guard, guard + 1, dtype=float)
    seg = level[i - guard : i + guard + 1]
    line = coef[0] + coef[1] * near
    bent = line + (near > 0) * (coef[2] + coef[3] * near)
    swing = np.abs(seg - line).max()
    return bool(np.abs(seg - bent).max() < BEND_RATIO * swing)


def ramp_slopes(levels: Floats, first: Floats, hops: Ints, floor: Floats) -> Floats:
    """The slope per hop of a ramp in each row of hop levels (rows, at most
    RAMP_HOPS: the last hops of a motion event's last run; NaN where a hop
    had no usable sample or is before the run, left out of the fit), given
    the level of the event's first hop (first), the hops from it to the
    last and the motion floor (RMS), per row; NaN where a row is not one
    (see RAMP_HOPS). The sums run over a row's finite levels in order, the
    NaN ones as zeros."""
    ok = np.isfinite(levels)
    n = ok.sum(axis=1)
    change = levels[:, -1] - first
    with np.errstate(invalid="ignore"):
        cand = (n >= 4) & (hops > 0) & ok[:, -1] & np.isfinite(first) & (np.abs(change) >= RAMP_FLOOR_K * floor)
    out = np.full(len(levels), np.nan)
    if not _any(cand):  # (the cheap tests first: open events ask every hop)
        return out
    o, y, k, ch, h = ok[cand], levels[cand], n[cand], change[cand], hops[cand]
    at = np.arange(levels.shape[1], dtype=float)
    t = np.where(o, at - (np.where(o, at, 0.0).sum(axis=1) / k)[:, None], 0.0)
    dev = np.where(o, y - (np.where(o, y, 0.0).sum(axis=1) / k)[:, None], 0.0)
    slope = (t * dev).sum(axis=1) / (t * t).sum(axis=1)
    sd = np.sqrt((np.where(o, dev - slope[:, None] * t, 0.0) ** 2).sum(axis=1) / k)
    with np.errstate(divide="ignore", invalid="ignore"):
        span = ch / (slope * h)
    good = (np.abs(slope) > RAMP_STRAIGHT * sd) & (slope * ch > 0) & (span >= RAMP_SPAN[0]) & (span <= RAMP_SPAN[1])
    out[np.flatnonzero(cand)[good]] = slope[good]
    return out


def _alone(dev: Floats, k: int, guard: int, peak: float, pairs: bool) -> tuple[bool, int | None]:
    """Whether the pulse peaking at k in dev (1-D) may stand alone: outside
    its guard nothing rises above BURST_RATIO x its peak, or (pairs) one
    other pulse does (within a guard of its own peak); and that other
    pulse's peak (None: none). Whether the signal around a pair stays quiet
    is _Decision._quiet_around_pair's test."""
    far = np.abs(np.arange(len(dev)) - k) > guard
    above = np.flatnonzero(far & (dev > BURST_RATIO * peak))
    if not len(above):
        return True, None
    if not pairs or above[-1] - above[0] > 2 * guard:
        return False, None  # more than one pulse
    return True, int(above[np.argmax(dev[above])])


def _sharp(x: Floats, i: int, med: float, peak: float) -> bool:
    """Whether the pulse at i of the second difference x (1-D, about med)
    has a corner: neither neighbour keeps more than SHARP_RATIO x peak, of
    its sign."""
    sign = 1.0 if x[i] >= med else -1.0
    near = [sign * (x[j] - med) for j in (i - 1, i + 1) if 0 <= j < len(x)]
    return max(near, default=0.0) <= SHARP_RATIO * peak


def _smooth(hp: Floats, i: int, guard: int, w: int, peak: float, fs: float) -> bool:
    """Whether the pulse at i, whose spike signal peaks at peak (about the
    hop's median), is rounded like a motor-unit potential: peak at most
    1 - cos(2 pi SMOOTH_HZ / fs) x its swing in the high-passed signal hp
    (1-D) within the guard, from the median of the 2 w + 1 samples around it."""
    near = hp[max(0, i - w) : i + w + 1]
    swing = np.abs(hp[max(0, i - guard) : i + guard + 1] - np.median(near)).max()
    return bool(peak <= (1.0 - np.cos(2.0 * np.pi * SMOOTH_HZ / fs)) * swing)


def _off_ends(seg: Floats, ends: int) -> Floats:
    """seg (1-D) less the line through the medians of its first and last
    ends samples (each at its middle)."""
    x = [0.5 * (ends - 1), len(seg) - 0.5 * (ends + 1)]
    y = [np.median(seg[:ends]), np.median(seg[-ends:])]
    return seg - np.interp(np.arange(len(seg), dtype=float), x, y)


def _biphasic(level: Floats, i: int, guard: int, span: int, ends: int) -> bool:
    """Whether the pulse at i of the signal level (1-D) is a potential of two
    phases: its level, less a line through the medians of the ends rows
    beyond span either side of its peak (the largest deviation within the
    guard), swings to the other sign within span of the peak by at least
    BIPHASE_RATIO x that peak, and comes back by as much farther from it
    (within span). Not where the window runs past level's ends or over a gap."""
    reach = span + ends
    lo, hi = i - guard - reach, i + guard + reach + 1
    if lo < 0 or hi > len(level) or not np.isfinite(level[lo:hi]).all():
        return False
    k = i - guard + int(np.argmax(np.abs(_off_ends(level[lo:hi], ends)[reach : reach + 2 * guard + 1])))
    dev = _off_ends(level[k - reach : k + reach + 1], ends)
    peak = abs(dev[reach])
    if peak <= 0.0:
        return False
    other = -np.sign(dev[reach]) * dev  # the other phase, positive
    bar = BIPHASE_RATIO * peak
    for j in np.flatnonzero(other[ends : len(dev) - ends] >= bar) + ends:
        beyond = other[max(0, j - span) : j] if j < reach else other[j + 1 : j + 1 + span]
        if other[j] - max(0.0, float(beyond.min())) >= bar:
            return True
    return False


def _carried_max(before: Ints, new: Ints) -> Ints:
    """The running maximum over the hops of new (hops, channels), from
    before (channels,): numpy.maximum.accumulate of the two stacked, less
    the first row. One hop (the usual call) is one numpy.maximum: stacking
    and accumulating cost several times that at 256 channels."""
    if len(new) == 1:
        return np.maximum(before, new)
    return np.maximum.accumulate(np.vstack([before[None], new]), axis=0)[1:]


class _Decision(_DetectorState):
    """Hysteresis, events and output (FaultDetector's; see the package text)."""

    def _masked_hop_kinds(self) -> list[str]:
        """The hop-level kinds that mask hops (saturation and lead-off mask
        their samples instead)."""
        key = self.mask_kinds
        if self._masked_key is not key:
            self._masked = [k for k in HOP_KINDS if k in key and k not in ("saturation", "leadoff")]
            self._unmasked = [k for k in HOP_KINDS if k not in self._masked]
            self._masked_key = key
        return self._masked

    # -- decisions and output ------------------------------------------------------
    def _empty(self) -> SignalBlock:
        """No rows yet (the look-ahead waits): a shallow copy of the template
        with empty arrays (cheaper than dataclasses.replace, on most small
        blocks)."""
        tmpl = self._template
        assert tmpl is not None
        if self._empty_rows is None:
            ch = self._ch
            self._empty_rows = (np.zeros((0, ch)), np.zeros((0, ch), bool))
        out = object.__new__(type(tmpl))  # a shallow copy, without copy.copy's protocol
        d = out.__dict__
        d.update(tmpl.__dict__)
        d["data"], d["valid"] = self._empty_rows
        d["start"] = self._pend_start
        d["events"] = tmpl.events[:0]
        d["reset"] = False
        if tmpl.leadoff is not None:
            d["leadoff"] = tmpl.leadoff[:0]
        if tmpl.codes is not None:
            d["codes"] = tmpl.codes[:0]
        return out

    def _decide(self, final: bool) -> SignalBlock:
        """Output the featurised hops whose look-ahead is there (all of them
        when final): their validity (hop conditions of this hop and the next,
        kinds on, per-sample rails, lead-off and spikes), spike events, the
        policy applied; then drop those rows and hops."""
        F = self._feat
        m = len(F)
        n_dec = m if final else m - 1  # a hop waits for the next one (look-ahead)
        if n_dec <= 0:
            return self._empty()
        rows = self._lens_sum if final else self._lens_sum - self._last_len
        p = self._pend
        if self._native is not None:  # the spike signal in C too
            valid_out, hit, hits = self._native.hop_mask(p, F, n_dec, rows, self, None)
        else:
            sd = self._spike_signal(rows)
            lens = F["lens"][:n_dec]
            # a hop is masked when a masked kind's condition holds in it or in
            # the next one, or while that kind is on
            cond = F["cond"]
            ahead = cond[1 : n_dec + 1]
            if len(ahead) < n_dec:
                ahead = np.vstack([ahead, np.zeros((n_dec - len(ahead), self._ch), bool)])
            hop_bad = cond[:n_dec] | ahead | F["active"][:n_dec]
            thr, med = self._spike_threshold(n_dec)
            valid_out = p["valid"][:rows].copy()
            if "saturation" in self.mask_kinds:
                valid_out &= ~p["rail"][:rows]
                if self.blank:
                    valid_out &= ~p["blank"][:rows]
            if "leadoff" in self.mask_kinds:
                valid_out &= ~p["leadoff"][:rows]
            valid_out &= ~np.repeat(hop_bad, lens, axis=0)
            hit = self._spike_test(lens, thr, med, sd)
            hits = int(hit.any())
        if hits and hit is not None:
            hit = self._lone_pulses(hit, rows, F["med"][:n_dec], F["lens"][:n_dec])
            hits = int(hit.any())
        if hits or _any(self.health_state["spikes"]):
            self._spikes(hit, hits, rows)
        spikes = self._spike_mask(hit if hits else None, F["lens"][:n_dec], rows)
        if spikes is not None and "spikes" in self.mask_kinds:
            valid_out &= ~spikes
        # copies: the pending buffer is reused (one hop's: made as its rows came)
        staged = self._native.take_staged(self._pend_start, rows) if self._native is not None else None
        if staged is None:
            data, codes = p.cm("data")[:, :rows].copy().T, p.cm("codes")[:, :rows].copy().T
        else:
            data, codes = staged
        if self._native is not None and spikes is None and not self._native.n_invalid:
            # every output valid: what apply_policy and last_valid give then
            out_data = data
            self._held_out = data[-1].copy()
        else:
            out_data = apply_policy(data, valid_out, self.policy, self._held_out)
            self._held_out = last_valid(data, valid_out, self._held_out)
        tmpl = self._template
        assert tmpl is not None
        if self._pend_events:
            evs = [e for e in self._pend_events if e["row"] < rows or final]
            self._pend_events = [e for e in self._pend_events if not (e["row"] < rows or final)]
            for e in self._pend_events:
                e["row"] -= rows
        else:
            evs = []
        ev_arr = np.array(evs, dtype=tmpl.events.dtype) if evs else tmpl.events[:0]
        out = tmpl.replace(
            data=out_data,
            valid=valid_out,
            start=self._pend_start,
            events=ev_arr,
            reset=False,
            leadoff=None if self._pend_lo is None else self._pend_lo[:rows],
            codes=codes,
        )
        # forget what was output; the hop before the next one to featurise is
        # still pending, unless every hop was decided
        if n_dec == m and F["lens"][n_dec - 1] == self.hop:
            self._prev_hp = p.cm("hp")[:, rows - self.hop : rows].copy()
        self._prev_mad = F["mad"][n_dec - 1].copy()
        # the tails the lone-pulse rule looks back on: the burst window and
        # the sample before it (a second difference's left neighbour), and
        # the step test's fit a guard further
        w = self._burst_rows()
        tails = (
            # the pair rule looks a burst window beyond the other pulse
            ("_hp_back", "hp", 2 * w + 1),
            ("_ok_back", "hard_ok", 2 * w + 1),
            ("_data_back", "data", w + self._guard_rows()),
        )
        for name, field, keep in tails:
            if rows >= keep:  # the rows output hold the whole tail
                # a view: those rows stay where they are until the pending
                # rows move to the front (_own_tails copies them then), and
                # most hops never read more than the last one (three copies
                # of 161 rows cost 75 us a hop at 256 channels)
                setattr(self, name, p.cm(field)[:, rows - keep : rows])
                continue
            tail = np.concatenate([getattr(self, name), p.cm(field)[:, max(0, rows - keep) : rows]], axis=1)
            setattr(self, name, tail[:, -keep:])
        self._pend.drop(rows)
        if self._pend_lo is not None:
            self._pend_lo = self._pend_lo[rows:]
        self._pend_start += rows
        F.drop(n_dec)
        self._lens_sum -= rows
        return out

    def _own_tails(self) -> None:
        """Copy the tails (_hp_back, _ok_back, _data_back) that are views of
        the pending rows already output: those are about to be overwritten
        (_Rows.on_move)."""
        self._hp_back = self._hp_back.copy()
        self._ok_back = self._ok_back.copy()
        self._data_back = self._data_back.copy()

    def _hysteresis(
        self,
        fc: dict[str, NDArray[Any]],
        cond: Flags,
        masked: list[str],
        start: int,
        m: int,
        L: int,
    ) -> Flags:
        """Run the hysteresis of every hop-level kind over m new hops of L rows
        from stream row start (their features fc: (channels, hops) each; cond:
        any masked kind's condition); open and close events. Returns, per hop,
        whether a masked kind is on, (hops, channels)."""
        const = self._consts(m, L)
        zeros = const["zeros_cm"]
        if (
            not _any(self._health)
            and not _any(cond)
            and not any(fc[k] is not zeros and _any(fc[k]) for k in self._unmasked)
        ):
            # nothing on, nothing starting: only the "last clean hop" moves
            self._lf[:] = self._g_feat + m - 1
            self._level_back.fill(np.nan)
            return const["zeros"]
        g = self._g_feat + np.arange(m)
        # the hop levels of the ramp rule: RAMP_HOPS hops before these, then these
        levels = np.concatenate([self._level_back, fc["level"]], axis=1)
        base = int(g[0]) - RAMP_HOPS  # the hop of levels' first column
        self._level_back = levels[:, -RAMP_HOPS:]
        starts = start + np.arange(m) * L
        fs = self._rate
        seg_start = self._seg_start
        assert seg_start is not None  # set by the first block
        masked = self._masked_hop_kinds()
        any_active = np.zeros((m, self._ch), dtype=bool)
        transitions: list[tuple[int, int, str, int, float]] = []
        kinds_on = cast(Flags, self._health.any(axis=1)).tolist()  # (one call for the kinds)
        for i, (k, row) in enumerate(zip(HOP_KINDS, self._hop_rows, strict=True)):
            if not kinds_on[row] and (fc[k] is zeros or not _any(fc[k])):
                self._lf[i] = self._g_feat + m - 1  # (carry["lf"], a view; g[-1])
                continue
            # (hops, channels) each, as _latch takes them
            first_last = [None if r is None else r.T for r in (fc.get(k + "_first"), fc.get(k + "_last"))]
            active, t_on, t_off, onset, flag = self._latch(k, fc[k].T, g, starts, *first_last)
            if k in masked:
                any_active |= active
            # (as lists: a hum on every channel turns on and off on dozens at once)
            ts, cs = np.nonzero(t_on)
            if len(ts):
                whens = (onset[ts, cs] / fs).tolist()
                transitions.extend(zip(ts.tolist(), repeat(1), repeat(k), cs.tolist(), whens))
            ts, cs = np.nonzero(t_off)
            if len(ts):
                if k in ("saturation", "leadoff"):
                    whens = (flag[ts, cs] / fs).tolist()
                else:  # where the condition ended (_clean_run; Python integers)
                    gs, hop = g[ts].tolist(), self.hop
                    runs = (self._clean_cache[1][ts, cs] - 1).tolist()
                    whens = [(seg_start + (gt - run) * hop) / fs for gt, run in zip(gs, runs, strict=True)]
                transitions.extend(zip(ts.tolist(), repeat(0), repeat(k), cs.tolist(), whens))
        transitions.sort()
        detected = ((starts + L) / fs).tolist() if transitions else []  # (each hop's end)
        motion_on = _any(self.health_state["motion"]) or (fc["motion"] is not zeros and _any(fc["motion"]))
        i = 0
        for t in range(m):  # hop by hop, so that a ramp is found at the same hop whatever the chunking
            while i < len(transitions) and transitions[i][0] == t:
                _, on, k, c, when = transitions[i]
                i += 1
                if on:
                    last = self._closed.get((k, c))
                    if last is not None and last.end_s is not None and when - last.end_s <= self.merge_s:
                        ev = last  # the same fault flaring up again: reopen its event
                        ev.end_s = None
                    else:
                        ev = self._new_event(c, k, when, detected[t])
                    self._open[(k, c)] = ev
                    self.health_state[k][c] = True
                    if k == "motion":
                        run = int(g[t])
                        # a flare-up measures from where its event began
                        first = self._ramp_from.get(c) if ev is last else None
                        hop0, level0 = first[:2] if first else (run, float(levels[c, run - base]))
                        self._ramp_from[c] = (hop0, level0, run)
                    self.emit(ev)
                elif k == "motion":
                    floor = float(np.sqrt(fc["motion_floor_ms"][c, t]))
                    self._close_motion(c, when, int(g[t]), levels, base, floor, (starts[t] + L) / fs)
                else:
                    self._close(k, c, when)
            if motion_on:
                self._ramp_while_open(int(g[t]), levels, base, fc["motion_floor_ms"][:, t], (starts[t] + L) / fs)
        return any_active

    def _new_event(self, c: int, kind: str, start_s: float, detected_s: float) -> DspEvent:
        """DspEvent(stream, c, kind, start_s, None, detected_s): one of the
        blank events made ahead (_make_spare_events) filled in, or a new one
        when none is left."""
        spare = self._spare_events
        if not spare:
            return DspEvent(self._stream, c, kind, start_s, None, detected_s)
        ev = spare.pop()
        # (as DspEvent.__post_init__ gives them; end_s None, severity "fault"
        # and an empty detail dict of its own as made)
        ev.stream, ev.channel, ev.kind = int(self._stream), int(c), kind
        ev.start_s, ev.detected_s = float(start_s), float(detected_s)
        return ev

    def _make_spare_events(self) -> None:
        """Make blank events for _new_event, SPARE_EVENTS_PER_BLOCK at most,
        up to one per channel (on a block that completes no hop: the
        allocation is then off the hop's block)."""
        spare = self._spare_events
        n = min(self._ch - len(spare), SPARE_EVENTS_PER_BLOCK)
        if n > 0:
            spare.extend([DspEvent(0, 0, "", 0.0) for _ in range(n)])

    def _ramp_while_open(self, hop: int, levels: Floats, base: int, floor_ms: Floats, now_s: float) -> None:
        """The open motion events (at hop; levels: the hop levels from hop
        base) that began RAMP_OPEN_S ago or more
        and whose baseline runs on in a straight line away from where they
        began (_ramp_slopes, as at an event's close) are ramps from now on,
        handed out again at once (a live display says so before the event
        ends)."""
        open_hops = int(np.ceil(RAMP_OPEN_S / self.hop_s - 1e-9))
        asked = [
            (c, ev)
            for (kind, c), ev in self._open.items()
            if kind == "motion" and ev.kind == "motion" and c in self._ramp_from
            and hop - self._ramp_from[c][0] >= open_hops
        ]  # fmt: skip
        if not asked:
            return
        rows = np.array([c for c, _ in asked])
        slopes = self._ramp_slopes(hop, rows, levels, base, np.sqrt(floor_ms[rows]))
        for (_, ev), slope in zip(asked, slopes, strict=True):
            if not np.isnan(slope):
                self._as_ramp(ev, float(slope), now_s)
                self.emit(ev)  # handed out again now: it is a ramp from here on

    def _close_motion(
        self, c: int, end_s: float, hop: int, levels: Floats, base: int, floor: float, now_s: float
    ) -> None:
        """Close channel c's motion event at end_s, at hop (levels: the hop
        levels from hop base): as a "ramp" when its baseline runs
        on in one (see RAMP_HOPS), known now_s; one found a ramp while open
        (_ramp_while_open) keeps its detected_s. Where the event began stays
        in _ramp_from for a flare-up that reopens it."""
        ev = self._open.get(("motion", c))
        if ev is not None and ev.kind == "motion":  # (a ramp found while open keeps its detected_s)
            slope = self._ramp_slopes(hop, np.array([c]), levels, base, np.array([floor]))[0]
            if not np.isnan(slope):
                self._as_ramp(ev, float(slope), now_s)
        self._close("motion", c, end_s)

    def _ramp_slopes(self, hop: int, chans: Ints, levels: Floats, base: int, floor: Floats) -> Floats:
        """ramp_slopes of the motion events of channels chans at hop
        (levels: the hop levels from hop base, (channels, hops); floor their
        motion floors, RMS): each event's last RAMP_HOPS hop levels, NaN
        before its run, against where it began (_ramp_from)."""
        began = np.array([self._ramp_from.get(int(c), (hop, np.nan, hop)) for c in chans], dtype=float)
        cols = hop - base + 1 + np.arange(-RAMP_HOPS, 0)
        window = levels[chans][:, cols]
        window[(cols + base)[None, :] < began[:, 2:3]] = np.nan  # (no levels from before the run)
        return ramp_slopes(window, began[:, 1], hop - began[:, 0], floor)

    def _as_ramp(self, ev: DspEvent, slope: float, now_s: float) -> None:
        """Make a motion event a ramp (slope per hop), known at now_s."""
        ev.kind = "ramp"
        ev.detected_s = float(now_s)
        ev.detail.update(seen_first_as="motion", slope_uv_per_s=slope * self._rate / self.hop)

    def _latch(
        self,
        k: str,
        cond: Flags,
        g: Ints,
        starts: Ints,
        first: Ints | None,
        last: Ints | None,
    ) -> tuple[Flags, Flags, Flags, Ints, Ints]:
        """Hysteresis over hops, vectorised with the carried state: returns the
        state after each hop, turn-on and turn-off flags, the onset (sample
        index) of the current run and the end of the last flagged sample."""
        on_n, off_n = HYSTERESIS[k]
        carry = self._carry[k]
        was = self.health_state[k]
        if not _any(cond) and not _any(was):
            # nothing on, nothing starting: only the "last clean hop" moves
            carry["lf"][:] = int(g[-1])
            none = np.zeros(cond.shape, dtype=bool)
            never = np.full(cond.shape, _NEG, dtype=np.int64)
            return none, none, none, never, never
        if len(cond) == 1 and self._native is not None:  # one hop (the usual) in C: the same integers
            act, on, off, onset, flag, clean = self._native.latch_hop(
                int(g[0]), int(starts[0]), (on_n, off_n), cond, was, (first, last), carry
            )
            self._clean_cache = (k, clean)
            return act, on, off, onset, flag
        gi = g[:, None]
        lf = _carried_max(carry["lf"], np.where(~cond, gi, _NEG))
        lt = _carried_max(carry["lt"], np.where(cond, gi, _NEG))
        run = gi - lf
        clean = gi - lt
        g0 = int(g[0])
        init_set = np.where(was, g0 - 1, _NEG)
        init_rst = np.where(was, _NEG, g0 - 1)
        last_set = _carried_max(init_set, np.where(run >= on_n, gi, _NEG))
        last_rst = _carried_max(init_rst, np.where(clean >= off_n, gi, _NEG))
        active = last_set > last_rst
        # (one hop: the state before it, a view read by the return only)
        prev = was[None] if len(cond) == 1 else np.vstack([was[None], active[:-1]])
        st = starts[:, None]
        start_val = st + (first if first is not None else 0)
        onset = _carried_max(carry["onset"], np.where(cond & (run == 1), start_val, _NEG))
        flag_val = st + (last + 1 if last is not None else 0)
        flag = _carried_max(carry["flag"], np.where(cond, flag_val, _NEG))
        carry["lf"][:] = lf[-1]  # a view into self._lf
        carry["lt"] = lt[-1].copy()
        carry["onset"], carry["flag"] = onset[-1].copy(), flag[-1].copy()
        self._clean_cache = (k, clean)
        return active, active & ~prev, ~active & prev, onset, flag

    def _clean_run(self, k: str, t: int, c: int) -> int:
        """Hops without kind k's condition before hop t on channel c, from the
        last _latch of that kind (at its turn-off: where the condition ended)."""
        kk, clean = self._clean_cache
        assert kk == k
        return int(clean[t, c]) - 1

    def _spike_threshold(self, n_dec: int) -> tuple[Floats, Floats]:
        """Per hop to decide (hops, channels): the spike threshold (infinite
        where the test is blocked) and the median it is taken from."""
        F = self._feat
        mad = F["mad"]
        prev = self._prev_mad if self._prev_mad is not None else mad[0]
        before = np.vstack([prev[None], mad[: n_dec - 1]])
        after = mad[1 : n_dec + 1] if len(mad) > n_dec else np.vstack([mad[1:n_dec], mad[n_dec - 1 : n_dec]])
        # the hop's own MAD is left out: a spike's pulse and the 20 Hz
        # high-pass's tail after it (~30 ms of hundreds of uV) inflate it, up
        # to hiding the spike on a contraction; a contraction's ramp (or a
        # noise burst, 0.2 s or longer) raises a neighbour's as well
        sigma = 1.4826 * np.maximum(before, after)
        thr = np.maximum(self.spike_k * sigma, self._spike_min)
        return np.where(F["blocked"][:n_dec], np.inf, thr), F["med"][:n_dec]

    def _spike_signal(self, rows: int) -> Floats:
        """The second difference of the 20 Hz high-passed signal over the
        first rows pending, (channels, rows): what the spike test reads (the
        row after them is in the look-ahead, the one before in _hp_back)."""
        hp, ok = self._pend.cm("hp"), self._pend.cm("hard_ok")
        ch = self._ch
        more = rows < hp.shape[1]
        before = self._hp_back[:, -1] if self._hp_back.shape[1] else None
        after = hp[:, rows] if more else None
        ok_before = self._ok_back[:, -1:] if self._hp_back.shape[1] else np.ones((ch, 1), dtype=bool)
        ok_after = ok[:, rows : rows + 1] if more else np.ones((ch, 1), dtype=bool)
        return spike_signal(hp[:, :rows], before, after, self._rate, np.hstack([ok_before, ok[:, :rows], ok_after]))

    def _guard_rows(self) -> int:
        """Rows either side of a spike pulse that are its own (BURST_GUARD_S)."""
        return max(1, int(round(BURST_GUARD_S * self._rate)))

    def _burst_rows(self) -> int:
        """Rows looked at either side of a spike pulse beyond the guard
        (BURST_S), so that the look-ahead (one hop after the rows decided)
        holds all the lone-pulse rule reads after a pulse: the burst window
        and one more row, the step test's fit a guard further."""
        return max(0, min(int(round(BURST_S * self._rate)), self.hop - self._guard_rows() - 1))

    def _lone_pulses(self, hit: Flags, rows: int, med: Floats, lens: Ints) -> Flags:
        """The spike test's hits (rows, channels) that are a lone pulse's
        peak: a hit stays when it is the largest |second difference| within
        BURST_GUARD_S (a pulse's corners are the same pulse); when, farther
        than that and within BURST_S, the second difference keeps below
        BURST_RATIO x that peak (not a burst, see BURST_RATIO), or, from
        SPIKE_SD_MIN_HZ, one other pulse rises there and everything within
        BURST_S of either pulse stays below BURST_QUIET x the peak (a pair);
        from SPIKE_SD_MIN_HZ to SHARP_BELOW_HZ, when it has a corner; from
        SHARP_BELOW_HZ, when it is not rounded like a potential (_smooth),
        and below, when it has no potential's second phase (_biphasic);
        and when the signal BURST_GUARD_S after it is back within
        BURST_RATIO x the pulse's swing of where it was BURST_GUARD_S before
        (not a step).
        Judged sample by sample, on rows before from _hp_back and
        _data_back and after from the look-ahead, so the same whatever the
        chunking."""
        w = self._burst_rows()
        guard = self._guard_rows()
        second = self._rate >= SPIKE_SD_MIN_HZ  # the test reads the second difference
        corner = second and self._rate < SHARP_BELOW_HZ  # a spike must have a corner (_sharp)
        rounded = self._rate >= SHARP_BELOW_HZ  # a potential's roundness (_smooth) tells there
        span = max(1, int(round(BIPHASE_S * self._rate)))
        ends = max(1, int(round(BIPHASE_END_S * self._rate)))
        # ... and below, its second phase (_biphasic), whose window must lie within
        # the rows every chunking has (the tail kept and the look-ahead, w + guard
        # either side): with hops too short for it, no test
        two_phases = not rounded and span + ends <= w
        # rows read after the rows decided: the window, a pair's reach beyond
        # its other pulse, and one row; within the hop of look-ahead
        ahead = min(2 * w + 1, self.hop)
        hp, ok = self._pend.cm("hp"), self._pend.cm("hard_ok")
        back = self._hp_back
        nb = back.shape[1]
        med_rows = np.repeat(med, lens, axis=0) if med.any() else None
        out = hit.copy()
        data = self._pend.cm("data")
        nd = self._data_back.shape[1]
        for c in np.nonzero(hit.any(axis=0))[0]:
            # one row more either side than the window reads: every second
            # difference in it has its true neighbours
            hp_c = np.concatenate([back[c], hp[c, : rows + ahead]])
            usable = np.concatenate([[True], self._ok_back[c], ok[c, : rows + ahead], [True]])
            x = spike_signal(hp_c[None, :], None, None, self._rate, usable[None, :])[0]
            # (what the filters give on an unusable sample depends on where the
            # blocks were cut: 0 there, as in the spike signal)
            hp_c = np.where(usable[1:-1], hp_c, 0.0)
            level = np.concatenate([self._data_back[c], data[c, : rows + w + guard]])
            for r in np.flatnonzero(hit[:, c]):
                i = r + nb
                lo = max(0, i - w)
                # the hit's window only: a burst has many hits
                dev = np.abs(x[lo : i + w + 1] - (med_rows[r, c] if med_rows is not None else 0.0))
                k = i - lo
                peak = dev[max(0, k - guard) : k + guard + 1].max()
                # the pulse's peak only: its slopes' corners, within the
                # guard, are the same pulse in the second difference
                med_rc = med_rows[r, c] if med_rows is not None else 0.0
                alone, other = _alone(dev, k, guard, peak, second) if dev[k] >= peak else (False, None)
                if alone and corner:
                    alone = _sharp(x, i, med_rc, peak)
                if alone and rounded:
                    alone = not _smooth(hp_c, i, guard, w, peak, self._rate)
                if alone and other is not None:
                    alone = self._quiet_around_pair(x, i, lo + other, med_rc, peak)
                if not alone:
                    out[r, c] = False
                    continue
                # and it comes back: a step (a jump of the baseline, a fault
                # switched on) is as sharp, but stays; near the stream's
                # start or end that cannot be told
                pair = None if other is None else r + nd + other - k
                if _steps(level, r + nd, guard, w, pair) or _bends(level, r + nd, guard, w, pair):
                    out[r, c] = False
                elif two_phases and _biphasic(level, r + nd, guard, span, ends):
                    out[r, c] = False
        return out

    def _quiet_around_pair(self, x: Floats, i: int, other: int, med: float, peak: float) -> bool:
        """Whether the spike signal x (1-D) stays below BURST_QUIET x peak
        within BURST_S of a pair of pulses at i and other, outside the
        guards of both: a train of pulses 10-20 ms apart has a third beyond
        the second. Only where that reach is in the rows every chunking has
        (the tail before, a hop of look-ahead after); else not a pair."""
        w, guard = self._burst_rows(), self._guard_rows()
        a, b = min(i, other) - w, max(i, other) + w
        if a < 0 or abs(other - i) + w >= self.hop or b >= len(x):
            return False
        idx = np.arange(a, b + 1)
        rest = (np.abs(idx - i) > guard) & (np.abs(idx - other) > guard)
        return bool(np.abs(x[a : b + 1] - med)[rest].max(initial=0.0) <= BURST_QUIET * peak)

    def _spike_mask(self, hit: Flags | None, lens: Ints, rows: int) -> Flags | None:
        """The samples to mask for spikes in the next rows (None: none): the
        hits widened by 3 ms both ways, as a pulse's slopes fall below the
        threshold. Forwards the widening runs on into the next rows (carried);
        backwards it stops at the start of a hop, since what came before may
        already be out: so the mask is the same whatever the chunking."""
        carry = self._spike_carry
        if hit is None and not _any(carry):
            return None
        pad = max(1, int(round(0.003 * self._rate)))
        out = np.zeros((rows, self._ch), dtype=bool) if hit is None else hit.copy()
        if hit is not None:
            hop_id = np.repeat(np.arange(len(lens)), lens)
            for s in range(1, min(pad, rows - 1) + 1):
                out[s:] |= hit[:-s]
                out[:-s] |= hit[s:] & (hop_id[:-s] == hop_id[s:])[:, None]
            any_hit = hit.any(axis=0)
            last = rows - 1 - np.argmax(hit[::-1], axis=0)
            ahead = np.where(any_hit, last + pad - rows + 1, 0)
        else:
            ahead = np.zeros(self._ch, dtype=np.int64)
        if _any(carry):
            out |= np.arange(rows)[:, None] < carry[None, :]
        self._spike_carry = np.maximum(np.maximum(ahead, carry - rows), 0)
        return out

    def _spikes(self, hit: Flags | None, hits: int, rows: int) -> None:
        """Spike events from the test's hits in the next rows (hit: None if
        there is none)."""
        fs = self._rate
        gap = self.spike_gap_s * fs
        if hits and hit is not None:
            for c in np.nonzero(hit.any(axis=0))[0]:
                rws = np.flatnonzero(hit[:, c]) + self._pend_start
                breaks = np.flatnonzero(np.diff(rws) > 1)
                pulse_starts = np.concatenate([rws[:1], rws[breaks + 1]])
                pulse_ends = np.concatenate([rws[breaks], rws[-1:]]) + 1
                for s0, e0 in zip(pulse_starts, pulse_ends, strict=True):
                    key = ("spikes", int(c))
                    ev = self._open.get(key)
                    if ev is not None and s0 - self._last_spike[c] <= gap:
                        ev.detail["count"] += 1
                    else:
                        if ev is not None:
                            self._close("spikes", int(c), self._last_spike[c] / fs)
                        hop_i = (s0 - self._seg_start) // self.hop
                        detected = self._seg_start + (hop_i + 2) * self.hop
                        ev = DspEvent(
                            self._stream,
                            int(c),
                            "spikes",
                            s0 / fs,
                            None,
                            detected / fs,
                            detail={"count": 1},
                        )
                        self._open[key] = ev
                        self.health_state["spikes"][c] = True
                        self.emit(ev)
                    self._last_spike[c] = e0
        end = self._pend_start + rows
        open_now = self.health_state["spikes"]
        for c in np.nonzero(open_now)[0] if hits or _any(open_now) else ():
            if end - self._last_spike[c] > gap:
                self._close("spikes", int(c), self._last_spike[c] / fs)

    def _close(self, kind: str, c: int, end_s: float) -> None:
        """Close kind's open event on channel c at end_s (not before it started)."""
        ev = self._open.pop((kind, c), None)
        self.health_state[kind][c] = False
        if ev is not None:
            ev.end_s = float(max(end_s, ev.start_s))
            if ev.kind == kind:  # a flare-up may reopen it; a motion event become a ramp is not reopened as motion
                self._closed[(kind, c)] = ev
            self.emit(ev)

    def _close_all(self, end: int) -> None:
        """Close every open event: per-sample kinds at their last flagged
        sample, spikes after the last pulse, the others at stream row end."""
        fs = self._rate
        for kind, c in list(self._open):
            if kind in ("saturation", "leadoff") and self._carry[kind]["flag"][c] > _NEG:
                self._close(kind, c, self._carry[kind]["flag"][c] / fs)
            elif kind == "spikes":
                self._close(kind, c, self._last_spike[c] / fs)
            else:
                self._close(kind, c, end / fs)
