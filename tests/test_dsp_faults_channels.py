"""The fault detector's C front end serves any channel count (it fell back
to numpy above 64 channels), with the same output as the numpy reference,
lead-off bits included for the channels that have one (0..63)."""

from __future__ import annotations

import numpy as np
import pytest

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
