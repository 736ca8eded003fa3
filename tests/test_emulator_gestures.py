"""The emulator's gesture profile: a wearer performing a scripted or random
gesture sequence, written to the truth; per-gesture spatial patterns over
the channels with repetition variability and fatigue; sensor faults on top."""

from __future__ import annotations

import argparse
import subprocess
import sys

import numpy as np
import pytest
import serial
from emulator_util import options, run
from support import ROOT

import sensorio
from sensorio.cli import cmd_emulate
from sensorio.emulator import TruthLog, config_from_options
from sensorio.emulator.gestures import (
    DEFAULT_GESTURES,
    GestureConfig,
    GestureSchedule,
    gesture_patterns,
    parse_script,
)
from sensorio.emulator.profiles import PROFILES
from sensorio.emulator.signals import StreamSignal
from sensorio.errors import UsageError
from sensorio.testing import sim_url

UV = PROFILES["gestures"].streams[0].scale


def _hold_rms(log: TruthLog, rate: float = 2000.0) -> list[tuple[str, int, np.ndarray]]:
    """(label, rep, per-channel RMS) over the steady middle of each segment."""
    x = log.codes(0).astype(float) * UV
    out = []
    for g in log.gestures():
        a, b = int((g["start_s"] + 0.6) * rate), int((g["end_s"] or 0) * rate) - int(0.3 * rate)
        if g["end_s"] is None or b > x.shape[0] or b - a < 400:
            continue
        seg = x[a:b] - x[a:b].mean(axis=0)
        out.append((g["label"], g["rep"], np.sqrt((seg**2).mean(axis=0))))
    return out


def test_sequence_in_truth_covers_time_in_order() -> None:
    _, log = run(profile="gestures", autostart=True, duration=24.0, reps=2, hold_s=1.5, pause_s=1)
    classes = log.start["gestures"]["classes"]
    assert classes == list(DEFAULT_GESTURES)
    segs = log.gestures()
    # contiguous from 0, each record's class index names its label
    assert segs[0]["start_s"] == 0.0
    for a, b in zip(segs, segs[1:], strict=False):
        assert b["start_s"] == pytest.approx(a["end_s"])
    assert all(classes[g["class"]] == g["label"] for g in segs)
    active = [g["label"] for g in segs if g["label"] != "rest"]
    # cycle order: the five gestures as listed, once per repetition, a pause after each
    assert active[:10] == list(DEFAULT_GESTURES[1:]) * 2
    assert [g["label"] for g in segs[:4]] == ["rest", "open", "rest", "close"]
    assert segs[1]["end_s"] - segs[1]["start_s"] == pytest.approx(1.5)
    # one pass is 1 + 2 * 5 * 2.5 = 26 s: the device wrote the segments it generated
    assert log.start["gestures"]["sequence_s"] == pytest.approx(26.0)
    assert segs[-1]["start_s"] < 24.0 + 1.5


def test_random_order_is_shuffled_per_repetition_and_seeded() -> None:
    kw = dict(profile="gestures", autostart=True, duration=40.0, reps=3, order="random")
    kw.update(hold_s=1, pause_s=1)
    _, a = run(seed=4, **kw)
    _, b = run(seed=4, **kw)
    _, c = run(seed=5, **kw)
    seq = [g["label"] for g in a.gestures() if g["label"] != "rest"][:15]
    assert seq == [g["label"] for g in b.gestures() if g["label"] != "rest"][:15]
    assert seq != [g["label"] for g in c.gestures() if g["label"] != "rest"][:15]
    for r in range(3):  # every repetition holds each gesture once
        assert sorted(seq[5 * r : 5 * r + 5]) == sorted(DEFAULT_GESTURES[1:])
    assert seq[:5] != list(DEFAULT_GESTURES[1:]) or seq[5:10] != list(DEFAULT_GESTURES[1:])


def test_script_is_followed_exactly_and_ends_in_rest_without_loop() -> None:
    _, log = run(profile="gestures", autostart=True, duration=8.0, script="open:1.5,rest:1,pinch:2", loop=0)
    segs = [(g["label"], g["start_s"], g["end_s"]) for g in log.gestures()]
    assert segs == [
        ("open", 0.0, 1.5),
        ("rest", 1.5, 2.5),
        ("pinch", 2.5, 4.5),
        ("rest", 4.5, None),
    ]
    assert log.start["gestures"]["classes"] == ["rest", "open", "pinch"]
    assert log.gesture_labels(np.array([0.1, 2.0, 3.0, 7.9])) == ["open", "rest", "pinch", "rest"]


def test_each_gesture_has_its_own_spatial_pattern_on_the_wire() -> None:
    _, log = run(
        profile="gestures",
        autostart=True,
        truth_codes=True,
        duration=48.0,
        reps=2,
        hold_s=2.5,
        mains_uv=0,
        drift_uv=0,
    )
    holds = _hold_rms(log)
    rest = np.array([r for lab, _, r in holds if lab == "rest"])
    assert rest.mean() < 8.0  # rest: a few uV of EMG and the amplifier floor
    mean = {}
    for lab in DEFAULT_GESTURES[1:]:
        reps = np.array([r for l2, _, r in holds if l2 == lab])
        assert len(reps) == 2
        assert reps.min(axis=1).max() > 0  # all channels carry something
        assert reps.max() > 10 * rest.mean()
        mean[lab] = reps.mean(axis=0)
        # the recorded pattern follows the model's (electrode gains and jitter aside)
        model = gesture_patterns(DEFAULT_GESTURES, 8, 0, seed=0)[lab]
        assert np.corrcoef(mean[lab], model)[0, 1] > 0.8
    # overlapping synergies, but distinct patterns: no two gestures alike
    labels = list(mean)
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            assert np.corrcoef(mean[a], mean[b])[0, 1] < 0.9, (a, b)
    # overlapping: every gesture drives several channels, not one
    for lab, m in mean.items():
        assert (m > 0.3 * m.max()).sum() >= 2, lab


def test_repetitions_vary_and_fatigue_grows_the_amplitude() -> None:
    cfg = GestureConfig(reps=20, hold_s=2, pause_s=1, fatigue=1.0, variability=0.2)
    sched = GestureSchedule(cfg, seed=3, n_channels=8)
    segs = [s for s in sched.segments(200.0) if s["label"] == "open"]
    t_mid = np.array([(s["start_s"] + s["end_s"]) / 2 for s in segs])
    act = np.array([sched.emg_activation(np.array([t]), np.ones(8))[0] for t in t_mid])
    levels = np.array([s["level"] for s in segs])
    # repetition to repetition: effort and the channels' shares differ
    assert len(set(np.round(levels, 4))) == len(levels)
    shares = act / act.sum(axis=1, keepdims=True)
    assert np.ptp(shares, axis=0).max() > 0.02
    # fatigue: the same effort gives more EMG later on
    per_effort = act.sum(axis=1) / levels
    gain = sched.fatigue_gain(t_mid)
    assert gain[0] < gain[-1] and gain[-1] > 1.3
    assert np.corrcoef(per_effort, gain)[0, 1] > 0.5
    none = GestureSchedule(GestureConfig(fatigue=0.0), seed=3, n_channels=8)
    assert (none.fatigue_gain(np.linspace(0, 300, 50)) == 1.0).all()
    # within a hold the effort wavers slowly around its level; rest stays 0
    wob = GestureSchedule(GestureConfig(wobble=0.2, fatigue=0.0), seed=3, n_channels=8)
    seg = next(s for s in wob.segments(60.0) if s["label"] == "close")
    t = np.linspace(seg["start_s"] + 0.5, seg["end_s"] - 0.01, 500)
    eff = wob.level(t) / seg["level"]
    assert 0.8 - 1e-9 <= eff.min() < 0.97 and 1.03 < eff.max() <= 1.2 + 1e-9
    assert np.abs(np.diff(eff)).max() < 0.01  # slow: no jumps between samples 5 ms apart
    rest = next(s for s in wob.segments(60.0) if s["label"] == "rest" and s["start_s"] > 0)
    assert (wob.level(np.linspace(rest["start_s"] + 0.4, rest["end_s"] - 0.01, 50)) == 0).all()
    steady = GestureSchedule(GestureConfig(wobble=0.0), seed=3, n_channels=8)
    assert (steady.wobble_gain(t) == 1.0).all()


def test_signal_is_the_same_whatever_the_chunking() -> None:
    prof = PROFILES["gestures"].streams[0]
    cfg = config_from_options(options(profile="gestures", reps=2, hold_s=1, pause_s=0.5))
    assert cfg.gestures is not None

    def gen(chunks: list[int]) -> np.ndarray:
        sched = GestureSchedule(cfg.gestures, 7, prof.channels)
        sig = StreamSignal(prof, cfg.signal, 7, sched)
        return np.concatenate([sig.next(n) for n in chunks])

    whole = gen([20000])
    rng = np.random.default_rng(1)
    sizes = [int(n) for n in rng.integers(1, 150, 200)]
    sizes.append(20000 - sum(sizes))
    # equal up to float rounding of the mains/drift matrix products (BLAS blocks by size)
    np.testing.assert_allclose(whole, gen(sizes), rtol=0, atol=1e-9)


def test_sensor_faults_while_gestures_run() -> None:
    _, log = run(
        profile="gestures",
        autostart=True,
        truth_codes=True,
        duration=6.0,
        fault=["liftoff:channel=3,start=2,end=3", "noise:channel=6,start=4,end=5,amp=2000"],
    )
    codes = log.codes(0)
    hi = PROFILES["gestures"].streams[0].code_range[1]
    assert (codes[4000:6000, 2] == hi).all() and (codes[:3990, 2] != hi).all()
    x = codes.astype(float) * UV
    assert x[8000:10000, 5].std() > 5 * x[10200:12000, 5].std()
    assert {f["kind"] for f in log.faults()} == {"liftoff", "noise"}
    assert log.gestures()  # the sequence runs on


def test_sim_url_and_emulate_flags(tmp_path) -> None:
    truth = tmp_path / "t.jsonl"
    url = sim_url("gestures", seed=2, fast=True, autostart=True, duration=3.0, script="close:2", truth=truth)
    port = serial.serial_for_url(url, timeout=0.5)
    p = sensorio.Parser()
    while chunk := port.read(65536):
        p.feed(chunk)
    port.finish()
    log = TruthLog.load(truth)
    assert log.start["profile"] == "gestures" and log.gestures()[0]["label"] == "close"
    assert sensorio.concat_blocks(p.read())[0]["samples"].shape == (6000, 8)
    # `sensorio emulate` takes the same options as flags
    parser = argparse.ArgumentParser()
    cmd_emulate.register(parser.add_subparsers())
    args = parser.parse_args(["emulate", "--profile", "emg8", "--gestures", "rest,open,flex", "--reps", "2"])
    cfg = config_from_options(cmd_emulate.options_from_args(args))
    assert cfg.gestures is not None and cfg.gestures.classes == ("rest", "open", "flex")
    assert cfg.gestures.reps == 2
    # gesture options turn gestures on for other EMG profiles too; emg8 alone has none
    assert config_from_options(options(profile="emg8")).gestures is None


@pytest.mark.parametrize(
    "opts, words",
    [
        ({"order": "sideways"}, "order"),
        ({"script": "open"}, "LABEL:SECONDS"),
        ({"script": "open:x"}, "not a number"),
        ({"script": "open:-1"}, "positive"),
        ({"gestures": "rest"}, "besides rest"),
        ({"gestures": "open,open"}, "twice"),
        ({"reps": "0"}, "reps"),
        ({"reps": "two"}, "reps"),
        ({"loop": "maybe"}, "yes/no"),
        ({"variability": "3"}, "variability"),
        ({"wobble": "1.5"}, "wobble"),
    ],
)
def test_bad_gesture_options_are_usage_errors(opts: dict[str, str], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        config_from_options(options(profile="gestures", **opts))


def test_bad_gesture_option_on_the_command_line_is_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sensorio", "emulate", "--profile", "gestures", "--order", "x"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode in (1, 2)
    assert len(proc.stderr.strip().splitlines()) == 1 and "order" in proc.stderr


def test_parse_script_round_trip() -> None:
    from sensorio.emulator.gestures import format_script

    items = parse_script("open:3, rest:2,Close:1.25")
    assert items == (("open", 3.0), ("rest", 2.0), ("close", 1.25))
    assert parse_script(format_script(items)) == items
