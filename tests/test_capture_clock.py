"""DeviceClock: unwrapping and the online fit against a simulated link."""

from __future__ import annotations

import numpy as np

from sensorio.blocks import Block
from sensorio.capture.clock import DeviceClock


def _block(t_us: list[int], n_samp: int, stream: int = 0) -> Block:
    frames = len(t_us)
    return Block(
        stream=stream,
        samples=np.zeros((frames * n_samp, 2), dtype=np.int32),
        frame_seq=np.arange(frames, dtype=np.uint32),
        frame_t_us=np.asarray(t_us, dtype=np.uint64),
        frame_leadoff=np.zeros(frames, dtype=np.uint64),
        frame_row=np.arange(frames, dtype=np.uint32) * n_samp,
    )


def test_fit_recovers_drift_and_offset_across_a_clock_wrap() -> None:
    rng = np.random.default_rng(3)
    rate, n_samp = 2000.0, 20  # a frame every 10 ms
    drift = 1 + 80e-6  # the device crystal is 80 ppm slow against the host
    host0 = 1.7e9
    start_us = (1 << 32) - 3_000_000  # the 32-bit µs counter wraps 3 s in
    clock = DeviceClock(rates_hz={0: rate})
    errors, uncertainties = [], []
    for k in range(0, 2000, 4):  # 20 s, four frames per read
        dev_us = [start_us + (k + i) * 10_000 for i in range(4)]
        wrapped = [d % (1 << 32) for d in dev_us]
        block = _block(wrapped, n_samp)
        end_true = host0 + ((dev_us[-1] - start_us) * 1e-6 + n_samp / rate) * drift
        latency = 0.0005 + rng.exponential(0.002)  # USB and scheduling delay
        clock.observe(block, int((end_true + latency) * 1e9))
        got = clock.host_times(block)
        if got is None:
            continue
        t, unc = got
        true_first = host0 + (dev_us[0] - start_us) * 1e-6 * drift
        errors.append(abs(t[0] - true_first))
        uncertainties.append(unc)
        assert np.all(np.diff(t) > 0)  # monotonic through the wrap
    fit = clock.fit(0)
    assert fit is not None and abs(fit.slope - drift) < 20e-6
    late = np.array(errors[len(errors) // 2 :])
    assert late.max() < 0.0015  # within the minimum latency plus a little
    assert 0 < np.median(uncertainties[len(uncertainties) // 2 :]) < 0.005


def test_restart_forgets_the_fit() -> None:
    clock = DeviceClock(rates_hz={1: 100.0})
    for k in range(20):
        clock.observe(_block([k * 100_000], 10, stream=1), int((1e9 + k * 0.1) * 1e9))
    assert clock.fit(1) is not None
    clock.reset(1)
    assert clock.fit(1) is None
    assert clock.host_times(_block([0], 10, stream=1)) is None
