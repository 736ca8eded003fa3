"""The C front end of the fault detector (csrc/sio_dsp.c) against its numpy
reference (FaultDetector._front_numpy), on signals with every condition the
front end tracks, in random chunkings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sensorio.blocks import SignalBlock
from sensorio.dsp import faults
from sensorio.dsp.faults import FaultDetector

pytestmark = pytest.mark.skipif(not faults._native_available(), reason="C core without sio_dsp")

FS = 2000.0
CH = 5
LO, HI = -32768, 32767


def troubled_signal(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    codes = rng.normal(0, 40, (n, CH)) + 300 * np.sin(2 * np.pi * 3 * t)[:, None]
    codes[:, 1] += 2000  # an offset: priming matters
    codes[int(0.5 * FS) : int(0.6 * FS), 0] = HI  # rail, then recovery blanking
    codes[int(1.0 * FS) : int(1.3 * FS), 2] = 77  # stuck code
    spikes = rng.choice(n, 12, replace=False)
    codes[spikes, 3] += rng.choice([-1, 1], 12) * 3000  # spikes
    codes[int(1.5 * FS) : int(1.7 * FS), 4] = 0  # exactly the zero code
    codes = np.clip(np.rint(codes), LO, HI).astype(np.int32)
    valid = np.ones((n, CH), dtype=bool)
    valid[int(0.8 * FS) : int(0.95 * FS), 1] = False  # a gap longer than a hop
    valid[int(1.2 * FS) : int(1.21 * FS), 3] = False  # a short one
    valid[: int(0.07 * FS), 4] = False  # a channel valid only later
    leadoff = np.zeros(n, dtype=np.uint64)
    leadoff[int(1.8 * FS) : int(1.9 * FS)] = 1 << 2
    return codes, valid, leadoff, codes * 0.5


def blocks(seed: int, n: int, sizes: np.ndarray) -> list[SignalBlock]:
    codes, valid, leadoff, x = troubled_signal(seed, n)
    x = np.where(valid, x, np.nan)
    out, a = [], 0
    for size in sizes:
        b = min(n, a + int(size))
        if b <= a:
            break
        out.append(
            SignalBlock(
                0,
                np.ascontiguousarray(x[a:b]),
                valid[a:b].copy(),
                FS,
                start=a,
                leadoff=leadoff[a:b].copy(),
                codes=codes[a:b].copy(),
                code_range=(LO, HI),
            )
        )
        a = b
    return out


def parts_keys() -> tuple[str, ...]:
    return ("hard_ok", "rail", "leadoff", "blank", "settle", "spiky", "zero", "hp", "low")


def fronts_of(blist: list[SignalBlock], defer: bool = False) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The front end's flags and filters of a block series, C (with defer: on
    the rows of several blocks at once) then numpy."""
    fronts = {}
    rng_catch = np.random.default_rng(0) if defer else None
    for native in (True, False):
        det = FaultDetector()
        det.native = native
        rows = faults._Rows(CH)
        parts: dict[str, list[np.ndarray]] = {}
        for b in blist:
            if det._ch == 0:
                det._setup(b)
            assert (det._native is not None) == native
            if native:
                det._native.run(b, rows, defer=defer)
                if rng_catch is not None and rng_catch.random() < 0.3:
                    det._native.catch_up(rows)
            else:
                for k, v in det._front_numpy(b).items():
                    parts.setdefault(k, []).append(v)
        if native:
            det._native.catch_up(rows)
            fronts[native] = {k: rows.cm(k).copy() for k in parts_keys()}
        else:
            fronts[native] = {k: np.concatenate(v, axis=1) for k, v in parts.items()}
    c, py = fronts[True], fronts[False]
    assert c.keys() == py.keys()
    for k in c:
        if c[k].dtype == bool:
            np.testing.assert_array_equal(c[k], py[k], err_msg=k)
        else:
            np.testing.assert_allclose(c[k], py[k], rtol=1e-9, atol=1e-9, err_msg=k)
    return c, py


@pytest.mark.parametrize("seed, defer", [(1, False), (2, False), (3, False), (4, True)])
def test_native_front_equals_numpy(seed: int, defer: bool) -> None:
    rng = np.random.default_rng(seed)
    n = int(2.2 * FS)
    sizes = rng.choice([1, 3, 40, 97, 400, 1500], 400)
    c, _ = fronts_of(blocks(seed, n, sizes), defer)
    # the signal did exercise every flag
    for k in ("rail", "leadoff", "blank", "settle", "spiky", "zero"):
        assert c[k].any(), k
    assert not c["hard_ok"].all()


def test_native_front_quiet_blocks_equal_numpy() -> None:
    """Mostly clean blocks (the C front end's quick path), with a few
    conditions that end it: a spike, a long repeated code, a short gap."""
    rng = np.random.default_rng(11)
    n = int(4 * FS)
    t = np.arange(n) / FS
    codes = rng.normal(0, 40, (n, CH)) + 300 * np.sin(2 * np.pi * 3 * t)[:, None]
    codes[int(2.5 * FS), 3] += 4000
    codes[int(3.0 * FS) : int(3.0 * FS) + 150, 1] = 12
    codes = np.clip(np.rint(codes), LO, HI).astype(np.int32)
    valid = np.ones((n, CH), dtype=bool)
    valid[int(3.5 * FS) : int(3.5 * FS) + 30, 0] = False
    x = np.where(valid, codes * 0.5, np.nan)
    blist = [
        SignalBlock(
            0,
            np.ascontiguousarray(x[a : a + 400]),
            valid[a : a + 400].copy(),
            FS,
            start=a,
            codes=codes[a : a + 400].copy(),
            code_range=(LO, HI),
        )
        for a in range(0, n, 400)
    ]
    c, _ = fronts_of(blist)
    assert c["spiky"][3].any() and not c["hard_ok"][1].all() and not c["hard_ok"][0].all()
    assert c["hard_ok"][2].all() and not c["settle"][[0, 2, 3, 4], int(FS) :].any()


@pytest.mark.parametrize("layout", ["C", "F"])
def test_native_detector_same_output_and_events(layout: str) -> None:
    """The whole detector, C against numpy: masks, output and events (blocks
    laid out row-major, as usual, or column-major: the copy into the pending
    rows takes another way)."""
    n = int(2.2 * FS)
    sizes = np.random.default_rng(7).choice([20, 100, 333], 200)
    res = {}
    for native in (True, False):
        det = FaultDetector()
        det.native = native
        outs = []
        for b in blocks(4, n, sizes):
            if layout == "F":
                b = b.replace(data=np.asfortranarray(b.data), codes=np.asfortranarray(b.codes))
            outs.append(det.process(b))
        tail = det.flush()
        if tail is not None:
            outs.append(tail)
        det.finish(n / FS)
        valid = np.concatenate([o.valid for o in outs])
        data = np.concatenate([o.data for o in outs])
        evs = sorted((e.channel, e.kind, round(e.start_s, 6), e.end_s and round(e.end_s, 6)) for e in det.take_events())
        # and what the channels learnt (a level the signal here never reaches
        # differs in no output)
        learnt = np.stack([det._q_low, det._q_low_rest, det._q_hf, det._q_peak, det._q_sd, det._q_hp_rest])
        res[native] = (valid, evs, data, learnt)
    np.testing.assert_array_equal(res[True][0], res[False][0])
    np.testing.assert_array_equal(res[True][2], res[False][2])
    np.testing.assert_array_equal(res[True][3], res[False][3])
    assert res[True][1] == res[False][1]
    assert res[True][1]  # faults were found


@pytest.mark.parametrize("L", [4, 5, 7, 33, 100, 200])
def test_native_hop_features_equal_numpy(L: int) -> None:
    rng = np.random.default_rng(L)
    m = 3
    n = m * L + 5
    det = FaultDetector()
    det._setup(blocks(1, 400, np.array([400]))[0])
    rows = faults._Rows(CH)
    at = rows.reserve(n)
    rows.array("data")[:, at : at + n] = rng.normal(1000, 30, (CH, n))
    hp = np.round(rng.normal(0, 5, (CH, n)), 1)  # ties, as quantised signals have
    hp[0] = np.round(hp[0], -1)  # many ties (the selection's three-way partition)
    hp[4] = 3.0  # all equal
    rows.array("hp")[:, at : at + n] = hp
    rows.array("low")[:, at : at + n] = rng.normal(0, 3, (CH, n))
    codes = rng.integers(-3, 3, (CH, n)).astype(np.int32)
    codes[1] = 5  # one channel stuck
    rows.array("codes")[:, at : at + n] = codes
    rows.n = at + n
    rows.drop(2)  # features start at a live offset
    a = 1
    std, mad, hp_ms, low_ms, hf_ms, same, peak = det._native.hop_features(rows, a, m, L, a)

    def r(name: str) -> np.ndarray:
        return rows.cm(name)[:, a : a + m * L].reshape(CH, m, L)

    d3 = np.diff(r("hp"), 3, axis=2)
    np.testing.assert_allclose(std, r("data").std(axis=2), rtol=1e-12)
    np.testing.assert_array_equal(mad, np.partition(np.abs(r("hp")), L // 2, axis=2)[:, :, L // 2])
    np.testing.assert_allclose(hp_ms, (r("hp") ** 2).mean(axis=2), rtol=1e-12)
    np.testing.assert_allclose(low_ms, (r("low") ** 2).mean(axis=2), rtol=1e-12)
    np.testing.assert_allclose(hf_ms, (d3**2).sum(axis=2) / (20.0 * (L - 3)), rtol=1e-12)
    np.testing.assert_array_equal(same, r("codes").min(axis=2) == r("codes").max(axis=2))
    np.testing.assert_array_equal(peak, np.abs(r("hp")).max(axis=2))
    assert same[1].all() and not same[0].all()


def test_native_mains_projection_equals_numpy() -> None:
    rng = np.random.default_rng(5)
    det = FaultDetector()
    det._setup(blocks(1, 400, np.array([400]))[0])
    L, m = det.hop, 3
    rows = faults._Rows(CH)
    n = (m + 1) * L
    at = rows.reserve(n)
    t = np.arange(n) / FS
    hp = rng.normal(0, 10, (CH, n)) + 80 * np.sin(2 * np.pi * 50 * t + rng.uniform(0, 6, (CH, 1)))
    hp[2] = 60 * np.sin(2 * np.pi * 120 * t)  # a 60 Hz harmonic
    hp[4] = rng.normal(0, 10, n)  # no mains
    rows.array("hp")[:, at : at + n] = hp
    rows.n = at + n
    a = L
    prev = hp[:, :L]
    cur = rows.cm("hp")[:, a : a + m * L].reshape(CH, m, L)
    best_n, total_n = det._mains_numpy(m, L, cur, prev)
    mains_ms = best_n * det._ms_scale
    # the share test alone: the floor is the detector's, per channel (features._mains_floor)
    expected = (mains_ms > 0) & (mains_ms / total_n > det.mains_share)
    # the hop before given apart, or found in the pending rows
    for given in (prev, None):
        best_c, total_c, verdict = det._native.mains(rows, a, m, L, given, det)
        np.testing.assert_allclose(best_c, best_n, rtol=1e-9)
        np.testing.assert_allclose(total_c, total_n, rtol=1e-12)
        np.testing.assert_array_equal(verdict, expected)
    assert (best_n[:4] * det._ms_scale > 0.5 * total_n[:4]).all()  # mains dominates
    assert expected[[0, 1, 3]].all() and not expected[4].any()


@pytest.mark.parametrize("k", [6, 2])
def test_native_mains_as_rows_come_equals_the_projection(k: int) -> None:
    """sio_dsp_mains_acc (the projection hop by hop as rows come, in pieces
    of any size): bit for bit sio_dsp_mains' figures for each hop with the
    one before it (the first with zeros before it)."""
    from sensorio._binding import ffi, lib

    rng = np.random.default_rng(k)
    L, hops, ch = 30, 5, 3
    basis = np.ascontiguousarray(rng.normal(0, 1, (2 * L, 2 * k)))
    hp = np.ascontiguousarray(rng.normal(0, 10, (ch, hops * L)))
    split = k // 2
    acc = np.zeros((ch, 4 * k + 2))
    best, total, verdict = np.empty(ch), np.empty(ch), np.empty(ch, dtype=np.uint8)
    got = []
    at = 0
    while at < hops * L:
        take = min(int(rng.integers(1, 12)), L - at % L)
        rc = lib.sio_dsp_mains_acc(
            ch, take, hops * L, ffi.from_buffer("double[]", hp) + at, L, at % L,
            ffi.from_buffer("double[]", basis), k, split, 1e-3, 1.0, 0.1,
            ffi.from_buffer("double[]", acc), ffi.from_buffer("double[]", best),
            ffi.from_buffer("double[]", total), ffi.from_buffer("uint8_t[]", verdict),
        )  # fmt: skip
        at += take
        assert rc == (at % L == 0)
        if rc:
            got.append((best.copy(), total.copy(), verdict.copy()))
    padded = np.ascontiguousarray(np.hstack([np.zeros((ch, L)), hp]))  # zeros before the first hop
    want_b, want_t = np.empty((ch, hops)), np.empty((ch, hops))
    want_v = np.empty((ch, hops), dtype=np.uint8)
    rc = lib.sio_dsp_mains(
        ch, hops, L, (hops + 1) * L, ffi.from_buffer("double[]", padded) + L,
        ffi.from_buffer("double[]", padded), (hops + 1) * L, ffi.from_buffer("double[]", basis), k, split,
        1e-3, 1.0, 0.1, ffi.from_buffer("double[]", want_b), ffi.from_buffer("double[]", want_t),
        ffi.from_buffer("uint8_t[]", want_v),
    )  # fmt: skip
    assert rc == 0 and len(got) == hops
    for j, (b, t, v) in enumerate(got):
        np.testing.assert_array_equal(b, want_b[:, j])
        np.testing.assert_array_equal(t, want_t[:, j])
        np.testing.assert_array_equal(v, want_v[:, j])
    assert want_v.any() and not want_v.all()


def _features_in_pieces(
    rng: np.random.Generator,
    longest: int,
    hops: int,
    L: int,
    stride: int,
    arrays: tuple[Any, ...],
    sums: np.ndarray,
    *guess: Any,
) -> None:
    """sio_dsp_hop_features_acc over hops of L rows, each in pieces of 1 to
    longest rows: arrays are the pointers to data, hp, low and codes (or
    NULL), sums (hops, channels, SIO_DSP_FEAT_ACC) takes each hop's; guess:
    the guess, mid and scratch pointers (or NULLs)."""
    from sensorio._binding import ffi, lib

    ch = sums.shape[1]
    for j in range(hops):
        pos = 0
        while pos < L:
            to = min(L, pos + int(rng.integers(1, longest + 1)))
            at = j * L
            rows = [a if a == ffi.NULL else a + at for a in arrays]
            hop_sums = ffi.from_buffer("double[]", sums[j])
            assert lib.sio_dsp_hop_features_acc(ch, L, pos, to, stride, *rows, hop_sums, *guess) == 0
            pos = to


@pytest.mark.parametrize("guessed", [False, True])
@pytest.mark.parametrize("L", [4, 7, 30])
def test_native_hop_features_as_rows_come_equal_one_call(L: int, guessed: bool) -> None:
    """sio_dsp_hop_features_acc in pieces of any size, then _end: bit for
    bit sio_dsp_hop_features on the whole hops; with the median's guess
    too, over hops whose level jumps up and down (the guess missing)."""
    from sensorio._binding import ffi, lib

    rng = np.random.default_rng(L)
    ch, m = 3, 8
    stride = m * L + 2
    data = rng.normal(1000, 30, (ch, stride))
    level = np.repeat([1.0, 1.2, 40.0, 35.0, 0.01, 0.0, 1.0, 0.9], L)
    hp = np.round(rng.normal(0, 5, (ch, stride)), 1)
    hp[:, : m * L] *= level
    hp[1, 3] = np.nan  # NaN wins the peak
    low = rng.normal(0, 3, (ch, stride))
    codes = rng.integers(-1, 1, (ch, stride)).astype(np.int32)
    codes[2] = 4  # stuck

    def ptr(a: np.ndarray, kind: str = "double[]"):
        return ffi.from_buffer(kind, a)

    def outputs():
        return np.empty((6, ch, m)), np.empty((ch, m), np.uint8), np.empty(2 * L)

    want, want_same, scratch = outputs()
    assert lib.sio_dsp_hop_features(
        ch, m, L, stride, ptr(data), ptr(hp), ptr(low), ptr(codes, "int32_t[]"), ptr(scratch),
        *(ptr(want[i]) for i in range(5)), ptr(want_same, "uint8_t[]"), ptr(want[5]),
    ) == 0  # fmt: skip
    sums = np.zeros((m, ch, lib.SIO_DSP_FEAT_ACC))
    guess, mid, scratch2 = np.empty((ch, lib.SIO_DSP_BR_GUESS)), np.empty((ch, L)), np.empty(2 * L)
    lib.sio_dsp_br_init(ch, ptr(guess))
    with_guess = (ptr(guess), ptr(mid), ptr(scratch2)) if guessed else (ffi.NULL,) * 3
    arrays = (ptr(data), ptr(hp), ptr(low), ptr(codes, "int32_t[]"))
    _features_in_pieces(rng, 4, m, L, stride, arrays, sums, *with_guess)
    got, got_same, scratch = outputs()
    assert lib.sio_dsp_hop_features_end(
        ch, m, L, stride, ptr(data), ptr(hp), ptr(sums), 1, ptr(scratch),
        *(ptr(got[i]) for i in range(5)), ptr(got_same, "uint8_t[]"), ptr(got[5]),
    ) == 0  # fmt: skip
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_same, want_same)
    assert got_same[2].all() and np.isnan(got[5, 1, 0])
    # the median was taken as the rows came (or not at all without a guess)
    assert (sums[..., lib.SIO_DSP_FEAT_MAD + 1] == 1.0).all() == guessed


def test_detector_features_as_rows_come_equal_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The detector's hop features and spike statistics worked out as the
    rows come give the output and events of those computed when the hop
    completes, in small and big blocks (and are used)."""
    n = int(4 * FS)
    codes, valid, leadoff, x = troubled_signal(4, n)
    x = np.where(valid, x, np.nan)
    # and a clean stretch (the sums serve only hops without flags)
    rng = np.random.default_rng(4)
    codes[int(2.0 * FS) :] = np.rint(rng.normal(0, 40, (n - int(2.0 * FS), CH))).astype(np.int32)
    x[int(2.0 * FS) :] = codes[int(2.0 * FS) :] * 0.5
    valid[int(2.0 * FS) :] = True
    leadoff[int(2.0 * FS) :] = 0
    for sizes in ([37] * (n // 37 + 1), [int(2.5 * FS), n]):
        det = FaultDetector()
        used = []
        end = faults._NativeFront.hop_features

        def counting(self, rows, a, m, L, first, end=end, used=used, **kw):
            used.append(all(first + j * L in self._feat_done for j in range(m)))
            return end(self, rows, a, m, L, first, **kw)

        spikes = faults._NativeFront.hop_spikes
        used_sd = []

        def counting_sd(self, rows, a, m, L, before, first, spikes=spikes, used=used_sd):
            used.append(all(first + j * L in self._sd_done for j in range(m)))
            return spikes(self, rows, a, m, L, before, first)

        with monkeypatch.context() as mp:
            mp.setattr(faults._NativeFront, "hop_features", counting)
            mp.setattr(faults._NativeFront, "hop_spikes", counting_sd)
            ref = _feed(det, sizes, x, valid, leadoff, codes)
        assert any(used) and any(used_sd)
        with monkeypatch.context() as mp:
            mp.setattr(faults._NativeFront, "_feature_rows", lambda self, rows, at, n, start: None)
            det = FaultDetector()
            old = _feed(det, sizes, x, valid, leadoff, codes)
        assert ref[1] == old[1]
        for a, b in zip(ref[0], old[0], strict=True):
            np.testing.assert_array_equal(a.valid, b.valid)
            np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("rate", [FS, 1000.0])
def test_detector_spike_signal_as_rows_come_equals_one_call(rate: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """The spike test's signal worked out as the rows come (into the rows'
    "sd") gives the output and events of the one computed when the rows
    are decided, with spikes, gaps and rails, in small and big blocks (and
    is used)."""
    n = int(4 * FS)
    codes, valid, leadoff, x = troubled_signal(5, n)
    x = np.where(valid, x, np.nan)
    covered = []
    mask = faults._NativeFront.hop_mask

    def counting(self, rows, F, n_dec, n, det, sd, mask=mask):
        sig = self._sig
        covered.append(sig is not None and sig[0] <= det._pend_start and det._pend_start + n <= sig[1])
        return mask(self, rows, F, n_dec, n, det, sd)

    for sizes in ([37] * (n // 37 + 1), [n]):
        with monkeypatch.context() as mp:
            mp.setattr(faults._NativeFront, "hop_mask", counting)
            ref = _feed(FaultDetector(), sizes, x, valid, leadoff, codes, rate)
        with monkeypatch.context() as mp:
            mp.setattr(faults._NativeFront, "_signal_rows", lambda self, rows, at, n, start: None)
            old = _feed(FaultDetector(), sizes, x, valid, leadoff, codes, rate)
        assert ref[1] == old[1] and any(e[1] == "spikes" for e in ref[1])
        for a, b in zip(ref[0], old[0], strict=True):
            np.testing.assert_array_equal(a.valid, b.valid)
            np.testing.assert_array_equal(a.data, b.data)
    assert any(covered) and not all(covered)  # (not at the flush)


def test_detector_mains_verdicts_as_rows_come_equal_the_projection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The detector's mains verdicts worked out as the rows come are those
    projected when a hop completes: the same output and events, with a hum
    on and off, in small and big blocks."""
    n = int(4 * FS)
    t = np.arange(n) / FS
    codes, valid, leadoff, x = troubled_signal(3, n)
    hum = np.where((t > 1.0) & (t < 2.5), 300.0, 0.0)[:, None] * np.sin(2 * np.pi * 50 * t)[:, None]
    x = np.where(valid, x + hum, np.nan)
    for sizes in ([37] * (n // 37 + 1), [n]):
        det = FaultDetector()
        ref = _feed(det, sizes, x, valid, leadoff, codes)
        with monkeypatch.context() as mp:
            mp.setattr(faults._NativeFront, "mains_verdicts", lambda self, first, m, L: None)
            det = FaultDetector()
            old = _feed(det, sizes, x, valid, leadoff, codes)
        assert ref[1] == old[1] and any(e[1] == "mains" for e in ref[1])
        for a, b in zip(ref[0], old[0], strict=True):
            np.testing.assert_array_equal(a.valid, b.valid)
            np.testing.assert_array_equal(a.data, b.data)


def _feed(
    det: FaultDetector,
    sizes: list[int],
    x: np.ndarray,
    valid: np.ndarray,
    leadoff: np.ndarray,
    codes: np.ndarray,
    rate: float = FS,
) -> tuple[list[SignalBlock], list[tuple]]:
    """Feed the whole signal (at rate) to det in blocks of these sizes, flush
    and finish: its outputs and its events (channel, kind, start, end), sorted."""
    n = len(x)
    outs, a = [], 0
    for size in sizes:
        b = min(n, a + size)
        blk = SignalBlock(
            0, x[a:b], valid[a:b], rate, start=a, leadoff=leadoff[a:b], codes=codes[a:b], code_range=(LO, HI)
        )
        outs.append(det.process(blk))
        a = b
    tail = det.flush()
    if tail is not None:
        outs.append(tail)
    det.finish(n / rate)
    return outs, sorted((e.channel, e.kind, e.start_s, e.end_s) for e in det.take_events())


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
def test_detector_mask_is_the_same_in_any_chunking(native: bool) -> None:
    """Small blocks (one hop decided at a time) and big ones (many hops at
    once) give the same mask, data and events: the spike mask's widening runs
    on into later rows and never back across a hop's start (spikes put on
    the last and first rows of 50 ms hops)."""
    n = int(2.2 * FS)
    hop = int(0.05 * FS)
    codes, valid, leadoff, _ = troubled_signal(9, n)
    for r in (10 * hop - 1, 15 * hop, 18 * hop - 2):
        codes[r, 3] = 9000
    x = np.where(valid, codes * 0.5, np.nan)
    res = []
    for sizes in ([20] * 300, [n], [333, 1000, 7, 3060]):
        det = FaultDetector()
        det.native = native
        outs, evs = _feed(det, sizes, x, valid, leadoff, codes)
        res.append((np.concatenate([o.valid for o in outs]), np.concatenate([o.data for o in outs]), evs))
    for valid_out, data, evs in res[1:]:
        np.testing.assert_array_equal(valid_out, res[0][0])
        np.testing.assert_array_equal(data, res[0][1])
        assert evs == res[0][2]
    # the pulses are masked, and forwards across the hop's end
    assert not res[0][0][10 * hop - 1 : 10 * hop + 3, 3].any()


def test_a_big_block_runs_the_front_end_at_once_a_small_one_waits_for_its_hop() -> None:
    """A block of DEFER_BELOW samples or more is featurised when it comes
    (its cost spread over a hop's blocks, not all on the one completing it:
    256 channels in 10 ms blocks); smaller ones wait and run together."""
    from sensorio.dsp.faults import _native

    ch = 256
    small_rows = 2  # 512 samples: waits
    big_rows = -(-_native.DEFER_BELOW // ch)  # at least DEFER_BELOW samples
    assert small_rows * ch < _native.DEFER_BELOW and big_rows < int(0.05 * FS)
    rng = np.random.default_rng(3)
    det = FaultDetector()
    a = 0
    for rows, waits in ((small_rows, True), (big_rows, False), (small_rows, True)):
        codes = rng.integers(-500, 500, (rows, ch)).astype(np.int32)
        blk = SignalBlock(0, codes * 0.5, np.ones((rows, ch), bool), FS, start=a, codes=codes, code_range=(LO, HI))
        det.process(blk)
        a += rows
        native = det._native
        assert native is not None
        assert (native.waiting > 0) == waits


@pytest.mark.parametrize("L", [1, 2, 5, 100])
@pytest.mark.parametrize("ends", ["before", "none"])
def test_native_spike_statistics_equal_numpy(L: int, ends: str) -> None:
    """sio_dsp_hop_spikes: the median and largest |second difference| per
    hop, each hop's last sample 0, bit for bit as numpy's
    (features.second_difference, partition)."""
    from sensorio.dsp.faults.features import second_difference

    rng = np.random.default_rng(L)
    m = 3
    n = m * L + 5
    det = FaultDetector()
    det._setup(blocks(1, 400, np.array([400]))[0])
    rows = faults._Rows(CH)
    at = rows.reserve(n)
    hp = np.round(rng.normal(0, 5, (CH, n)), 1)
    hp[0] = np.round(hp[0], -1)  # ties
    hp[4] = 3.0  # all equal
    rows.array("hp")[:, at : at + n] = hp
    rows.n = at + n
    rows.drop(2)
    a = 1
    before = rng.normal(0, 5, CH) if ends == "before" else None
    assert det._native is not None
    mad, peak = det._native.hop_spikes(rows, a, m, L, before, a)
    x = rows.cm("hp")[:, a : a + m * L]
    sd = np.abs(second_difference(x, before, None)).reshape(CH, m, L)
    sd[:, :, -1] = 0.0
    np.testing.assert_array_equal(mad, np.partition(sd, L // 2, axis=2)[:, :, L // 2])
    np.testing.assert_array_equal(peak, sd.max(axis=2))


@pytest.mark.parametrize("rate", [FS, 1000.0, 500.0])
@pytest.mark.parametrize("before", [True, False])
@pytest.mark.parametrize("after", [True, False])
def test_native_spike_signal_equals_numpy(rate: float, before: bool, after: bool) -> None:
    """sio_dsp_spike_signal: what the spike test reads of the rows to decide
    (the second difference, or below 1 kHz the high-passed signal, 0 next
    to an unusable sample), bit for bit as FaultDetector._spike_signal."""
    rng = np.random.default_rng(int(rate) + 2 * before + after)
    n = 37
    det = FaultDetector()
    blk = blocks(1, 400, np.array([400]))[0]
    det._setup(blk.replace(rate_hz=rate))
    rows = faults._Rows(CH)
    at = rows.reserve(n + 3)
    rows.array("hp")[:, at : at + n + 3] = np.round(rng.normal(0, 5, (CH, n + 3)), 1)
    ok = rng.random((CH, n + 3)) > 0.2
    ok[0] = True
    rows.array("hard_ok")[:, at : at + n + 3] = ok
    rows.n = at + n + 3
    rows.drop(2)
    rows_out = n if after else n + 1  # the row after them pending, or none
    det._pend = rows
    if before:
        det._hp_back = rng.normal(0, 5, (CH, 3))
        det._ok_back = rng.random((CH, 3)) > 0.3
    assert det._native is not None
    want = det._spike_signal(rows_out)
    got = np.full((CH, rows.cap), np.nan)
    ffi = det._native._ffi
    det._native.spike_signal(rows, rows_out, det, ffi.from_buffer("double[]", got) + rows.o)
    np.testing.assert_array_equal(got[:, rows.o : rows.o + rows_out], want)
    assert np.isnan(got[:, : rows.o]).all() and np.isnan(got[:, rows.o + rows_out :]).all()


@pytest.mark.parametrize("hop_s", [0.05, 0.02])
@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
def test_spike_test_the_same_in_any_chunking(native: bool, hop_s: float) -> None:
    """The spike test's thresholds, mask and events do not depend on where
    the blocks were cut: a hop's statistics never read the row after it
    (which may not have arrived), the lone-pulse rule reads each second
    difference with its true neighbours and never past the look-ahead (short
    hops too), and nothing reads the filters' output on unusable rows (what
    they give there depends on the cuts). Pulses 20 ms apart, at hop ends,
    near the stream's end, beside a channel valid only later."""
    n = int(2.2 * FS)
    hop = int(round(hop_s * FS))
    codes, valid, leadoff, _ = troubled_signal(9, n)
    for r in (10 * hop - 1, 15 * hop, 18 * hop - 2, n - 3):
        codes[r, 3] = 9000
    codes[999, 0] += 4000
    codes[1039, 0] += 2800  # 20 ms after the one before
    codes[int(0.071 * FS), 4] += 3000  # just after channel 4 becomes valid
    x = np.where(valid, codes * 0.5, np.nan)
    res = []
    for sizes in ([20] * 300, [n], [333, 1000, 7, 3060], [hop] * 200, [hop + 1] * 200):
        det = FaultDetector(hop_s=hop_s)
        det.native = native
        thresholds: dict[int, np.ndarray] = {}
        orig = det._spike_threshold

        def spy(n_dec: int, det: FaultDetector = det, orig=orig, thresholds=thresholds) -> tuple:
            thr, med = orig(n_dec)
            for k in range(n_dec):
                thresholds[det._pend_start // hop + k] = thr[k].copy()
            return thr, med

        det._spike_threshold = spy  # type: ignore[method-assign]
        outs, evs = _feed(det, sizes, x, valid, leadoff, codes)
        res.append((np.concatenate([o.valid for o in outs]), evs, thresholds))
    for valid_out, evs, thresholds in res[1:]:
        np.testing.assert_array_equal(valid_out, res[0][0])
        assert evs == res[0][1]
        assert thresholds.keys() == res[0][2].keys()
        for k, thr in thresholds.items():
            np.testing.assert_array_equal(thr, res[0][2][k])
    assert any(e[1] == "spikes" for e in res[0][1])


def test_native_hop_medians_with_guesses_equal_one_call_on_random_hops() -> None:
    """The hop medians taken as the rows come against a guess (csrc/sio_dsp.c,
    sio_dsp_br_add) give the bits of the one-call functions on random hops:
    levels jumping from zero to 30 x, NaN, infinities and -0.0 anywhere,
    pieces of 1-6 rows, hop lengths 1-59."""
    from sensorio._binding import ffi, lib

    def ptr(a: np.ndarray) -> object:
        return ffi.from_buffer("double[]", a)

    rng = np.random.default_rng(7)
    for _ in range(100):
        L, ch, m = int(rng.integers(1, 60)), int(rng.integers(1, 5)), int(rng.integers(1, 8))
        stride = m * L
        hp = rng.normal(0, 1, (ch, stride)) * np.repeat(rng.choice([0.0, 0.01, 1.0, 30.0], m), L)
        for _ in range(int(rng.integers(0, 3))):
            hp[rng.integers(ch), rng.integers(stride)] = rng.choice([np.nan, np.inf, -np.inf, -0.0])
        scratch, mid = np.empty(2 * L), np.empty((ch, L))
        want = np.empty((2, ch, m))
        assert lib.sio_dsp_hop_spikes(
            ch, m, L, stride, ptr(hp), ffi.NULL, ptr(scratch), ptr(want[0]), ptr(want[1])
        ) == 0  # fmt: skip
        buf, count = np.empty((ch, L)), np.zeros((ch, lib.SIO_DSP_SPIKE_COUNT))
        guess = np.empty((ch, lib.SIO_DSP_BR_GUESS))
        lib.sio_dsp_br_init(ch, ptr(guess))
        got = np.empty((2, ch, m))
        for j in range(m):
            pos = 0
            while pos < L:
                to = min(L, pos + int(rng.integers(1, 7)))
                assert lib.sio_dsp_hop_spikes_acc(
                    ch, L, pos, to, stride, ptr(hp) + j * L, j > 0, ptr(buf), ptr(count), ptr(guess), ptr(mid)
                ) == 0  # fmt: skip
                pos = to
            mad, peak = np.empty(ch), np.empty(ch)
            assert lib.sio_dsp_hop_spikes_end(
                ch, L, ptr(buf), ptr(scratch), ptr(mad), ptr(peak), ptr(count), ptr(guess), ptr(mid)
            ) == 0  # fmt: skip
            got[0, :, j], got[1, :, j] = mad, peak
        np.testing.assert_array_equal(got, want)
        if L < 4:
            continue
        data, low = rng.normal(0, 1, (ch, stride)), rng.normal(0, 1, (ch, stride))
        want_f, got_f = np.empty((6, ch, m)), np.empty((6, ch, m))
        assert lib.sio_dsp_hop_features(
            ch, m, L, stride, ptr(data), ptr(hp), ptr(low), ffi.NULL, ptr(scratch),
            *(ptr(want_f[i]) for i in range(5)), ffi.NULL, ptr(want_f[5]),
        ) == 0  # fmt: skip
        sums = np.zeros((m, ch, lib.SIO_DSP_FEAT_ACC))
        lib.sio_dsp_br_init(ch, ptr(guess))
        arrays = (ptr(data), ptr(hp), ptr(low), ffi.NULL)
        _features_in_pieces(rng, 6, m, L, stride, arrays, sums, ptr(guess), ptr(mid), ptr(scratch))
        assert lib.sio_dsp_hop_features_end(
            ch, m, L, stride, ptr(data), ptr(hp), ptr(sums), 0, ptr(scratch),
            *(ptr(got_f[i]) for i in range(5)), ffi.NULL, ptr(got_f[5]),
        ) == 0  # fmt: skip
        assert got_f.tobytes() == want_f.tobytes()


def test_pending_rows_move_to_the_front_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the room at the end runs out, the live rows move to the front of
    each field in place (C), the same rows as numpy's copy, without numpy's
    temporary of every field (the bounds of two column ranges of one array
    overlap: 0.9 ms at 256 channels, about once a second, before)."""
    import tracemalloc

    from sensorio.dsp.faults import _buffers

    ch, n_block, keep = 64, 40, 440
    rng = np.random.default_rng(7)

    def block(counter: int) -> dict[str, np.ndarray]:
        out = {}
        for k, t in _buffers.ROW_FIELDS.items():
            v = (np.arange(n_block)[None, :] + counter + 1000 * np.arange(ch)[:, None]) % 251
            out[k] = v.astype(t) if t is not np.bool_ else (v % 3 == 0)
        return out

    def run(rows: Any) -> tuple[list[int], dict[str, np.ndarray], int]:
        counter, moves, peak = 0, [], 0
        while len(moves) < 3:
            o, new = rows.o, block(counter)
            tracemalloc.start()
            rows.append(new)
            moved = rows.o != o and o > 0
            if moved:
                peak = max(peak, tracemalloc.get_traced_memory()[1])
                moves.append(counter)
            tracemalloc.stop()
            counter += n_block
            if len(rows) > keep:
                rows.drop(int(rng.integers(1, len(rows) - keep + 1)))
        return moves, {k: rows.cm(k).copy() for k in _buffers.ROW_FIELDS}, peak

    c_moves, c_live, c_peak = run(_buffers._Rows(ch))
    monkeypatch.setattr(_buffers, "_lib", None)  # numpy's copy
    rng = np.random.default_rng(7)
    np_moves, np_live, np_peak = run(_buffers._Rows(ch))
    assert c_moves == np_moves  # the same history: the same rows live at the end
    for k in _buffers.ROW_FIELDS:
        np.testing.assert_array_equal(c_live[k], np_live[k])
    live_bytes = ch * keep * 8  # one float field's live rows, at least
    assert np_peak >= live_bytes  # numpy's temporary
    assert c_peak < live_bytes // 4


def test_the_optional_core_is_given_only_with_the_function_asked_for() -> None:
    """The DSP kernels' numpy twins take over when the C core lacks their
    function (an older build): native_with gives (None, None) then."""
    from sensorio._binding import lib
    from sensorio._optional_native import native_with

    ffi_, lib_ = native_with("sio_dsp_rows_move")
    assert lib_ is lib and ffi_ is not None
    assert native_with("sio_no_such_function") == (None, None)


def test_the_tails_kept_as_views_survive_the_pending_rows_moving() -> None:
    """The rows before the pending ones that the lone-pulse rule looks back
    on (_hp_back, _ok_back, _data_back) are views of the pending buffer until
    its rows move to the front: a block big enough that its rows land where
    the tails were finds them copied first, unchanged when next read."""
    n = int(8 * FS)
    codes, valid, leadoff, x = troubled_signal(4, n)
    det = FaultDetector()
    names = ("_hp_back", "_ok_back", "_data_back")
    kept: list[np.ndarray] = []
    real, moves = det._decide, []

    def checked(final: bool) -> SignalBlock:
        for k, b in zip(names, kept or [None] * 3, strict=True):  # as the last call left them
            if b is not None:
                np.testing.assert_array_equal(getattr(det, k), b)
        out = real(final)
        kept[:] = [getattr(det, k).copy() for k in names]
        return out

    det._decide = checked  # type: ignore[method-assign]
    a = 0
    while a < n:
        size = 40
        rows = det._pend if det._ch else None
        if rows is not None and rows.o > rows.cap // 3 and not moves:
            # the rows move to the front (the buffer does not grow), the new
            # ones filling the room up to where the tails were
            size = rows.cap - rows.n + 1
            assert 4 * (len(rows) + size) <= 3 * rows.cap and len(rows) + size > rows.o
            moves.append(rows.generation)
        b = min(n, a + size)
        det.process(
            SignalBlock(0, np.ascontiguousarray(x[a:b]), valid[a:b].copy(), FS, start=a,
                        leadoff=leadoff[a:b].copy(), codes=codes[a:b].copy(), code_range=(LO, HI))
        )  # fmt: skip
        a = b
    assert moves and det._pend.generation == moves[0]  # moved, not grown


def test_one_hop_of_learning_in_c_equals_the_loop() -> None:
    """FaultDetector._learn of one hop through C (sio_dsp_learn_hop) gives
    the bits of its numpy loop, outputs and learnt levels, hop after hop,
    on figures with zeros, NaN and infinities among them; a channel's first
    judged hop leaves it to the loop."""
    rng = np.random.default_rng(11)
    ch = CH
    dets = []
    for native in (True, False):
        det = FaultDetector()
        det.process(blocks(5, 400, np.array([400]))[0])
        if not native:  # the loop runs where there is no C front end
            det._native = None
        dets.append(det)
    names = ("_q_low", "_q_low_rest", "_q_peak", "_q_peak_ref", "_q_peak_set", "_q_low_set", "_q_rest_set")
    dets[0]._q_rest_set[:] = True
    for d in dets[1:]:
        for k in names:
            setattr(d, k, getattr(dets[0], k).copy())
    real, used = dets[0]._native.learn_hop, []

    def counted(*a: Any) -> Any:
        got = real(*a)
        used.append(got is not None)
        return got

    dets[0]._native.learn_hop = counted  # type: ignore[method-assign,union-attr]
    rest_starts = 0
    for hop in range(400):

        def figure(scale: float) -> np.ndarray:
            x = rng.lognormal(np.log(scale), 1.0, (ch, 1))
            odd = rng.random((ch, 1))
            return np.where(odd < 0.03, 0.0, np.where(odd < 0.05, np.nan, np.where(odd < 0.06, np.inf, x)))

        low_ms, peak, mad = figure(400.0), figure(60.0), figure(8.0)
        share = np.where(rng.random((ch, 1)) < 0.03, np.nan, rng.random((ch, 1)))
        flags = [rng.random((ch, 1)) < p for p in (0.9, 0.8, 0.8)]
        if hop % 50 == 0:  # a channel's first judged hop now and then
            for d in dets:
                d._q_low_set[hop % ch] = False
        if hop % 50 == 25:  # ... and its first rest hop, where the loop runs too
            for d in dets:
                d._q_rest_set[hop % ch] = False
        with np.errstate(all="ignore"):
            llow = 0.5 * np.log10(low_ms)
        rest_starts += bool((flags[2] & ~dets[0]._q_rest_set[:, None] & np.isfinite(llow)).any())
        outs = []
        for det in dets:
            with np.errstate(all="ignore"):
                outs.append(det._learn(*flags, low_ms, share, peak, mad))
        for a, b in zip(*outs, strict=True):
            np.testing.assert_array_equal(a.view(np.int64), b.view(np.int64))
        for k in names:  # (floats compared as their bits)
            a, b = (getattr(d, k) for d in dets)
            np.testing.assert_array_equal(*((x.view(np.int64) if x.dtype == float else x) for x in (a, b)))
    # most hops through C, the first judged ones not, nor (never calling it)
    # those with a first rest hop
    assert rest_starts >= 4
    assert 300 < sum(used) < len(used) == 400 - rest_starts


def busy_signal(seed: int, n: int, ch: int = 8) -> list[SignalBlock]:
    """10 ms blocks of EMG-like noise with something on most channels: a
    broadband burst, a hum that comes and goes, slow swings (motion), spikes,
    a gap, a stuck code and its restart, a rail, a lead-off."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    level = 20 + 200 * np.clip(np.sin(2 * np.pi * t / 2.5), 0, None) ** 2
    x = rng.normal(0, 1, (n, ch)) * level[:, None]
    for at, c in ((1.0, 0), (3.8, 0), (1.9, 7)):  # broadband noise
        x[int(at * FS) : int(at * FS) + 600, c] += rng.normal(0, 150, 600)
    on = (np.sin(2 * np.pi * t / 1.7) > 0).astype(float)
    x[:, 1] += 60 * on * np.sin(2 * np.pi * 50 * t)  # hum on and off
    swing = (t > 2.0) & (t < 3.5)
    x[:, 2] += 600 * swing * np.sin(2 * np.pi * 2 * t)  # motion
    x[rng.choice(n, 15, replace=False), 3] += 4000  # spikes
    x[int(2.2 * FS) : int(2.6 * FS), 5] = 123.0  # stuck, then a restart
    x[:, 6] *= 0.02  # a quiet channel: its noise floor starts from its first hop
    x[int(3.0 * FS) : int(3.2 * FS), 6] = HI * 0.5  # rail
    codes = np.clip(np.rint(x / 0.5), LO, HI).astype(np.int32)
    valid = np.ones((n, ch), dtype=bool)
    valid[int(1.5 * FS) : int(1.7 * FS), 4] = False  # a gap
    for at in (2.5, 3.3, 4.1):  # short ones (no restart)
        valid[int(at * FS) : int(at * FS) + 20, 4] = False
    leadoff = np.zeros(n, dtype=np.uint64)
    leadoff[int(4.0 * FS) : int(4.2 * FS)] = 1 << 7
    data = np.where(valid, codes * 0.5, np.nan)
    rows = int(0.01 * FS)
    return [
        SignalBlock(0, np.ascontiguousarray(data[a : a + rows]), valid[a : a + rows].copy(), FS, start=a,
                    leadoff=leadoff[a : a + rows].copy(), codes=codes[a : a + rows].copy(), code_range=(LO, HI))
        for a in range(0, n, rows)
    ]  # fmt: skip


def _c_against_reference(dets: list[FaultDetector], name: str) -> list[bool]:
    """Route dets[0]'s native step name through a record of whether it
    served each call (its result not None), and make dets[1]'s always
    decline (None: the reference's path). Returns the record."""
    used: list[bool] = []
    real = getattr(dets[0]._native, name)

    def counted(*a: Any) -> Any:
        got = real(*a)
        used.append(got is not None)
        return got

    setattr(dets[0]._native, name, counted)
    setattr(dets[1]._native, name, lambda *a: None)
    return used


#: the carried state sio_dsp_judge_hop moves on (and what comes before it in the hop)
JUDGED_STATE = (
    "_q_hf", "_noise_ms", "_last_noise_hop", "_settle_hops", "_q_low", "_q_low_rest", "_q_peak",
    "_q_peak_ref", "_q_peak_set", "_q_low_set", "_ring_ref", "_motion_prev", "_motion_rising",
    "_q_sd", "_q_sd_set", "_last_gap_hop", "_q_hp_rest", "_q_hf_set", "_q_rest_set",
)  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2])
def test_the_usual_hops_verdicts_in_c_equal_the_reference(seed: int) -> None:
    """A usual hop's mains floor and verdict (sio_dsp_mains_judge) and the
    rest after its mains test (sio_dsp_judge_hop) through C give the bits
    of the numpy code: outputs, events and every carried state, block after
    block, on a signal with noise, hum, motion, spikes, a gap, a stuck code,
    a rail and a lead-off; a hop with a motion candidate or a channel's
    first judged, usable or rest hop leaves the rest to the numpy code."""
    blist = busy_signal(seed, int(5 * FS))
    dets = [FaultDetector(), FaultDetector()]
    dets[0].process(blist[0])
    dets[1].process(blist[0])
    used = _c_against_reference(dets, "judge_hop")
    mains = dets[1]._mains
    dets[1]._mains = lambda *a, logs=None: mains(*a[:6])  # type: ignore[method-assign]  # (numpy's floor)
    for b in blist[1:]:
        outs = [d.process(b) for d in dets]
        np.testing.assert_array_equal(outs[0].valid, outs[1].valid)
        np.testing.assert_array_equal(outs[0].data, outs[1].data)
        for k in JUDGED_STATE:  # (floats compared as their bits)
            a, c = (getattr(d, k) for d in dets)
            np.testing.assert_array_equal(*((v.view(np.int64) if v.dtype == float else v) for v in (a, c)), err_msg=k)
        for a, c in zip(dets[0]._mains_hist, dets[1]._mains_hist, strict=True):
            np.testing.assert_array_equal(a, c)
    evs = [[(e.channel, e.kind, e.start_s, e.end_s, e.detected_s) for e in d.take_events()] for d in dets]
    assert evs[0] == evs[1] and {k for _, k, *_ in evs[0]} >= {"noise", "mains", "motion", "spikes", "stuck"}
    # many hops in C, some not (the stream's first second, whose hops C
    # used to serve, is numpy's at 2 kHz: features.SPIKE_FAST_HOPS)
    assert 0.4 * len(used) < sum(used) < len(used)


def settling_signal(seed: int, n: int, rows: int, ch: int = 8) -> list[SignalBlock]:
    """Blocks of rows of EMG-like noise with what a settling hop may hold
    after its early ones -- short gaps, spikes, broadband noise --, at the
    stream's start and after a stuck code's restart; a channel flat for
    0.6 s (its band not zero), one never live, one with an artifact in its
    first seconds (where the 1-20 Hz band's rest is learnt from the
    settling hops: features._learn)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    x = rng.normal(0, 20, (n, ch))
    x[:, [0, 2, 6]] *= 0.15  # quiet ones
    valid = np.ones((n, ch), dtype=bool)
    for at in (0.3, 0.52, 0.71, 2.33):  # short gaps (no restart), the last after a restart
        valid[int(at * FS) : int(at * FS) + 20, 0] = False
    x[int(2.0 * FS) : int(2.2 * FS), 0] = 123.0  # stuck: a restart
    x[: int(0.6 * FS), 1] = 10.0  # flat, then alive
    x[: int(0.6 * FS) : 100, 1] = 10.5  # (one code off a hop: the band is not zero)
    for at in (0.27, 0.41, 0.63, 0.77):  # spikes while settling
        x[int(at * FS), 2] += 4000
    for at, m in ((0.2, 0.1), (0.55, 0.05)):  # broadband noise while settling
        x[int(at * FS) : int(at * FS) + int(m * FS), 3] += rng.normal(0, 150, int(m * FS))
    x[:, 4] = 7.0  # never live
    x[::100, 4] = 7.5
    x[int(1.5 * FS) : int(1.7 * FS), 5] = 55.0  # stuck, then a spike and a gap while settling
    x[int(2.0 * FS), 5] += 4000
    valid[int(2.2 * FS) : int(2.2 * FS) + 15, 5] = False
    x[int(1.0 * FS) : int(1.5 * FS), 6] += 20 * np.sin(2 * np.pi * 2 * t[: int(0.5 * FS)])  # motion
    codes = np.clip(np.rint(x / 0.5), LO, HI).astype(np.int32)
    data = np.where(valid, codes * 0.5, np.nan)
    return [
        SignalBlock(0, np.ascontiguousarray(data[a : a + rows]), valid[a : a + rows].copy(), FS, start=a,
                    codes=codes[a : a + rows].copy(), code_range=(LO, HI))
        for a in range(0, n, rows)
    ]  # fmt: skip


@pytest.mark.parametrize("seed,rows", [(1, 20), (2, 100), (3, 20)])
def test_the_bands_rest_from_the_settling_hops_in_c_equals_the_reference(seed: int, rows: int) -> None:
    """The 1-20 Hz band's rest, learnt from the judged hops and the settling
    hops after their early ones (not blocked, after noise or a gap, nor
    spiked; live), and started from the first of them: through C
    (sio_dsp_judge_hop) the bits of the numpy code, with every carried
    state, outputs and events, block after block."""
    blist = settling_signal(seed, int(4 * FS), rows)
    dets = [FaultDetector(), FaultDetector()]
    for d in dets:
        d.process(blist[0])  # (the detector's state is made on its first block)
    used = _c_against_reference(dets, "judge_hop")
    for b in blist[1:]:
        outs = [d.process(b) for d in dets]
        for o in ([o.valid for o in outs], [o.data for o in outs]) if outs[0] is not None else ():
            np.testing.assert_array_equal(*o)
        for k in JUDGED_STATE:  # (floats compared as their bits)
            a, c = (getattr(d, k) for d in dets)
            np.testing.assert_array_equal(*((v.view(np.int64) if v.dtype == float else v) for v in (a, c)), err_msg=k)
    evs = [[(e.channel, e.kind, e.start_s, e.end_s, e.detected_s) for e in d.take_events()] for d in dets]
    assert evs[0] == evs[1]
    assert dets[0]._q_rest_set.tolist() == [True] * 4 + [False] + [True] * 3  # channel 4 never live
    assert sum(used) > 0.5 * len(used)  # most hops in C


@pytest.mark.parametrize("kind", ["saturation", "flat", "motion", "noise", "mains"])
def test_one_hop_of_hysteresis_in_c_equals_the_reference(kind: str) -> None:
    """FaultDetector._latch of one hop through C (sio_dsp_latch_hop) gives
    the numpy code's integers, outputs and carried marks, hop after hop, on
    conditions that come and go in runs of every length, with and without
    their first and last flagged rows."""
    rng = np.random.default_rng(3)
    dets = []
    for _ in range(2):
        det = FaultDetector()
        det.process(blocks(5, 400, np.array([400]))[0])
        dets.append(det)
    native = dets[0]._native
    dets[1]._native = None  # the numpy code
    ch, hop = CH, dets[0].hop
    was = np.zeros(ch, dtype=bool)
    turned = [0, 0]
    for g in range(300):
        # runs: each channel keeps its condition for a while
        cond = rng.random((1, ch)) < np.where(g % 40 < 20, 0.8, 0.15)
        rows = (rng.integers(0, hop, (1, ch)), rng.integers(0, hop, (1, ch))) if g % 3 else (None, None)
        start = 1000 + g * hop
        outs = []
        for det in dets:
            det.health_state[kind][:] = was
            outs.append(det._latch(kind, cond, np.array([g]), np.array([start]), *rows))
            outs.append(det._clean_cache[1])
        for a, b in zip(outs[: len(outs) // 2], outs[len(outs) // 2 :], strict=True):
            np.testing.assert_array_equal(a, b)
        for k in ("lf", "lt", "onset", "flag"):
            np.testing.assert_array_equal(dets[0]._carry[kind][k], dets[1]._carry[kind][k])
        assert dets[0]._carry[kind]["lf"].base is dets[0]._lf  # still a row of _lf
        was = outs[0][0][0]
        turned[0] += int(outs[0][1].sum())
        turned[1] += int(outs[0][2].sum())
    assert native is not None and min(turned) > 10  # on and off, again and again


def test_the_output_made_as_the_rows_come_equals_its_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The output's data and codes of a hop made as its rows came
    (_NativeFront._stage: blocks smaller than a hop) equal the copy of the
    pending rows made at the output, and stay so while the pending rows move
    on and are overwritten; a hop that came partly in a bigger block, and a
    block that is cut across hops, are copied as before."""
    from sensorio.dsp.faults import _native

    monkeypatch.setattr(_native, "DEFER_BELOW", 0)  # (small blocks of few channels run at once)
    blist = busy_signal(4, int(6 * FS))
    # blocks of 20 rows, then 13, then one of 150 (more than a hop), then 20
    data = np.concatenate([b.data for b in blist])
    valid = np.concatenate([b.valid for b in blist])
    codes = np.concatenate([b.codes for b in blist])
    leadoff = np.concatenate([b.leadoff for b in blist])
    cuts = list(range(0, int(2 * FS), 20)) + list(range(int(2 * FS), int(4 * FS), 13))
    cuts += [int(4 * FS) + 150 * k for k in range(2)] + list(range(int(4 * FS) + 300, len(data), 20)) + [len(data)]
    blocks_ = [
        SignalBlock(0, data[a:b], valid[a:b], FS, start=a, leadoff=leadoff[a:b], codes=codes[a:b],
                    code_range=(LO, HI))
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]  # fmt: skip
    dets = [FaultDetector(), FaultDetector()]
    outs = [[d.process(blocks_[0])] for d in dets]
    staged = _c_against_reference(dets, "take_staged")
    for blk in blocks_[1:]:
        for out, det in zip(outs, dets, strict=True):
            out.append(det.process(blk))
    for a, b in zip(*outs, strict=True):
        assert a.start == b.start
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(a.codes, b.codes)
        np.testing.assert_array_equal(a.valid, b.valid)
    assert 0.9 * len(staged) < sum(staged) < len(staged)  # hops staged (in 13-row blocks too), some copied


@pytest.mark.parametrize("ch", [16, 128])
def test_pending_rows_never_move_on_a_block_completing_a_hop(monkeypatch: pytest.MonkeyPatch, ch: int) -> None:
    """The pending rows move to the front of their buffer now and then (0.45
    ms at 256 channels): on a block that completes no hop, never on one that
    does (already the dearest block), whether the blocks wait for their hop
    (16 channels: the front end runs on the block completing it) or not;
    the buffer does not grow for it."""
    from sensorio.dsp.faults import _buffers

    fs, n_block = 4000.0, 40
    moves: list[int] = []
    calls = [0]
    to_front = _buffers._Rows._to_front

    def recorded(self: Any, live: int) -> None:
        moves.append(calls[0])
        to_front(self, live)

    monkeypatch.setattr(_buffers._Rows, "_to_front", recorded)
    rng = np.random.default_rng(3)
    det = FaultDetector()
    on_hop_block = []
    for i in range(400):
        codes = np.rint(rng.normal(0, 300, (n_block, ch))).astype(np.int32)
        block = SignalBlock(0, codes * 0.5, np.ones((n_block, ch), dtype=bool), fs, start=i * n_block, codes=codes)
        calls[0] = i
        before = len(moves)
        out = det.process(block)
        if len(moves) > before and len(out):
            on_hop_block.append(i)
    assert len(moves) >= 3  # (the test saw some)
    assert on_hop_block == []
    assert det._pend.cap == _buffers._Rows.MIN_CAP


def test_the_hops_largest_deviation_known_ahead_gives_the_same_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hop's largest |spike signal - median| worked out on a block that
    completes no hop (_NativeFront.hop_far), which lets the output mask skip
    the hop's rows where nothing is beyond the threshold: the same output
    and events as without it, spikes and all, in blocks of 20 and 13 rows
    (and it is used); planted too low, it hides spikes."""
    from sensorio.dsp.faults import _native

    monkeypatch.setattr(_native, "DEFER_BELOW", 0)  # (small blocks of few channels run at once)
    n = int(4 * FS)
    codes, valid, leadoff, data = troubled_signal(5, n)
    data = np.where(valid, data, np.nan)
    known = []
    mask, far = _native._NativeFront.hop_mask, _native._NativeFront.hop_far

    def counting(self, rows, F, n_dec, n, det, sd):  # type: ignore[no-untyped-def]
        known.append(bool((F["far"][:n_dec] >= 0.0).all()))
        return mask(self, rows, F, n_dec, n, det, sd)

    def planted(self, rows, F, det):  # type: ignore[no-untyped-def]
        far(self, rows, F, det)
        F["far"][F["far"] > 0.0] = 0.0  # "nothing beyond"

    for size in (20, 13):
        sizes = [size] * (n // size + 1)
        with monkeypatch.context() as mp:
            mp.setattr(_native._NativeFront, "hop_mask", counting)
            ref = _feed(FaultDetector(), sizes, data, valid, leadoff, codes)
        with monkeypatch.context() as mp:
            mp.setattr(_native._NativeFront, "hop_far", lambda self, rows, F, det: None)
            old = _feed(FaultDetector(), sizes, data, valid, leadoff, codes)
        assert ref[1] == old[1] and any(e[1] == "spikes" for e in ref[1])
        for a, b in zip(ref[0], old[0], strict=True):
            np.testing.assert_array_equal(a.valid, b.valid)
            np.testing.assert_array_equal(a.data, b.data)
        assert sum(known) > 0.8 * len(known)  # (not at the flush, nor in the first hops)
        known.clear()
        with monkeypatch.context() as mp:
            mp.setattr(_native._NativeFront, "hop_far", planted)
            wrong = _feed(FaultDetector(), sizes, data, valid, leadoff, codes)
        assert wrong[1] != ref[1]


def test_the_narrowband_projection_is_the_same_bits_ahead_and_in_any_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    """The narrowband test's projections (FaultDetector._narrowband: the
    hop before on the basis's first half plus the hop on its second half,
    piece by piece, every channel's) are the same bits whether worked out
    as the rows came (_nb_ahead, on blocks that complete no hop) or on the
    block that needs them, and whatever the chunking (one hop at a time,
    many, odd blocks), C or numpy: hums on some channels, then on all,
    coming and going. Fails on a first half or a piece worked out ahead
    one ulp off."""
    from sensorio.dsp.faults import _native

    monkeypatch.setattr(_native, "DEFER_BELOW", 0)  # (small blocks of few channels run at once)
    n = int(4 * FS)
    t = np.arange(n) / FS
    rng = np.random.default_rng(11)
    x = rng.normal(0.0, 10.0, (n, 8))
    hum = 80.0 * np.sin(2 * np.pi * 50.0 * t)
    x[:, 1:4] += (hum * ((t > 0.6) & (t < 2.2)))[:, None]
    x += np.outer(hum * ((t > 2.6) & (t < 3.4)), np.linspace(0.5, 1.0, 8))
    codes = np.clip(np.rint(x / 0.5), LO, HI).astype(np.int32)
    x = codes * 0.5
    valid = np.ones((n, 8), dtype=bool)
    leadoff = np.zeros(n, dtype=np.uint64)
    narrowband, sides = FaultDetector._narrowband, FaultDetector._lines_and_sides
    ahead = FaultDetector._nb_ahead
    got: list[np.ndarray] = []
    state = {"main": False, "ahead": 0}

    def marking(self, *args, **kw):  # type: ignore[no-untyped-def]
        state["main"] = True
        return narrowband(self, *args, **kw)

    def recording(self, proj):  # type: ignore[no-untyped-def]
        if state["main"]:  # the candidates' projections (not _own_hum's)
            got.append(proj.copy())
            state["main"] = False
        return sides(self, proj)

    def counting(self, come):  # type: ignore[no-untyped-def]
        state["ahead"] += 1
        ahead(self, come)

    def one_ulp_off(self, come):  # type: ignore[no-untyped-def]
        ahead(self, come)
        if self._nb_before is not None:
            start, first = self._nb_before
            self._nb_before = (start, np.nextafter(first, np.inf))

    def piece_ulp_off(self, come):  # type: ignore[no-untyped-def]
        ahead(self, come)
        if self._nb_cur is not None:
            start, done, acc = self._nb_cur
            self._nb_cur = (start, done, np.nextafter(acc, np.inf))

    def run(sizes: list[int], native: bool, patch: Any = None) -> list[bytes]:
        got.clear()
        with monkeypatch.context() as mp:
            mp.setattr(FaultDetector, "_narrowband", marking)
            mp.setattr(FaultDetector, "_lines_and_sides", recording)
            if patch is not None:
                mp.setattr(FaultDetector, "_nb_ahead", patch)
            det = FaultDetector()
            det.native = native
            _feed(det, sizes, x, valid, leadoff, codes)
        return [row.tobytes() for arr in got for row in arr]

    small = [20] * (n // 20 + 1)
    ref = run(small, True, counting)
    assert state["ahead"] > 20 and len(ref) > 100  # (worked out ahead, candidates on many hops)
    assert run(small, True, lambda self, come: None) == ref  # (on the block that needs it)
    assert run(small, False) == ref
    for sizes in ([n], [333, 1000, 7, 3060, n]):
        for native in (True, False):
            assert sorted(run(sizes, native)) == sorted(ref)
    assert run(small, True, one_ulp_off) != ref  # (they are used, bit for bit)
    assert run(small, True, piece_ulp_off) != ref


def _rechunked(blist: list[SignalBlock], size: int) -> list[SignalBlock]:
    """The blocks' rows again, in blocks of size rows."""
    cat = {k: np.concatenate([getattr(b, k) for b in blist]) for k in ("data", "valid", "leadoff", "codes")}
    n = len(cat["data"])
    return [
        SignalBlock(0, np.ascontiguousarray(cat["data"][a : a + size]), cat["valid"][a : a + size].copy(), FS,
                    start=a, leadoff=cat["leadoff"][a : a + size].copy(), codes=cat["codes"][a : a + size].copy(),
                    code_range=(LO, HI))
        for a in range(0, n, size)
    ]  # fmt: skip


@pytest.mark.parametrize("size", [20, 37, 333])
def test_the_mad_finished_only_where_read_gives_the_same_bits(size: int) -> None:
    """The usual hop's median of |hp| finished on the block completing the
    hop only where its verdicts read it (a peak above the spike floor and
    the MAD's threshold; _NativeFront.finish_mads), every one when the
    reference's path runs:
    outputs, events and every carried state, block after block, those of
    finishing every one on the hop's block, and the numpy detector's; in
    10 ms blocks, odd ones and ones completing several hops at once, with a
    reset in the middle (what was left to finish is dropped with it)."""
    blist = _rechunked(busy_signal(3, int(5 * FS)), size)
    # a quiet channel with rare pulses below the spike flags' 50 uV floor
    # but far above its own peaks (its peak level set there: it would take
    # seconds to learn down from that floor) and its MAD: outliers that do
    # not teach the peak level (where the MAD is read), in usual hops
    rng = np.random.default_rng(5)
    for b in blist:
        r = np.arange(b.start, b.start + len(b.data))
        b.data[:, 0] = rng.normal(0, 2.0, len(r)) + np.where(r % 1500 == 700, 45.0, 0.0)
        b.valid[:, 0] = True

    def quiet_peak(d: FaultDetector) -> None:
        d._q_peak[0], d._q_peak_set[0] = np.log10(7.0), True  # (in place: C points at them)

    dets = [FaultDetector(), FaultDetector(), FaultDetector()]
    dets[2].native = False
    for d in dets:
        d.process(blist[0])
        quiet_peak(d)
    real = dets[1]._native.hop_features
    dets[1]._native.hop_features = lambda *a, lazy=False: real(*a, lazy=False)  # type: ignore[method-assign,union-attr]
    finished, floors = [], []

    def exact(rows: Any, row0: int, hop: int, m: int) -> np.ndarray:
        L = dets[0].hop
        hp = rows.array("hp")[:, rows.o + hop - row0 : rows.o + hop - row0 + m * L]
        return np.partition(np.abs(hp.reshape(len(hp), m, L)), L // 2, axis=2)[:, :, L // 2]

    def watch(d: FaultDetector) -> None:
        nat = d._native
        assert nat is not None
        fin, floor = nat.finish_mads, nat.mad_floor

        def finishing(rows: Any, row0: int, hop: int, which: Any) -> None:
            before = nat._mads_done.copy()
            was = None if nat._mads is None else nat._mads[2].copy()
            fin(rows, row0, hop, which)
            new = nat._mads_done & ~before
            if new.any():  # the exact medians, where none was (numpy's of a channel with odd rows stays)
                assert nat._mads is not None and was is not None
                got = nat._mads[2]
                np.testing.assert_array_equal(got[new], exact(rows, row0, hop, got.shape[1])[new])
                assert np.isnan(was[new]).all()
            if which is not None:
                finished.append((int(new.sum()), int((~nat._mads_done).sum())))

        def floored(hop: int) -> Any:
            got = floor(hop)
            if got is not None:  # never above the median
                assert (got <= exact(d._pend, d._pend_start, hop, 1)[:, 0]).all()
                floors.append(bool(np.isfinite(got).any()))
            return got

        nat.finish_mads = finishing  # type: ignore[method-assign]
        nat.mad_floor = floored  # type: ignore[method-assign]
        learn = d._learn

        def learning(*a: Any) -> Any:
            assert not np.isnan(a[-1]).any()  # the reference's path reads every MAD
            return learn(*a)

        d._learn = learning  # type: ignore[method-assign]

    watch(dets[0])
    half = len(blist) // 2
    for i, b in enumerate(blist[1:], 1):
        if i == half:
            for d in dets:
                d.reset()
                d.process(b)
                quiet_peak(d)
            watch(dets[0])
            continue
        outs = [d.process(b) for d in dets]
        for o in outs[1:]:
            np.testing.assert_array_equal(outs[0].valid, o.valid)
            np.testing.assert_array_equal(outs[0].data, o.data)
        for k in JUDGED_STATE:  # (floats compared as their bits)
            a, c = (getattr(d, k) for d in dets[:2])
            np.testing.assert_array_equal(*((v.view(np.int64) if v.dtype == float else v) for v in (a, c)), err_msg=k)
    tails = [d.flush() for d in dets]
    for t in tails[1:]:
        assert (t is None) == (tails[0] is None)
        if t is not None and tails[0] is not None:
            np.testing.assert_array_equal(tails[0].valid, t.valid)
    for d in dets:
        d.finish(len(blist) * size / FS)
    evs = [[(e.channel, e.kind, e.start_s, e.end_s, e.detected_s) for e in d.take_events()] for d in dets]
    assert evs[0] == evs[1] == evs[2] and evs[0]
    # the level the MAD teaches, numpy's too (C's low band may differ from
    # numpy's in its last bit, as its sums are rounded otherwise)
    np.testing.assert_array_equal(dets[0]._q_peak, dets[2]._q_peak)
    if size < 100:  # (bigger blocks complete several hops at once: every MAD then)
        # some MADs finished on the hop's block, not every channel's
        assert any(0 < n for n, _ in finished) and any(left for _, left in finished)
        assert any(floors)  # the counts bound the MAD (the bracket of the hop's own guess)
