"""The fault detector's per-sample front end and per-hop reductions in C
(csrc/sio_dsp.c), through cffi: pointers into the buffers, carried state,
reused output arrays."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..._optional_native import native_with
from ...blocks import SignalBlock
from ...errors import SensorioError
from ._buffers import ROW_FIELDS, _Hops, _Rows
from .features import (
    _NEG,
    LEARN_RISE,
    LEARN_UP,
    MAINS_ALONE,
    MAINS_ALONE_CONTRAST,
    MAINS_ALONE_UV,
    MAINS_FLOOR_K,
    MAINS_RUN,
    MAINS_SURE_RUN,
    MOTION_FLOOR_K,
    NOISE_FLOOR_K,
    RING_BUILD,
    SETTLE_EARLY_S,
    SPIKE_SD_MIN_HZ,
    START_RUN,
    _any,
)

#: samples (rows x channels) below which a block waits for the rest of its hop
#: before the front end runs (a call's fixed cost then outweighs the work); set
#: from tools/bench_dsp.py, see docs/performance.md
DEFER_BELOW = 4096

if TYPE_CHECKING:
    from ._state import Flags, Floats, Ints, _DetectorState


class _NativeFront:
    """The per-sample front end in C (csrc/sio_dsp.c): flags, feature filters
    and their carried state in one pass per channel. It owns the carried state
    (arrays the C code updates in place) and the hp/low filter memories."""

    def __init__(self, det: _DetectorState) -> None:
        """The C front end's state for det's settings, set up by its _setup
        (rate, channels, hop, feature filters): carried state as at a start."""
        from ..._binding import ffi, lib

        self._ffi, self._lib = ffi, lib
        ch = det._ch
        never = np.iinfo(np.int64).max // 2
        self._keep: list[np.ndarray[Any, Any]] = []
        st = ffi.new("sio_dsp_front *")
        st.stuck_run = det.hop // 2
        st.restart = det.hop
        st.settle = det.settle
        st.settle_start = det.settle_start
        st.blank = det.blank
        st.spike_pad = det._spike_pad
        st.ema_a = det._ema_a
        st.ema_a1 = det._ema_a - 1.0
        st.spike_k = det.spike_k
        st.spike_min = det.spike_min_uv  # (the samples held out of the feature filters)
        self.prev_code = self._own(st, "prev_code", np.full(ch, np.iinfo(np.int64).min))
        self._own(st, "same_run", np.zeros(ch, np.int64))
        self._own(st, "bad_run", np.full(ch, START_RUN, np.int64))  # the start is a restart
        self._own(st, "last_restart", np.full(ch, _NEG, np.int64))
        self._own(st, "last_rail", np.full(ch, _NEG, np.int64))
        self._own(st, "ema_last", np.zeros(ch))
        self._own(st, "last_spiky", np.full(ch, _NEG, np.int64))
        for name, filt in (("hp", det._hp), ("low", det._low)):
            sec = filt.sos.shape[0]
            filt.zi = np.zeros((ch, sec, 2))
            filt.held = np.zeros(ch)
            filt.invalid_run = np.full(ch, never, np.int64)
            f = getattr(st, name)
            f.n_sections = sec
            f.sos = self._ptr("double[]", filt.sos)
            f.unit = self._ptr("double[]", np.ascontiguousarray(filt.unit_state))
            f.zi = self._ptr("double[]", filt.zi)
            f.held = self._ptr("double[]", filt.held)
            f.invalid_run = self._ptr("int64_t[]", filt.invalid_run)
            f.reprime = det.hop
        self._st = st
        self._outs: dict[tuple[str, int], tuple[Floats, Flags, Any, Any]] = {}
        self._n_invalid = ffi.new("int64_t[1]")
        self.n_invalid = 0
        self._hops_gen: tuple[int, int] | None = None
        self._hops_ptrs: dict[str, Any] = {}
        self._mask_scratch = np.empty((0, ch))
        self._mask_scratch_ptr: Any = None
        self._bad_scratch = np.empty((0, ch), dtype=bool)
        self._bad_scratch_ptr: Any = None
        self._hit_scratch = np.empty(0, dtype=bool)
        self._hit_scratch_ptr: Any = None
        self._sd_scratch = np.empty((0, 0))
        self._sd_scratch_ptr: Any = None
        # rows appended whose flags and features wait (see run): how many, the
        # stream row of the first, and their codes' settings
        self._todo_n = 0
        self._todo_start = 0
        self._todo_key: tuple[Any, Any] | None = None
        # blocks that wait whole (see run), and their rows
        self._waiting: list[SignalBlock] = []
        self.waiting = 0
        #: the stream row from which every row was quiet: valid, inside the
        #: rails, not lifted and not spiky
        self.quiet_from = _NEG
        self._ptr_gen = -1
        self._ptrs: dict[str, Any] = {}
        self._code_key: tuple[Any, Any] | None = None
        self._scratch = np.empty(2 * det.hop)
        self._scratch_ptr = ffi.from_buffer("double[]", self._scratch)
        self._basis_src: Floats | None = None
        self._basis_ptr: Any = None
        # the mains projection hop by hop as rows come (see mains_verdicts):
        # its settings, the sums carried, the stream row where the hops start
        # (the first row the front end runs on) and the verdicts of the hops
        # completed, by their first row
        self._mains_set = (
            det.hop,
            det._n_freq,
            det._families[0][1] if det._families else 0,
            det._ms_scale,
            0.0,  # the floor is the detector's, per channel (features._mains_floor)
            det.mains_share,
        )
        self._mains_basis = det._basis
        self._mains_basis_ptr = ffi.from_buffer("double[]", det._basis)
        self._mains_acc = np.zeros((ch, 4 * det._n_freq + 2))
        self._mains_acc_ptr = ffi.from_buffer("double[]", self._mains_acc)
        self._mains_out = (np.empty(ch), np.empty(ch), np.empty(ch, dtype=bool))
        self._mains_out_ptrs = (
            ffi.from_buffer("double[]", self._mains_out[0]),
            ffi.from_buffer("double[]", self._mains_out[1]),
            ffi.from_buffer("uint8_t[]", self._mains_out[2]),
        )
        self._mains_origin: int | None = None
        self._mains_done: dict[int, Floats] = {}
        # hop_features' sums likewise (see _feature_rows), by the hop's first row
        self._feat_acc = np.zeros((ch, lib.SIO_DSP_FEAT_ACC))
        self._feat_acc_ptr = ffi.from_buffer("double[]", self._feat_acc)
        # the hop's two medians (of |hp| and the spike statistics') are
        # sorted out as the rows come against a guess of where each lies (the
        # channel's last one: csrc/sio_dsp.c, sio_dsp_br_add), what lies
        # near it kept in mid: the same bits, less work on the block
        # completing a hop
        # (the median of |hp| counts into _mad_mids below; only the spike
        # statistics' has a mid here)
        self._br_guess = [np.empty((ch, lib.SIO_DSP_BR_GUESS)) for _ in range(2)]
        self._br_guess_ptrs = [ffi.from_buffer("double[]", g) for g in self._br_guess]
        self._sd_mid = np.empty((ch, det.hop))
        self._sd_br = (self._br_guess_ptrs[1], ffi.from_buffer("double[]", self._sd_mid))
        for g in self._br_guess_ptrs:
            lib.sio_dsp_br_init(ch, g)
        # the median of |hp| is finished on the block completing its hop only
        # where that hop's verdicts read it (see hop_features, finish_mads),
        # which may come after the next hop's first rows were counted: so the
        # hop is counted into one of two mids (by the hop's first stream
        # row: _mad_owner) against the guess as it was at the hop's start
        # (its _mad_guesses); the guess moves on from the counts at the
        # hop's end (sio_dsp_br_track), and from a finish where one is taken
        self._mad_guesses = [np.empty((ch, lib.SIO_DSP_BR_GUESS)) for _ in range(2)]
        self._mad_guess_ptrs = [ffi.from_buffer("double[]", g) for g in self._mad_guesses]
        self._mad_mids = [np.empty((ch, det.hop)) for _ in range(2)]
        self._mad_mid_ptrs = [ffi.from_buffer("double[]", k) for k in self._mad_mids]
        self._mad_owner: list[int | None] = [None, None]
        self._mad_cur = 0  # the mid the hop under way is counted into
        # the hop whose medians hop_features left to finish_mads: its first
        # stream row, its sums (their counts) and the mad output; which
        # channels are finished
        self._mads: tuple[int, Floats, Floats] | None = None
        self._mads_done = np.zeros(ch, dtype=bool)
        self._sd_count = np.zeros((ch, lib.SIO_DSP_SPIKE_COUNT))
        self._sd_count_ptr = ffi.from_buffer("double[]", self._sd_count)
        self._feat_done: dict[int, Floats] = {}
        # and the spike statistics: the hop's |second difference| so far (rows
        # up to _sd_rows; _sd_ok: its first row had its neighbour), and the
        # (median, largest) of each hop completed
        self._sd_buf = np.empty((ch, det.hop))
        self._sd_buf_ptr = ffi.from_buffer("double[]", self._sd_buf)
        self._sd_rows = 0
        self._sd_ok = True
        self._sd_done: dict[int, Floats] = {}
        # the stream rows [lo, hi) whose spike signal is in the rows' "sd"
        # (see _signal_rows), and whether it is the second difference
        self._sig: tuple[int, int] | None = None
        self._sig_second = det._rate >= SPIKE_SD_MIN_HZ
        self._learn_set: Any = None  # sio_dsp_learn_set, made on the first hop
        # the output's data and codes of the pending hops, by their first
        # stream row (see _stage): the arrays and the rows copied so far
        self._stage_hop = det.hop
        self._stage_origin: int | None = None
        self._staged: dict[int, list[Any]] = {}
        self._stage_valid: Flags | None = None
        self._stage_valid_ptr: Any = None
        self._judge: Any = None  # sio_dsp_judge_hop's settings, inputs and state, likewise
        self._judge_out: Any = None  # ... and its outputs with their pointers, reused hop after hop
        self._judge_state: tuple[np.ndarray[Any, Any], ...] | None = None  # the arrays its state points at
        self._mains_judge_set: Any = None  # sio_dsp_mains_judge's settings, likewise

    def _ptr(self, kind: str, a: np.ndarray[Any, Any]) -> Any:
        """A cffi pointer of type kind into a, kept alive as long as this object."""
        self._keep.append(a)
        return self._ffi.from_buffer(kind, a)

    def _own(self, st: Any, name: str, a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Point field name of the C state st at a (a contiguous int64 copy, or
        float64 for ema_last), which the C code then updates in place."""
        a = np.ascontiguousarray(a, dtype=np.float64 if name == "ema_last" else np.int64)
        setattr(st, name, self._ptr("double[]" if a.dtype == np.float64 else "int64_t[]", a))
        return a

    def hop_features(
        self, rows: _Rows, a: int, m: int, L: int, first: int, lazy: bool = False
    ) -> tuple[Floats, Floats, Floats, Floats, Floats, Flags, Floats]:
        """std, MAD, hp, low and high-frequency mean squares, "every code
        the same" and the largest |hp| of m hops of L rows from live row a
        (stream row first), all valid (see _features for the numpy version):
        finished from the sums made as their rows came when there are (see
        _feature_rows; the same bits), else in one C call. With lazy, one
        hop's MAD taken from those sums is NaN until finish_mads takes it,
        channel by channel (the usual hop's verdicts read it only where its
        peak stands above the spike floor)."""
        p = self._pointers(rows)
        ch = rows.ch
        at = rows.o + a
        if self._scratch.size < 2 * L:
            self._scratch = np.empty(2 * L)
            self._scratch_ptr = self._ffi.from_buffer("double[]", self._scratch)
        out, same, o, same_ptr = self._out_buffers("features", 6, ch, m)
        step = ch * m
        sums = _taken(self._feat_done, first, m, L) if L == self._mains_set[0] else None
        if sums is not None:  # (hops, channels, sums)
            inputs = (self._ffi.from_buffer("double[]", sums), 1)
            finish = self._lib.sio_dsp_hop_features_end
            mad = self._ffi.NULL  # (finish_mads')
        else:
            inputs = (p["low"] + at, p["codes"] + at)
            finish = self._lib.sio_dsp_hop_features
            mad = o + step
        # the same outputs either way: scratch, var, mad, hp/low/hf mean squares, same code, peak
        outputs = (self._scratch_ptr, o, mad, o + 2 * step, o + 3 * step, o + 4 * step, same_ptr, o + 5 * step)
        rc = finish(ch, m, L, rows.cap, p["data"] + at, p["hp"] + at, *inputs, *outputs)
        if rc != 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"faults: native hop features refused {m} hops of {L}")
        if sums is None:
            self._mads = None  # (none left to finish_mads)
        else:
            out[1].fill(np.nan)
            self._mads = (first, sums, out[1])
            self._mads_done[:] = False
            if not lazy or m > 1:
                self.finish_mads(rows, first - a, first, None)
        return np.sqrt(out[0]), out[1], out[2], out[3], out[4], same, out[5]

    def finish_mads(self, rows: _Rows, row0: int, hop: int, which: Flags | None) -> None:
        """The MAD (median of |hp|) of the channels of which (None: all)
        of the hops from stream row hop that hop_features last took from the
        sums and left to this (none: nothing done), into its mad output;
        channels already finished are left as they are. The hops'
        rows must still be pending (row0: the stream row of the first
        pending row)."""
        if self._mads is None or self._mads[0] != hop:
            return
        first, sums, mad = self._mads
        todo = ~self._mads_done if which is None else which & ~self._mads_done
        if not _any(todo):
            return
        m, ch = sums.shape[0], sums.shape[1]
        L = self._mains_set[0]
        ffi = self._ffi
        p = self._pointers(rows)
        at = rows.o + first - row0
        out_ptr, step = ffi.from_buffer("double[]", mad), m
        for j in range(m):
            f = first + j * L
            if f in self._mad_owner:
                mid = self._mad_mid_ptrs[self._mad_owner.index(f)]
            else:  # its mid is counting another hop now: the select runs over its rows
                sums[j, :, self._lib.SIO_DSP_FEAT_BR + 2] = 1.0
                mid = self._mad_mid_ptrs[0]  # (not read)
            count = ffi.from_buffer("double[]", sums) + j * ch * self._lib.SIO_DSP_FEAT_ACC + self._lib.SIO_DSP_FEAT_BR
            rc = self._lib.sio_dsp_br_finish(
                ch, L, rows.cap, p["hp"] + at + j * L, 1, ffi.from_buffer("uint8_t[]", todo), count,
                self._lib.SIO_DSP_FEAT_ACC, mid, self._br_guess_ptrs[0], self._scratch_ptr, out_ptr + j, step
            )  # fmt: skip
            if rc != 0:  # pragma: no cover - the arguments are checked above
                raise SensorioError(f"faults: native median refused a hop of {L}")
        self._mads_done |= todo

    def mad_floor(self, hop: int) -> Floats | None:
        """A lower bound of each channel's MAD of the one hop from stream
        row hop that hop_features left to finish_mads, from its counts (the
        median is at least the bracket's low end where no more than half
        the hop lies below it; -inf where that is not known); None when
        that hop is not the one left."""
        if self._mads is None or self._mads[0] != hop or hop not in self._mad_owner:
            return None
        count = self._mads[1][0, :, self._lib.SIO_DSP_FEAT_BR :]  # (below, kept, NaN or no room, values)
        L = self._mains_set[0]
        lo = self._mad_guesses[self._mad_owner.index(hop)][:, 0]
        known = (count[:, 0] <= L // 2) & (count[:, 2] == 0.0) & (count[:, 3] == L)
        return np.where(known, lo, -np.inf)

    def hop_spikes(
        self, rows: _Rows, a: int, m: int, L: int, before: Floats | None, first: int
    ) -> tuple[Floats, Floats]:
        """The median and the largest |second difference| of hp per hop over m
        hops of L rows from live row a (stream row first), each hop's last
        sample counted as 0 (before: the samples before row a, None: none;
        see FaultDetector._sd_stats for the numpy version): from what was
        worked out as the rows came when there is (see _spike_rows; the same
        bits; it read the same row before), else in one C call."""
        p = self._pointers(rows)
        ch = rows.ch
        # as the rows came, the hop before was read from the pending rows (a > 0) or was none
        if L == self._mains_set[0] and (a > 0 or before is None):
            got = _taken(self._sd_done, first, m, L)
            if got is not None:  # (hops, 2, channels)
                return np.ascontiguousarray(got[:, 0].T), np.ascontiguousarray(got[:, 1].T)
        if self._scratch.size < 2 * L:
            self._scratch = np.empty(2 * L)
            self._scratch_ptr = self._ffi.from_buffer("double[]", self._scratch)
        out, _, o, _ = self._out_buffers("spikes", 2, ch, m)
        ffi = self._ffi
        # (the cdata keeps its buffer alive through the call)
        first = ffi.NULL if before is None else ffi.from_buffer("double[]", np.ascontiguousarray(before, np.float64))
        rc = self._lib.sio_dsp_hop_spikes(
            ch, m, L, rows.cap, p["hp"] + rows.o + a, first, self._scratch_ptr, o, o + ch * m
        )
        if rc != 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"faults: native spike statistics refused {m} hops of {L}")
        return out[0], out[1]

    def learn_hop(
        self,
        det: _DetectorState,
        flags: tuple[Flags, Flags, Flags],
        figures: tuple[Floats, Floats, Floats, Floats, Floats, Floats],
    ) -> tuple[Floats, Floats, Floats, Floats] | None:
        """FaultDetector._learn of one hop in C (sio_dsp_learn_hop): flags
        (usable, judged, rest_ok) and figures (low_ms, share_low, peak,
        mad, llow, lpeak), (channels, 1) each. Moves det's learnt levels
        on and returns _learn's outputs; None, having moved nothing, on a
        channel's first judged hop (the caller's loop then runs). Not to be
        called on a channel's first rest hop (rest_ok, its rest not yet
        started: det._q_rest_set), whose start is the loop's: the caller
        checks it."""
        ffi = self._ffi
        self.learn_set(det)
        # the levels before the hop, as the loop's 10.0 ** q (numpy's pow)
        p_low, p_rest, p_peak, p_ref = (10.0**q for q in (det._q_low, det._q_low_rest, det._q_peak, det._q_peak_ref))
        ch = det._ch
        mfloor, peak_floor = np.empty(ch), np.empty(ch)

        def b(a: np.ndarray[Any, Any], kind: str = "double[]") -> Any:
            return ffi.from_buffer(kind, np.ascontiguousarray(a))

        rc = self._lib.sio_dsp_learn_hop(
            ch,
            self._learn_set,
            *(b(f, "uint8_t[]") for f in flags),
            b(det._q_low_set, "uint8_t[]"),
            *(b(f) for f in figures),
            b(p_low),
            b(p_rest),
            b(p_peak),
            *(ffi.from_buffer("double[]", q) for q in (det._q_low, det._q_low_rest, det._q_peak, det._q_peak_ref)),
            ffi.from_buffer("uint8_t[]", det._q_peak_set),
            ffi.from_buffer("double[]", mfloor),
            ffi.from_buffer("double[]", peak_floor),
        )
        if rc < 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"faults: native learning refused {ch} channels")
        if rc == 1:
            return None
        return p_low[:, None], peak_floor[:, None], p_ref[:, None], mfloor[:, None]

    def judge_hop(
        self,
        det: _DetectorState,
        g: int,
        flags: tuple[Flags, Flags, Flags, Flags, Flags | None, Flags | None],
        figures: tuple[Floats, Floats, Floats, Floats, Floats, Floats, Floats],
        logs: Floats,
        pows: Floats,
    ) -> tuple[Flags, Flags, Ints, Floats, Floats] | None:
        """FaultDetector._hop_conditions of one hop (g, its segment hop
        index) after the mains test, in C (sio_dsp_judge_hop): flags
        (blocked, live, mains, mains_sure, settling and spiked, None: none)
        and figures (hp_ms, low_ms, hf_ms, peak, mad, the spike statistics'
        median and largest), (channels, 1) each; logs (4, channels, 1):
        log10 of hf_ms, low_ms, peak and the spike statistics' largest, and
        pows (6, channels): 10 ** (2 q_hf), q_low, q_low_rest, q_peak,
        q_peak_ref, q_sd, numpy's both. Moves det's carried state
        on and returns its noise, mains (verdicts and their runs' first
        rows), motion floor and spike scale, (channels, 1) each; None,
        having moved nothing, when the reference's path must run (a motion
        candidate, a channel's first judged hop, first usable one or first
        rest hop)."""
        ffi = self._ffi
        ch = det._ch
        if self._judge is None:
            self.learn_set(det)
            js = ffi.new("sio_dsp_judge_set *")
            js.learn = self._learn_set[0]
            assert det._noise_share is not None  # (the caller's test)
            js.noise_share, js.noise_k2 = det._noise_share, NOISE_FLOOR_K**2
            js.ring_decay, js.ring_build = det._ring_decay, RING_BUILD
            js.early_hops = int(np.ceil(SETTLE_EARLY_S / det.hop_s - 1e-9))
            js.noise_hops, js.gap_hops = 4, 2
            js.mains_n, js.mains_sure_n = MAINS_RUN - 1, MAINS_SURE_RUN - 1
            js.mains_first, js.mains_sure_first = -(MAINS_RUN - 1) * det.hop, -(MAINS_SURE_RUN - 1) * det.hop
            self._judge = (js, ffi.new("sio_dsp_judge_in *"), ffi.new("sio_dsp_judge_state *"))
            # its outputs, made once: the caller reads them within the hop
            outs: tuple[Flags, Flags, Ints, Floats, Floats] = (
                np.empty((ch, 1), dtype=bool),
                np.empty((ch, 1), dtype=bool),
                np.empty((ch, 1), dtype=np.int64),
                np.empty((ch, 1)),
                np.empty((ch, 1)),
            )
            kinds = ("uint8_t[]", "uint8_t[]", "int64_t[]", "double[]", "double[]")
            self._judge_out = (outs, tuple(ffi.from_buffer(k, a) for k, a in zip(kinds, outs, strict=True)))
        js, ji, jst = self._judge

        def b(a: np.ndarray[Any, Any], kind: str = "double[]") -> Any:
            return ffi.from_buffer(kind, a)  # (contiguous: it refuses others)

        keep: list[np.ndarray[Any, Any]] = []  # the inputs stay alive through the call
        for name, flag in zip(("blocked", "live", "mains", "mains_sure", "settling", "spiked"), flags, strict=True):
            if flag is None:
                setattr(ji, name, ffi.NULL)
            else:
                keep.append(np.ascontiguousarray(flag))
                setattr(ji, name, b(keep[-1], "uint8_t[]"))
        for name, fig in zip(("hp_ms", "low_ms", "hf_ms", "peak", "mad", "sd_med", "sd_peak"), figures, strict=True):
            keep.append(np.ascontiguousarray(fig))
            setattr(ji, name, b(keep[-1]))
        ji.logs, ji.pows = b(logs), b(pows)
        ji.last_gap = b(det._last_gap_hop, "int64_t[]")
        hist, hist_sure = det._mains_hist
        floats: tuple[Floats, ...] = (det._q_hf, det._noise_ms, det._q_low, det._q_low_rest, det._q_peak)
        floats += (det._q_peak_ref, det._ring_ref, det._q_sd)
        ints = (det._last_noise_hop, det._settle_hops)
        flag_st = (
            det._q_low_set,
            det._q_hf_set,
            det._q_rest_set,
            det._q_peak_set,
            det._q_sd_set,
            det._motion_prev,
            det._motion_rising,
            hist,
            hist_sure,
        )
        state = floats + ints + flag_st
        if self._judge_state is None or any(map(operator.is_not, state, self._judge_state)):
            # pointed at again only when the numpy code has put new arrays
            # there (C moves them on in place)
            float_names = ("q_hf", "noise_ms", "q_low", "q_rest", "q_peak", "q_ref", "ring_ref", "q_sd")
            for name, a in zip(float_names, floats, strict=True):
                setattr(jst, name, b(a))
            jst.last_noise, jst.settle_hops = (b(a, "int64_t[]") for a in ints)
            flag_names = (
                "low_set",
                "hf_set",
                "rest_set",
                "peak_set",
                "sd_set",
                "motion_prev",
                "motion_rising",
                "mains_hist",
                "sure_hist",
            )
            for name, fl in zip(flag_names, flag_st, strict=True):
                setattr(jst, name, b(fl, "uint8_t[]"))
            self._judge_state = state
        outs, out_ptrs = self._judge_out
        rc = self._lib.sio_dsp_judge_hop(ch, g, js, ji, jst, *out_ptrs)
        if rc < 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"faults: native hop verdicts refused {ch} channels")
        if rc == 1:
            return None
        return outs  # (noise, mains, mains_first, motion floor, spike scale)

    def latch_hop(
        self,
        g: int,
        start: int,
        hysteresis: tuple[int, int],
        cond: Flags,
        was: Flags,
        rows: tuple[Ints | None, Ints | None],
        carry: dict[str, Ints],
    ) -> tuple[Flags, Flags, Flags, Ints, Ints, Ints]:
        """FaultDetector._latch of one hop (g, from stream row start) in C
        (sio_dsp_latch_hop): hysteresis (on, off) hops, cond (1, channels)
        the kind's condition, was the kind on before; rows its first and
        last flagged rows (1, channels; None: none). Moves carry's marks on
        in place; returns active, turn-on, turn-off, onset and flag (the
        carried marks) and the hops since the condition, (1, channels)."""
        ffi = self._ffi
        ch = cond.shape[1]
        out = np.empty((3, 1, ch), dtype=bool)
        clean = np.empty((1, ch), dtype=np.int64)
        first, last = (None if r is None else np.ascontiguousarray(r, dtype=np.int64) for r in rows)

        def b(a: np.ndarray[Any, Any] | None, kind: str = "int64_t[]") -> Any:
            return ffi.NULL if a is None else ffi.from_buffer(kind, a)

        marks = [carry[k] for k in ("lf", "lt", "onset", "flag")]  # (contiguous: C moves them on)
        rc = self._lib.sio_dsp_latch_hop(
            ch, g, start, *hysteresis, b(np.ascontiguousarray(cond), "uint8_t[]"), b(was, "uint8_t[]"),
            b(first), b(last), *(b(a) for a in marks), *(b(o, "uint8_t[]") for o in out), b(clean),
        )  # fmt: skip
        if rc != 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"faults: native hysteresis refused {ch} channels")
        return out[0], out[1], out[2], carry["onset"][None], carry["flag"][None], clean

    def mains_judge(
        self,
        det: _DetectorState,
        live: Flags,
        lhp: Floats,
        pow_rest: Floats,
        verdict: Flags,
        mains: Floats,
        total: Floats,
    ) -> Flags:
        """FaultDetector._mains' floor and verdict of one hop in C
        (sio_dsp_mains_judge): live, the hop's log10(hp_ms) and 10 ** the
        quiet level (numpy's), the projection's verdict, the hum's mean
        square and the two hops' total, (channels, 1) each. Moves det's quiet
        level on; returns the verdict."""
        ffi = self._ffi
        if self._mains_judge_set is None:
            st = self._mains_judge_set = ffi.new("sio_dsp_mains_set *")
            st.mains_uv, st.floor_k, st.learn_up, st.learn_up99 = det.mains_uv, MAINS_FLOOR_K, LEARN_UP, LEARN_UP / 99.0
            st.line_contrast, st.alone_contrast = det._line_contrast, MAINS_ALONE_CONTRAST
            st.alone_share, st.alone_ms = MAINS_ALONE, MAINS_ALONE_UV**2
        out = np.empty(live.shape, dtype=bool)
        # (the cdata keep their buffers alive through the call)
        rc = self._lib.sio_dsp_mains_judge(
            det._ch, self._mains_judge_set, ffi.from_buffer("uint8_t[]", np.ascontiguousarray(live)),
            ffi.from_buffer("double[]", np.ascontiguousarray(lhp)),
            ffi.from_buffer("double[]", np.ascontiguousarray(pow_rest)),
            ffi.from_buffer("uint8_t[]", np.ascontiguousarray(verdict)),
            ffi.from_buffer("double[]", np.ascontiguousarray(mains)),
            ffi.from_buffer("double[]", np.ascontiguousarray(total)),
            ffi.from_buffer("double[]", det._q_hp_rest), ffi.from_buffer("uint8_t[]", out),
        )  # fmt: skip
        if rc != 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"faults: native mains floor refused {det._ch} channels")
        return out

    def learn_set(self, det: _DetectorState) -> None:
        """The settings of sio_dsp_learn_hop, made once (_learn_set)."""
        if self._learn_set is not None:
            return
        st = self._learn_set = self._ffi.new("sio_dsp_learn_set *")
        st.motion_uv, st.motion_rel, st.motion_loud_rel = det.motion_uv, det.motion_rel, det.motion_loud_rel
        st.motion_share, st.motion_loud_share = det.motion_share, det.motion_loud_share
        st.spike_rel, st.spike_own = det.spike_rel, det.spike_k * 1.4826
        st.floor_k, st.learn_up, st.learn_down, st.learn_rise = MOTION_FLOOR_K, LEARN_UP, LEARN_UP / 9.0, LEARN_RISE

    def _out_buffers(self, name: str, k: int, ch: int, m: int) -> tuple[Floats, Flags, Any, Any]:
        """Reused outputs of a C call for m hops: (k, ch, m) doubles, (ch, m)
        flags and their pointers (the caller reads them before the next call)."""
        outs = self._outs.get((name, m))
        if outs is None:
            values, flags = np.empty((k, ch, m)), np.empty((ch, m), dtype=bool)
            ffi = self._ffi
            outs = self._outs[(name, m)] = (
                values,
                flags,
                ffi.from_buffer("double[]", values),
                ffi.from_buffer("uint8_t[]", flags),
            )
        return outs

    def _mains_rows(self, rows: _Rows, at: int, n: int, start: int) -> None:
        """The mains projection of n new rows (from index at of rows, stream
        row start) hop by hop, on the hops from the first row the front end
        ran on; the verdict of each hop completed is kept for
        mains_verdicts. The rows' high-passed values are final once the
        front end has run on them."""
        if self._mains_origin is None:
            self._mains_origin = start
        L, k, split, scale, min_ms, min_share = self._mains_set
        hp = self._pointers(rows)["hp"]
        best, total, verdict = self._mains_out_ptrs
        i = 0
        while i < n:
            pos = (start + i - self._mains_origin) % L
            take = min(n - i, L - pos)
            rc = self._lib.sio_dsp_mains_acc(
                rows.ch,
                take,
                rows.cap,
                hp + at + i,
                L,
                pos,
                self._mains_basis_ptr,
                k,
                split,
                scale,
                min_ms,
                min_share,
                self._mains_acc_ptr,
                best,
                total,
                verdict,
            )
            if rc < 0:  # pragma: no cover - the arguments are checked above
                raise SensorioError(f"faults: native mains projection refused {take} rows")
            i += take
            if rc == 1:
                # one array (verdict as 0/1, mean square, total): one stored item per hop
                kept = np.empty((3, rows.ch))
                kept[0] = self._mains_out[2]
                np.multiply(self._mains_out[0], scale, out=kept[1])
                kept[2] = self._mains_out[1]
                self._mains_done[start + i - L] = kept

    def _feature_rows(self, rows: _Rows, at: int, n: int, start: int) -> None:
        """hop_features' sums of n new rows (from index at of rows, stream
        row start), hop by hop on the grid of _mains_rows; the sums of each
        hop completed are kept for hop_features, which then only finishes
        them (the median and the variance need the whole hop)."""
        L = self._mains_set[0]
        assert self._mains_origin is not None  # set by _mains_rows
        live = start - (at - rows.o)  # the stream row of the first live row
        for done in (self._feat_done, self._sd_done):
            for key in [g for g in done if g < live]:
                del done[key]  # hops output without their sums read
        p = self._pointers(rows)
        i = 0
        while i < n:
            pos = (start + i - self._mains_origin) % L
            take = min(n - i, L - pos)
            hop0 = at + i - pos  # the hop's first row (pending: its hop is not output yet)
            null = self._ffi.NULL
            rc = self._lib.sio_dsp_hop_features_acc(
                rows.ch,
                L,
                pos,
                pos + take,
                rows.cap,
                p["data"] + hop0,
                p["hp"] + hop0,
                p["low"] + hop0,
                p["codes"] + hop0,
                self._feat_acc_ptr,
                null,  # (the median's counts: below)
                null,
                null,
            )
            if rc != 0:  # pragma: no cover - the arguments are checked above
                raise SensorioError(f"faults: native hop sums refused rows {pos}..{pos + take} of {L}")
            self._mad_rows(rows, hop0, pos, take, start + i - pos)
            self._spike_rows(rows, hop0, pos + take, start + i - pos)
            i += take
            if pos + take == L:
                self._feat_done[start + i - L] = self._feat_acc.copy()
                # the guess moves on from the hop's counts, before the next
                # hop's snapshot (a finish, if one is taken, then places it)
                lib = self._lib
                rc = lib.sio_dsp_br_track(
                    rows.ch, L, self._feat_acc_ptr + lib.SIO_DSP_FEAT_BR, lib.SIO_DSP_FEAT_ACC, self._br_guess_ptrs[0]
                )
                if rc != 0:  # pragma: no cover - the arguments are checked above
                    raise SensorioError(f"faults: native guess refused a hop of {L}")
                self._feat_acc[:] = 0.0
                self._mad_cur = 1 - self._mad_cur  # (the next hop's mid)

    def _mad_rows(self, rows: _Rows, hop0: int, pos: int, take: int, first: int) -> None:
        """Count rows [pos, pos + take) of the hop at index hop0 of rows
        (stream row first) for its median of |hp| (sio_dsp_br_count, into
        the hop's sums): against the guess as it was at the hop's start, into
        the mid that the hop before did not use."""
        lib = self._lib
        if pos == 0:
            self._mad_guesses[self._mad_cur][:] = self._br_guess[0]
            self._mad_owner[self._mad_cur] = first
        rc = lib.sio_dsp_br_count(
            rows.ch, take, rows.cap, self._pointers(rows)["hp"] + hop0 + pos, 1, self._mains_set[0],
            self._feat_acc_ptr + lib.SIO_DSP_FEAT_BR, lib.SIO_DSP_FEAT_ACC, self._mad_mid_ptrs[self._mad_cur],
            self._mad_guess_ptrs[self._mad_cur],
        )  # fmt: skip
        if rc != 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"faults: native median counts refused rows {pos}..{pos + take}")

    def _spike_rows(self, rows: _Rows, hop0: int, avail: int, first: int) -> None:
        """hop_spikes' |second difference| of the hop at index hop0 of rows
        (stream row first) whose first avail rows are there: every row whose
        neighbour after it is there; at the hop's end its median and largest
        (kept for hop_spikes). Its first row reads the row before, pending
        but at the stream's start (none there)."""
        L = self._mains_set[0]
        if self._sd_rows == 0:
            # the row before the hop: pending, or nothing at the stream's start
            self._sd_ok = hop0 > rows.o or first == self._mains_origin
        upto = L if avail == L else avail - 1
        if upto > self._sd_rows and self._sd_ok:
            rc = self._lib.sio_dsp_hop_spikes_acc(
                rows.ch,
                L,
                self._sd_rows,
                upto,
                rows.cap,
                self._pointers(rows)["hp"] + hop0,
                hop0 > rows.o,
                self._sd_buf_ptr,
                self._sd_count_ptr,
                *self._sd_br,
            )
            if rc != 0:  # pragma: no cover - the arguments are checked above
                raise SensorioError(f"faults: native spike sums refused rows {self._sd_rows}..{upto} of {L}")
        self._sd_rows = max(self._sd_rows, upto)
        if avail == L:
            if self._sd_ok:
                if self._scratch.size < 2 * L:
                    self._scratch = np.empty(2 * L)
                    self._scratch_ptr = self._ffi.from_buffer("double[]", self._scratch)
                got = np.empty((2, rows.ch))  # (median, largest): one stored item per hop
                got_ptr = self._ffi.from_buffer("double[]", got)
                rc = self._lib.sio_dsp_hop_spikes_end(
                    rows.ch, L, self._sd_buf_ptr, self._scratch_ptr, got_ptr, got_ptr + rows.ch,
                    self._sd_count_ptr, *self._sd_br,
                )  # fmt: skip
                if rc != 0:  # pragma: no cover - the arguments are checked above
                    raise SensorioError(f"faults: native spike statistics refused a hop of {L}")
                self._sd_done[first] = got
            self._sd_rows = 0

    def _signal_rows(self, rows: _Rows, at: int, n: int, start: int) -> None:
        """The spike test's signal (features.spike_signal, as
        FaultDetector._spike_signal gives it) of the rows whose neighbour
        after them is there, into the rows' "sd", as n new rows (from index
        at of rows, stream row start) come; each reads the row before it,
        pending (or none at the stream's start)."""
        end = start + n - 1  # the last new row waits for the one after it
        lo, hi = self._sig if self._sig is not None else (start, start)
        live = start - (at - rows.o)  # the stream row of the first live row
        r0 = hi
        if r0 != self._mains_origin and r0 - 1 < live:
            r0 = lo = live + 1  # the row before is output: start after it
        if r0 >= end:
            self._sig = (lo, max(hi, r0))
            return
        p = self._pointers(rows)
        idx = at + (r0 - start)
        ffi = self._ffi
        if r0 == self._mains_origin:
            before = ok_before = ffi.NULL
        else:  # (the cdata keep their buffers alive through the call)
            before = ffi.from_buffer("double[]", np.ascontiguousarray(rows.array("hp")[:, idx - 1]))
            ok_before = ffi.from_buffer("uint8_t[]", np.ascontiguousarray(rows.array("hard_ok")[:, idx - 1]))
        rc = self._lib.sio_dsp_spike_signal(
            rows.ch,
            end - r0,
            rows.cap,
            p["hp"] + idx,
            p["hard_ok"] + idx,
            1,
            before,
            ok_before,
            self._sig_second,
            p["sd"] + idx,
        )
        if rc != 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"faults: native spike signal refused {end - r0} rows")
        self._sig = (lo, end)

    def mains_verdicts(self, first: int, m: int, L: int) -> tuple[Flags, Floats, Floats] | None:
        """sio_dsp_mains' verdicts (the share test; the floor is the
        caller's), the hum's mean square and the two hops' (uV^2),
        (channels, hops) each, of
        the m hops of L rows from stream row first, as worked out while their
        rows came (see _mains_rows); None unless every one of them was (a
        hop of another length, or not on that grid: the caller projects them
        itself). Those hops and any before them are forgotten."""
        done = self._mains_done
        got = _taken(done, first, m, L) if L == self._mains_set[0] else None
        for key in [g for g in done if g < first + m * L]:
            del done[key]
        if got is None:
            return None
        # (hops, 3, channels): the verdicts were stored as 0/1 doubles
        return got[:, 0].T != 0.0, np.ascontiguousarray(got[:, 1].T), np.ascontiguousarray(got[:, 2].T)

    def mains(
        self, rows: _Rows, a: int, m: int, L: int, prev: Floats | None, det: _DetectorState
    ) -> tuple[Floats, Floats, Flags]:
        """FaultDetector._mains_numpy in C, for m hops of L rows from live row
        a (prev: the hop before, None when it is pending too), and the verdict
        of FaultDetector._mains: (best, total, verdict), (channels, hops) each."""
        p = self._pointers(rows)
        ch = rows.ch
        ffi = self._ffi
        if prev is None:
            prev_ptr, prev_stride = p["hp"] + rows.o + a - L, rows.cap
        else:
            prev = np.ascontiguousarray(prev, dtype=np.float64)
            prev_ptr, prev_stride = ffi.from_buffer("double[]", prev), L
        out, verdict, o, verdict_ptr = self._out_buffers("mains", 2, ch, m)
        fam = det._families
        split = fam[0][1] if fam else 0
        if self._basis_src is not det._basis:
            self._basis_src = det._basis
            self._basis_ptr = ffi.from_buffer("double[]", det._basis)
        rc = self._lib.sio_dsp_mains(
            ch,
            m,
            L,
            rows.cap,
            p["hp"] + rows.o + a,
            prev_ptr,
            prev_stride,
            self._basis_ptr,
            det._n_freq,
            split,
            det._ms_scale,
            0.0,  # the floor is the detector's, per channel (features._mains_floor)
            det.mains_share,
            o,
            o + ch * m,
            verdict_ptr,
        )
        if rc != 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"faults: native mains projection refused {m} hops of {L}")
        return out[0], out[1], verdict

    def hop_mask(
        self, rows: _Rows, F: _Hops, n_dec: int, n: int, det: _DetectorState, spike_signal: Floats | None
    ) -> tuple[Flags, Flags | None, int]:
        """The output mask of the first n_dec pending hops (n rows; without
        the spikes), and the spike test (None without hits), (rows, channels)
        each; and the number of hits (see FaultDetector._decide, _spike_threshold and _spike_test
        for the numpy version). F: the features of the pending hops;
        spike_signal: what the spike test reads of the n rows (None: computed
        here in C, see spike_signal)."""
        p = self._pointers(rows)
        ch = rows.ch
        ffi = self._ffi
        h = self._hop_pointers(F)
        o = F.o * ch
        if self._mask_scratch.shape[0] < n_dec:
            self._mask_scratch = np.empty((2 * n_dec, ch))
            self._mask_scratch_ptr = ffi.from_buffer("double[]", self._mask_scratch)
            self._bad_scratch = np.empty((2 * n_dec, ch), dtype=bool)
            self._bad_scratch_ptr = ffi.from_buffer("uint8_t[]", self._bad_scratch)
        if self._hit_scratch.size < ch * n:
            self._hit_scratch = np.empty(2 * ch * n, dtype=bool)
            self._hit_scratch_ptr = ffi.from_buffer("uint8_t[]", self._hit_scratch)
        valid_out = np.empty((n, ch), dtype=bool)
        prev_mad = det._prev_mad
        at = rows.o
        sig = self._sig
        far = ffi.NULL
        if spike_signal is None and sig is not None and sig[0] <= det._pend_start and det._pend_start + n <= sig[1]:
            sd_ptr = p["sd"] + at  # worked out as the rows came (see _signal_rows)
            far = h["far"] + o  # on these rows, where known (see hop_far)
        else:
            # the spike signal laid out as the pending rows are (same stride)
            if self._sd_scratch.shape != (ch, rows.cap):
                self._sd_scratch = np.empty((ch, rows.cap))
                self._sd_scratch_ptr = ffi.from_buffer("double[]", self._sd_scratch)
            sd_ptr = self._sd_scratch_ptr + at
            if spike_signal is not None:
                self._sd_scratch[:, at : at + n] = spike_signal
            else:
                self.spike_signal(rows, n, det, sd_ptr)
        n_live = len(F)
        # quiet rows (see quiet_from): their flags are known, C reads none
        if det._pend_start >= self.quiet_from:
            flags = (ffi.NULL,) * 5
        else:
            flags = tuple(p[k] + at for k in ("valid", "rail", "blank", "leadoff", "hard_ok"))
        hits = self._lib.sio_dsp_hop_mask(
            ch,
            n_dec,
            h["lens"] + F.o,
            rows.cap,
            *flags,
            sd_ptr,
            h["cond"] + o,
            n_live,
            h["active"] + o,
            h["mad"] + o,
            n_live,
            ffi.NULL if prev_mad is None else ffi.from_buffer("double[]", prev_mad),
            h["med"] + o if F.med_nonzero else ffi.NULL,
            h["blocked"] + o,
            far,
            det.spike_k,
            det._spike_min,
            "saturation" in det.mask_kinds,
            bool(det.blank),
            "leadoff" in det.mask_kinds,
            self._mask_scratch_ptr,
            self._bad_scratch_ptr,
            ffi.from_buffer("uint8_t[]", valid_out),
            self._hit_scratch_ptr,
            self._n_invalid,
        )
        if hits < 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"faults: native output mask refused {n_dec} hops")
        #: outputs left invalid by the last call (spikes aside)
        self.n_invalid = int(self._n_invalid[0])
        # the hits stay in the scratch until the next call (read before it)
        return valid_out, self._hit_scratch[: ch * n].reshape(ch, n).T if hits else None, hits

    def _hop_pointers(self, F: _Hops) -> dict[str, Any]:
        """Pointers to the undecided hops' arrays (renewed when they grow)."""
        if self._hops_gen != (id(F), F.generation):
            self._hops_gen = (id(F), F.generation)
            ffi = self._ffi
            kinds = {
                "cond": "uint8_t *",
                "active": "uint8_t *",
                "blocked": "uint8_t *",
                "mad": "double *",
                "med": "double *",
                "far": "double *",
                "lens": "int64_t *",
            }
            self._hops_ptrs = {k: ffi.cast(t, ffi.from_buffer(F.array(k))) for k, t in kinds.items()}
        return self._hops_ptrs

    def hop_far(self, rows: _Rows, F: _Hops, det: _DetectorState) -> None:
        """Each undecided hop's largest |spike signal - median| (F's "far",
        sio_dsp_hop_far), where not known yet and the hop's spike signal is
        in the rows' "sd" (see _signal_rows): for hop_mask, which then reads
        none of a hop's rows on a channel where nothing is beyond the
        threshold. Its rows and median are known a hop before the block
        that decides it: called on a block that completes no hop, it takes
        that work off the dearest one (the same output)."""
        sig = self._sig
        if sig is None or not len(F):
            return
        far, lens = F["far"], F["lens"]
        h = self._hop_pointers(F)
        sd = self._pointers(rows)["sd"]
        ch = rows.ch
        a = 0
        for j in range(len(F)):
            L = int(lens[j])
            first = det._pend_start + a
            if far[j, 0] < 0.0 and sig[0] <= first and first + L <= sig[1]:
                at = (F.o + j) * ch
                rc = self._lib.sio_dsp_hop_far(ch, L, rows.cap, sd + rows.o + a, h["med"] + at, h["far"] + at)
                if rc != 0:  # pragma: no cover - the arguments are checked above
                    raise SensorioError(f"faults: native largest deviations refused a hop of {L}")
            a += L

    def spike_signal(self, rows: _Rows, n: int, det: _DetectorState, out: Any) -> None:
        """features.spike_signal of the first n pending rows as
        FaultDetector._spike_signal gives it, in C: written channel-major
        with the pending rows' stride from the pointer out."""
        p = self._pointers(rows)
        ffi = self._ffi
        at = rows.o
        back = det._hp_back.shape[1] > 0
        # (the cdata keep their buffers alive through the call)
        before = ffi.from_buffer("double[]", np.ascontiguousarray(det._hp_back[:, -1])) if back else ffi.NULL
        ok_before = ffi.from_buffer("uint8_t[]", np.ascontiguousarray(det._ok_back[:, -1])) if back else ffi.NULL
        rc = self._lib.sio_dsp_spike_signal(
            rows.ch,
            n,
            rows.cap,
            p["hp"] + at,
            p["hard_ok"] + at,
            n < len(rows),
            before,
            ok_before,
            det._rate >= SPIKE_SD_MIN_HZ,
            out,
        )
        if rc != 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"faults: native spike signal refused {n} rows")

    def _pointers(self, rows: _Rows) -> dict[str, Any]:
        """Pointers to the pending-row arrays (renewed when they grow)."""
        if self._ptr_gen != rows.generation:
            kinds = {np.float64: "double *", np.bool_: "uint8_t *", np.int32: "int32_t *"}
            ffi = self._ffi
            self._ptrs = {k: ffi.cast(kinds[t], ffi.from_buffer(rows.array(k))) for k, t in ROW_FIELDS.items()}
            self._ptr_gen = rows.generation
        return self._ptrs

    def run(self, block: SignalBlock, rows: _Rows, defer: bool = False) -> None:
        """Append the block's rows to rows, with their flags and features. With
        defer, a block of fewer than DEFER_BELOW samples may wait for
        catch_up, whole (rows counts it in waiting): small blocks then go into
        rows together and the front end runs on more rows at once (their rows
        are not looked at before a hop is complete). A bigger block runs at
        once, so the front end's cost is spread over a hop's blocks instead of
        landing on the one that completes the hop."""
        defer = defer and block.data.size < DEFER_BELOW
        codes = block.codes
        lo = block.leadoff
        if lo is not None and _any(lo):
            lo = np.ascontiguousarray(lo, dtype=np.uint64)
        else:
            lo = None
        key = None if codes is None else (block.code_range, block.code_zero)
        pending = self._todo_n + self.waiting
        if (
            defer
            and lo is None
            and (not pending or (block.start == self._todo_start + pending and key == self._todo_key))
        ):
            if not pending:
                self._todo_start, self._todo_key = block.start, key
            self._waiting.append(block)
            self.waiting += len(block)
            return
        if pending:
            self.catch_up(rows)  # what waits goes first, with the settings it came with
        self._todo_start, self._todo_key = block.start, key
        self._put(rows, block.data, block.valid, codes, block)
        self.catch_up(rows, lo)

    def _put(
        self,
        rows: _Rows,
        x: Floats,
        valid: Flags,
        codes: NDArray[np.int32] | None,
        block: SignalBlock,
    ) -> None:
        """Copy rows of data, validity and codes (with block's code settings)
        into rows; their flags wait for catch_up."""
        st = self._st
        n, ch = x.shape
        at = rows.reserve(n)
        end = at + n
        p = self._pointers(rows)
        ffi = self._ffi
        srcs = (
            _strided(ffi, x, "double[]", np.float64),
            _strided(ffi, valid, "uint8_t[]", np.bool_),
            _strided(ffi, codes, "int32_t[]", np.int32) if codes is not None else (ffi.NULL, 1, 1),
        )
        strided = None not in srcs
        if strided:  # the usual block: copied by C, in tiles
            (xp, x_rs, x_cs), (vp, v_rs, v_cs), (kp, k_rs, k_cs) = srcs  # type: ignore[misc]
            rc = self._lib.sio_dsp_rows_put(
                n, ch, rows.cap, xp, x_rs, x_cs, vp, v_rs, v_cs, kp, k_rs, k_cs,
                p["data"] + at, p["valid"] + at, p["codes"] + at,
            )  # fmt: skip
            if rc != 0:  # pragma: no cover - the arguments are checked above
                raise SensorioError(f"faults: native copy refused a block of {n} x {ch}")
        else:
            rows.array("data")[:, at:end] = x.T
            rows.array("valid")[:, at:end] = valid.T
            if codes is not None:
                rows.array("codes")[:, at:end] = codes.T
        if codes is None:
            rows.array("codes")[:, at:end] = 0
        elif (block.code_range, block.code_zero) != self._code_key:
            self._code_key = (block.code_range, block.code_zero)
            st.has_range = int(block.code_range is not None)
            if block.code_range is not None:
                st.code_lo, st.code_hi = (int(v) for v in block.code_range)
            z = float(block.code_zero)
            st.has_zero = int(z.is_integer() and -(2**31) <= z < 2**31)
            st.code_zero = int(z) if st.has_zero else 0
        rows.n = end
        start = self._todo_start + self._todo_n
        if strided:
            self._stage(srcs, n, ch, start)  # type: ignore[arg-type]
        else:
            self._staged.clear()  # (the output copies its rows)
        self._todo_n += n

    def _stage(self, srcs: tuple[tuple[Any, int, int], ...], n: int, ch: int, start: int) -> None:
        """Copy a block of n rows (stream row start; srcs: its data,
        validity and codes as sio_dsp_rows_put reads them) into its hops'
        output arrays too (see take_staged): a block smaller than a hop,
        while it is in the cache, instead of the hop's rows all at once on
        the block that completes the hop. A hop whose rows did not all come
        so is not kept."""
        hop = self._stage_hop
        if n >= hop:  # a big block: the output copies its rows (one copy, not two)
            self._staged.clear()
            return
        if self._stage_origin is None:
            self._stage_origin = start  # the segment's first row: hops start there
        ffi = self._ffi
        if self._stage_valid is None:  # (what the copy writes of the validity: not read)
            self._stage_valid = np.empty((ch, hop), dtype=bool)
            self._stage_valid_ptr = ffi.from_buffer("uint8_t[]", self._stage_valid)
        (x, x_rs, x_cs), (v, v_rs, v_cs), (k, k_rs, k_cs) = srcs
        r = start
        while r < start + n:
            h = self._stage_origin + (r - self._stage_origin) // hop * hop
            z = min(start + n, h + hop)
            got = self._staged.get(h)
            if got is None and r == h:
                data, codes = np.empty((ch, hop)), np.empty((ch, hop), np.int32)
                if k == ffi.NULL:
                    codes[:] = 0  # (no codes: the pending rows' are 0)
                got = self._staged[h] = [data, codes, 0, ffi.from_buffer("double[]", data)]
                got.append(ffi.from_buffer("int32_t[]", codes))
            if got is not None and got[2] == r - h:
                a, o = r - start, r - h
                rc = self._lib.sio_dsp_rows_put(
                    z - r, ch, hop, x + a * x_rs, x_rs, x_cs, v + a * v_rs, v_rs, v_cs,
                    k if k == ffi.NULL else k + a * k_rs, k_rs, k_cs,
                    got[3] + o, self._stage_valid_ptr + o, got[4] + o,
                )  # fmt: skip
                if rc != 0:  # pragma: no cover - the arguments are checked above
                    raise SensorioError(f"faults: native copy refused {z - r} rows x {ch}")
                got[2] = z - h
            else:
                self._staged.pop(h, None)  # not every row of it: the output copies them
            r = z

    def take_staged(self, start: int, n: int) -> tuple[Floats, NDArray[np.int32]] | None:
        """The output's data and codes, (rows, channels) in channel-major
        memory, of the n pending rows from stream row start when they are
        one hop staged whole as their rows came (see _stage); None else.
        Those hops and any before them are forgotten."""
        got = self._staged.pop(start, None)
        for h in [h for h in self._staged if h < start + n]:
            del self._staged[h]
        if got is None or got[2] != n or n != self._stage_hop:
            return None
        return got[0].T, got[1].T

    def catch_up(self, rows: _Rows, leadoff: NDArray[np.uint64] | None = None) -> None:
        """Flags and features of the rows that wait (leadoff: their lead-off
        bitmasks, None: none); the blocks that wait go into rows first."""
        if self._waiting:
            blocks = self._waiting
            one = blocks[0]
            if len(blocks) == 1:
                x, valid, codes = one.data, one.valid, one.codes
            else:
                x = np.concatenate([b.data for b in blocks])
                valid = np.concatenate([b.valid for b in blocks])
                codes = None if one.codes is None else np.concatenate([b.codes for b in blocks])
            self._waiting = []
            self.waiting = 0
            self._put(rows, x, valid, codes, one)
        n = self._todo_n
        if not n:
            return
        ch = rows.ch
        at = rows.o + len(rows) - n
        p = self._pointers(rows)
        ffi = self._ffi
        start = self._todo_start
        rc = self._lib.sio_dsp_front_run(
            self._st,
            n,
            ch,
            rows.cap,
            start,
            p["data"] + at,
            p["valid"] + at,
            ffi.NULL if self._todo_key is None else p["codes"] + at,
            ffi.NULL if leadoff is None else ffi.from_buffer("uint64_t[]", leadoff),
            p["hard_ok"] + at,
            p["rail"] + at,
            p["leadoff"] + at,
            p["blank"] + at,
            p["settle"] + at,
            p["spiky"] + at,
            p["zero"] + at,
            p["hp"] + at,
            p["low"] + at,
        )
        if rc < 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"faults: native front end refused {n} rows x {ch}")
        self._mains_rows(rows, at, n, start)
        self._feature_rows(rows, at, n, start)
        self._signal_rows(rows, at, n, start)
        self._todo_n = 0
        if rc != 1:  # not known to be quiet
            self.quiet_from = start + n


def _taken(done: dict[int, Floats], first: int, m: int, L: int) -> Floats | None:
    """The items of done (one array per hop) of the m hops of L rows from
    stream row first, taken out of it and stacked (hops, ...); None, done
    untouched, unless every one is there. One hop (the usual) is a view:
    no list, no copy."""
    if m == 1:
        got = done.pop(first, None)
        return None if got is None else got[None]
    keys = [first + j * L for j in range(m)]
    if not all(k in done for k in keys):
        return None
    return np.stack([done.pop(k) for k in keys])


def _strided(ffi: Any, a: np.ndarray[Any, Any], kind: str, dtype: Any) -> tuple[Any, int, int] | None:
    """A C- or Fortran-ordered (rows, channels) array as (pointer, row step,
    column step) in elements, for sio_dsp_rows_put; None for other layouts."""
    if a.dtype != dtype:
        return None
    if a.flags.c_contiguous:
        return ffi.from_buffer(kind, a), a.shape[1], 1
    if a.flags.f_contiguous:
        return ffi.from_buffer(kind, a.T), 1, a.shape[0]
    return None


def _native_available() -> bool:
    """Whether the C core is built and has the fault detector's front end."""
    return native_with("sio_dsp_front_run")[1] is not None
