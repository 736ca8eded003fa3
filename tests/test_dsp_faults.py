"""Fault detection on synthetic EMG: every kind found in time, no false
events on clean signals, masks and the health state."""

from __future__ import annotations

import dsp_synth
import numpy as np
import pytest
from scipy import signal

from sensorio import Parser
from sensorio.blocks import SignalBlock
from sensorio.dsp import FaultDetector, Pipeline
from sensorio.dsp.analyze import analyze_blocks
from sensorio.dsp.faults import features
from sensorio.dsp.scoring import FaultOutcome, Truth, score


def decode(data: bytes):
    p = Parser()
    p.feed(data)
    return p.read()


def run(
    seconds: float,
    seed: int,
    faults: list[dsp_synth.Fault],
    channels: int = 4,
    rate: float = 2000.0,
    drop: set[int] | None = None,
):
    rng = np.random.default_rng(seed)
    n = int(seconds * rate) // 8 * 8
    clean = dsp_synth.emg(n, channels, rate, rng)
    codes, lo = dsp_synth.apply(clean.copy(), rate, faults, rng)
    info = dsp_synth.info(channels, rate)
    return analyze_blocks(decode(dsp_synth.encode(codes, lo, info, drop=drop)), info, calibration_dir="/nonexistent")


@pytest.mark.parametrize("kind", dsp_synth.KINDS)
def test_each_kind_found_in_time(kind: str) -> None:
    rng = np.random.default_rng(7)
    faults = []
    for ch, start in ((0, 2.0), (1, 5.3), (2, 8.1)):
        f = dsp_synth.Fault(kind, ch, start, start + 1.2)
        if kind == "spikes":
            f.times_s = sorted(rng.uniform(f.start_s, f.end_s, 5).tolist())
        faults.append(f)
    res = run(11.0, seed=11, faults=faults)
    truth = [
        Truth(f.kind, f.channel, f.start_s, f.end_s, onset_s=min(f.times_s) if f.times_s else None) for f in faults
    ]
    scores, false = score(truth, res.events)
    ks = scores[kind]
    assert ks.faults == 3 and ks.in_time == 3, (kind, ks, res.events)
    assert ks.correct == ks.events, [e for e in false]
    assert not false, false
    # masked while it lasts (spikes: the pulses)
    st = res.streams[0]
    for f in faults:
        a, b = int((f.start_s + 0.1) * 2000), int((f.end_s - 0.05) * 2000)
        if kind == "spikes":
            i = int(round(f.times_s[0] * 2000))
            assert not st.valid[i : i + 4, f.channel].any()
        else:
            assert not st.valid[a:b, f.channel].any(), kind


def test_stuck_onset_off_baseline_is_not_motion() -> None:
    """A stuck ADC holds a sample of the EMG: during a contraction that code
    sits hundreds of uV off the baseline, and the half hop of it that still
    reaches the feature filters (before the code counts as stuck) is a step
    ringing in the 1-20 Hz band. It must give a stuck event, not motion."""
    rate, hop = 2000.0, 100
    rng = np.random.default_rng(5)
    n = int(12 * rate)
    clean = dsp_synth.emg(n, 4, rate, rng, active_uv=400.0)
    faults = []
    for ch in range(4):
        # the stuck code: the sample furthest off the channel's baseline,
        # 10-40 ms into a hop (so 10-40 ms of the hop is stuck), one per 3 s
        lo, hi = int((0.8 + 3 * ch) * rate), int((2.6 + 3 * ch) * rate)
        i = np.arange(lo, hi)
        i = i[(i % hop >= 10) & (i % hop <= 40)]
        dev = np.abs(clean[i, ch] - np.median(clean[lo:hi, ch]))
        at = int(i[np.argmax(dev)])
        faults.append(dsp_synth.Fault("stuck", ch, at / rate, at / rate + 0.6))
    codes, leadoff = dsp_synth.apply(clean.copy(), rate, faults, rng)
    info = dsp_synth.info(4, rate)
    res = analyze_blocks(decode(dsp_synth.encode(codes, leadoff, info)), info, calibration_dir="/nonexistent")
    truth = [Truth(f.kind, f.channel, f.start_s, f.end_s) for f in faults]
    scores, false = score(truth, res.events)
    assert scores["stuck"].in_time == 4, res.events
    assert [e for e in res.events if e.kind == "motion"] == []
    assert not false, false


def test_scoring_code_faults_cover_each_other_in_emulator_order() -> None:
    from sensorio.dsp.stages import DspEvent

    truth = [
        # liftoff replaces the stuck codes until 2.0: the stuck shows from then
        Truth("liftoff", 0, 1.0, 2.0),
        Truth("stuck", 0, 1.5, 3.0),
        # a stuck starting during a saturation holds a rail code: saturation
        Truth("saturation", 1, 1.0, 2.0),
        Truth("stuck", 1, 1.5, 3.0),
    ]
    events = [
        DspEvent(0, 0, "leadoff", 1.0, 2.0, 1.02),
        DspEvent(0, 0, "stuck", 2.05, 3.0, 2.1),
        DspEvent(0, 1, "saturation", 1.0, 3.0, 1.02),
    ]
    scores, false = score(truth, events)
    assert scores["stuck"].faults == 1 and scores["stuck"].in_time == 1
    assert scores["stuck"].occluded == 1
    assert scores["stuck"].delays == [pytest.approx(0.1)]
    assert scores["saturation"].in_time == 1 and not false
    # a stuck event where nothing was stuck is still a false event
    late = DspEvent(0, 1, "stuck", 5.0, 6.0, 5.05)
    scores, false = score(truth, [*events, late])
    assert false == [late] and scores["stuck"].correct == 1


def test_score_says_how_each_fault_was_judged() -> None:
    """score()'s outcomes: one per true fault, in order, saying whether it
    was found in time, found late (and how late), missed or occluded, so a
    scorer can list the misses, not only count them."""
    from sensorio.dsp.stages import DspEvent

    truth = [
        Truth("motion", 0, 1.0, 2.0),
        Truth("mains", 1, 1.0, 2.0),
        Truth("noise", 2, 1.0, 2.0),
        Truth("saturation", 3, 1.0, 3.0),
        Truth("stuck", 3, 1.5, 2.5),  # holds the rail code: occluded
    ]
    events = [
        DspEvent(0, 0, "motion", 1.0, 1.8, 1.2),
        DspEvent(0, 1, "mains", 1.0, 2.0, 1.4),
        DspEvent(0, 3, "saturation", 1.0, 3.0, 1.01),
    ]
    outcomes: list[FaultOutcome] = []
    scores, _false = score(truth, events, deadline_s=0.25, outcomes=outcomes)
    assert [o.fault for o in outcomes] == truth
    said = [o.describe() for o in outcomes]
    assert said == ["found +0.200 s", "LATE +0.400 s", "MISSED", "found +0.010 s", "occluded"]
    # the counts are the outcomes' own
    assert scores["mains"].found == 1 and scores["mains"].in_time == 0
    assert scores["noise"].faults == 1 and scores["noise"].found == 0


@pytest.mark.filterwarnings("ignore:no mains hum")
def test_spikes_on_a_contraction_not_hidden_by_their_own_hop() -> None:
    """3000 uV spikes on a steady 220 uV RMS contraction are 10-13 robust
    sigmas, but the pulse and the 20 Hz high-pass's tail after it raise the
    MAD of the hop holding it: sigma comes from the neighbouring hops."""
    rate = 2000.0
    rng = np.random.default_rng(3)
    clean = dsp_synth.emg(int(10 * rate), 4, rate, rng, rest_uv=220.0, active_uv=220.0)
    faults = []
    for ch in range(4):
        times = sorted(rng.uniform(1 + 2 * ch, 2.5 + 2 * ch, 6).tolist())
        faults.append(dsp_synth.Fault("spikes", ch, times[0], times[-1] + 0.01, times))
    codes, leadoff = dsp_synth.apply(clean.copy(), rate, faults, rng)
    info = dsp_synth.info(4, rate)
    res = analyze_blocks(decode(dsp_synth.encode(codes, leadoff, info)), info, calibration_dir="/nonexistent")
    valid = res.streams[0].valid
    masked = [not valid[int(np.ceil(t * rate)), f.channel] for f in faults for t in f.times_s]
    assert sum(masked) >= 20, masked  # 14 of 24 with the hop's own MAD
    assert [e for e in res.events if e.kind != "spikes"] == []


@pytest.mark.filterwarnings("ignore:no mains hum")
@pytest.mark.parametrize("rate", [1000.0, 4000.0])
def test_a_twitch_is_not_a_spike_a_lone_pulse_is(rate: float) -> None:
    """A twitch from rest (a 100 ms burst of EMG peaking at 1500 uV, as in the
    real adductor pollicis recording) stands far above the neighbouring hops'
    scale, but it swings near its peak again and again: no spike. A lone 2 ms
    pulse of the same height on the other channels is one."""
    rng = np.random.default_rng(21)
    n = int(8 * rate)
    clean = dsp_synth.emg(n, 4, rate, rng, rest_uv=3.0, active_uv=3.0, mains_uv=0.0)
    sos = signal.butter(4, [60, 200], "bandpass", fs=rate, output="sos")
    width = int(0.1 * rate)
    twitch_at = [1.03, 2.51, 4.02, 5.47, 6.98]
    for t in twitch_at:
        burst = signal.sosfilt(sos, rng.standard_normal(3 * width))[width : 2 * width] * np.hanning(width)
        a = int(t * rate)
        clean[a : a + width, :2] += (1500.0 / np.abs(burst).max() * burst)[:, None]
    faults = [dsp_synth.Fault("spikes", ch, 1.5, 7.5, [1.52, 3.27, 5.06, 7.01]) for ch in (2, 3)]
    codes, leadoff = dsp_synth.apply(clean.copy(), rate, faults, rng)
    info = dsp_synth.info(4, rate)
    res = analyze_blocks(decode(dsp_synth.encode(codes, leadoff, info)), info, calibration_dir="/nonexistent")
    spikes = [e for e in res.events if e.kind == "spikes"]
    assert sorted({e.channel for e in spikes}) == [2, 3], spikes
    assert sum(e.detail["count"] for e in spikes) == 8
    valid = res.streams[0].valid
    for t in twitch_at:
        a = int(t * rate)
        assert valid[a : a + width, :2].all()


@pytest.mark.parametrize("seed", [1, 2])
def test_clean_emg_no_events(seed: int) -> None:
    res = run(30.0, seed=seed, faults=[])
    assert [e for e in res.events if e.severity == "fault"] == []
    assert res.streams[0].valid.mean() > 0.999


def test_dropout_events_from_gaps() -> None:
    res = run(3.0, seed=3, faults=[], drop={100, 101, 102})
    drops = [e for e in res.events if e.kind == "dropout"]
    assert len(drops) == 4  # one per channel
    assert drops[0].start_s == pytest.approx(800 / 2000) and drops[0].end_s == pytest.approx(824 / 2000)
    assert not res.streams[0].valid[800:824].any()


def test_leadoff_mask_is_exact_per_sample() -> None:
    f = dsp_synth.Fault("liftoff", 1, 1.0, 1.5)
    res = run(3.0, seed=4, faults=[f])
    v = res.streams[0].valid[:, 1]
    assert not v[2000:3000].any()
    ev = [e for e in res.events if e.kind == "leadoff"]
    assert len(ev) == 1 and ev[0].start_s == pytest.approx(1.0, abs=0.005)
    assert ev[0].end_s == pytest.approx(1.5, abs=0.005)


def test_health_state_and_open_events_streaming() -> None:
    rng = np.random.default_rng(0)
    n = 8000
    clean = dsp_synth.emg(n, 2, 2000.0, rng)
    codes, lo = dsp_synth.apply(clean.copy(), 2000.0, [dsp_synth.Fault("saturation", 0, 2.0, 9.0)], rng)
    info = dsp_synth.info(2, 2000.0)
    pipe = Pipeline.default(info, auto=False)
    for b in decode(dsp_synth.encode(codes, lo, info)):
        pipe.process(b)
    fd = next(s for s in pipe.stages if isinstance(s, FaultDetector))
    health = fd.health()
    assert health[0]["state"] == "faulty" and health[0]["kinds"] == ["saturation"]
    assert health[1]["state"] == "ok"
    new = pipe.take_events()
    assert [(e.kind, e.end_s) for e in new] == [("saturation", None)]
    pipe.flush()
    assert pipe.events[0].end_s == pytest.approx(4.0, abs=0.01)


def test_unknown_mask_kind_rejected() -> None:
    from sensorio.errors import SensorioError

    with pytest.raises(SensorioError, match="unknown kinds"):
        FaultDetector(mask=("nope",))


def _loud_rule(det: FaultDetector, low_x: list[float], share: list[float]) -> tuple[list[bool], list[int]]:
    """The motion verdicts (one channel) of hops whose 1-20 Hz band stands
    low_x times the learnt level with these shares, through _motion_like and
    _loud_needs_two, hop by hop (the carried state between calls)."""
    level = np.array([[20.0]])
    out, first = [], []
    for x, sh in zip(low_x, share, strict=True):
        low_ms = np.array([[(x * 20.0) ** 2]])
        sh_a = np.array([[sh]])
        raw = det._motion_like(low_ms, sh_a, level)
        v, f = det._loud_needs_two(raw, low_ms, sh_a, level, det.hop)
        out.append(bool(v[0, 0]))
        first.append(int(f[0, 0]))
    return out, first


def test_a_lone_loud_hop_out_of_a_quiet_band_is_not_motion() -> None:
    """A hop whose low band stands 3 x its level with a third of the power,
    out of a quiet band and back to quiet: what a big motor-unit potential
    gave on a clean bipolar grid channel (real recording, 16.1 s). An
    artifact that builds up (the hop before already risen) or lasts (a
    verdict again within two hops) is motion, dated from its first hop; a
    share above motion_share is motion at once."""
    det = FaultDetector()
    det.process(SignalBlock(0, np.zeros((200, 1)), np.ones((200, 1), bool), 2000.0))
    quiet, q_share = 1.0, 0.05
    # the lone hop: no verdict
    v, _ = _loud_rule(det, [quiet, 3.0, 1.9, quiet, quiet], [q_share, 0.33, 0.45, q_share, q_share])
    assert v == [False] * 5
    # rising in the hop before: a verdict at once
    v, _ = _loud_rule(det, [quiet, 2.2, 3.1], [q_share, 0.2, 0.29])
    assert v == [False, False, True]
    # a verdict again two hops later: it stands, the run dated from the first
    v, first = _loud_rule(det, [quiet, quiet, 3.0, 2.0, 3.2], [q_share, q_share, 0.31, 0.33, 0.4])
    assert v == [False, False, False, False, True] and first[-1] == -2 * det.hop
    # the band dominating: at once
    v, _ = _loud_rule(det, [quiet, quiet, 6.0], [q_share, q_share, 0.8])
    assert v == [False, False, True]


def _detect(
    x: np.ndarray, rate: float, native: bool, kind: str = "spikes", hop_s: float = 0.05, block_s: float = 0.01
) -> list:
    """Events of a kind from a FaultDetector fed x (samples, channels; uV) in blocks of block_s."""
    det = FaultDetector(hop_s=hop_s)
    det.native = native
    seen = _feed(det, x, rate, 0, int(block_s * rate))
    det.flush()
    det.finish(len(x) / rate)
    # an event is handed out when it opens and again when it closes
    unique = {id(e): e for e in [e for e, *_ in seen] + det.take_events() if e.kind == kind}
    return list(unique.values())


def _feed(det: FaultDetector, x: np.ndarray, rate: float, start: int, step: int) -> list:
    """Feed det x (samples, channels; uV; NaN rows: a gap) from stream row
    start in blocks of step rows, as 0.5 uV codes; the events handed out,
    in order, each with its kind and end as handed out."""
    n = len(x)
    valid = np.isfinite(x)
    codes = np.rint(np.where(valid, x, 0.0) / 0.5).astype(np.int32)  # a 0.5 uV code
    data = np.where(valid, codes * 0.5, np.nan)
    seen = []
    for a in range(0, n, step):
        b = min(n, a + step)
        blk = SignalBlock(
            0, data[a:b], valid[a:b], rate, start=start + a, codes=codes[a:b], code_range=(-(1 << 23), (1 << 23) - 1)
        )
        det.process(blk)
        seen += [(e, e.kind, e.end_s) for e in det.take_events()]
    return seen


def _ramp_on_a_quiet_channel(rate: float) -> np.ndarray:
    """8 s of 1.5 uV noise on two channels, the second setting off toward a
    rail at 20 mV/s at 6.8 s (samples, channels; uV)."""
    rng = np.random.default_rng(4)
    n = int(8 * rate)
    t = np.arange(n) / rate
    x = rng.normal(0.0, 1.5, (n, 2))
    x[:, 1] += np.where(t > 6.8, 20_000.0 * (t - 6.8), 0.0)
    return x


def _contraction(seconds: float, rate: float, rms_uv: float, seed: int) -> np.ndarray:
    """Two channels of a steady monopolar-like contraction: 20-150 Hz noise
    of rms_uv (samples, channels)."""
    rng = np.random.default_rng(seed)
    sos = signal.butter(4, [20, 150], "bandpass", fs=rate, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal((int(seconds * rate), 2)), axis=0)
    return x * (rms_uv / x.std(axis=0))


def _broadband(seconds: float, rate: float, rms_uv: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The sample times and two channels of 20-400 Hz noise of rms_uv
    (samples, channels)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    sos = signal.butter(2, [20, 400], "bandpass", fs=rate, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal((n, 2)), axis=0)
    return np.arange(n) / rate, x * (rms_uv / x.std(axis=0))


def _triangle(x: np.ndarray, rate: float, at_s: float, channel: int, amp: float) -> None:
    """Add a 2 ms triangular pulse (as the emulator's spikes) at at_s."""
    w = int(round(0.002 * rate))
    i = int(round(at_s * rate))
    x[i : i + w, channel] += amp * (1 - np.arange(w) / w)


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
@pytest.mark.parametrize("rate", [1000.0, 4000.0])
def test_a_spike_within_a_strong_contraction_is_found_by_its_sharpness(native: bool, rate: float) -> None:
    """A 2 ms pulse of 7 x the RMS of a strong monopolar-like contraction
    (20-150 Hz) is only 5-7 robust sigmas of the high-passed signal, like the
    contraction's own peaks; its second difference stands far above the
    contraction's, which tissue low-passes. At 1 kHz too, where the pulse
    is two samples (the test read the high-passed signal there)."""
    x = _contraction(8.0, rate, 200.0, seed=5)
    times = [2.013, 3.527, 5.041, 6.555]
    for t in times:
        _triangle(x, rate, t, 1, 1400.0)
    events = _detect(x, rate, native)
    assert {e.channel for e in events} == {1}, events
    assert sum(e.detail["count"] for e in events) == len(times)
    assert abs(events[0].start_s - times[0]) < 0.001


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
@pytest.mark.parametrize("rate", [2000.0, 4000.0])
def test_two_pulses_a_few_ms_apart_are_spikes(native: bool, rate: float) -> None:
    """Discharges come in twos: two pulses 4-12 ms apart stand out of the
    contraction as much as one does (the lone-pulse rule took each for the
    other's burst). Three within 20 ms are a burst, and so is a train of
    three 15 ms apart (its third pulse is beyond the first's 20 ms)."""
    x = _contraction(8.0, rate, 100.0, seed=8)
    pairs = [(2.013, 0.004), (3.527, 0.008), (5.041, 0.012)]
    for t, gap in pairs:
        _triangle(x, rate, t, 1, 1500.0)
        _triangle(x, rate, t + gap, 1, 1200.0)
    for t in (6.5, 6.506, 6.512, 7.2, 7.215, 7.23):
        _triangle(x, rate, t, 0, 1500.0)
    events = _detect(x, rate, native)
    assert {e.channel for e in events} == {1}, events
    assert sum(e.detail["count"] for e in events) == 2 * len(pairs)


#: a motor-unit potential on the openhdemg grid's bipolar channel 2 at 2.443-2.457 s,
#: resampled to 1 kHz (uV): about 5 ms wide, its top two samples apart
MUAP_1KHZ = [62, 86, 104, 118, 142, 143, 70, -81, -297, -333, -167, -77, -44, -22, -12]


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
def test_a_motor_unit_potential_at_1_khz_is_not_a_spike(native: bool) -> None:
    """At 1 kHz a motor-unit potential a few ms wide is a few samples: its
    second difference stands as far out of quiet EMG as a spike's, but over
    two rounded samples, where a spike has one corner. A 2 ms spike of the
    same height beside it is found."""
    rate = 1000.0
    x = _contraction(8.0, rate, 20.0, seed=11)
    muap = np.array(MUAP_1KHZ, dtype=float)
    for t in (2.013, 3.527, 5.041, 6.555):
        i = int(t * rate)
        x[i : i + len(muap), 0] += muap
    _triangle(x, rate, 4.2, 1, 330.0)
    events = _detect(x, rate, native)
    assert [(e.channel, e.detail["count"]) for e in events] == [(1, 1)], events


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
@pytest.mark.parametrize("rate", [2000.0, 4000.0])
def test_a_spike_whose_corner_falls_between_samples_is_found(native: bool, rate: float) -> None:
    """From 2 kHz a pulse's corner may fall between two samples (a
    symmetric pulse, or any through an anti-alias filter): its second
    difference then splits over both, which the corner rule of 1 kHz would
    take for a motor-unit potential's rounded top. Pulses of 1 ms
    (Gaussian, sigma 0.25 ms) peaking midway between samples are spikes."""
    x = _contraction(8.0, rate, 20.0, seed=5)
    times = [2.013, 3.527, 5.041, 6.555]
    t = np.arange(len(x)) / rate
    for at in times:
        x[:, 1] += 400.0 * np.exp(-0.5 * ((t - at - 0.5 / rate) / 0.00025) ** 2)
    events = _detect(x, rate, native)
    assert {e.channel for e in events} == {1}, events
    assert sum(e.detail["count"] for e in events) == len(times)


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
@pytest.mark.parametrize("rate", [1000.0, 2000.0])
def test_a_second_stuck_run_soon_after_the_first_is_not_motion(native: bool, rate: float) -> None:
    """The second starts while the 1-20 Hz band still settles from the
    first: its restart must get its own 150 ms without motion verdicts (the
    run of settling hops went on through it, and its ringing was called
    motion on one of these channels)."""
    rng = np.random.default_rng(1)
    n, ch = int(5 * rate), 8
    sos = signal.butter(4, [20, 150], "bandpass", fs=rate, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal((n, ch)), axis=0)
    x *= 60.0 / x.std(axis=0)
    for c in range(ch):
        s0 = 2.0 + 0.013 * c
        for a, b in ((s0, s0 + 0.2), (s0 + 0.45, s0 + 0.65)):
            x[int(a * rate) : int(b * rate), c] = 33.0
    assert _detect(x, rate, native, kind="motion") == []


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
@pytest.mark.parametrize("rate", [1000.0, 2000.0, 4000.0])
def test_motion_in_a_streams_first_second_is_found_in_time(native: bool, rate: float) -> None:
    """An artifact 0.4 s into a stream is motion within 300 ms: the
    stream's start settles in SETTLE_START_S, as its filters are primed to
    its first sample (the 0.8 s of a restart after a code fault left it
    unjudged until then). The channel beside it stays clean."""
    x = _contraction(4.0, rate, 20.0, seed=3)
    t = np.arange(len(x)) / rate
    on = (t >= 0.4) & (t < 1.2)
    x[on, 1] += 300.0 * np.sin(2 * np.pi * 2.0 * (t[on] - 0.4))
    events = _detect(x, rate, native, kind="motion")
    assert [e.channel for e in events] == [1], events
    assert events[0].detected_s is not None and events[0].detected_s <= 0.4 + 0.3, events


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
def test_a_channel_valid_only_after_a_hop_settles_as_after_a_restart(native: bool) -> None:
    """A channel whose first valid sample comes more than a hop after the
    stream's start (an electrode connected late) settles for SETTLE_S, as
    after a code fault: its artifact at 0.4 s is judged from 0.2 + 0.8 s
    on, while the same artifact on a channel valid from the start is found
    by 0.7 s."""
    rate = 2000.0
    x = _contraction(4.0, rate, 20.0, seed=3)
    t = np.arange(len(x)) / rate
    on = (t >= 0.4) & (t < 1.6)
    for c in (0, 1):
        x[on, c] += 300.0 * np.sin(2 * np.pi * 2.0 * (t[on] - 0.4))
    x[t < 0.2, 1] = np.nan
    events = {e.channel: e for e in _detect(x, rate, native, kind="motion")}
    assert sorted(events) == [0, 1], events
    assert events[0].detected_s is not None and events[0].detected_s <= 0.7, events
    assert events[1].detected_s is not None and events[1].detected_s >= 0.2 + features.SETTLE_S, events


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
def test_a_step_is_not_a_spike(native: bool) -> None:
    """A jump of the baseline is as sharp as a spike, but it stays: not a
    spike. A pulse of the same height is one."""
    rate = 4000.0
    rng = np.random.default_rng(6)
    n = int(6 * rate)
    x = 10.0 * rng.standard_normal((n, 2))
    x[int(3.0 * rate) :, 0] += 1500.0
    _triangle(x, rate, 3.0, 1, 1500.0)
    events = _detect(x, rate, native)
    assert [e.channel for e in events] == [1], events


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
@pytest.mark.parametrize("rate", [1000.0, 2000.0, 4000.0])
def test_a_baseline_setting_off_toward_a_rail_is_not_a_spike(native: bool, rate: float) -> None:
    """A baseline that sets off at 1 V/s (an electrode drying out, a rail
    approached in a second) has a corner as sharp as a spike's in the
    second difference, and it neither comes back nor steps: not a spike
    (decision._bends). A pulse riding on the same ramp later is one."""
    t, x = _broadband(6.0, rate, 5.0, seed=2)
    x[:, 0] += np.where(t > 4.0, 1e6 * (t - 4.0), 0.0)
    x[:, 1] += np.where(t > 4.0, 1e6 * (t - 4.0), 0.0)
    _triangle(x, rate, 4.5, 1, 400.0)
    events = _detect(x, rate, native)
    assert [(e.channel, round(e.start_s, 2)) for e in events] == [(1, 4.5)], events


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
@pytest.mark.parametrize("rate", [2000.0, 4000.0])
def test_a_large_motor_unit_potential_is_not_a_spike(native: bool, rate: float) -> None:
    """A biphasic potential a few ms wide, 100 x a quiet channel's RMS (a
    jump's push-off gives such ones, 0.3-2.5 mV), passes every other spike
    rule from 1.5 kHz: it stands alone, comes back and has no step. Its top
    is rounded at the sampling grid's scale, a 2 ms pulse's edge is not
    (decision._smooth): the pulses of the same height on the other channel
    are spikes, the potentials are not."""
    t, x = _broadband(8.0, rate, 10.0, seed=4)
    times = [2.013, 3.527, 5.041, 6.555]
    sigma = 0.001
    for at in times:
        u = (t - at) / sigma
        x[:, 0] += -1000.0 * u * np.exp(0.5 - 0.5 * u * u)  # peaks of +-1 mV, 2 ms apart
        _triangle(x, rate, at, 1, 1000.0)
    events = _detect(x, rate, native)
    assert {e.channel for e in events} == {1}, events
    assert sum(e.detail["count"] for e in events) == len(times)


#: a jump's push-off potential at 1 kHz (uV; ultium-cmj's channel 5 at
#: 4.530-4.549 s, from the level before it, brought back to 0 over its last
#: three samples): up for four samples, down at a corner to 1.8 x as far
JUMP_MUAP_1KHZ = [0, 251, 523, 505, 326, -288, -925, -536, -226, -208]
JUMP_MUAP_1KHZ += [-162, -137, -105, -98, -78, -65, -47, -30, -15, 0]


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
@pytest.mark.parametrize("rate", [500.0, 1000.0])
def test_a_biphasic_potential_below_1_5_khz_is_not_a_spike(native: bool, rate: float) -> None:
    """At 1 kHz a large motor-unit potential of 3-6 ms has a corner like a
    spike's in the second difference (at 500 Hz it is a pulse or two in the
    high-passed signal), stands alone and comes back; but it swings to the
    other sign and back within a few ms, where a sensor's pulse is
    one-signed (decision._biphasic). One-signed pulses of the same height on
    the other channel are spikes, the potentials are not."""
    x = _contraction(8.0, rate, 10.0, seed=4)
    muap = np.array(JUMP_MUAP_1KHZ, dtype=float)[:: int(1000.0 / rate)]  # every other sample at 500 Hz
    times = [2.013, 3.527, 5.041, 6.555]
    for at in times:
        i = int(at * rate)
        x[i : i + len(muap), 0] += muap
        _triangle(x, rate, at, 1, 925.0)
    events = _detect(x, rate, native)
    assert {e.channel for e in events} == {1}, events
    assert sum(e.detail["count"] for e in events) == len(times)
    # with hops too short for its window the rule is off, the same in every chunking
    short = [_detect(x, rate, native, hop_s=0.01, block_s=b) for b in (0.01, 0.037)]
    assert sorted((e.channel, e.start_s) for e in short[0]) == sorted((e.channel, e.start_s) for e in short[1])


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
def test_the_first_sample_after_a_gap_is_not_a_spike(native: bool) -> None:
    """The feature filters hold their input across a gap (invalid rows), so
    the signal they see jumps where it resumes: as sharp as a spike in the
    second difference, but a step the hold made, not a pulse."""
    rate = 2000.0
    x = _contraction(6.0, rate, 150.0, seed=7)
    for t in (2.0, 3.5, 4.7):
        a = int(t * rate)
        x[a : a + int(0.012 * rate)] = np.nan
    assert _detect(x, rate, native) == []


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
@pytest.mark.parametrize("rate", [1000.0, 2000.0, 4000.0])
def test_the_hearts_qrs_complexes_are_not_motion(native: bool, rate: float) -> None:
    """Electrodes over a trunk muscle pick up the heart: QRS complexes of
    150 uV every 0.9 s on a channel resting at 8 uV put their 1-20 Hz power
    at 10-15 Hz (features.MOTION_MAX_HZ), where an artifact's swing (2 Hz
    under a sin^2 envelope, the other channel) is slow: that one is motion,
    the heartbeats are not."""
    rng = np.random.default_rng(3)
    n = int(12 * rate)
    sos = signal.butter(4, [20, 150], "bandpass", fs=rate, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal((n, 2)), axis=0)
    x *= 8.0 / x.std(axis=0)
    t = np.arange(n) / rate

    def bump(at: float, sd: float) -> np.ndarray:
        return np.exp(-0.5 * ((t - at) / sd) ** 2)

    for beat in np.arange(1.5, 11.5, 0.9):
        x[:, 0] += 150.0 * (-0.15 * bump(beat - 0.025, 0.006) + bump(beat, 0.008) - 0.25 * bump(beat + 0.025, 0.008))
    swing = (t >= 6.0) & (t < 6.6)
    x[swing, 1] += 150.0 * np.sin(np.pi * (t[swing] - 6.0) / 0.6) ** 2 * np.sin(2 * np.pi * 2.0 * (t[swing] - 6.0))
    events = _detect(x, rate, native, kind="motion")
    assert [e.channel for e in events] == [1], events
    assert 6.0 <= events[0].start_s < 6.4


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
def test_a_last_hop_of_one_row_flushes_without_a_warning(native: bool) -> None:
    """A stream one row longer than whole hops ends in a hop of one row: the
    motion tests on it (the band's RMS frequency needs a difference) must
    neither warn nor fail."""
    import warnings

    rate = 1000.0
    rng = np.random.default_rng(4)
    n = int(12 * rate) + 1
    sos = signal.butter(4, [20, 150], "bandpass", fs=rate, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal((n, 2)), axis=0) * 20.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        events = _detect(x, rate, native, kind="motion")
    assert events == []


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
def test_a_pulse_train_at_50_hz_is_not_a_hum(native: bool) -> None:
    """A stimulator's 100 uV pulses every 20 ms on 5 uV of EMG: their 50 Hz
    line is a sixth of the signal's power, not a hum with nothing under it
    (the hum test weighed it against the hop's power without its spike
    samples, a fifth of the whole, and called it mains all along)."""
    rate = 2000.0
    rng = np.random.default_rng(3)
    n = int(6 * rate)
    sos = signal.butter(2, [20, 400], "bandpass", fs=rate, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal((n, 1)), axis=0)
    x *= 5.0 / x.std()
    x[::40, 0] += 100.0
    assert _detect(x, rate, native, kind="mains") == []


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
@pytest.mark.parametrize(("rate", "hop_s"), [(100.0, 0.05), (200.0, 0.02), (250.0, 0.02)])
def test_no_hum_alone_where_50_and_60_hz_cannot_be_told(native: bool, rate: float, hop_s: float) -> None:
    """Below 112 Hz no mains line is under the rate's limit, and at 200-250 Hz
    with 20 ms hops 50 and 60 Hz fall in one bin: a steady line gives the
    test next to nothing (features.MAINS_ALONE_CONTRAST), and white noise
    divided by it was a hum alone (31 events in 20 s at 200 Hz)."""
    import warnings

    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 5.0, (int(20 * rate), 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # 0 / 0 below 112 Hz
        warnings.filterwarnings("ignore", message="broadband-noise detection is off")
        assert _detect(x, rate, native, kind="mains", hop_s=hop_s) == []


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
def test_a_ramp_found_while_open_is_found_at_the_same_hop_whatever_the_blocks(native: bool) -> None:
    """A baseline setting off toward a rail on a quiet channel, the stream
    ending 1.2 s into it: its motion event becomes a ramp while open
    (decision.RAMP_OPEN_S), at the same hop whether the detector gets
    10 ms blocks, 0.47 s or 1 s ones (several hops per call) or the whole
    signal at once."""
    rate = 2000.0
    x = _ramp_on_a_quiet_channel(rate)
    runs = [
        [(e.kind, e.start_s, e.end_s, e.detected_s) for e in _detect(x, rate, native, kind="ramp", block_s=b)]
        for b in (0.01, 0.47, 1.0, 8.0)
    ]
    assert len(runs[0]) == 1 and runs[0] == runs[1] == runs[2] == runs[3], runs
    assert runs[0][0][3] < 8.0  # known before the stream ends


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
def test_a_ramp_found_while_open_is_handed_out_then_and_not_reopened_as_motion(native: bool) -> None:
    """The ramp is handed out again as soon as it is found (a live display
    says so before the event ends); closed by a reset, it is not the event
    a motion swing right after the restart reopens (merge_s 1.5 s): that
    swing is motion of its own."""
    rate = 2000.0
    det = FaultDetector(hop_s=0.05, merge_s=1.5)
    det.native = native
    x = _ramp_on_a_quiet_channel(rate)
    n = len(x)
    seen = _feed(det, x, rate, 0, 20)  # every event as handed out, in order
    assert [(k, end) for e, k, end in seen if e.channel == 1] == [("motion", None), ("ramp", None)]
    det.flush()
    det.reset()
    t2 = np.arange(int(6 * rate)) / rate
    y = np.random.default_rng(5).normal(0.0, 1.5, (len(t2), 2))
    y[:, 1] += np.where((t2 > 0.2) & (t2 < 1.2), 800.0 * np.sin(2 * np.pi * (t2 - 0.2)), 0.0)
    seen += _feed(det, y, rate, n, 20)
    det.flush()
    det.finish((n + len(t2)) / rate)
    every = {id(e): e for e in [e for e, *_ in seen] + det.take_events()}.values()
    ramps = [e for e in every if e.kind == "ramp"]
    motion = [e for e in every if e.kind == "motion" and e.start_s > 8.0]
    assert [(e.start_s, e.end_s) for e in ramps] == [(6.85, 8.0)], ramps
    assert len(motion) == 1 and motion[0].channel == 1, motion


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
def test_the_band_ringing_after_a_short_burst_is_not_motion(native: bool) -> None:
    """Bursts of 70 ms (EMG and a 15 Hz wave) on a channel resting at 1.5
    uV, each over two hops: the 1-20 Hz band-pass's output grows through
    the burst, so what rings on after it starts above the burst hop's mean
    square (features.RING_BUILD); with the level the band is judged by now
    starting at the channel's own, one of them was motion."""
    rate = 2000.0
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 1.5, (int(12 * rate), 2))
    sos = signal.butter(4, [20, 450], "bandpass", fs=rate, output="sos")
    n = int(0.07 * rate)
    wave = 24.0 * np.sin(2 * np.pi * 15.0 * np.arange(n) / rate) * np.hanning(n)
    for at in np.arange(3.03, 11.0, 1.0):
        a = int(at * rate)
        x[a : a + n, 0] += signal.sosfilt(sos, rng.normal(0.0, 120.0, n)) + wave
    assert _detect(x, rate, native, kind="motion") == []


def _burst_then(
    rate: float, seed: int, burst_s: float, swing: tuple[float, float, float], swing_at_s: float
) -> np.ndarray:
    """6 s of 2 uV rest on two channels; on the first, a burst of EMG at 4 s
    for burst_s (80 uV above 20 Hz and a tenth of its power, 25 uV, in 2-15
    Hz, as real bursts carry) and a swing of the 1-20 Hz band (amplitude uV,
    frequency Hz, seconds; a sin^2 envelope) from swing_at_s."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 2.0, (int(6 * rate), 2))
    hi = signal.sosfilt(
        signal.butter(4, [20, 450], "bandpass", fs=rate, output="sos"), rng.normal(size=int(burst_s * rate))
    )
    lo = signal.sosfilt(signal.butter(2, [2, 15], "bandpass", fs=rate, output="sos"), rng.normal(size=len(hi)))
    a = int(4.0 * rate)
    x[a : a + len(hi), 0] += 80.0 * hi / hi.std() + 25.0 * lo / lo.std()
    amp, hz, span = swing
    t = np.arange(int(span * rate)) / rate
    b = int(swing_at_s * rate)
    x[b : b + len(t), 0] += amp * np.sin(np.pi * t / span) ** 2 * np.sin(2 * np.pi * hz * t)
    return x


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
@pytest.mark.parametrize(("rate", "seed"), [(2000.0, 3), (2000.0, 8), (4000.0, 4), (4000.0, 11)])
def test_a_swing_as_a_burst_ends_is_not_motion_an_artifact_that_lasts_is(
    native: bool, rate: float, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a burst ends, the 1-20 Hz band may swing for a hop (the muscle
    relaxing: the held-out biosppy and the BITalino recordings show it) above
    what the band-pass's ring of the burst allows: motion, before
    features.RING_CONFIRM. An artifact from the burst's end lasts, and is
    found in time; one under a contraction that goes on (the EMG not fading)
    is found at the same hop as without the rule."""
    assert _detect(_burst_then(rate, seed, 0.3, (40.0, 10.0, 0.06), 4.3), rate, native, kind="motion") == []
    lasting = _detect(_burst_then(rate, seed, 0.3, (60.0, 3.0, 0.5), 4.3), rate, native, kind="motion")
    assert len(lasting) == 1 and lasting[0].detected_s - 4.3 <= 0.3
    under = _burst_then(rate, seed, 1.2, (150.0, 3.0, 0.5), 4.4)
    found = [(e.start_s, e.detected_s) for e in _detect(under, rate, native, kind="motion")]
    monkeypatch.setattr(features, "RING_CONFIRM", 0.0)
    assert found and found == [(e.start_s, e.detected_s) for e in _detect(under, rate, native, kind="motion")]


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
@pytest.mark.parametrize("rate", [2000.0, 4000.0])
def test_a_hum_on_one_electrode_is_mains_after_three_hops_a_shared_one_is_not(native: bool, rate: float) -> None:
    """Eight channels busy with steady tones beside the mains lines (each
    its own phases): a 50 Hz hum on channel 5 alone for 200 ms (three
    two-hop windows, its lines 13 x their neighbours: over mains_ratio, under
    the sure test's 16 x) is the channel's own (features._own_hum) and is
    mains; it was not (the run of 4 hops). The same hum on every channel at
    once (gains 0.9-1.0, its lines 11-13 x) is shared: no mains, also when
    another channel carries a loud hum of its own. Fed 10 ms or 1 s at a
    time alike. With three channels, or three live ones, the own test is off
    (OWN_HUM_CHANNELS)."""
    rng = np.random.default_rng(0)
    n = int(8 * rate)
    t = np.arange(n) / rate
    x = rng.normal(0.0, 0.5, (n, 8))
    # tones 4 bins apart (no leakage between them): steady neighbours' power
    for f, phase in zip((30.0, 70.0, 130.0, 170.0), rng.uniform(0, 2 * np.pi, (4, 8)), strict=True):
        x += 4.0 * np.sin(2 * np.pi * f * t[:, None] + phase[None, :]) * (t >= 3.0)[:, None]
    hum = 20.0 * np.sin(2 * np.pi * 50.0 * t)
    x[:, 5] += hum * ((t >= 5.0) & (t < 5.2))
    x += np.outer(hum * ((t >= 6.5) & (t < 6.7)), np.linspace(0.9, 1.0, 8))
    for block_s in (0.01, 1.0):  # one hop at a time, and many
        got = _detect(x, rate, native, kind="mains", block_s=block_s)
        assert [(e.channel, round(e.start_s, 2)) for e in got] == [(5, 5.05)], (block_s, got)
    assert _detect(np.ascontiguousarray(x[:, 3:6]), rate, native, kind="mains") == []
    # a loud hum of channel 0's own (another phase) does not make the others'
    # mean its own: the shared hum stays shared (each channel weighed by 1 /
    # its RMS)
    x[:, 0] += 300.0 * np.cos(2 * np.pi * 50.0 * t) * (t >= 3.0)
    got = _detect(x, rate, native, kind="mains")
    assert sorted((e.channel, round(e.start_s, 2)) for e in got) == [(0, 3.05), (5, 5.05)], got
    # seven flat channels (not live) leave one: no own test
    x[:, :7] = 0.0
    assert _detect(x, rate, native, kind="mains") == []


@pytest.mark.parametrize("native", [True, False], ids=["C", "numpy"])
@pytest.mark.parametrize("rate", [2000.0, 4000.0])
def test_a_hum_over_a_light_contraction_is_mains(native: bool, rate: float) -> None:
    """A channel resting at 1.5 uV of noise, in a light contraction every
    other second (4 uV of EMG above 250 Hz, as a bipolar pair's can be): a
    5 uV hum during one contraction passes the share and line tests but
    stood under the floor of 4 x the quiet level (features.MAINS_FLOOR_K,
    now 2); it is too little of the channel's power for the hum-alone arm.
    The other channel, the same without the hum, has no mains."""
    rng = np.random.default_rng(3)
    n = int(12 * rate)
    t = np.arange(n) / rate
    sos = signal.butter(4, [250, 600], "bandpass", fs=rate, output="sos")
    emg = signal.sosfilt(sos, rng.standard_normal((n, 2)), axis=0)
    active = np.floor(t) % 2 == 1
    x = rng.normal(0.0, 1.5, (n, 2)) + emg * (4.0 / emg.std(axis=0)) * active[:, None]
    x[:, 0] += 5.0 * np.sqrt(2) * np.sin(2 * np.pi * 50 * t) * ((t >= 9.2) & (t < 9.9))
    got = _detect(x, rate, native, kind="mains")
    assert [e.channel for e in got] == [0], got
    assert 9.2 <= got[0].start_s <= 9.45 and got[0].end_s is not None and got[0].end_s >= 9.8, got
