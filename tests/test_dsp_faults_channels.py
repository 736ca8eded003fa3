"""The fault detector's C front end serves any channel count (it fell back
to numpy above 64 channels), with the same output as the numpy reference,
lead-off bits included for the channels that have one (0..63)."""

from __future__ import annotations

import numpy as np
import pytest
from support import require_or_skip

from sensorio.blocks import SignalBlock
from sensorio.dsp import faults
from sensorio.dsp.faults import FaultDetector

pytestmark = pytest.mark.skipif(not faults._native_available(), reason="C core without sio_dsp")

FS = 2000.0
LO, HI = -32768, 32767


def signal_blocks(ch: int, n: int = 6000, size: int = 173) -> list[SignalBlock]:
    rng = np.random.default_rng(ch)
    codes = rng.normal(0, 40, (n, ch))
    codes[1000:1200, ch - 1] = HI  # the last channel rails
    codes[2000:2600, 70 % ch] = 77  # stuck
    codes[rng.choice(n, 6, replace=False), 66 % ch] += 4000  # spikes
    codes[3000:3800, 1] += 1500 * np.sin(2 * np.pi * 2 * np.arange(800) / FS)  # motion
    codes = np.clip(np.rint(codes), LO, HI).astype(np.int32)
    valid = np.ones((n, ch), dtype=bool)
    valid[4000:4300, ch - 2] = False
    leadoff = np.zeros(n, dtype=np.uint64)
    leadoff[5000:5400] = 1 << 3  # channel 3 lifted
    x = np.where(valid, codes * 0.5, np.nan)
    return [
        SignalBlock(
            0,
            np.ascontiguousarray(x[a : a + size]),
            valid[a : a + size].copy(),
            FS,
            start=a,
            leadoff=leadoff[a : a + size].copy(),
            codes=codes[a : a + size].copy(),
            code_range=(LO, HI),
        )
        for a in range(0, n, size)
    ]


def run(ch: int, native: bool) -> tuple[np.ndarray, list[tuple], bool]:
    det = FaultDetector()
    det.native = native
    valid = []
    for b in signal_blocks(ch):
        out = det.process(b)
        valid.append(out.valid)
    tail = det.flush()
    if tail is not None:
        valid.append(tail.valid)
    det.finish(3.0)
    events = sorted({(e.channel, e.kind, e.start_s, e.end_s) for e in det.take_events()})
    return np.concatenate(valid), events, det._native is not None


@pytest.mark.parametrize("ch", [65, 130])
def test_native_front_end_above_64_channels(ch: int) -> None:
    got, got_ev, used_c = run(ch, native=True)
    assert used_c  # the C front end, not the numpy fallback
    ref, ref_ev, _ = run(ch, native=False)
    np.testing.assert_array_equal(got, ref)
    assert got_ev == ref_ev
    kinds = {(c, k) for c, k, _, _ in got_ev}
    assert {(ch - 1, "saturation"), (70 % ch, "stuck"), (3, "leadoff")} <= kinds
    assert (66 % ch, "spikes") in kinds and (1, "motion") in kinds


@pytest.mark.parametrize("native", [True, False])
def test_a_faulty_channel_leaves_the_others_figures_alone(native: bool) -> None:
    """A channel railing, stuck, lifted or with a gap changes nothing on the
    others: each channel's hop figures count its own samples only, and the
    channels with unusable samples alone take the slow way (one of 256 sent
    every channel there, the hop completing a hop cost 4x)."""
    clean = signal_blocks(8)
    faulty = signal_blocks(8)  # the same signal, the faults of signal_blocks on channels 1-7
    rng = np.random.default_rng(1)
    for b in clean:  # channel 0 of both: the same EMG with spikes of its own
        b.data[:, 0] = rng.normal(0, 20, len(b))
    for b_clean, b_faulty in zip(clean, faulty, strict=True):
        b_faulty.data[:, 0] = b_clean.data[:, 0]
        b_faulty.codes[:, 0] = b_clean.codes[:, 0] = np.rint(b_clean.data[:, 0] / 0.5).astype(np.int32)
        b_clean.data[:, 1:] = b_clean.data[:, :1]  # clean: every channel a copy of channel 0
        b_clean.codes[:, 1:] = b_clean.codes[:, :1]
        b_clean.valid[:] = True
        b_clean.leadoff[:] = 0
    figures = []
    for blocks in (clean, faulty):
        det = FaultDetector()
        det.native = native
        outs = [det.process(b) for b in blocks]
        outs.append(det.flush())
        det.finish(3.0)
        valid = np.concatenate([o.valid[:, 0] for o in outs if o is not None])
        figures.append((valid, sorted((e.kind, e.start_s, e.end_s) for e in det.take_events() if e.channel == 0)))
    np.testing.assert_array_equal(figures[0][0], figures[1][0])
    assert figures[0][1] == figures[1][1]


def test_the_narrowband_products_run_on_one_blas_thread_and_the_count_is_put_back(monkeypatch) -> None:
    """At 256 channels the mains test's products are big enough for OpenBLAS
    to split over two threads, whose idle spinning between hops doubled the
    pipeline's CPU time: they are held to one thread while they run, and
    the program's own count is put back after."""
    from contextlib import contextmanager

    from threadpoolctl import threadpool_limits

    from sensorio.dsp import _blas

    seen: list[int] = []
    original = _blas.one_blas_thread

    @contextmanager
    def spy():  # type: ignore[no-untyped-def]
        with original():
            seen.extend(lib.get_num_threads() for lib in _blas._blas_libraries())
            yield

    monkeypatch.setattr(_blas, "one_blas_thread", spy)
    ch, n = 256, 4000
    t = np.arange(n) / FS
    rng = np.random.default_rng(1)
    codes = np.rint(rng.normal(0, 20, (n, ch)) + 60 * np.sin(2 * np.pi * 50 * t)[:, None]).astype(np.int32)
    with threadpool_limits(limits=2, user_api="blas"):
        outside = [lib.get_num_threads() for lib in _blas._blas_libraries()]
        require_or_skip(outside == [2] * len(outside), f"numpy's BLAS cannot run 2 threads here ({outside})")
        det = FaultDetector()
        for a in range(0, n, 20):
            part = codes[a : a + 20]
            det.process(
                SignalBlock(0, part * 0.5, np.ones(part.shape, bool), FS, start=a, codes=part, code_range=(LO, HI))
            )
        after = [lib.get_num_threads() for lib in _blas._blas_libraries()]
    assert seen, "the mains hum on every channel should have made the narrowband test run"
    assert set(seen) == {1}
    assert after == outside
    # a product too small for a BLAS to split runs as it is (holding the threads costs more)
    uses = len(seen)
    small = _blas.matmul(np.ones((16, 200)), np.ones((200, 36)))
    assert len(seen) == uses and small.shape == (16, 36) and (small == 200).all()
