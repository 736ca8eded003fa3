"""Calibration: exact to the INFO constants, gaps on a uniform time axis,
calibration files per serial, and the procedures on Blocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dsp_synth
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensorio import Parser, sio1
from sensorio.blocks import Block, Pushback, SignalBlock
from sensorio.dsp import Calibrate, Calibration, CalibrationStore, Pipeline, StreamInfo
from sensorio.dsp.calibrate import (
    measure_envelope_level,
    measure_gain_from_test,
    measure_offset,
)
from sensorio.errors import SensorioError


def raw_block(codes: np.ndarray, first_row: int = 0, events=None) -> Block:
    n = len(codes)
    return Block(
        0,
        codes.astype(np.int32),
        np.arange(n, dtype=np.uint32),
        np.zeros(n, np.uint64),
        np.zeros(n, np.uint64),
        np.arange(n, dtype=np.uint32),
        **({"events": events} if events is not None else {}),
        first_row=first_row,
    )


@settings(max_examples=40, deadline=None)
@given(
    scale=st.floats(1e-6, 1e3, allow_nan=False),
    zero=st.integers(-5000, 5000),
    codes=st.lists(st.integers(-(1 << 23), (1 << 23) - 1), min_size=2, max_size=60),
)
def test_physical_exact_to_info_constants(scale: float, zero: int, codes: list[int]) -> None:
    info = dsp_synth.info(2, 1000.0, scale=scale, zero=zero, rails=(-(1 << 23), (1 << 23) - 1))
    arr = np.array(codes[: len(codes) // 2 * 2], dtype=np.int64).reshape(-1, 2)
    out = Calibrate(info, auto=False).process_raw(raw_block(arr))[0]
    expect = (arr.astype(np.float64) - float(zero)) * scale
    assert np.array_equal(out.data, expect)  # bit-exact, no rounding beyond the formula
    assert out.units == ("uV", "uV") and out.rate_hz == 1000.0 and out.valid.all()


def _mapping_under(a: np.ndarray) -> object:
    """What an array's memory comes from at the end of its .base chain."""
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return a.obj if isinstance(a, memoryview) else a  # (np.frombuffer's)


def test_a_big_blocks_arrays_are_fresh_mappings_without_the_huge_page_request() -> None:
    # a big block's whole-block arrays of 32 MiB and more (fresh memory on
    # every call: glibc maps them anew) come from mappings of their own, not
    # numpy's np.empty, which asks the kernel for huge pages: finding,
    # compacting and zeroing them cost a block of 40000 rows x 256 channels
    # 30-60 % more CPU in some runs (docs/performance.md, "Fresh pages on big
    # blocks"); smaller arrays are numpy's as before
    import mmap

    rng = np.random.default_rng(1)
    info = dsp_synth.info(256)
    si = StreamInfo.from_descriptor(info, 0)
    for rows, mapped in ((16384, True), (40, False)):
        codes = rng.integers(-30000, 30000, (rows, 256), dtype=np.int32)
        out = Calibrate(info, auto=False).process_raw(raw_block(codes))[0]
        assert np.array_equal(out.data, (codes - si.zero) * si.scale) and out.valid.all()
        assert np.array_equal(out.codes, codes)
        for a in (out.data, out.valid, out.codes):
            assert isinstance(_mapping_under(a), mmap.mmap) is (mapped and a.nbytes >= 1 << 25), (rows, a.dtype)
            assert a.T.flags.c_contiguous and a.flags.writeable  # channel-major, as before


def test_from_bytes_with_gap_fills_invalid_rows() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(-1000, 1000, (80, 2))
    info = dsp_synth.info(2, 1000.0)
    data = dsp_synth.encode(codes, np.zeros(80, np.uint64), info, frame=8, drop={3, 4})
    p = Parser()
    p.feed(data)
    cal = Calibrate(info, auto=False)
    out = [sb for b in p.read() for sb in cal.process_raw(b)]
    assert len(out) == 1
    sb = out[0]
    assert len(sb) == 80 and sb.start == 0
    assert not sb.valid[24:40].any() and sb.valid[:24].all() and sb.valid[40:].all()
    assert np.isnan(sb.data[24:40]).all()
    np.testing.assert_array_equal(sb.data[40:], codes[40:] * dsp_synth.SCALE)
    assert sb.events[0]["row"] == 40


def test_long_gap_and_restart_reset() -> None:
    info = dsp_synth.info(1, 100.0)
    codes = np.arange(20).reshape(-1, 1)
    ev = np.zeros(2, dtype=Block.__dataclass_fields__["events"].default_factory().dtype)
    ev[0] = (10, 1, 0, 0, 500, 500, 0, 0)  # 5 s gap: longer than max_fill_s
    ev[1] = (15, 2, 0, 0, 0, 0, 0, 0)  # device restart
    out = Calibrate(info, auto=False, max_fill_s=1.0).process_raw(raw_block(codes, events=ev))
    assert [(len(b), b.start, b.reset) for b in out] == [
        (10, 0, False),
        (5, 510, True),
        (5, 515, True),
    ]


def test_descriptor_errors_are_clear() -> None:
    with pytest.raises(SensorioError, match="no stream 3"):
        StreamInfo.from_descriptor(dsp_synth.info(), 3)
    bad = dsp_synth.info()
    del bad["streams"][0]["scale"]
    with pytest.raises(SensorioError, match="scale"):
        StreamInfo.from_descriptor(bad, 0)
    with pytest.raises(SensorioError, match="channels"):
        Calibrate(dsp_synth.info(3), auto=False).process_raw(raw_block(np.zeros((4, 2))))


def test_store_roundtrip_and_auto_apply(tmp_path) -> None:
    store = CalibrationStore(tmp_path)
    cal = Calibration("SYN-1", "synthetic")
    cal.stream(0).offset = [10.0, -5.0]
    cal.stream(0).gain = [2.0, 0.5]
    path = store.save(cal)
    obj = json.loads(path.read_text())
    assert obj["format"] == "sensorio-calibration" and obj["version"] == 1
    assert obj["serial"] == "SYN-1" and obj["created"] and obj["software"].startswith("sensorio ")
    assert store.load("SYN-1").streams[0].gain == [2.0, 0.5]
    assert store.load("other") is None
    # seen in INFO -> applied
    stage = Calibrate(dsp_synth.info(2, serial="SYN-1"), calibration_dir=str(tmp_path))
    out = stage.process_raw(raw_block(np.array([[100, 100]])))[0]
    np.testing.assert_allclose(out.data, [[(50 - 10) * 2.0, (50 + 5) * 0.5]])


def test_store_rejects_foreign_and_future_files(tmp_path) -> None:
    (tmp_path / "X.json").write_text('{"format": "other"}')
    with pytest.raises(SensorioError, match="not a sensorio calibration"):
        CalibrationStore(tmp_path).load("X")
    (tmp_path / "Y.json").write_text('{"format": "sensorio-calibration", "version": 99}')
    with pytest.raises(SensorioError, match="upgrade"):
        CalibrationStore(tmp_path).load("Y")
    with pytest.raises(SensorioError):
        CalibrationStore(tmp_path).path("../etc")


def test_default_dir_follows_env(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SENSORIO_CALIBRATION_DIR", str(tmp_path))
    assert CalibrationStore().directory == tmp_path


def _blocks(values: np.ndarray, info: dict) -> list[Block]:
    codes = np.rint(values / dsp_synth.SCALE).astype(np.int64)
    p = Parser()
    p.feed(dsp_synth.encode(codes, np.zeros(len(codes), np.uint64), info))
    return p.read()


def test_procedures_offset_gain_levels() -> None:
    fs = 1000.0
    info = dsp_synth.info(2, fs)
    rng = np.random.default_rng(0)
    t = np.arange(int(3 * fs)) / fs
    rest = rng.standard_normal((t.size, 2)) * 3 + np.array([120.0, -40.0])
    np.testing.assert_allclose(measure_offset(_blocks(rest, info), info, 0, 2.0), [120, -40], atol=0.5)
    # the TEST square wave reads 80 uV where the device says 100: gain 1.25
    square = np.where(np.floor(2 * 2.0 * t) % 2 == 0, 80.0, -80.0)[:, None] * np.ones(2)
    gain, amp = measure_gain_from_test(_blocks(square + 7, info), info, 0, 2.0)
    np.testing.assert_allclose(amp, 80.0, rtol=1e-3)
    np.testing.assert_allclose(gain, 1.25, rtol=1e-3)
    from scipy import signal

    emg = signal.sosfilt(
        signal.butter(2, [20, 450], "bandpass", fs=fs, output="sos"),
        rng.standard_normal((t.size, 2)),
        axis=0,
    )
    emg *= 100 / emg.std(axis=0)
    level = measure_envelope_level(_blocks(emg, info), info, 0, 3.0, quantile=0.5)
    np.testing.assert_allclose(level, 100, rtol=0.15)


def test_an_envelope_level_measures_every_sample_of_its_step() -> None:
    """The noise floor and the MVC dropped the first 0.2 s of their step
    (200 samples at 1 kHz), without a word, to let the filters settle: a
    contraction in the first 0.15 s of the MVC step was not seen. Every
    sample now counts, and the filters' start (on an offset and a drift)
    does not show: a step's level is that of the same stretch of the
    envelope of the whole signal, whose filters had long settled."""
    from sensorio.dsp.filters import BandPass, Envelope

    fs = 1000.0
    info = dsp_synth.info(1, fs)
    rng = np.random.default_rng(3)
    early = np.concatenate([rng.normal(0, 100, (150, 1)), rng.normal(0, 5, (850, 1))])
    mvc = measure_envelope_level(_blocks(early, info), info, 0, 1.0, quantile=0.95)
    assert mvc[0] > 50, mvc  # the contraction's level, not the rest after it (about 5)
    steady = rng.normal(0, 5, (int(12 * fs), 1)) + 300 + np.linspace(0, 100, int(12 * fs))[:, None]
    x = np.rint(steady / dsp_synth.SCALE) * dsp_synth.SCALE  # (as the device codes it)
    whole = SignalBlock(stream=0, data=x, valid=np.ones(x.shape, bool), rate_hz=fs)
    env = Envelope().process(BandPass().process(whole)).data
    for start in range(1000, 10001, 1500):
        for q in (0.1, 0.95):
            step = measure_envelope_level(_blocks(steady[start : start + 2000], info), info, 0, 2.0, quantile=q)
            np.testing.assert_allclose(step, np.quantile(env[start : start + 2000], q, axis=0), rtol=0.03)


def test_pipeline_applies_calibration_object() -> None:
    cal = Calibration("S")
    cal.stream(0).offset = [1.0]
    pipe = Pipeline([Calibrate(dsp_synth.info(1), calibration=cal)])
    out = pipe.process(raw_block(np.array([[4], [6]])))
    np.testing.assert_allclose(out[0].data[:, 0], [1.0, 2.0])


def test_sio1_encodings_rails() -> None:
    si = StreamInfo.raw_codes(0, 2, 100.0, sio1.ENC_I24)
    assert (si.min_code, si.max_code, si.unit) == (-(1 << 23), (1 << 23) - 1, "code")


def test_a_square_wave_is_two_steady_levels_not_any_upper_and_lower_half() -> None:
    """Any signal has an upper and a lower half: rest taken for the TEST
    signal gave gains of 22-79. Rest on a coarse ADC (a few codes) has no
    spread within its halves at all, but its middle code lies between them."""
    from sensorio.dsp.calibrate import SQUARE_ON_LEVELS, square_wave_levels

    rng = np.random.default_rng(3)
    t = np.arange(4000) / 2000.0
    square = np.where(np.sin(2 * np.pi * 2.0 * t) >= 0, 1000.0, -1000.0)[:, None] + rng.normal(0, 5, (4000, 1))
    signals = {
        "square": square,
        "a period and a half of it": square[:1500],
        "rest": rng.normal(0, 10, (4000, 1)),
        "rest of a few codes": np.round(rng.normal(0, 1, (4000, 1))),
        "flat": np.zeros((4000, 1)),
    }
    on = {name: float(square_wave_levels(x)[1][0]) for name, x in signals.items()}
    assert on["square"] >= SQUARE_ON_LEVELS and on["a period and a half of it"] >= SQUARE_ON_LEVELS, on
    assert max(on["rest"], on["rest of a few codes"], on["flat"]) < SQUARE_ON_LEVELS, on


def test_the_rail_share_counts_the_step_not_the_rows_read_past_it() -> None:
    """A source read in big blocks hands over more than the step needs; a
    rail in the rows past the step (the person moved after it) is not the
    step's: it refused a clean 2 s rest read as one 3 s block."""
    fs = 1000.0
    info = dsp_synth.info(2, fs)
    rest = np.random.default_rng(2).standard_normal((int(3 * fs), 2)) * 3
    (block,) = _blocks(rest, info)
    assert len(block) == len(rest)
    block.samples[int(2.5 * fs) :, 1] = (1 << 23) - 1  # the last 0.5 s of channel 2 at the int24 rail
    np.testing.assert_allclose(measure_offset([block], info, 0, 2.0), [0.0, 0.0], atol=0.5)
    with pytest.raises(SensorioError, match=r"ch2 \(\d+%\): at a rail"):
        measure_offset([block], info, 0, 2.9)  # 0.4 s of 2.9 at the rail


def test_a_rail_refuses_its_own_channel_and_stream_only() -> None:
    """A channel at its rail through the rest step gave the rail as its
    offset; another stream's rail (a library caller's blocks of two streams
    of one channel count) is not this stream's."""
    fs = 1000.0
    info = dsp_synth.info(2, fs)
    rng = np.random.default_rng(1)
    rest = rng.standard_normal((int(3 * fs), 2)) * 3
    railed = _blocks(rest, info)
    for b in railed:
        b.samples[:, 1] = (1 << 23) - 1  # channel 2 at the int24 rail
    with pytest.raises(SensorioError, match=r"ch2 \(100%\): at a rail"):
        measure_offset(railed, info, 0, 2.0)
    for b in railed:
        b.stream = 1
    from sensorio.blocks import split_block

    good = [p for b in _blocks(rest, info) for p in split_block(b, 100)]
    bad = [p for b in railed for p in split_block(b, 100)]
    mixed = [x for pair in zip(good, bad, strict=False) for x in pair]
    np.testing.assert_allclose(measure_offset(mixed, info, 0, 2.0), [0.0, 0.0], atol=0.5)


def test_a_known_reference_must_be_a_sine_above_the_rest_level() -> None:
    """The gain from a known sine took sqrt(2) x std of whatever came in:
    plain EMG, no reference connected, gave gains of 0.87-1.60, saved and
    applied to every later recording. A sine is one narrow spectral peak, and
    it stands well above the channel at rest (hum at rest is a sine too)."""
    from scipy import signal

    from sensorio.dsp.calibrate import measure_gain_from_known, measure_rest

    fs = 1000.0
    info = dsp_synth.info(2, fs)
    rng = np.random.default_rng(4)
    t = np.arange(int(2 * fs)) / fs
    rest = rng.normal(0, 5, (t.size, 2))
    _, rest_level = measure_rest(_blocks(rest, info), info, 0, 2.0)
    # the reference reads 80 uV where it is 100 (gain 1.25), on rest noise
    sine = 80 * np.sin(2 * np.pi * 37 * t + 0.3)[:, None] + rng.normal(0, 5, (t.size, 2))
    gain = measure_gain_from_known(_blocks(sine, info), info, 100.0, 0, 2.0, rest_level=rest_level)
    np.testing.assert_allclose(gain, 1.25, rtol=0.01)
    emg = signal.sosfilt(
        signal.butter(2, [20, 450], "bandpass", fs=fs, output="sos"), rng.normal(0, 1, (t.size, 2)), axis=0
    )
    emg *= 70 / emg.std(axis=0)
    with pytest.raises(SensorioError, match=r"no reference sine on ch1 \(\d+% of its power at .* Hz.*ch2"):
        measure_gain_from_known(_blocks(emg, info), info, 100.0, 0, 2.0, rest_level=rest_level)
    # hum of 30 uV at rest and in the gain step: a sine, but no reference
    hum = 30 * np.sin(2 * np.pi * 50 * t)[:, None] + rng.normal(0, 2, (t.size, 2))
    _, hum_level = measure_rest(_blocks(hum, info), info, 0, 2.0)
    with pytest.raises(SensorioError, match=r"ch1 \(99% of its power at 50 Hz, 1 x its rest level\)"):
        measure_gain_from_known(_blocks(hum, info), info, 100.0, 0, 2.0, rest_level=hum_level)


def test_a_known_sine_is_measured_off_its_bin_beside_a_drift_and_a_square_or_short_step_is_refused() -> None:
    """The amplitude came from the detrended periodogram's share times the
    raw variance: a 0.7 Hz sine over 2 s read 12 % low, a drift beside a
    sine counted in it, and a square wave (81 % of its power in its peak)
    passed and read 4 / pi too high."""
    from sensorio.dsp.calibrate import measure_gain_from_known

    fs = 1000.0
    info = dsp_synth.info(1, fs)
    t = np.arange(int(2 * fs)) / fs
    for hz in (1.3, 2.2, 37.3):  # off the periodogram's 0.5 Hz bins
        x = (100 * np.sin(2 * np.pi * hz * t + 1.9) + 40 + 60 * t)[:, None]  # an offset and a drift beside it
        gain = measure_gain_from_known(_blocks(x, info), info, 100.0, 0, 2.0)
        np.testing.assert_allclose(gain, 1.0, rtol=0.01, err_msg=str(hz))
    square = (100 * np.sign(np.sin(2 * np.pi * 10 * t + 0.1)))[:, None]
    with pytest.raises(SensorioError, match=r"no reference sine on ch1 \(81% of its power at 10 Hz"):
        measure_gain_from_known(_blocks(square, info), info, 100.0, 0, 2.0)
    slow = (100 * np.sin(2 * np.pi * 0.7 * t))[:, None]
    with pytest.raises(SensorioError, match=r"on ch1 \(.*, 1.0 cycles in the 2 s step\).*longer step"):
        measure_gain_from_known(_blocks(slow, info), info, 100.0, 0, 2.0)


def _calibrate_known_uv(url: str, *more: str) -> subprocess.CompletedProcess:
    """sensorio calibrate URL --known-uv 100 (0.5 s of rest, no prompts) in
    a process of its own, with these options more."""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    env.pop("SENSORIO_DEBUG", None)
    args = ["calibrate", url, "--known-uv", "100", "--yes", "--rest-s", "0.5", *more]
    return subprocess.run(
        [sys.executable, "-m", "sensorio", *args], env=env, capture_output=True, text=True, timeout=120
    )


def _reference_sine_device(tmp_path: Path, seed: int) -> str:
    """A sim:// device playing 0.5 s of rest, then a 100 uV 37 Hz sine for
    2.6 s, then rest (5 uV of noise throughout) on its 8 channels."""
    fs, rng = 2000, np.random.default_rng(seed)
    t = np.arange(int(2.6 * fs)) / fs
    ref = np.concatenate(
        [
            rng.normal(0, 5, (fs // 2, 8)),  # the rest step
            100 * np.sin(2 * np.pi * 37 * t)[:, None] + rng.normal(0, 5, (t.size, 8)),
            rng.normal(0, 5, (3 * fs, 8)),
        ]
    )
    np.save(tmp_path / "ref.npy", ref)
    return f"sim://emg8?fast=1&source={tmp_path / 'ref.npy'}"


def test_calibrate_known_uv_refuses_plain_emg_and_saves_a_real_sine(tmp_path) -> None:
    """sensorio calibrate --known-uv on an emulated EMG device with no
    reference: one line naming the channels, exit 1, nothing saved; the
    same device playing a 100 uV sine after its rest: gains of 1 saved."""

    def calibrate(url: str, where: Path) -> subprocess.CompletedProcess:
        return _calibrate_known_uv(url, "--calibration-dir", str(where))

    plain = calibrate("sim://emg8?fast=1", tmp_path / "plain")
    assert plain.returncode == 1 and "Traceback" not in plain.stderr, plain.stderr
    (line,) = plain.stderr.strip().splitlines()
    assert "no reference sine on emg1 (" in line and "emg8 (" in line and "nothing saved" in line, line
    assert not (tmp_path / "plain").exists()

    good = calibrate(_reference_sine_device(tmp_path, seed=0), tmp_path / "good")
    assert good.returncode == 0, good.stderr
    (saved,) = (tmp_path / "good").glob("*.json")
    gains = json.loads(saved.read_text())["streams"]["0"]["gain"]
    np.testing.assert_allclose(gains, 1.0, rtol=0.01)


def test_a_known_reference_gives_the_frequency_it_found() -> None:
    """measure_known_reference: the gain, the amplitude measured and the
    frequency of the sine found in the signal, per channel."""
    from sensorio.dsp.calibrate import measure_known_reference

    fs = 1000.0
    info = dsp_synth.info(2, fs)
    t = np.arange(int(2 * fs)) / fs
    sine = np.column_stack([80 * np.sin(2 * np.pi * 37 * t), 50 * np.sin(2 * np.pi * 12 * t)])
    ref = measure_known_reference(_blocks(sine, info), info, 100.0, 0, 2.0)
    assert ref.frequency_hz is not None
    np.testing.assert_allclose(ref.frequency_hz, [37.0, 12.0], atol=0.5)  # a bin is 1 / 2 s
    np.testing.assert_allclose(ref.amplitude, [80.0, 50.0], rtol=0.01)
    np.testing.assert_allclose(ref.gain, [1.25, 2.0], rtol=0.01)


def test_calibrate_known_uv_prints_and_saves_the_reference_frequency(tmp_path) -> None:
    """sensorio calibrate --known-uv requires a sine; on success it said
    nothing of the sine it had found. It prints its frequency per channel
    (reference_hz) with the other results, and the JSON (--dry-run, and the
    file saved) holds it."""
    res = _calibrate_known_uv(_reference_sine_device(tmp_path, seed=1), "--dry-run")
    assert res.returncode == 0, res.stderr
    (row,) = [line for line in res.stdout.splitlines() if line.strip().startswith("reference_hz:")]
    assert [float(v) for v in row.split(":")[1].split()] == [37.0] * 8, row
    saved = json.loads(res.stdout[res.stdout.index("{") :])
    np.testing.assert_allclose(saved["streams"]["0"]["reference_hz"], 37.0, atol=0.5)


def _leveled_block(
    info: dict, levels: list[float], seconds: float, fs: float, leadoff_from: int | None = None
) -> Block:
    """One long block (as a fast source hands over): each level held for
    seconds; lead-off (channel 2) from sample leadoff_from on."""
    n = int(seconds * fs)
    values = np.repeat(np.array(levels, float), n)[:, None] * np.ones(2)
    values += np.random.default_rng(3).standard_normal(values.shape) * 0.5
    codes = np.rint(values / dsp_synth.SCALE).astype(np.int64)
    leadoff = np.zeros(len(codes), np.uint64)
    if leadoff_from is not None:
        leadoff[leadoff_from:] = 2
    p = Parser()
    p.feed(dsp_synth.encode(codes, leadoff, info))
    (block,) = p.read()
    return block


def test_consecutive_steps_take_consecutive_rows_of_a_long_block() -> None:
    """A step read from a long block (a fast emulator hands over 5024 rows at
    a time) used the rows it needed and threw the rest away: the next step
    started at the next block. From a Pushback the rest is the next step's."""
    fs = 1000.0
    info = dsp_synth.info(2, fs)
    src = Pushback([_leveled_block(info, [50.0, -50.0, 20.0], 1.0, fs)])
    np.testing.assert_allclose(measure_offset(src, info, 0, 1.0), [50.0, 50.0], atol=0.5)
    np.testing.assert_allclose(measure_offset(src, info, 0, 1.0), [-50.0, -50.0], atol=0.5)
    np.testing.assert_allclose(measure_offset(src, info, 0, 0.5), [20.0, 20.0], atol=0.5)
    np.testing.assert_allclose(measure_offset(src, info, 0, 0.5), [20.0, 20.0], atol=0.5)  # (to the last row)


def test_a_lead_off_in_the_rows_a_step_hands_on_is_the_next_steps() -> None:
    """calibrate's source hands the rows past a step's end to the next step:
    their lead-off is that step's, not the one that read the block."""
    from sensorio.cli.cmd_calibrate import BlockSource

    fs = 1000.0
    info = dsp_synth.info(2, fs)
    src = BlockSource([_leveled_block(info, [0.0, 0.0], 1.0, fs, leadoff_from=1200)], info, 0)
    labels = ("ch1", "ch2")
    with src.measuring("the rest", labels):
        measure_offset(src, info, 0, 1.0)
    with pytest.raises(SensorioError, match="ch2: the electrode was off .* during the noise floor"):
        with src.measuring("the noise floor", labels):
            measure_offset(src, info, 0, 0.5)
