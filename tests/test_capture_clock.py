"""DeviceClock: unwrapping and the online fit against a simulated link."""

from __future__ import annotations

import numpy as np
import pytest

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


def test_a_16_bit_millisecond_clock_maps_to_host_time_across_its_wraps() -> None:
    """A spec's u16 timestamp of ms turns every 65.5 s: read as a 32-bit
    clock, each turn stepped its times back 65.5 s (host times, and LSL's,
    went backwards once a minute)."""
    rate, n_samp = 100.0, 1  # a frame every 10 ms
    host0 = 1.7e9
    start_ms = (1 << 16) - 3_000  # wraps 3 s in, and again 65.5 s later
    clock = DeviceClock(rates_hz={0: rate}, time_scale_us=1000.0, clock_modulus=1 << 16)
    last = None
    for k in range(0, 7000, 10):  # 70 s, ten frames per read
        dev_ms = [start_ms + (k + i) * 10 for i in range(10)]
        block = _block([d % (1 << 16) for d in dev_ms], n_samp)
        clock.observe(block, int((host0 + (dev_ms[-1] - start_ms + 10) * 1e-3 + 0.001) * 1e9))
        got = clock.host_times(block)
        if got is None:
            continue
        t, _ = got
        assert np.allclose(np.diff(t), 0.01, atol=1e-4)
        assert abs(t[0] - (host0 + (dev_ms[0] - start_ms) * 1e-3)) < 0.005
        if last is not None:
            assert t[0] > last
        last = t[-1]


def test_restart_forgets_the_fit() -> None:
    clock = DeviceClock(rates_hz={1: 100.0})
    for k in range(20):
        clock.observe(_block([k * 100_000], 10, stream=1), int((1e9 + k * 0.1) * 1e9))
    assert clock.fit(1) is not None
    clock.reset(1)
    assert clock.fit(1) is None
    assert clock.host_times(_block([0], 10, stream=1)) is None


def test_a_frame_count_clock_is_scaled_to_microseconds() -> None:
    """A Cyton's frame_t_us is its sample number: read as microseconds, the
    host times of 3 s of samples spanned 0.7 ms (LSL got them 1 us apart)."""
    clock = DeviceClock(rates_hz={0: 250.0}, time_scale_us=4000.0)
    t0 = 1.7e9
    for n in range(0, 750, 5):  # blocks of 5 packets, arriving as the last one is sent
        clock.observe(_block(list(range(n, n + 5)), 1), int((t0 + (n + 5) * 0.004) * 1e9))
    host, _ = clock.host_times(_block(list(range(0, 750)), 1))
    assert np.allclose(np.diff(host), 0.004, rtol=1e-3)
    assert abs(host[0] - t0) < 0.01
    # a clock of unknown unit gives no host times (LSL stamps on arrival) rather than wrong ones
    unknown = DeviceClock(rates_hz={0: 250.0}, time_scale_us=None)
    unknown.observe(_block([0, 1, 2], 1), int(t0 * 1e9))
    assert unknown.host_times(_block([3], 1)) is None


def test_a_cyton_captures_host_times_are_its_sample_period_apart() -> None:
    import sensorio

    stamps = []
    with sensorio.open("sim://cyton?duration=1", format="cyton", start_command="b") as s:
        while True:
            blocks = s.read(0.5)
            for b in blocks:
                if b.stream == 0 and (h := s.host_times(b)) is not None:
                    stamps.extend(h[0])
            if not blocks and s.source_ended:
                break
    assert len(stamps) > 200
    assert np.median(np.diff(stamps)) == pytest.approx(0.004, rel=0.05)
