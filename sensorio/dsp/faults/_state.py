"""What the parts of the fault detector share: the settings and carried state
FaultDetector sets (``__init__``, ``_setup``, ``_reset_signal``) and its
mixins read and update, declared once with their types, and the methods one
mixin calls on another. The mixins (``features._Features``,
``decision._Decision``, ``_reference._NumpyReference``) derive from
``_DetectorState``, so a type checker knows every attribute they use;
FaultDetector derives from all of them. Nothing here runs: the class body
only declares (annotations without values)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..stages import DspEvent, Stage

if TYPE_CHECKING:
    from ...blocks import SignalBlock
    from ...descriptor import ElectrodeGrid
    from ..filters import SosState
    from ._buffers import _Hops, _Rows
    from ._native import _NativeFront

#: float64 arrays: signals in physical units, powers, levels
Floats = NDArray[np.float64]
#: boolean arrays: flags, conditions, masks
Flags = NDArray[np.bool_]
#: int64 arrays: stream rows and hop indices (carried marks, _NEG for "never")
Ints = NDArray[np.int64]


class _DetectorState(Stage):
    """The fault detector's attributes, typed (see the module text). Arrays
    of carried state are per channel unless said otherwise."""

    # -- settings (FaultDetector.__init__) -----------------------------------------
    hop_s: float
    blank_s: float
    flat_uv: float
    spike_k: float
    spike_min_uv: float
    #: the spike test's fixed floor at this rate (uV: spike_min_uv, or a
    #: share of it from features.SHARP_BELOW_HZ), and whether its learnt
    #: level starts fast there
    _spike_min: float
    _spike_fast: bool
    spike_gap_s: float
    motion_uv: float
    motion_share: float
    motion_rel: float
    motion_loud_rel: float
    motion_loud_share: float
    spike_rel: float
    noise_uv: float
    noise_share: float
    mains_uv: float
    mains_share: float
    mains_ratio: float
    grid_ratio: float
    merge_s: float
    mask_kinds: tuple[str, ...]
    #: per-sample front end in C when the C core has it (False: numpy)
    native: bool

    # -- derived from the stream (FaultDetector._setup) ------------------------------
    _rate: float
    _ch: int
    _stream: int
    #: the electrode grid the neighbour test reads (the blocks' grid), and
    #: its neighbours: (channels, 8) channel indices, padded with the
    #: channel count (None: no grid, or the test off)
    _grid: ElectrodeGrid | None
    _grid_near: Ints | None
    #: rows per hop, of recovery blanking after a rail, of filter settling
    hop: int
    blank: int
    settle: int
    #: ... of filter settling after the stream's start (its first restart)
    settle_start: int
    #: the noise test's share threshold at this rate (None: the test is off)
    _noise_share: float | None
    #: the 20 Hz high-pass and the 1-20 Hz band of the feature filters
    _hp: SosState
    _low: SosState
    #: the share of white noise's power the 1-20 Hz band passes
    _low_leak: float
    #: the power decay per hop of that band's slowest mode
    _ring_decay: float
    #: the mains projection: (first, end) columns of each family in the basis,
    #: the number of frequencies, the (2 hops, 2 x frequencies) windowed
    #: cosine/sine basis and the scale from squared projection to mean square
    _families: list[tuple[int, int]]
    _n_freq: int
    _basis: Floats
    _ms_scale: float
    #: the mains test's figure for a steady line of unit mean square (__init__._line_contrast)
    _line_contrast: float
    #: the narrowband test: a windowed cosine/sine basis (2 hops, 2 x frequencies)
    #: at the lines and their neighbouring frequencies, and per family the
    #: weights (frequencies, families) that sum the lines' power and their
    #: neighbours' mean power (see features.narrowband_basis)
    _nb_basis: Floats
    _nb_line: Floats
    _nb_side: Floats
    #: _nb_basis's halves: the rows of the hop before, and of the hop
    _nb_halves: tuple[Floats, Floats]
    #: the narrowband projection's halves worked out ahead (see
    #: FaultDetector._nb_ahead): the first, (the stream row of the hop
    #: before, the product), and the second's pieces, (the stream row of
    #: the hop, how many pieces, their sum); None: none. And for how many
    #: hops more they are worked out (the last candidate's NB_HOT_HOPS)
    _nb_before: tuple[int, Floats] | None
    _nb_cur: tuple[int, int, Floats] | None
    _nb_hot: int
    #: _Features._level_pows worked out ahead, on a block that completes no
    #: hop, of the levels the next hop's verdicts read (None: not yet; the
    #: next featurised hop takes it or drops it, before any level moves)
    _pows_ahead: Floats | None
    #: (kinds, channels): which kinds are on; health_state maps a kind to its row
    _health: Flags
    health_state: dict[str, Flags]
    _hop_rows: list[int]
    #: open events and the last closed one, by (kind, channel)
    _open: dict[tuple[str, int], DspEvent]
    _closed: dict[tuple[str, int], DspEvent]
    #: blank events made ahead for the hysteresis to fill (see _Decision._new_event)
    _spare_events: list[DspEvent]

    # -- the signal's carried state (FaultDetector._reset_signal) --------------------
    #: stream row of the first hop of the segment (None: no block yet)
    _seg_start: int | None
    #: rows received and not output, their lead-off bitmasks, the stream row of
    #: the first and their link events (rows relative to it)
    _pend: _Rows
    _pend_lo: NDArray[Any] | None
    _pend_start: int
    _pend_events: list[np.void]
    #: the featurised, undecided hops, the rows in them and in the last one
    _feat: _Hops
    _lens_sum: int
    _last_len: int
    #: shared read-only constants per (hops, hop length), see _Features._consts
    _bundles: dict[tuple[int, int], dict[str, NDArray[Any]]]
    #: the masked hop-level kinds (cached for mask_kinds _masked_key) and the others
    _masked_key: tuple[str, ...] | None
    _masked: list[str]
    _unmasked: list[str]
    #: segment hop index of the next hop to featurise
    _g_feat: int
    #: the MAD of the last decided hop, and its 20 Hz high-passed rows (channels, hop)
    _prev_mad: Floats | None
    _prev_hp: Floats
    #: the 20 Hz high-passed rows just before the pending ones (decision.BURST_S of them)
    _hp_back: Floats
    #: the samples of those rows (the lone-pulse rule's step test), and whether they were usable
    _data_back: Floats
    _ok_back: Flags
    #: the ramp rule's hop levels (channels, decision.RAMP_HOPS) of the hops
    #: before the next ones, and per channel the last motion event's first hop,
    #: that hop's level and the first hop of its last run
    _level_back: Floats
    _ramp_from: dict[int, tuple[int, float, int]]
    #: (hop kinds, channels): the last hop without each kind's condition
    _lf: Ints
    #: per hop kind: "lf" (a row of _lf), "lt" (last hop with the condition),
    #: "onset" (start of the current run), "flag" (end of the last flagged sample)
    _carry: dict[str, dict[str, Ints]]
    #: the last hysteresis run's hops since the condition, (kind, (hops, channels))
    _clean_cache: tuple[str, Ints]
    # the numpy front end's carried state (the C front end keeps its own)
    _last_rail: Ints
    _prev_code: Ints
    _same_run: Ints
    _ema_a: float
    _ema_zi: Floats
    _ema_last: Floats
    _last_spiky: Ints
    _bad_run: Ints
    _last_restart: Ints
    _spike_pad: int
    #: the last hop with broadband noise, and its white-noise power
    _last_noise_hop: Ints
    _noise_ms: Floats
    #: the mains test and sure test of the last MAINS_RUN - 1 hops, (channels, hops) each
    _mains_hist: tuple[Flags, Flags]
    #: the 1-20 Hz band's power it may ring down from
    _ring_ref: Floats
    #: the last hop's power above 20 Hz (NaN before the first)
    _prev_hp_ms: Floats
    #: settling hops in a row so far
    _settle_hops: Ints
    #: the motion verdicts of the last 2 hops before _loud_needs_two, (channels, 2)
    _motion_prev: Flags
    #: whether the last hop's 1-20 Hz band was rising (see _loud_needs_two)
    _motion_rising: Flags
    #: learnt levels (log10 uV): the low band's, the peaks', and the peaks' as
    #: they were when the low band last learnt; whether each has started
    _q_low: Floats
    _q_peak: Floats
    _q_peak_ref: Floats
    _q_low_set: Flags
    #: the low band's 10th percentile (log10 uV; its rest, see _learn)
    _q_low_rest: Floats
    #: the high-passed RMS's 1st percentile (log10 uV; see _mains_floor)
    _q_hp_rest: Floats
    _q_peak_set: Flags
    #: the spike test's learnt peak level on the second difference, and whether it started
    _q_sd: Floats
    _q_sd_set: Flags
    #: the learnt floor of the white-noise RMS (log10 uV, see _noise_verdicts), and whether it started
    _q_hf: Floats
    _q_hf_set: Flags
    _q_rest_set: Flags
    #: the last hop with missing rows
    _last_gap_hop: Ints
    #: stream row after the last spike pulse, and spike-mask rows due in the next output
    _last_spike: Ints
    _spike_carry: Ints
    #: the last valid output (the "hold" policy)
    _held_out: Floats
    #: the last block given (the output's metadata), and empty output arrays
    _template: SignalBlock | None
    _empty_rows: tuple[Floats, Flags] | None
    #: the C front end (None: the numpy reference runs)
    _native: _NativeFront | None

    if TYPE_CHECKING:
        # what one part of the detector calls on another (defined in FaultDetector,
        # _Features, _Decision and _NumpyReference; a type checker holds them to
        # these signatures)
        def _pending_rows(self) -> int:
            raise NotImplementedError

        def _consts(self, m: int, L: int) -> dict[str, NDArray[Any]]:
            raise NotImplementedError

        def _masked_hop_kinds(self) -> list[str]:
            raise NotImplementedError

        def _hysteresis(
            self, fc: dict[str, NDArray[Any]], cond: Flags, masked: list[str], start: int, m: int, L: int
        ) -> Flags:
            raise NotImplementedError

        def _mains_numpy(self, m: int, L: int, hp: Floats, prev: Floats) -> tuple[Floats, Floats]:
            raise NotImplementedError

        def _spike_test(self, lens: Ints, thr: Floats, med: Floats, sd: Floats) -> Flags:
            raise NotImplementedError
