"""Per-channel sensor-fault detection, with hysteresis, a health state per
channel, fault events and a per-sample validity mask.

How it decides. The signal is cut into hops of ``hop_s`` (50 ms), aligned on
the stream's sample clock. Some conditions are known per sample and masked
exactly: samples at or beyond the device rails (``saturation``, plus
``blank_s`` of recovery after each), the device's lead-off flag (``leadoff``),
filled gaps (``dropout``, from the link events) and ``spikes`` (samples of
the 20 Hz high-passed signal further than ``spike_k`` robust sigmas -- 1.4826
x the median absolute deviation -- from the median, sigma taken as the
larger of the two neighbouring hops', so a contraction's onset is not a
spike and a spike's own pulse and high-pass tail do not hide it). Others are
properties of a hop: ``stuck`` (every code identical), ``flat`` (standard
deviation below ``flat_uv``, or exactly the zero code), ``motion`` (power of
the 1-20 Hz band above ``motion_uv`` RMS and above ``motion_share`` of the
power, measured before a run of identical codes at the hop's end: a stuck
code's step rings in that band), ``noise`` (broadband noise: white-noise power
estimated from the third difference, which EMG -- well below Nyquist --
hardly reaches, above ``noise_uv`` RMS and ``noise_share`` of the 20 Hz
high-passed power; at rates where EMG reaches Nyquist the share asked for
rises, see noise_share_limit, and below about 1 kHz the test is off) and ``mains`` (50/60 Hz and harmonics above
``mains_uv`` RMS and half the high-passed power, projected over two hops).

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
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import signal

from ..blocks import EV_GAP, SignalBlock
from ..errors import SensorioError
from .filters import SosState
from .stages import DspEvent, Stage, apply_policy, last_valid, register_stage

#: fault kinds, in the order they are reported
KINDS = ("leadoff", "saturation", "stuck", "flat", "spikes", "motion", "noise", "mains", "dropout")
#: (on, off) hysteresis in hops for the hop-level kinds
HYSTERESIS = {
    "leadoff": (1, 2),
    "saturation": (1, 2),
    "stuck": (1, 2),
    "flat": (2, 2),
    "motion": (1, 4),
    "noise": (2, 3),
    "mains": (4, 10),
}
HOP_KINDS = tuple(HYSTERESIS)
DEFAULT_MASK = ("leadoff", "saturation", "stuck", "flat", "spikes", "motion", "noise", "dropout")


_NEG = -(1 << 62)

#: the share of broadband-noise power a clean hop of EMG may show, as a multiple
#: of what the reference EMG spectrum gives on average (a 50 ms hop's estimate
#: spreads widely, and muscles differ): chosen so that clean emulated EMG at
#: 1 kHz, bluer than the reference, stays below it
NOISE_SHARE_MARGIN = 6.0
#: above this share, white noise itself is not told apart: no noise verdicts
NOISE_SHARE_MAX = 0.8
#: the learnt levels' step up per hop, log10 (0.05: x1.12; down 1/9 of it)
LEARN_UP = 0.05


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
    limit = max(base, NOISE_SHARE_MARGIN * emg_noise_share(fs))
    return limit if limit <= NOISE_SHARE_MAX else None


ROW_FIELDS = {
    "data": np.float64,
    "valid": np.bool_,
    "codes": np.int32,
    "hard_ok": np.bool_,
    "rail": np.bool_,
    "leadoff": np.bool_,
    "blank": np.bool_,
    "settle": np.bool_,
    "spiky": np.bool_,
    "zero": np.bool_,
    "hp": np.float64,
    "low": np.float64,
}


class _SpareRoom:
    """Items (rows or hops) along one axis of a set of arrays, with spare
    room: the live items are [o, n) on that axis; appending and dropping the
    items already used cost no re-allocation (the live ones move to the front
    only when the room at the end runs out)."""

    #: the item axis of every array, and the smallest capacity allocated
    AXIS = 0
    MIN_CAP = 64

    def __init__(self, ch: int) -> None:
        self.ch = ch
        self._a: dict[str, np.ndarray] = {}
        self.o = 0
        self.n = 0
        self.cap = 0
        #: bumped whenever the arrays are re-allocated (pointers into them go stale)
        self.generation = 0
        self._lead = (slice(None),) * self.AXIS

    def _allocate(self, cap: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _items(self, arr: np.ndarray, start: int, stop: int) -> np.ndarray:
        return arr[(*self._lead, slice(start, stop))]

    def __len__(self) -> int:
        return self.n - self.o

    def reserve(self, m: int) -> int:
        """Room for m more items; returns the index where they go."""
        if self.n + m > self.cap:
            live = self.n - self.o
            # grow when the live items and the new ones would fill more than 3/4
            # (moving the live ones to the front then stays rare); at twice
            # that, not more: fresh memory costs a page fault per 4 KiB
            if 4 * (live + m) > 3 * self.cap or not self._a:
                cap = max(2 * (live + m), self.MIN_CAP)
                grown = self._allocate(cap)
                for k, old in self._a.items():
                    self._items(grown[k], 0, live)[...] = self._items(old, self.o, self.n)
                self._a, self.cap = grown, cap
                self.generation += 1
            else:
                for arr in self._a.values():
                    self._items(arr, 0, live)[...] = self._items(arr, self.o, self.n).copy()
            self.o, self.n = 0, live
        return self.n

    def array(self, name: str) -> np.ndarray:
        """The whole storage of a field."""
        return self._a[name]

    def drop(self, items: int) -> None:
        self.o += items


class _Rows(_SpareRoom):
    """Pending samples, stored channel-major: (channels, capacity) arrays."""

    AXIS = 1
    MIN_CAP = 4096

    def _allocate(self, cap: int) -> dict[str, np.ndarray]:
        return {k: np.empty((self.ch, cap), t) for k, t in ROW_FIELDS.items()}

    def append(self, new: dict[str, np.ndarray]) -> None:
        """new: name -> (channels, rows) arrays, every field."""
        m = next(iter(new.values())).shape[1]
        at = self.reserve(m)
        for k, v in new.items():
            self._a[k][:, at : at + m] = v
        self.n += m

    def __getitem__(self, name: str) -> np.ndarray:
        """(rows, channels) view."""
        return self._a[name][:, self.o : self.n].T

    def cm(self, name: str) -> np.ndarray:
        """(channels, rows) view."""
        return self._a[name][:, self.o : self.n]


HOP_FIELDS = {
    "cond": np.bool_,
    "active": np.bool_,
    "blocked": np.bool_,
    "mad": np.float64,
    "med": np.float64,
}


class _Hops(_SpareRoom):
    """What the output needs of each featurised, undecided hop, hop-major
    (hops, channels): the masked hop-level conditions and states (any kind),
    what blocks the spike test, the MAD and median, and the hop lengths."""

    def __init__(self, ch: int) -> None:
        super().__init__(ch)
        #: False: every median stored since the store was last empty is 0
        self.med_nonzero = False

    def _allocate(self, cap: int) -> dict[str, np.ndarray]:
        fields = {k: np.empty((cap, self.ch), t) for k, t in HOP_FIELDS.items()}
        fields["lens"] = np.empty(cap, np.int64)
        return fields

    def append(self, lens: int, m: int, new: dict[str, np.ndarray], med_zero: bool = False) -> None:
        """m hops of lens rows; new: name -> (m, channels) arrays, every field
        (med_zero: new["med"] is known to be all 0)."""
        if self.n == self.o:
            self.med_nonzero = False
        if not med_zero and not self.med_nonzero:
            self.med_nonzero = bool(new["med"].any())
        at = self.reserve(m)
        end = at + m
        for k, v in new.items():
            self._a[k][at:end] = v
        self._a["lens"][at:end] = lens
        self.n = end

    def __getitem__(self, name: str) -> np.ndarray:
        return self._a[name][self.o : self.n]


class _NativeFront:
    """The per-sample front end in C (csrc/sio_dsp.c): flags, feature filters
    and their carried state in one pass per channel. It owns the carried state
    (arrays the C code updates in place) and the hp/low filter memories."""

    def __init__(self, det: FaultDetector) -> None:
        from .._binding import ffi, lib

        self._ffi, self._lib = ffi, lib
        ch = det._ch
        never = np.iinfo(np.int64).max // 2
        self._keep: list[np.ndarray] = []
        st = ffi.new("sio_dsp_front *")
        st.stuck_run = det.hop // 2
        st.restart = det.hop
        st.settle = det.settle
        st.blank = det.blank
        st.spike_pad = det._spike_pad
        st.ema_a = det._ema_a
        st.ema_a1 = det._ema_a - 1.0
        st.spike_k = det.spike_k
        st.spike_min = det.spike_min_uv
        self.prev_code = self._own(st, "prev_code", np.full(ch, np.iinfo(np.int64).min))
        self._own(st, "same_run", np.zeros(ch, np.int64))
        self._own(st, "bad_run", np.full(ch, 1 << 40, np.int64))  # the start is a restart
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
            f.unit = self._ptr("double[]", np.ascontiguousarray(filt._unit))
            f.zi = self._ptr("double[]", filt.zi)
            f.held = self._ptr("double[]", filt.held)
            f.invalid_run = self._ptr("int64_t[]", filt.invalid_run)
            f.reprime = det.hop
        self._st = st
        self._outs: dict[tuple[str, int], tuple[Any, ...]] = {}
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
        self._basis_src: np.ndarray | None = None
        self._basis_ptr: Any = None

    def _ptr(self, kind: str, a: np.ndarray) -> Any:
        self._keep.append(a)
        return self._ffi.from_buffer(kind, a)

    def _own(self, st: Any, name: str, a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a, dtype=np.float64 if name == "ema_last" else np.int64)
        setattr(st, name, self._ptr("double[]" if a.dtype == np.float64 else "int64_t[]", a))
        return a

    def hop_features(self, rows: _Rows, a: int, m: int, L: int) -> tuple[np.ndarray, ...]:
        """std, MAD, hp, low and high-frequency mean squares, and "every code
        the same" of m hops of L rows from live row a, all valid (see
        _features for the numpy version)."""
        p = self._pointers(rows)
        ch = rows.ch
        at = rows.o + a
        if self._scratch.size < 2 * L:
            self._scratch = np.empty(2 * L)
            self._scratch_ptr = self._ffi.from_buffer("double[]", self._scratch)
        out, same, o, same_ptr = self._out_buffers("features", 5, ch, m)
        step = ch * m
        rc = self._lib.sio_dsp_hop_features(
            ch,
            m,
            L,
            rows.cap,
            p["data"] + at,
            p["hp"] + at,
            p["low"] + at,
            p["codes"] + at,
            self._scratch_ptr,
            o,
            o + step,
            o + 2 * step,
            o + 3 * step,
            o + 4 * step,
            same_ptr,
        )
        if rc != 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"faults: native hop features refused {m} hops of {L}")
        return np.sqrt(out[0]), out[1], out[2], out[3], out[4], same

    def _out_buffers(self, name: str, k: int, ch: int, m: int) -> tuple[Any, ...]:
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

    def mains(
        self, rows: _Rows, a: int, m: int, L: int, prev: np.ndarray | None, det: FaultDetector
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
            det.mains_uv**2,
            det.mains_share,
            o,
            o + ch * m,
            verdict_ptr,
        )
        if rc != 0:  # pragma: no cover - the arguments are checked above
            raise SensorioError(f"faults: native mains projection refused {m} hops of {L}")
        return out[0], out[1], verdict

    def hop_mask(
        self, rows: _Rows, F: _Hops, n_dec: int, n: int, det: FaultDetector
    ) -> tuple[np.ndarray, np.ndarray | None, int]:
        """The output mask of the first n_dec pending hops (n rows; without
        the spikes), and the spike test (None without hits), (rows, channels)
        each; and the number of hits (see FaultDetector._decide, _spike_threshold and _spike_test
        for the numpy version). F: the features of the pending hops."""
        p = self._pointers(rows)
        ch = rows.ch
        ffi = self._ffi
        if self._hops_gen != (id(F), F.generation):
            self._hops_gen = (id(F), F.generation)
            kinds = {
                "cond": "uint8_t *",
                "active": "uint8_t *",
                "blocked": "uint8_t *",
                "mad": "double *",
                "med": "double *",
                "lens": "int64_t *",
            }
            self._hops_ptrs = {k: ffi.cast(t, ffi.from_buffer(F.array(k))) for k, t in kinds.items()}
        h = self._hops_ptrs
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
        n_live = len(F)
        hits = self._lib.sio_dsp_hop_mask(
            ch,
            n_dec,
            h["lens"] + F.o,
            rows.cap,
            p["valid"] + at,
            p["rail"] + at,
            p["blank"] + at,
            p["leadoff"] + at,
            p["hard_ok"] + at,
            p["hp"] + at,
            h["cond"] + o,
            n_live,
            h["active"] + o,
            h["mad"] + o,
            n_live,
            ffi.NULL if prev_mad is None else ffi.from_buffer("double[]", prev_mad),
            h["med"] + o if F.med_nonzero else ffi.NULL,
            h["blocked"] + o,
            det.spike_k,
            det.spike_min_uv,
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
        defer, a block may wait for catch_up, whole (rows counts it in
        waiting): small blocks then go into rows together and the front end
        runs on more rows at once (their rows are not looked at before a hop
        is complete)."""
        codes = block.codes
        lo = block.leadoff
        if lo is not None and lo.any():
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
        x: np.ndarray,
        valid: np.ndarray,
        codes: np.ndarray | None,
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
        if all(v is not None for v in srcs):  # the usual block: copied by C, in tiles
            rc = self._lib.sio_dsp_rows_put(
                n,
                ch,
                rows.cap,
                *(v for src in srcs for v in src),  # type: ignore[union-attr]
                p["data"] + at,
                p["valid"] + at,
                p["codes"] + at,
            )
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
        self._todo_n += n

    def catch_up(self, rows: _Rows, leadoff: np.ndarray | None = None) -> None:
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
        self._todo_n = 0
        if rc != 1:  # not known to be quiet
            self.quiet_from = start + n


def _strided(ffi: Any, a: np.ndarray, kind: str, dtype: Any) -> tuple[Any, int, int] | None:
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
    try:
        from .._binding import lib
    except Exception:  # pragma: no cover - no C core built
        return False
    return hasattr(lib, "sio_dsp_front_run")


@register_stage
class FaultDetector(Stage):
    """Sensor faults per channel (see the module text for the rules)."""

    kind = "faults"
    #: per-sample front end in C when the C core has it (False: numpy)
    native: bool = True

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
        motion_loud_rel: float = 5.0,
        motion_loud_share: float = 0.12,
        spike_rel: float = 3.0,
        noise_uv: float = 50.0,
        noise_share: float = 0.27,
        mains_uv: float = 40.0,
        mains_share: float = 0.5,
        merge_s: float = 0.5,
        mask: tuple[str, ...] | list[str] = DEFAULT_MASK,
    ) -> None:
        super().__init__()
        self.hop_s = float(hop_s)
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
        self.merge_s = float(merge_s)
        self.mask_kinds = tuple(mask)
        unknown = set(self.mask_kinds) - set(KINDS)
        if unknown:
            raise SensorioError(f"faults: unknown kinds to mask {sorted(unknown)}; use {', '.join(KINDS)}")
        self._rate = 0.0
        self._ch = 0

    def describe(self) -> dict[str, Any]:
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
            "merge_s",
        )
        d: dict[str, Any] = {"type": self.kind}
        d.update({k: getattr(self, k) for k in keys})
        d["mask"] = list(self.mask_kinds)
        return d

    def latency(self, rate_hz: float) -> float:
        return float(max(4, int(round(self.hop_s * rate_hz))))

    # -- set-up -----------------------------------------------------------------
    def _setup(self, block: SignalBlock) -> None:
        fs = block.rate_hz
        self._rate = fs
        self._ch = ch = block.n_channels
        self.hop = hop = max(4, int(round(self.hop_s * fs)))
        self.blank = int(round(self.blank_s * fs))
        self.settle = int(round(0.8 * fs))
        self._noise_share = noise_share_limit(fs, self.noise_share)
        if self._noise_share is None:
            warnings.warn(
                f"broadband-noise detection is off at {fs:g} Hz: surface EMG fills the band "
                f"up to Nyquist there (it needs about 1 kHz or more)",
                stacklevel=4,
            )
        nyq = fs / 2
        self._hp = SosState(signal.butter(2, min(20.0, 0.4 * nyq), "highpass", fs=fs, output="sos"), hop)
        # 1-20 Hz, second order: baseline drift (below 0.3 Hz) must not leak in
        self._low = SosState(signal.butter(2, [1.0, min(20.0, 0.4 * nyq)], "bandpass", fs=fs, output="sos"), hop)
        # windowed sine/cosine basis at 50 and 60 Hz and harmonics below 0.45 fs
        window = np.hanning(2 * hop)
        t = np.arange(2 * hop) / fs
        freqs, self._families = [], []
        for f0 in (50.0, 60.0):
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
        # rows of one array: "is anything on" is one test
        self._health = np.zeros((len(KINDS), ch), dtype=bool)
        self.health_state = {k: self._health[i] for i, k in enumerate(KINDS)}
        self._hop_rows = [KINDS.index(k) for k in HOP_KINDS]
        self._open: dict[tuple[str, int], DspEvent] = {}
        self._closed: dict[tuple[str, int], DspEvent] = {}
        self._stream = block.stream
        self._reset_signal()

    def _reset_signal(self) -> None:
        ch = self._ch
        for st in (self._hp, self._low):
            st.reset()
        self._seg_start: int | None = None
        self._pend = _Rows(ch)
        self._pend_lo: np.ndarray | None = None
        self._pend_start = 0
        self._pend_events: list[np.ndarray] = []
        self._feat = _Hops(ch)  # per complete, undecided hop
        self._lens_sum = 0  # rows in the featurised, undecided hops
        self._last_len = 0  # rows in the last of them
        self._bundles: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        self._masked_key: tuple[str, ...] | None = None
        self._masked: list[str] = []
        self._unmasked: list[str] = []
        self._g_feat = 0  # segment hop index of the next hop to featurise
        self._prev_mad: np.ndarray | None = None
        self._prev_hp = np.zeros((ch, 0))
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
        self._last_rail = np.full(ch, _NEG, dtype=np.int64)
        self._prev_code = np.full(ch, np.iinfo(np.int64).min, dtype=np.int64)
        self._same_run = np.zeros(ch, dtype=np.int64)
        self._ema_a = 1.0 - np.exp(-1.0 / (0.1 * self._rate))
        self._ema_zi = np.zeros((ch, 1))
        self._ema_last = np.zeros(ch)
        self._last_spiky = np.full(ch, _NEG, dtype=np.int64)
        self._last_noise_hop = np.full(ch, _NEG, dtype=np.int64)
        # the channel's own levels, learnt online (log10 uV, see _learn): the
        # 90th percentile of the 1-20 Hz band's RMS and of the hop's peak
        # |high-passed| sample, starting from the fixed floors
        self._q_low = np.full(ch, np.log10(max(self.motion_uv, 1e-3)))
        self._q_peak = np.full(ch, np.log10(max(self.spike_min_uv, 1e-3)))
        self._last_gap_hop = np.full(ch, _NEG, dtype=np.int64)
        self._spike_pad = max(1, int(round(0.005 * self._rate)))
        # the start counts as a restart: the feature filters settle first
        self._bad_run = np.full(ch, 1 << 40, dtype=np.int64)
        self._last_restart = np.full(ch, _NEG, dtype=np.int64)
        self._last_spike = np.full(ch, _NEG, dtype=np.int64)
        self._spike_carry = np.zeros(ch, dtype=np.int64)  # spike-mask rows due in the next output
        self._held_out = np.full(ch, np.nan)
        self._template: SignalBlock | None = None
        self._empty_rows: tuple[np.ndarray, np.ndarray] | None = None
        use_c = self.native and _native_available()
        self._native = _NativeFront(self) if use_c else None

    def reset(self) -> None:
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
        if self._rate != block.rate_hz or self._ch != block.n_channels:
            self._setup(block)
        if self._seg_start is None:
            self._seg_start = block.start
            self._pend_start = block.start
        self._template = block
        self._append(block)
        if self._pending_rows() - self._lens_sum < self.hop and len(self._feat) <= 1:
            return self._empty()  # no hop complete, none to decide (the usual small block)
        self._featurise(final=False)
        return self._decide(final=False)

    def flush(self) -> SignalBlock | None:
        if not self._ch or self._template is None or not self._pending_rows():
            return None
        self._featurise(final=True)
        return self._decide(final=True)

    def finish(self, end_s: float) -> None:
        if self._ch:
            self._close_all(int(round(end_s * self._rate)))

    def _front_numpy(self, block: SignalBlock) -> dict[str, np.ndarray]:
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

    def _append(self, block: SignalBlock) -> None:
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

    def _featurise(self, final: bool) -> None:
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
        f = self._features(a, m, L)
        const = self._consts(m, L)
        masked = self._masked_hop_kinds()
        cond = f[masked[0]] if masked else const["zeros_cm"]
        for k in masked[1:]:
            cond = cond | f[k]
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

    def _masked_hop_kinds(self) -> list[str]:
        """The hop-level kinds that mask hops (saturation and lead-off mask
        their samples instead)."""
        key = self.mask_kinds
        if self._masked_key is not key:
            self._masked = [k for k in HOP_KINDS if k in key and k not in ("saturation", "leadoff")]
            self._unmasked = [k for k in HOP_KINDS if k not in self._masked]
            self._masked_key = key
        return self._masked

    def _consts(self, m: int, L: int) -> dict[str, np.ndarray]:
        """Shared, read-only arrays for m hops of L rows (an in-place change
        to one would be a bug): all-False (channels, hops) "zeros_cm" and
        (hops, channels) "zeros", float zeros "zeros_f", "L" and "-1"
        (channels, hops), "enough" (L rows are enough for a verdict)."""
        c = self._bundles.get((m, L))
        if c is None:
            ch = self._ch
            c = {
                "zeros_cm": np.zeros((ch, m), dtype=bool),
                "zeros": np.zeros((m, ch), dtype=bool),
                "zeros_f": np.zeros((ch, m)),
                "L": np.full((ch, m), L),
                "-1": np.full((ch, m), -1),
                "enough": np.full((ch, m), L >= max(4, L // 2)),
            }
            for arr in c.values():
                arr.setflags(write=False)
            self._bundles[(m, L)] = c
        return c

    def _features(self, a: int, m: int, L: int) -> dict[str, np.ndarray]:
        p = self._pend
        ch = self._ch
        at = p.o + a

        def r(name: str) -> np.ndarray:
            # (channels, hops, samples): reductions run along contiguous memory
            return p.array(name)[:, at : at + m * L].reshape(ch, m, L)

        valid, spiky = r("valid"), r("spiky")
        const = self._consts(m, L)
        f: dict[str, np.ndarray] = {}
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
                    f[name] = mask.any(axis=2)
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
        if fast and self._native is not None and L >= 4:
            # the per-hop reductions in one C call
            std, mad, hp_ms, low_ms, hf_ms, same = self._native.hop_features(p, a, m, L)
            stuck = same & (L >= need)
        else:
            codes, data, low = r("codes"), r("data"), r("low")
            if bool(valid.all()):
                stuck = (codes.min(axis=2) == codes.max(axis=2)) & (L >= need)
            else:
                big = np.iinfo(np.int64).max
                cmin = np.where(valid, codes, big).min(axis=2)
                cmax = np.where(valid, codes, -big).max(axis=2)
                stuck = (cmin == cmax) & (valid.sum(axis=2) >= need)
        sat, lo = f["saturation"], f["leadoff"]
        if stuck.any():
            stuck &= ~sat & ~lo
            at_zero = r("zero").all(axis=2)
        else:
            at_zero = const["zeros_cm"]
        if fast and self._native is not None and L >= 4:
            med = const["zeros_f"]
        elif fast:
            std = data.std(axis=2)
            # the 20 Hz high-passed signal has a median of ~0 over a hop: its
            # MAD is the median of |hp| (one partial sort instead of two)
            med = np.zeros((ch, m))
            mad = np.partition(np.abs(hp), L // 2, axis=2)[:, :, L // 2]
            hp_ms = np.einsum("cmi,cmi->cm", hp, hp) / L
            low_ms = np.einsum("cmi,cmi->cm", low, low) / L
            # third difference: gain |2 sin(w/2)|^3, mean square 20 x that of
            # white noise, little from EMG (which sits well below Nyquist)
            d3 = np.diff(hp, 3, axis=2)
            hf_ms = np.einsum("cmi,cmi->cm", d3, d3) / (20.0 * (L - 3))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                hpv = np.where(hard_ok, hp, np.nan)
                std = np.where(enough, np.nanstd(np.where(hard_ok, data, np.nan), axis=2), np.inf)
                med = np.zeros((ch, m))
                mad = np.nan_to_num(np.nanmedian(np.abs(hpv), axis=2))
                # power figures leave the spikes out (they are reported apart)
                hpv = np.where(spiky, np.nan, hpv)
                d3 = np.diff(hpv, 3, axis=2)
                hf_ms = np.nan_to_num(np.nanmean(d3 * d3, axis=2)) / 20.0
                hp_ms = np.nan_to_num(np.nanmean(hpv * hpv, axis=2))
                low_ms = np.nan_to_num(np.nanmean(np.where(hard_ok & ~spiky, low, np.nan) ** 2, axis=2))
        f["stuck"] = stuck & ~at_zero
        f["flat"] = ((enough & ~stuck & (std < self.flat_uv)) | (stuck & at_zero)) & ~sat & ~lo
        blocked = sat | lo | stuck | ~enough
        mains = self._mains(a, m, L, hp)
        with np.errstate(invalid="ignore", divide="ignore"):
            share_hf = hf_ms / hp_ms
        settling = r("settle").any(axis=2)
        # a spike's edges ring into the 1-20 Hz band before it is flagged:
        # no motion verdict in a hop with spikes
        spiked = spiky.any(axis=2)
        if self._noise_share is None:
            noise = np.zeros_like(blocked)
        else:
            noise = ~blocked & (hf_ms > self.noise_uv**2) & (share_hf > self._noise_share)
        with np.errstate(invalid="ignore", divide="ignore"):
            share_low = low_ms / (low_ms + hp_ms)
        # broadband noise leaks into the 1-20 Hz band and rings there after it
        # stops: no motion verdict during it or in the 4 hops after it
        g = (self._g_feat + np.arange(m))[None, :]
        marks = np.where(noise, g, _NEG)
        marks[:, 0] = np.maximum(marks[:, 0], self._last_noise_hop)
        last_noise = np.maximum.accumulate(marks, axis=1)
        self._last_noise_hop = last_noise[:, -1].copy()
        after_noise = (g - last_noise) <= 4
        # a dropout holds the feature filters' input; the step that leaves
        # rings in the 1-20 Hz band like motion: no motion verdict in a hop
        # with missing rows or in the 2 hops after it
        marks = np.where(~valid.all(axis=2), g, _NEG)
        marks[:, 0] = np.maximum(marks[:, 0], self._last_gap_hop)
        last_gap = np.maximum.accumulate(marks, axis=1)
        self._last_gap_hop = last_gap[:, -1].copy()
        after_gap = (g - last_gap) <= 2
        f["noise"] = noise
        if fast:
            peak = np.abs(hp).max(axis=2)
        else:
            peak = np.where(hard_ok, np.abs(hp), 0.0).max(axis=2)
        usable = ~blocked & ~settling
        judged = usable & ~after_noise & ~after_gap & ~spiked
        low_level, peak_floor = self._learn(usable, judged, low_ms, share_low, peak, mad)
        motion = judged & self._motion_like(low_ms, share_low, low_level)
        if motion.any():
            self._motion_before_run(motion, r("codes"), r("hard_ok") & ~spiky, r("low"), hp, need, low_level)
        f["motion"] = motion
        f["mains"] = ~blocked & mains
        # the spike test's scale: never below what the channel's own peaks
        # reach (spike_rel x their learnt 90th percentile)
        f["mad"] = np.maximum(mad, peak_floor / (self.spike_k * 1.4826))
        f["med"] = med
        return f  # (channels, hops) each

    def _motion_before_run(
        self,
        motion: np.ndarray,
        codes: np.ndarray,
        ok: np.ndarray,
        low: np.ndarray,
        hp: np.ndarray,
        need: int,
        low_level: np.ndarray,
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
        with np.errstate(invalid="ignore", divide="ignore"):
            low_ms = np.where(use, low[c, h] ** 2, 0.0).sum(axis=1) / n
            hp_ms = np.where(use, hp[c, h] ** 2, 0.0).sum(axis=1) / n
            share = low_ms / (low_ms + hp_ms)
        motion[c, h] = (n >= need) & self._motion_like(low_ms, share, low_level[c, h])

    def _motion_like(self, low_ms: np.ndarray, share: np.ndarray, level: np.ndarray) -> np.ndarray:
        """The motion test on the 1-20 Hz band's mean square low_ms and its
        share of the power, given the channel's learnt level of that band
        (RMS, uV): above motion_rel x the level (and motion_uv) with a share
        above motion_share (the band dominates); or above motion_loud_rel x
        the level (and motion_uv) with a share above motion_loud_share."""
        floor = self.motion_uv**2
        thr = np.maximum(floor, (self.motion_rel * level) ** 2)
        loud = np.maximum(floor, (self.motion_loud_rel * level) ** 2)
        return ((low_ms > thr) & (share > self.motion_share)) | ((low_ms > loud) & (share > self.motion_loud_share))

    def _learn(
        self,
        usable: np.ndarray,
        judged: np.ndarray,
        low_ms: np.ndarray,
        share_low: np.ndarray,
        peak: np.ndarray,
        mad: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The channel's own levels, learnt hop by hop (so the same whatever
        the chunking): the 90th percentiles of the 1-20 Hz band's RMS and of
        the hop's peak |high-passed| sample, tracked in log10 uV by steps of
        LEARN_UP up and LEARN_UP / 9 down (a sign tracker: an outlier moves
        it one step, whatever its size). A hop teaches only when usable (no
        code fault, filters settled); the low band learns only from hops
        judged and not shaped like motion, the peak only from hops whose peak is
        not an outlier (above the spike floor and the spike test's own-hop
        threshold). Returns, per (channel, hop), the learnt level of the low
        band (RMS, uV) and the spike floor (spike_rel x the learnt peak, uV),
        both from what was learnt before the hop."""
        ch, m = low_ms.shape
        low_level = np.empty((ch, m))
        peak_floor = np.empty((ch, m))
        up, down = LEARN_UP, LEARN_UP / 9.0
        ql, qp = self._q_low, self._q_peak
        with np.errstate(divide="ignore", invalid="ignore"):
            llow = 0.5 * np.log10(low_ms)
            lpeak = np.log10(peak)
        own = self.spike_k * 1.4826 * mad
        for j in range(m):
            low_level[:, j] = 10.0**ql
            pf = self.spike_rel * 10.0**qp
            peak_floor[:, j] = pf
            # a hop shaped like motion (low band share above motion_share)
            # does not teach, whatever its level: an artefact's slow onset
            # must not raise the bar it is to be judged by
            x = llow[:, j]
            like = self._motion_like(low_ms[:, j], share_low[:, j], low_level[:, j])
            teach = judged[:, j] & ~like & (share_low[:, j] <= self.motion_share) & np.isfinite(x)
            ql = np.where(teach, ql + np.where(x > ql, up, -down), ql)
            x = lpeak[:, j]
            outlier = (peak[:, j] > pf) & (peak[:, j] > own[:, j])
            teach = usable[:, j] & ~outlier & np.isfinite(x)
            qp = np.where(teach, qp + np.where(x > qp, up, -down), qp)
        self._q_low, self._q_peak = ql, qp
        return low_level, peak_floor

    def _mains(self, a: int, m: int, L: int, hp: np.ndarray) -> np.ndarray:
        """Mains verdict per hop from the hop and the one before it: the
        signal projected on 50/60 Hz and two harmonics (a windowed DFT at just
        those frequencies, one matrix product). hp is (channels, hops,
        samples); the result (channels, hops)."""
        ch = self._ch
        if L != self.hop:
            return np.zeros((ch, m), dtype=bool)
        prev = self._pend.cm("hp")[:, a - L : a] if a >= L else self._prev_hp
        first_ok = prev.shape[1] == L
        if not first_ok:
            prev = np.zeros((ch, L))
        if self._native is not None:
            pending = a >= L  # the hop before is in the pending rows: no copy
            _, _, verdict = self._native.mains(self._pend, a, m, L, None if pending else prev, self)
            if not first_ok:
                verdict[:, 0] = False
            return verdict
        ok = np.ones(m, dtype=bool)
        ok[0] = first_ok
        best, total = self._mains_numpy(m, L, hp, prev)
        mains_ms = best * self._ms_scale
        with np.errstate(invalid="ignore", divide="ignore"):
            share = mains_ms / total
        return ok[None, :] & (mains_ms > self.mains_uv**2) & (share > self.mains_share)

    def _mains_numpy(self, m: int, L: int, hp: np.ndarray, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
        F = self._feat
        m = len(F)
        n_dec = m if final else m - 1  # a hop waits for the next one (look-ahead)
        if n_dec <= 0:
            return self._empty()
        rows = self._lens_sum if final else self._lens_sum - self._last_len
        p = self._pend
        if self._native is not None:
            valid_out, hit, hits = self._native.hop_mask(p, F, n_dec, rows, self)
        else:
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
            hit = self._spike_test(lens, thr, med)
            hits = int(hit.any())
        if hits or self.health_state["spikes"].any():
            self._spikes(hit, hits, rows)
        spikes = self._spike_mask(hit if hits else None, F["lens"][:n_dec], rows)
        if spikes is not None and "spikes" in self.mask_kinds:
            valid_out &= ~spikes
        # copies: the pending buffer is reused
        data = p.cm("data")[:, :rows].copy().T
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
            codes=p.cm("codes")[:, :rows].copy().T,
        )
        # forget what was output; the hop before the next one to featurise is
        # still pending, unless every hop was decided
        if n_dec == m and F["lens"][n_dec - 1] == self.hop:
            self._prev_hp = p.cm("hp")[:, rows - self.hop : rows].copy()
        self._prev_mad = F["mad"][n_dec - 1].copy()
        self._pend.drop(rows)
        if self._pend_lo is not None:
            self._pend_lo = self._pend_lo[rows:]
        self._pend_start += rows
        F.drop(n_dec)
        self._lens_sum -= rows
        return out

    def _hysteresis(
        self,
        fc: dict[str, np.ndarray],
        cond: np.ndarray,
        masked: list[str],
        start: int,
        m: int,
        L: int,
    ) -> np.ndarray:
        """Run the hysteresis of every hop-level kind over m new hops of L rows
        from stream row start (their features fc: (channels, hops) each; cond:
        any masked kind's condition); open and close events. Returns, per hop,
        whether a masked kind is on, (hops, channels)."""
        const = self._consts(m, L)
        zeros = const["zeros_cm"]
        if (
            not self._health.any()
            and not cond.any()
            and not any(fc[k] is not zeros and fc[k].any() for k in self._unmasked)
        ):
            # nothing on, nothing starting: only the "last clean hop" moves
            self._lf[:] = self._g_feat + m - 1
            return const["zeros"]
        g = self._g_feat + np.arange(m)
        starts = start + np.arange(m) * L
        f = {k: v.T for k, v in fc.items()}  # (hops, channels)
        fs = self._rate
        masked = self._masked_hop_kinds()
        any_active = np.zeros((m, self._ch), dtype=bool)
        transitions: list[tuple[int, int, str, int, float]] = []
        for k in HOP_KINDS:
            if not self.health_state[k].any() and not f[k].any():
                self._carry[k]["lf"][:] = int(g[-1])
                continue
            active, t_on, t_off, onset, flag = self._latch(k, f[k], g, starts, f.get(k + "_first"), f.get(k + "_last"))
            if k in masked:
                any_active |= active
            for t, c in zip(*np.nonzero(t_on), strict=True):
                transitions.append((int(t), 1, k, int(c), onset[t, c] / fs))
            for t, c in zip(*np.nonzero(t_off), strict=True):
                if k in ("saturation", "leadoff"):
                    end = flag[t, c]
                else:
                    end = self._seg_start + (int(g[t]) - self._clean_run(k, t, c)) * self.hop
                transitions.append((int(t), 0, k, int(c), end / fs))
        for t, on, k, c, when in sorted(transitions):
            if on:
                last = self._closed.get((k, c))
                if last is not None and last.end_s is not None and when - last.end_s <= self.merge_s:
                    ev = last  # the same fault flaring up again: reopen its event
                    ev.end_s = None
                else:
                    ev = DspEvent(self._stream, c, k, when, None, (starts[t] + L) / fs)
                self._open[(k, c)] = ev
                self.health_state[k][c] = True
                self.emit(ev)
            else:
                self._close(k, c, when)
        return any_active

    def _latch(
        self,
        k: str,
        cond: np.ndarray,
        g: np.ndarray,
        starts: np.ndarray,
        first: np.ndarray | None,
        last: np.ndarray | None,
    ) -> tuple[np.ndarray, ...]:
        """Hysteresis over hops, vectorised with the carried state: returns the
        state after each hop, turn-on and turn-off flags, the onset (sample
        index) of the current run and the end of the last flagged sample."""
        on_n, off_n = HYSTERESIS[k]
        carry = self._carry[k]
        was = self.health_state[k]
        if not cond.any() and not was.any():
            # nothing on, nothing starting: only the "last clean hop" moves
            carry["lf"][:] = int(g[-1])
            none = np.zeros(cond.shape, dtype=bool)
            return none, none, none, None, None
        gi = g[:, None]
        lf = np.maximum.accumulate(np.vstack([carry["lf"][None], np.where(~cond, gi, _NEG)]), axis=0)[1:]
        lt = np.maximum.accumulate(np.vstack([carry["lt"][None], np.where(cond, gi, _NEG)]), axis=0)[1:]
        run = gi - lf
        clean = gi - lt
        g0 = int(g[0])
        init_set = np.where(was, g0 - 1, _NEG)
        init_rst = np.where(was, _NEG, g0 - 1)
        last_set = np.maximum.accumulate(np.vstack([init_set[None], np.where(run >= on_n, gi, _NEG)]), 0)[1:]
        last_rst = np.maximum.accumulate(np.vstack([init_rst[None], np.where(clean >= off_n, gi, _NEG)]), 0)[1:]
        active = last_set > last_rst
        prev = np.vstack([was[None], active[:-1]])
        st = starts[:, None]
        start_val = st + (first if first is not None else 0)
        onset = np.maximum.accumulate(
            np.vstack([carry["onset"][None], np.where(cond & (run == 1), start_val, _NEG)]), axis=0
        )[1:]
        flag_val = st + (last + 1 if last is not None else 0)
        flag = np.maximum.accumulate(np.vstack([carry["flag"][None], np.where(cond, flag_val, _NEG)]), 0)[1:]
        carry["lf"][:] = lf[-1]  # a view into self._lf
        carry["lt"] = lt[-1].copy()
        carry["onset"], carry["flag"] = onset[-1].copy(), flag[-1].copy()
        self._clean_cache = (k, clean)
        return active, active & ~prev, ~active & prev, onset, flag

    def _clean_run(self, k: str, t: int, c: int) -> int:
        kk, clean = self._clean_cache
        assert kk == k
        return int(clean[t, c]) - 1

    def _spike_threshold(self, n_dec: int) -> tuple[np.ndarray, np.ndarray]:
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
        thr = np.maximum(self.spike_k * sigma, self.spike_min_uv)
        return np.where(F["blocked"][:n_dec], np.inf, thr), F["med"][:n_dec]

    def _spike_test(self, lens: np.ndarray, thr: np.ndarray, med: np.ndarray) -> np.ndarray:
        """Samples of the first hops beyond the threshold, (rows, channels)
        (the reference for sio_dsp_hop_mask's spike test)."""
        p = self._pend
        rows = int(lens.sum())
        if med.any():
            dev = np.abs(p["hp"][:rows] - np.repeat(med, lens, axis=0))
        else:  # the usual case: the high-passed signal's median is taken as 0
            dev = np.abs(p["hp"][:rows])
        hit = dev > np.repeat(thr, lens, axis=0)
        hit &= p["hard_ok"][:rows] & ~p["blank"][:rows]
        return hit

    def _spike_mask(self, hit: np.ndarray | None, lens: np.ndarray, rows: int) -> np.ndarray | None:
        """The samples to mask for spikes in the next rows (None: none): the
        hits widened by 3 ms both ways, as a pulse's slopes fall below the
        threshold. Forwards the widening runs on into the next rows (carried);
        backwards it stops at the start of a hop, since what came before may
        already be out: so the mask is the same whatever the chunking."""
        carry = self._spike_carry
        if hit is None and not carry.any():
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
        if carry.any():
            out |= np.arange(rows)[:, None] < carry[None, :]
        self._spike_carry = np.maximum(np.maximum(ahead, carry - rows), 0)
        return out

    def _spikes(self, hit: np.ndarray | None, hits: int, rows: int) -> None:
        """Spike events from the test's hits in the next rows (hit: None if
        there is none)."""
        fs = self._rate
        gap = self.spike_gap_s * fs
        if hits:
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
        for c in np.nonzero(open_now)[0] if hits or open_now.any() else ():
            if end - self._last_spike[c] > gap:
                self._close("spikes", int(c), self._last_spike[c] / fs)

    def _close(self, kind: str, c: int, end_s: float) -> None:
        ev = self._open.pop((kind, c), None)
        self.health_state[kind][c] = False
        if ev is not None:
            ev.end_s = max(end_s, ev.start_s)
            self._closed[(kind, c)] = ev
            self.emit(ev)

    def _close_all(self, end: int) -> None:
        fs = self._rate
        for kind, c in list(self._open):
            if kind in ("saturation", "leadoff") and self._carry[kind]["flag"][c] > _NEG:
                self._close(kind, c, self._carry[kind]["flag"][c] / fs)
            elif kind == "spikes":
                self._close(kind, c, self._last_spike[c] / fs)
            else:
                self._close(kind, c, end / fs)
