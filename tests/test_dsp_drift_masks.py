"""The drift monitor sees a baseline walking to a rail whatever the fault
masks say (issue 13): a false mask must not switch it off."""

from __future__ import annotations

import numpy as np

from sensorio.blocks import EV_GAP, EVENT_DTYPE, SignalBlock
from sensorio.dsp import DriftMonitor

RATE = 1000.0
RANGE = (-10_000, 10_000)


def ramp_block(valid: bool, n: int = 8000, ch: int = 2) -> SignalBlock:
    """Codes walking from 0 to 90 % of the top rail on channel 0 (channel 1
    stays at 0), with small EMG-like noise; every sample's validity set to
    valid."""
    rng = np.random.default_rng(1)
    codes = np.rint(rng.normal(0, 20, (n, ch))).astype(np.int32)
    codes[:, 0] += np.linspace(0, 0.9 * RANGE[1], n).astype(np.int32)
    return SignalBlock(
        stream=0,
        data=codes * 0.5,
        valid=np.full((n, ch), valid),
        rate_hz=RATE,
        codes=codes,
        code_range=RANGE,
    )


def near_rail(block: SignalBlock, chunk: int = 250) -> set[int]:
    mon = DriftMonitor(window_s=0.25, trend_s=2.0, horizon_s=5.0)
    for a in range(0, len(block), chunk):
        mon.process(
            block.replace(
                **{
                    "data": block.data[a : a + chunk],
                    "valid": block.valid[a : a + chunk],
                    "codes": block.codes[a : a + chunk],
                    "start": a,
                    "events": block.events[:0],
                }
            )
        )
    return {e.channel for e in mon.take_events() if e.kind == "baseline_near_rail"}


def test_rail_approach_warned_with_every_sample_valid() -> None:
    assert near_rail(ramp_block(valid=True)) == {0}


def test_rail_approach_warned_when_every_sample_is_masked() -> None:
    # a fault stage (rightly or wrongly) masked every sample: the codes the
    # device sent still walk to the rail
    assert near_rail(ramp_block(valid=False)) == {0}


def test_filled_gaps_do_not_count_as_baseline() -> None:
    # a long gap filled with the top rail code (as a policy might) on every
    # channel: the rows the device never sent do not make a baseline
    n, ch = 8000, 2
    codes = np.zeros((n, ch), np.int32)
    codes[2000:6000] = RANGE[1] - 1
    ev = np.zeros(1, EVENT_DTYPE)
    ev["kind"], ev["row"], ev["lost_samples"] = EV_GAP, 6000, 4000
    block = SignalBlock(
        stream=0,
        data=codes * 0.5,
        valid=np.ones((n, ch), bool),
        rate_hz=RATE,
        codes=codes,
        code_range=RANGE,
        events=ev,
    )
    mon = DriftMonitor(window_s=0.25, trend_s=2.0, horizon_s=5.0)
    mon.process(block)
    assert not [e for e in mon.take_events() if e.kind == "baseline_near_rail"]
