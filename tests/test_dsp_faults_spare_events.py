"""The fault detector's events are made ahead, blank, on blocks that complete
no hop, and filled in by the hysteresis when a kind turns on
(decision._Decision._new_event): the events handed out are the ones made
on the spot, field for field and type for type, in the same order."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from support import coded_blocks, contractions_under_hum

from sensorio.blocks import SignalBlock
from sensorio.dsp.faults import FaultDetector, decision
from sensorio.dsp.stages import DspEvent

FS = 2000.0


def hum_blocks(ch: int = 32, seconds: float = 8.0, size: int = 20) -> list[SignalBlock]:
    """EMG at rest and in contraction (3 s period) under a steady 50 Hz hum
    on every channel: the hum is mains at rest, on and off on dozens of
    channels at once."""
    x = contractions_under_hum(seconds, FS, ch, np.random.default_rng(5))
    return coded_blocks(x, FS, size, stream=3)  # (stream 3, not 0: an event made blank has stream 0)


def events_of(native: bool) -> list[list[tuple[tuple[str, Any, type], ...]]]:
    """Per block, the events handed out: each field's name, value and type."""
    det = FaultDetector()
    det.native = native
    out = []
    for b in hum_blocks():
        det.process(b)
        out.append([tuple((k, v, type(v)) for k, v in vars(e).items()) for e in det.take_events()])
    return out


@pytest.mark.parametrize("native", [True, False])
def test_events_made_ahead_are_those_made_on_the_spot(native: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    filled = []
    new_event = decision._Decision._new_event

    def spy(self: FaultDetector, *a: Any) -> DspEvent:
        filled.append(bool(self._spare_events))
        return new_event(self, *a)

    monkeypatch.setattr(decision._Decision, "_new_event", spy)
    ahead = events_of(native)
    assert sum(filled) > 50  # (turn-ons on many channels at once, filled in)
    monkeypatch.setattr(decision, "SPARE_EVENTS_PER_BLOCK", 0)
    filled.clear()
    fresh = events_of(native)
    assert filled and not any(filled)  # all made on the spot
    assert ahead == fresh
    assert sum(len(b) for b in ahead) > 100
