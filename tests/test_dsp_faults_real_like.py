"""Issue 13: surface EMG as it is recorded carries some 10 % of its power
in 1-20 Hz and its median frequency near 50 Hz; the detector used to call
such a healthy contraction motion and mains. A signal with that spectrum
(no recording needed) must stay valid, while a motion artifact on it is
still found."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from sensorio.blocks import SignalBlock
from sensorio.dsp.faults import FaultDetector
from sensorio.dsp.faults.features import narrowband_basis

FS = 2000.0
CH = 8
LO, HI = -(2**23), 2**23 - 1


def real_like_emg(seconds: float, seed: int) -> np.ndarray:
    """uV, (rows, channels): a contraction ramping up and held, 170 uV RMS at
    full level, 10 % of its power in 1-20 Hz, median frequency about 50 Hz."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    band = signal.sosfilt(
        signal.butter(2, [20, 150], "bandpass", fs=FS, output="sos"), rng.standard_normal((n, CH)), axis=0
    )
    low = signal.sosfilt(
        signal.butter(2, [2, 15], "bandpass", fs=FS, output="sos"), rng.standard_normal((n, CH)), axis=0
    )
    band *= 160.0 / band.std(axis=0)
    low *= 55.0 / low.std(axis=0)
    t = np.arange(n) / FS
    level = np.clip(t / 3.0, 0.05, 1.0)[:, None]  # a 3 s ramp from rest, then held
    return (band + low) * level


def run(x: np.ndarray) -> tuple[list, np.ndarray]:
    codes = np.clip(np.rint(x / 0.02), LO, HI).astype(np.int32)  # 0.02 uV per code
    det = FaultDetector()
    valid = []
    for a in range(0, len(x), 200):
        b = SignalBlock(
            0,
            codes[a : a + 200] * 0.02,
            np.ones((len(codes[a : a + 200]), CH), bool),
            FS,
            start=a,
            codes=codes[a : a + 200],
            code_range=(LO, HI),
        )
        valid.append(det.process(b).valid)
    tail = det.flush()
    if tail is not None:
        valid.append(tail.valid)
    det.finish(len(x) / FS)
    # an event is taken again when it closes: once each
    events = list({id(e): e for e in det.take_events() if e.severity == "fault"}.values())
    return events, np.concatenate(valid)


def test_real_like_contraction_is_not_a_fault() -> None:
    # 6 x 8 channels x 20 s = 0.27 channel-hours: the 10 events per
    # channel-hour allow 2 (the fixed thresholds of before gave hundreds)
    events, worst = [], 1.0
    for seed in range(1, 7):
        ev, valid = run(real_like_emg(20.0, seed))
        events += [(seed, e.kind, e.channel, round(e.start_s, 2)) for e in ev]
        worst = min(worst, float(valid.mean(axis=0).min()))
    assert len(events) <= 2, events
    assert worst >= 0.98


def test_motion_on_a_real_like_contraction_is_found() -> None:
    x = real_like_emg(20.0, 1)
    t = np.arange(len(x)) / FS
    on = (t >= 10.0) & (t < 11.5)
    env = np.sin(np.pi * (t[on] - 10.0) / 1.5) ** 2
    x[on, 4] += 2000.0 * env * np.sin(2 * np.pi * 2.0 * (t[on] - 10.0))
    events, _ = run(x)
    motion = [e for e in events if e.kind == "motion"]
    assert [e.channel for e in motion] == [4]
    assert 10.0 <= motion[0].detected_s <= 10.3
    assert not [e for e in events if e.kind != "motion"]


def evoked_bursts(seconds: float, seed: int, times: list[float]) -> np.ndarray:
    """uV: rest at about 3 uV RMS with, at each of times, an evoked burst of
    EMG (120 ms, some 500 uV RMS, its spectrum as a contraction's: 10 % of
    the power in 1-20 Hz), like the PLUX adductor pollicis recording."""
    x = real_like_emg(seconds, seed)
    x *= 3.0 / x[int(3 * FS) :].std(axis=0)  # rest: the contraction's spectrum, at 3 uV
    n = int(0.12 * FS)
    burst = real_like_emg(3.2, seed + 100)[-n:] * np.hanning(n)[:, None]
    burst *= 500.0 / burst.std(axis=0)
    for ts in times:
        a = int(ts * FS)
        x[a : a + n] += burst
    return x


def test_evoked_bursts_after_rest_are_not_motion() -> None:
    # the 1-20 Hz band rings on after a burst while the rest of the spectrum
    # is quiet again (share near 1, 20-60 x its level at rest), and the burst
    # raises its own low band with the rest of its spectrum: neither is motion
    events = []
    for seed in (1, 2, 3):
        ev, valid = run(evoked_bursts(20.0, seed, [5.0, 9.0, 13.0, 17.0]))
        events += [(seed, e.kind, e.channel, round(e.start_s, 2)) for e in ev if e.kind == "motion"]
    assert events == []


def test_motion_after_rest_among_evoked_bursts_is_found() -> None:
    x = evoked_bursts(20.0, 1, [5.0, 9.0, 13.0, 17.0])
    t = np.arange(len(x)) / FS
    on = (t >= 11.0) & (t < 11.8)
    env = np.sin(np.pi * (t[on] - 11.0) / 0.8) ** 2
    x[on, 2] += 300.0 * env * np.sin(2 * np.pi * 2.0 * (t[on] - 11.0))
    events, _ = run(x)
    motion = [e for e in events if e.kind == "motion"]
    assert [e.channel for e in motion] == [2]
    assert 11.0 <= motion[0].detected_s <= 11.3


def emg_around_50hz(seconds: float, seed: int) -> np.ndarray:
    """uV: a loud contraction whose spectrum is concentrated around 50 Hz
    (30-90 Hz, 150 uV RMS), as a monopolar recording of a large muscle: the
    50 Hz family of lines then holds more than a third of the power in many
    hops, as a hum would."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    x = signal.sosfilt(
        signal.butter(2, [30, 90], "bandpass", fs=FS, output="sos"), rng.standard_normal((n, CH)), axis=0
    )
    return x * (150.0 / x.std(axis=0))


def run_with(x: np.ndarray, **settings: float) -> list:
    codes = np.clip(np.rint(x / 0.02), LO, HI).astype(np.int32)
    det = FaultDetector(**settings)
    for a in range(0, len(x), 200):
        c = codes[a : a + 200]
        det.process(SignalBlock(0, c * 0.02, np.ones(c.shape, bool), FS, start=a, codes=c, code_range=(LO, HI)))
    det.flush()
    det.finish(len(x) / FS)
    return list({id(e): e for e in det.take_events()}.values())


def test_emg_peaking_near_50hz_is_not_mains() -> None:
    # broadband: its lines stand no higher than their neighbours 20-30 Hz
    # away; without that narrowband test the same signal gives mains events
    for seed in (1, 2, 3):
        x = emg_around_50hz(20.0, seed)
        assert [e for e in run_with(x) if e.kind == "mains"] == []
    assert [e for e in run_with(emg_around_50hz(20.0, 1), mains_ratio=0.0) if e.kind == "mains"]


def test_hum_on_a_real_like_contraction_found_in_time() -> None:
    # a hum of twice the contraction's RMS on each channel in turn (50 or
    # 60 Hz): found on that channel only, within 0.5 s of its onset and at
    # least half of them within 250 ms (15 of 24 when written; the hum stands
    # above its neighbouring frequencies 10-30 x, below the 16 x that lets 3
    # hops suffice, in some hops)
    delays = []
    for seed in (1, 2, 3):
        x = real_like_emg(20.0, seed)
        t = np.arange(len(x)) / FS
        onsets = {}
        for c in range(CH):
            t0 = 4.0 + 1.9 * c + 0.011 * seed * (c + 1)
            on = (t >= t0) & (t < t0 + 0.8)
            f0 = 50.0 if c % 2 else 60.0
            x[on, c] += 2.0 * 170.0 * np.sqrt(2) * np.sin(2 * np.pi * f0 * t[on] + c)
            onsets[c] = t0
        mains = [e for e in run_with(x) if e.kind == "mains"]
        assert sorted(e.channel for e in mains) == list(range(CH))
        for e in mains:
            assert e.start_s <= e.detected_s
            delays.append(e.detected_s - onsets[e.channel])
    assert min(delays) > 0.0
    assert max(delays) <= 0.5
    assert sum(d <= 0.25 for d in delays) >= 0.5 * len(delays), sorted(delays)


@pytest.mark.parametrize("native", [True, False])
def test_mains_events_the_same_whatever_the_chunking(native: bool) -> None:
    # the mains runs carry their last hops across calls: the same events
    # from blocks of 200, 37 and 1 rows, in C and in numpy
    x = real_like_emg(6.0, 4)
    t = np.arange(len(x)) / FS
    for c, t0 in ((1, 3.52), (5, 4.07)):
        on = (t >= t0) & (t < t0 + 1.0)
        x[on, c] += 400.0 * np.sqrt(2) * np.sin(2 * np.pi * (50.0 if c == 1 else 60.0) * t[on])
    codes = np.clip(np.rint(x / 0.02), LO, HI).astype(np.int32)
    got = []
    for size in (200, 37, 1):
        det = FaultDetector()
        det.native = native
        for a in range(0, len(x), size):
            c = codes[a : a + size]
            det.process(SignalBlock(0, c * 0.02, np.ones(c.shape, bool), FS, start=a, codes=c, code_range=(LO, HI)))
        det.flush()
        det.finish(len(x) / FS)
        evs = {id(e): e for e in det.take_events()}.values()
        got.append(sorted((e.channel, e.kind, e.start_s, e.end_s, e.detected_s) for e in evs))
    assert [(ch, k) for ch, k, *_ in got[0] if k == "mains"] == [(1, "mains"), (5, "mains")]
    assert got[1] == got[0] and got[2] == got[0]


@pytest.mark.parametrize("fs", [250.0, 1000.0, 2000.0, 4000.0])
def test_narrowband_basis_sees_a_line_and_not_white_noise(fs: float) -> None:
    hop = int(round(0.05 * fs))
    window = np.hanning(2 * hop)
    lines = [f for f0 in (50.0, 60.0) for f in (f0, 2 * f0, 3 * f0) if f < 0.45 * fs]
    n50 = sum(f % 50.0 == 0 and f % 60.0 != 0 for f in lines)
    families = [(0, n50), (n50, len(lines))]
    basis, line, side = narrowband_basis(lines, families, window, fs)
    k = basis.shape[1] // 2
    assert line.shape == side.shape == (k, 2)
    t = np.arange(2 * hop) / fs

    def ratios(x: np.ndarray) -> np.ndarray:
        proj = x @ basis
        power = proj[..., :k] ** 2 + proj[..., k:] ** 2
        return (power @ line) / (power @ side)

    # a hum line at 50.3 Hz (the grid's frequency is off by a fraction of a Hz)
    assert ratios(np.sin(2 * np.pi * 50.3 * t + 0.4))[0] > 100.0  # 400 at 250 Hz (24-sample window)
    rng = np.random.default_rng(1)
    noise = ratios(rng.standard_normal((2000, 2 * hop)))
    assert np.median(noise[:, 0]) < 2.0
    assert np.mean(noise[:, 0] > 8.0) < 0.01
