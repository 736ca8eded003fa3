"""The numpy reference of the C front end (csrc/sio_dsp.c): the per-sample
flags and feature filters, the mains projection and the spike test, as the C
code computes them. tests/test_dsp_native.py compares the two bit for bit;
FaultDetector runs these only without the C core (FaultDetector.native =
False or no build)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from ...blocks import SignalBlock
from ._state import Flags, Floats, Ints, _DetectorState
from .features import _NEG, START_RUN


class _NumpyReference(_DetectorState):
    """The numpy twins of the C front end (a mixin of FaultDetector)."""

    def _front_numpy(self, block: SignalBlock) -> dict[str, NDArray[Any]]:
        """The per-sample flags and feature filters of a block, channel-major
        (the reference for the C version, sio_dsp_front_run)."""
        # everything per sample is computed channel-major (channels, rows): the
        # stages' arrays are laid out that way, so no strided copies
        x, valid = block.data, block.valid
        n, ch = x.shape
        vt = valid.T
        ct = block.codes.T if block.codes is not None else None
        if ct is not None and block.code_range is not None:
            lo, hi = block.code_range
            rail = (ct <= lo) | (ct >= hi)
        else:
            rail = np.zeros((ch, n), dtype=bool)
        if block.leadoff is not None and block.leadoff.any():
            # the bitmask has bits for channels 0..63 only
            bits = np.uint64(1) << np.arange(min(ch, 64), dtype=np.uint64)
            leadoff = np.zeros((ch, n), dtype=bool)
            leadoff[: len(bits)] = (block.leadoff[None, :] & bits[:, None]) != 0
        else:
            leadoff = np.zeros((ch, n), dtype=bool)
        hard_ok = vt & ~rail & ~leadoff
        cols = np.arange(n)[None, :]
        if ct is not None and n:
            # a code repeated for half a hop is stuck: keep it out of the feature
            # filters at once (its end would be a step that looks like motion)
            same = np.empty((ch, n), dtype=bool)
            same[:, 0] = ct[:, 0] == self._prev_code
            np.equal(ct[:, 1:], ct[:, :-1], out=same[:, 1:])
            if same.any():
                lastdiff = np.maximum.accumulate(np.where(same, -1 - self._same_run[:, None], cols), axis=1)
                run = cols - lastdiff
                hard_ok &= run < self.hop // 2
                self._same_run = run[:, -1].astype(np.int64)
            else:
                self._same_run = np.zeros(ch, dtype=np.int64)
            self._prev_code = ct[:, -1].astype(np.int64)
        # after a long invalid stretch the feature filters re-prime on one
        # sample; the 1-20 Hz band needs a while to settle: no motion verdicts
        if n and (not hard_ok.all() or (self._bad_run > 0).any() or (self._last_restart > _NEG).any()):
            lastok = np.maximum.accumulate(np.where(hard_ok, cols, -1 - self._bad_run[:, None]), axis=1)
            before = np.concatenate([(-1 - self._bad_run)[:, None], lastok[:, :-1]], axis=1)
            restart = hard_ok & ((cols - before - 1) >= self.hop)
            marks = np.where(restart, cols + block.start, _NEG)
            # the stream's start (a channel valid within a hop of it) settles
            # sooner: its mark is set back by the difference
            first = restart & (before < 0) & (self._bad_run[:, None] + cols < START_RUN + self.hop)
            first &= (self._bad_run >= START_RUN)[:, None]
            if first.any():
                marks -= np.where(first, self.settle - self.settle_start, 0)
            marks[:, 0] = np.maximum(marks[:, 0], self._last_restart)
            last_restart = np.maximum.accumulate(marks, axis=1)
            settle = (cols + block.start - last_restart) < self.settle
            self._bad_run = np.where(lastok[:, -1] >= 0, n - 1 - lastok[:, -1], self._bad_run + n)
            self._last_restart = last_restart[:, -1].copy()
        else:
            settle = np.zeros((ch, n), dtype=bool)
        # recovery after a rail sample: the next `blank` samples
        if n and (rail.any() or (self._last_rail > _NEG).any()):
            idx = cols + block.start
            marks = np.where(rail, idx, _NEG)
            marks[:, 0] = np.maximum(marks[:, 0], self._last_rail)
            last = np.maximum.accumulate(marks, axis=1)
            self._last_rail = last[:, -1].copy()
            blank = ((idx - last) <= self.blank) & ~rail
        else:
            blank = np.zeros((ch, n), dtype=bool)
        # the feature filters never see rails or lifted electrodes (no transients)
        hp = self._hp.run(x, hard_ok.T).T
        # a spike would ring through the 1-20 Hz band for 100 ms and look like
        # motion: samples far above a running mean of |hp| (causal, 100 ms)
        # are held out of that filter
        ahp = np.abs(hp)
        if n:
            ema, self._ema_zi = signal.lfilter([self._ema_a], [1.0, self._ema_a - 1.0], ahp, axis=1, zi=self._ema_zi)
            prev = np.concatenate([self._ema_zi * 0 + self._ema_last[:, None], ema[:, :-1]], axis=1)
            self._ema_last = ema[:, -1].copy()
            spiky = ahp > np.maximum(self.spike_k * prev, self.spike_min_uv)
            # and the pulse's tail: a few ms after each flagged sample
            marks = np.where(spiky, cols + block.start, _NEG)
            marks[:, 0] = np.maximum(marks[:, 0], self._last_spiky)
            last = np.maximum.accumulate(marks, axis=1)
            self._last_spiky = last[:, -1].copy()
            spiky = (cols + block.start - last) <= self._spike_pad
            low_ok = hard_ok & ~spiky
        else:
            low_ok = hard_ok
            spiky = np.zeros((ch, n), dtype=bool)
        low = self._low.run(x, low_ok.T).T
        if ct is None:
            ct = np.zeros((ch, n), dtype=np.int32)
            zero = np.zeros((ch, n), dtype=bool)
        else:
            zero = ct == block.code_zero
        return {
            "rail": rail,
            "leadoff": leadoff,
            "hard_ok": hard_ok,
            "hp": hp,
            "low": low,
            "zero": zero,
            "blank": blank,
            "settle": settle,
            "spiky": spiky,
        }

    def _mains_numpy(self, m: int, L: int, hp: Floats, prev: Floats) -> tuple[Floats, Floats]:
        """Per (channel, hop): the contrast of the two families' summed squared
        projections (the larger less the smaller), and the mean square (the
        reference for sio_dsp_mains)."""
        ch = self._ch
        before = np.concatenate([prev[:, None, :], hp[:, :-1, :]], axis=1)
        seg = np.concatenate([before, hp], axis=2)  # (ch, m, 2L)
        proj = seg @ self._basis  # (ch, m, 2 * freqs)
        power = proj * proj
        k = self._n_freq
        per_family = [(power[..., i:j].sum(axis=2) + power[..., k + i : k + j].sum(axis=2)) for i, j in self._families]
        # a line's contrast: the 50 Hz family's power less the 60 Hz family's
        # (a hum line leaks little into the other family; broadband EMG, whose
        # median frequency may sit near 50 Hz, fills both alike)
        best = np.abs(per_family[0] - per_family[1]) if per_family else np.zeros((ch, m))
        total = np.einsum("cmi,cmi->cm", seg, seg) / (2 * L)
        return best, total

    def _spike_test(self, lens: Ints, thr: Floats, med: Floats, sd: Floats) -> Flags:
        """Samples of the first hops whose spike signal sd (channels, rows)
        is beyond the threshold, (rows, channels) (the reference for
        sio_dsp_hop_mask's spike test)."""
        p = self._pend
        rows = int(lens.sum())
        if med.any():
            dev = np.abs(sd.T - np.repeat(med, lens, axis=0))
        else:  # the usual case: the signal's median is taken as 0
            dev = np.abs(sd.T)
        hit = dev > np.repeat(thr, lens, axis=0)
        hit &= p["hard_ok"][:rows] & ~p["blank"][:rows]
        return hit
