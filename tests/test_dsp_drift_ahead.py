"""The drift monitor works out a hop's sums when the Pipeline has run its
rows ahead of the fault detector (DriftMonitor.watch_ahead, on a block that
completes no hop), not on the block that lets them out: its sums, windows
and warnings are those it gives without, bit for bit, block after block --
with rows at the rails, invalid rows, a baseline walking to a rail, faults
that make the run-ahead go again, and windows that end inside a hop."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from support import contractions_under_hum

from sensorio.blocks import Block
from sensorio.dsp import DriftMonitor, Pipeline
from sensorio.dsp.stages import Stage

FS = 4000.0
CH = 128  # (40-row blocks of 128 channels: enough samples a block to run ahead)
SCALE = 0.5
DRIFT_KINDS = ("baseline_near_rail", "gain_drift", "recalibrate")


def _info(wide: bool) -> dict[str, Any]:
    stream = {"id": 0, "name": "emg", "channels": CH, "rate_hz": FS, "enc": 1, "unit": "uV"}
    top = 2**31 - 1 if wide else 32767
    stream.update({"scale": SCALE, "zero": 0, "min_code": -top - 1, "max_code": top})
    return {"device": "test", "serial": "T", "streams": [stream]}


def _blocks(wide: bool, rows: int = 40, seconds: float = 6.0) -> list[Block]:
    n = int(seconds * FS)
    rng = np.random.default_rng(11)
    x = contractions_under_hum(seconds, FS, CH, rng)
    codes = np.rint(x / SCALE).astype(np.int64)
    codes[:, 0] += np.linspace(0, 30000, n).astype(np.int64)  # a baseline walking to the top rail
    codes[int(2.1 * FS) : int(2.1 * FS) + 30, 1] = 32767  # at the rail
    codes[int(3.33 * FS) : int(3.34 * FS), 2] = -32768
    codes[int(4.0 * FS) : int(4.4 * FS), 3] = 1234  # stuck: masked, the run-ahead goes again
    codes[rng.choice(n, 8, replace=False), 4] += 9000  # spikes
    codes = np.clip(codes, -32768, 32767)
    if wide:  # codes whose sums over a hop overflow 32 bits
        codes[:, 5] += 1_500_000_000
    codes = codes.astype(np.int32)
    return [
        Block(
            0,
            codes[j : j + rows],
            np.array([j // rows], np.uint32),
            np.zeros(1, np.uint64),
            np.zeros(1, np.uint64),
            np.zeros(1, np.uint32),
            first_row=j,
        )
        for j in range(0, n, rows)
    ]


def _run(
    window_s: float, rails: bool, wide: bool, ahead: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Any], int]:
    """Per block, the drift monitor's sums, ring and warnings; and how many
    blocks took their sums from ahead (window_s: the monitor's window; rails:
    samples at the rails masked, as by default, or not: their rows then
    come out as they went in, and are taken from ahead; wide: 32-bit codes)."""
    monkeypatch.setattr(DriftMonitor, "watch_ahead", DriftMonitor.watch_ahead if ahead else Stage.watch_ahead)
    taken = [0]
    taken_ahead = DriftMonitor._taken_ahead

    def spy(self: DriftMonitor, block: Any) -> Any:
        got = taken_ahead(self, block)
        taken[0] += got is not None
        return got

    monkeypatch.setattr(DriftMonitor, "_taken_ahead", spy)
    pipe = Pipeline.default(_info(wide), auto=False)
    mon = next(st for st in pipe.stages if isinstance(st, DriftMonitor))
    mon.window_s = window_s
    if not rails:
        det = next(st for st in pipe.stages if st.kind == "faults")
        det.mask_kinds = tuple(k for k in det.mask_kinds if k != "saturation")
    seen = []
    for b in _blocks(wide):
        pipe.process(b)
        state = []
        if mon._rate:
            state = [mon._acc.tobytes(), mon._base.tobytes(), mon._trend.tobytes(), [r.tobytes() for r in mon._rms]]
        seen.append((state, [e.as_dict() for e in pipe.take_events() if e.kind in DRIFT_KINDS]))
    return seen, taken[0]


@pytest.mark.parametrize(
    "window_s,rails,wide", [(1.0, True, False), (0.975, True, False), (1.0, False, False), (1.0, True, True)]
)
def test_sums_worked_out_ahead_are_those_of_the_block(
    window_s: float, rails: bool, wide: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(0.975 s: every second window ends inside a hop's block.)"""
    got, taken = _run(window_s, rails, wide, True, monkeypatch)
    # most of the 120 hops' sums from ahead (not where the detector masks a
    # spike's rows, which makes the run-ahead go again: 68 since the spike
    # floor from 1.5 kHz, 82 before)
    assert taken > 60
    ref, none = _run(window_s, rails, wide, False, monkeypatch)
    assert none == 0
    assert got == ref
    assert wide or any(ev for _, ev in ref)  # (the walk to the rail warns)
