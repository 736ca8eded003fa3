"""Each sensor fault is in the bytes where and as the ground truth says:
decode a faulty run and the same run without the fault, and compare."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from emulator_util import decode, run

from sensorio.emulator.faults import parse_fault
from sensorio.errors import UsageError

RATE = 2000.0
CH = 3


def _pair(fault: str, **kw):
    kw = {"format": "sio", "seed": 7, "autostart": True, "duration": 1.0, **kw}
    clean, _ = run(**kw)
    bad, truth = run(fault=[fault], **kw)
    _, s_clean = decode(clean)
    _, s_bad = decode(bad)
    [rec] = truth.faults()
    t = np.arange(s_bad[0]["samples"].shape[0]) / RATE
    inside = (t >= rec["start_s"] - 1e-9) & (t < rec["end_s"] - 1e-9)
    return s_clean[0], s_bad[0], rec, inside, truth


def _only_here(clean, bad, inside) -> np.ndarray:
    diff = bad["samples"].astype(np.int64) - clean["samples"]
    # nothing changes outside the fault's channel and time
    others = np.delete(diff, CH, axis=1)
    assert not others.any()
    assert not diff[~inside, CH].any()
    return diff[:, CH]


@pytest.mark.parametrize("mode", ["rail", "flat"])
def test_liftoff(mode: str) -> None:
    clean, bad, rec, inside, truth = _pair(f"liftoff:channel={CH + 1},start=0.3,end=0.6,mode={mode}")
    assert (rec["kind"], rec["channel"], rec["start_s"], rec["end_s"], rec["mode"]) == (
        "liftoff",
        CH,
        0.3,
        0.6,
        mode,
    )
    _only_here(clean, bad, inside)
    stream = truth.start["streams"][0]
    expect = stream["max_code"] if mode == "rail" else stream["zero"]
    assert (bad["samples"][inside, CH] == expect).all()
    # the lead-off bit is set on exactly the frames that hold a sample of the fault
    n_samp = truth.start["frame_samples"]["0"]
    frame_inside = inside.reshape(-1, n_samp).any(axis=1)
    bit = (bad["frame_leadoff"] >> np.uint64(CH)) & np.uint64(1)
    np.testing.assert_array_equal(bit.astype(bool), frame_inside)
    assert not (bad["frame_leadoff"] & ~np.uint64(1 << CH)).any()


def test_saturation() -> None:
    clean, bad, rec, inside, truth = _pair(f"saturation:channel={CH + 1},start=0.2,end=0.5")
    _only_here(clean, bad, inside)
    s = truth.start["streams"][0]
    window = bad["samples"][inside, CH]
    assert np.isin(window, [s["min_code"], s["max_code"]]).all()
    # it follows the sign of the signal it overdrives
    np.testing.assert_array_equal(window == s["max_code"], clean["samples"][inside, CH] >= 0)


def test_spikes() -> None:
    clean, bad, rec, inside, truth = _pair(f"spikes:channel={CH + 1},start=0.2,end=0.8,rate=10,amp=2000")
    diff = _only_here(clean, bad, inside)
    scale = truth.start["streams"][0]["scale"]
    times = rec["times_s"]
    assert len(times) == 6
    starts = np.ceil(np.array(times) * RATE - 1e-9).astype(int)
    width = max(1, round(rec["width_s"] * RATE))
    hit = np.zeros(diff.size, bool)
    for s0, ts in zip(starts, times, strict=True):
        hit[s0 : s0 + width] = True
        # a triangle from the listed time: its first sample is on the falling edge
        peak = 2000 * (1 - (s0 / RATE - ts) / (width / RATE))
        assert diff[s0] * scale == pytest.approx(peak, abs=2.0)  # times_s are rounded to 1 us
    assert not diff[~hit].any()


def test_motion_artifact() -> None:
    clean, bad, rec, inside, truth = _pair(f"motion:channel={CH + 1},start=0.2,end=0.7,amp=1500,hz=3")
    diff = _only_here(clean, bad, inside) * truth.start["streams"][0]["scale"]
    assert np.max(np.abs(diff)) == pytest.approx(1500, rel=0.05)
    # low frequency: 3 Hz over 0.5 s has about 3 zero crossings, nothing like EMG
    crossings = np.count_nonzero(np.diff(np.sign(diff[inside])) != 0)
    assert 2 <= crossings <= 5


def test_stuck_code() -> None:
    clean, bad, rec, inside, truth = _pair(f"stuck:channel={CH + 1},start=0.4,end=0.45")
    _only_here(clean, bad, inside)
    window = bad["samples"][inside, CH]
    first = np.flatnonzero(inside)[0]
    assert (window == clean["samples"][first, CH]).all()
    assert inside.sum() == 100


def test_sudden_noise() -> None:
    clean, bad, rec, inside, truth = _pair(f"noise:channel={CH + 1},start=0.5,end=1.0,amp=400")
    diff = _only_here(clean, bad, inside) * truth.start["streams"][0]["scale"]
    assert np.std(diff[inside]) == pytest.approx(400, rel=0.1)


def test_faults_on_other_streams_and_random_schedule() -> None:
    data, truth = run(
        format="sio",
        profile="prosthesis",
        autostart=True,
        duration=1.0,
        fault=["liftoff:stream=2,channel=5,start=0.1,end=0.3"],
        random_faults=4,
        seed=3,
    )
    _, streams = decode(data)
    recs = truth.faults()
    assert len(recs) == 5
    force = streams[2]
    t = np.arange(force["samples"].shape[0]) / 500.0
    inside = (t >= 0.1 - 1e-9) & (t < 0.3 - 1e-9)
    assert (force["samples"][inside, 4] == 4095).all()
    assert ((force["frame_leadoff"] != 0) == inside.reshape(-1, 2).any(axis=1)).all()
    for r in recs[1:]:
        assert r["kind"] in ("liftoff", "saturation", "spikes", "motion", "stuck", "noise")
        assert 0 <= r["channel"] < 8 and r["start_s"] < r["end_s"]


def test_fault_channels_count_from_1_and_the_old_ch_counts_from_0_with_a_warning() -> None:
    """``channel=3`` is emg3 (index 2), as every channel option counts; the
    former ``ch=2`` means the same and says it is deprecated."""
    assert parse_fault("liftoff:channel=3,start=1,end=2").channel == 2
    assert parse_fault("liftoff:start=1,end=2").channel == 0
    with pytest.warns(FutureWarning, match=r"ch=2 counts from 0 .* write channel=3"):
        assert parse_fault("liftoff:ch=2,start=1,end=2").channel == 2
    for bad in ("liftoff:channel=0", "liftoff:ch=-1", "liftoff:ch=1,channel=2"):
        with pytest.raises(UsageError):
            parse_fault(bad)


def test_the_old_fault_channel_spelling_is_one_warning_line_on_the_command_line(tmp_path: Path) -> None:
    truth = tmp_path / "t.jsonl"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sensorio",
            "record",
            f"sim://emg8?seed=1&fast=1&duration=1&fault=liftoff:ch=2,start=0.2,end=0.5&truth={truth}",
            "-o",
            str(tmp_path / "r.sior"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    warning = [line for line in proc.stderr.splitlines() if "deprecated" in line]
    assert warning == [
        "sensorio record: warning: fault option ch=2 counts from 0 and is deprecated: write channel=3 "
        "(channels count from 1, as the labels emg1.. do)"
    ], proc.stderr
    faults = [json.loads(line) for line in truth.read_text().splitlines() if '"fault"' in line]
    assert [f["channel"] for f in faults] == [2]
