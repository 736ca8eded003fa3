"""The powers of the learnt levels that the usual hop's verdicts read
(features._Features._level_pows) are worked out ahead, on a block that
completes no hop (FaultDetector.process): those taken are the powers of the
levels as they are when the hop is featurised, bit for bit, through a
reset between the block that worked them out and the hop; and the output
and events are those of powers worked out on the spot."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from support import coded_blocks, contractions_under_hum

from sensorio.blocks import SignalBlock
from sensorio.dsp.faults import FaultDetector, features
from sensorio.dsp.faults._native import _native_available

FS = 2000.0
SIZE = 20  # rows a block: 5 blocks a 50 ms hop

pytestmark = pytest.mark.skipif(not _native_available(), reason="the C core is not built")


def blocks(ch: int = 16, seconds: float = 6.0) -> list[SignalBlock]:
    """Rest and contractions under a hum: the levels move hop after hop."""
    return coded_blocks(contractions_under_hum(seconds, FS, ch, np.random.default_rng(3)), FS, SIZE)


def run(reset_at: int | None = None) -> tuple[list[tuple[bytes, bytes]], list[tuple[Any, ...]]]:
    """Each output block's data and validity bytes, and the events; with a
    reset after block reset_at (mid-hop: after the powers were worked out)."""
    det = FaultDetector()
    out, events = [], []
    for i, b in enumerate(blocks()):
        got = det.process(b)
        out.append((got.data.tobytes(), got.valid.tobytes()))
        events.extend((e.channel, e.kind, e.start_s, e.end_s, e.detected_s) for e in det.take_events())
        if i == reset_at:
            det.reset()
    return out, events


def test_level_powers_made_ahead_are_those_of_the_levels_then(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = []
    hop_conditions = features._Features._hop_conditions

    def spy(self: FaultDetector, a: int, m: int, L: int) -> dict[str, Any]:
        if self._pows_ahead is not None:
            assert self._pows_ahead.tobytes() == self._level_pows().tobytes()
            taken.append(a)
        return hop_conditions(self, a, m, L)

    monkeypatch.setattr(features._Features, "_hop_conditions", spy)
    reset_at = 3 * 5 * 10 + 2  # block 3 of a hop, 1.5 s in: the powers are made
    ahead, ahead_events = run(reset_at)
    assert len(taken) > 100  # (about every hop but the first ones)
    # worked out on the spot: the same output and events
    monkeypatch.setattr(FaultDetector, "_pows_ahead", None, raising=False)

    def fresh(self: FaultDetector, a: int, m: int, L: int) -> dict[str, Any]:
        self._pows_ahead = None
        return hop_conditions(self, a, m, L)

    monkeypatch.setattr(features._Features, "_hop_conditions", fresh)
    spot, spot_events = run(reset_at)
    assert ahead == spot
    assert ahead_events == spot_events and len(spot_events) > 20
