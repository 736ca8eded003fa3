"""A signal source plays exactly as given (sim://, the Emulator API and
``sensorio emulate``), every signal setting is a command-line flag, the
synthetic EMG's spectrum per layout matches the figures measured on the real
corpus (docs/emulator.md), and the mains and drift sensor faults."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest
import serial

import sensorio
from sensorio.cli import build_parser
from sensorio.cli.cmd_emulate import options_from_args
from sensorio.emulator import TruthLog, config_from_options
from sensorio.emulator.config import OPTION_NAMES, EmulatorConfig
from sensorio.emulator.engine import render
from sensorio.emulator.faults import parse_fault
from sensorio.emulator.profiles import PROFILES
from sensorio.emulator.settings import SignalConfig
from sensorio.errors import UsageError
from sensorio.testing import sim_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import real_emg  # noqa: E402

RATE = 2000.0
SCALE = PROFILES["emg8"].streams[0].scale


def _source(tmp_path: Path, seconds: float = 1.0, channels: int = 3) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(7)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    arr = 80.0 * rng.standard_normal((n, channels)) + 40.0 * np.sin(2 * np.pi * 3 * t)[:, None]
    path = tmp_path / "src.npy"
    np.save(path, arr)
    return path, arr


def _uv(data: bytes) -> np.ndarray:
    p = sensorio.Parser()
    p.feed(data)
    codes = sensorio.concat_blocks(p.read())[0]["samples"]
    return codes.astype(float) * SCALE


def _decoded_uv_of_url(url: str) -> np.ndarray:
    port = serial.serial_for_url(url, timeout=0.5)
    p = sensorio.Parser()
    while chunk := port.read(65536):
        p.feed(chunk)
    port.finish()
    return sensorio.concat_blocks(p.read())[0]["samples"].astype(float) * SCALE


def test_a_source_plays_exactly_through_the_emulator_api(tmp_path: Path) -> None:
    path, arr = _source(tmp_path)
    cfg = EmulatorConfig(
        profile="emg8",
        channels=3,
        rate=RATE,
        duration=1.0,
        autostart=True,
        signal=SignalConfig(source=str(path)),
    )
    got = _uv(render(cfg)[0])
    assert got.shape == arr.shape
    # nothing added: equal to the ADC step
    np.testing.assert_allclose(got, arr, atol=SCALE / 2 + 1e-9, rtol=0)


def test_a_source_plays_exactly_through_a_sim_url(tmp_path: Path) -> None:
    path, arr = _source(tmp_path)
    url = sim_url("emg8", channels=3, rate=RATE, source=path, fast=True, autostart=True, duration=1.0)
    got = _decoded_uv_of_url(url)
    np.testing.assert_allclose(got, arr, atol=SCALE / 2 + 1e-9, rtol=0)


@pytest.mark.parametrize("dropped", [0, 5])
def test_a_recording_source_says_it_joins_its_gaps(tmp_path: Path, dropped: int) -> None:
    """A recording that lost frames plays its samples end to end (as
    docs/emulator.md says): the signal jumps at each gap, and one warning
    says how many gaps and samples (it said nothing)."""
    import warnings

    rec = tmp_path / "gap.sior"
    link = f"drop:at=0.2,count={dropped}" if dropped else None
    with sensorio.open(sim_url("emg8", seed=3, fast=True, autostart=True, duration=0.5, link=link), record=rec) as s:
        for _ in s:
            pass
    cfg = EmulatorConfig(profile="emg8", rate=RATE, duration=0.1, autostart=True, signal=SignalConfig(source=str(rec)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        render(cfg)
    said = [str(w.message) for w in caught if "signal source" in str(w.message)]
    if dropped:
        [line] = said
        assert f"1 gap ({dropped * 8} samples lost), joined end to end" in line
    else:
        assert said == []


def test_sensorio_emulate_source_flag_adds_nothing(tmp_path: Path) -> None:
    path, _ = _source(tmp_path)
    args = build_parser().parse_args(["emulate", "--source", str(path)])
    sig = config_from_options(options_from_args(args)).signal
    for name in ("mains_uv", "drift_uv", "gain_drift", "noise_uv", "offset_uv"):
        assert sig.additive(name) == 0.0, name


def test_additive_terms_set_explicitly_still_apply_to_a_source(tmp_path: Path) -> None:
    path, arr = _source(tmp_path, seconds=2.0, channels=1)
    url = sim_url(
        "emg8",
        channels=1,
        rate=RATE,
        source=path,
        mains_uv=100,
        mains_hz=50,
        fast=True,
        autostart=True,
        duration=2.0,
    )
    diff = _decoded_uv_of_url(url)[:, 0] - arr[:, 0]
    spec = np.abs(np.fft.rfft(diff))
    f = np.fft.rfftfreq(diff.size, 1 / RATE)
    assert abs(f[np.argmax(spec)] - 50.0) < 1.0
    assert 60.0 < np.std(diff) < 160.0  # 100 uV RMS, spread over channels' 0.5-1.5 draw


def test_synthetic_emg_keeps_its_additive_terms_by_default() -> None:
    sig = SignalConfig()
    assert sig.additive("offset_uv") == 300.0 and sig.additive("mains_uv") == 3.0


def _cli_emulate_options() -> dict[str, argparse.Action]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    emulate = sub.choices["emulate"]
    return {
        a.option_strings[0][2:]: a
        for a in emulate._actions
        if a.option_strings and a.option_strings[0].startswith("--")
    }


#: flags of the command line that only make sense for a pseudo-terminal server
CLI_ONLY = {"timeout", "link-path", "quiet", "help", "truth", "force"}


def test_command_line_and_sim_url_take_the_same_options() -> None:
    cli = set(_cli_emulate_options()) - CLI_ONLY
    url = {name.replace("_", "-") for name in OPTION_NAMES}
    assert cli == url
    # and every signal setting is one of them
    for name in SignalConfig.__dataclass_fields__:
        assert name.replace("_", "-") in cli, name


@pytest.mark.parametrize("name", [n for n in SignalConfig.__dataclass_fields__ if n not in ("source", "layout")])
def test_every_numeric_signal_flag_reaches_the_signal_config(name: str) -> None:
    value = 60.0 if name == "mains_hz" else 0.5  # (mains is 50 or 60 Hz)
    args = build_parser().parse_args(["emulate", f"--{name.replace('_', '-')}", str(value)])
    assert getattr(config_from_options(options_from_args(args)).signal, name) == value


def test_layout_is_a_setting_everywhere() -> None:
    args = build_parser().parse_args(["emulate", "--layout", "monopolar"])
    assert config_from_options(options_from_args(args)).signal.layout == "monopolar"
    assert config_from_options({"layout": ["bipolar"]}).signal.layout == "bipolar"
    with pytest.raises(UsageError, match="layout"):
        config_from_options({"layout": ["tripolar"]})


#: the medians per layout of the corpus' first five recordings, which the
#: emulator was fitted to (docs/emulator.md, tools/real_emg.py spectrum)
TARGETS = {"monopolar": (48.0, 0.108), "bipolar": (74.5, 0.009)}


@pytest.mark.parametrize("layout", ["monopolar", "bipolar"])
@pytest.mark.parametrize("rate", [1000.0, 2000.0, 4000.0])
def test_synthetic_emg_spectrum_within_20_percent_of_real_emg(layout: str, rate: float) -> None:
    mf, share, _ = real_emg.spectrum_figures(real_emg.emulator_emg(layout, rate, seconds=40.0, channels=4), rate)
    want_mf, want_share = TARGETS[layout]
    assert abs(mf - want_mf) <= 0.2 * want_mf, mf
    assert abs(share - want_share) <= 0.2 * want_share, share


def _fault_run(spec: str, seconds: float = 4.0) -> tuple[np.ndarray, TruthLog]:
    """The emg8 device with a flat zero source and one fault: what it sent in uV."""
    cfg = config_from_options({"profile": ["emg8"], "channels": ["2"], "rate": [str(RATE)], "fault": [spec]})
    cfg.duration = seconds
    cfg.autostart = True
    cfg.signal = SignalConfig(
        rest_uv=0.0,
        contraction_uv=0.0,
        mains_uv=0.0,
        drift_uv=0.0,
        gain_drift=0.0,
        noise_uv=0.0,
        offset_uv=0.0,
    )
    data, truth = render(cfg)
    return _uv(data), TruthLog(truth.records)


def test_drift_fault_walks_to_its_share_of_the_rail() -> None:
    uv, log = _fault_run("drift:channel=2,start=1,end=3,to=low,reach=0.5")
    lo, _hi = PROFILES["emg8"].streams[0].code_range
    rail_uv = lo * SCALE
    t = np.arange(uv.shape[0]) / RATE
    assert np.all(np.abs(uv[t < 1.0, 1]) < 1.0)
    just_before_end = np.searchsorted(t, 3.0) - 1
    assert uv[just_before_end, 1] == pytest.approx(0.5 * rail_uv, rel=0.01)
    mid = np.searchsorted(t, 2.0)
    assert uv[mid, 1] == pytest.approx(0.25 * rail_uv, rel=0.01)
    assert np.all(np.abs(uv[:, 0]) < 1.0)  # other channel untouched
    (rec,) = log.faults()
    assert rec["kind"] == "drift" and rec["to"] == "low" and rec["reach"] == 0.5


def test_mains_fault_is_hum_of_its_amplitude_and_frequency() -> None:
    uv, _ = _fault_run("mains:channel=1,start=1,end=3,amp=40,hz=60")
    seg = uv[int(1.0 * RATE) : int(3.0 * RATE), 0]
    assert np.std(seg) == pytest.approx(40.0, rel=0.02)
    f = np.fft.rfftfreq(seg.size, 1 / RATE)
    assert abs(f[np.argmax(np.abs(np.fft.rfft(seg)))] - 60.0) < 0.6
    assert np.all(np.abs(uv[: int(0.9 * RATE), 0]) < 1.0)


@pytest.mark.parametrize(
    "spec, words",
    [
        ("drift:channel=1,start=1,end=2,to=up", "high or low"),
        ("drift:channel=1,start=1,end=2,reach=1.5", "reach"),
        ("mains:channel=1,start=1,end=2,volts=3", "no option"),
    ],
)
def test_bad_mains_and_drift_options_are_usage_errors(spec: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        parse_fault(spec)


@pytest.mark.parametrize("hz", ["55", "49.9", "-50", "100"])
def test_mains_is_50_or_60_hz_in_every_spelling(hz: str) -> None:
    """Mains is 50 or 60 Hz (0: none for the signal): the fault detector's
    mains test knows those families only, and a 55 Hz hum was played without
    a word. The signal setting (sim://, the API) and the mains fault refuse
    any other value with one line naming the allowed ones."""
    with pytest.raises(UsageError, match=r"mains_hz.*: mains is 50 or 60 Hz \(0: none\), not"):
        config_from_options({"mains_hz": [hz]})
    with pytest.raises(UsageError, match="mains is 50 or 60 Hz"):
        SignalConfig(mains_hz=float(hz))
    with pytest.raises(UsageError, match=rf"fault 'mains:hz={hz}': mains is 50 or 60 Hz, not"):
        parse_fault(f"mains:hz={hz}")


def test_mains_of_50_or_60_hz_or_none_is_taken() -> None:
    for hz in ("0", "50", "60"):
        assert config_from_options({"mains_hz": [hz]}).signal.mains_hz == float(hz)
    assert parse_fault("mains:hz=60").params["hz"] == 60.0
    with pytest.raises(UsageError, match="mains is 50 or 60 Hz, not 0"):
        parse_fault("mains:hz=0")  # a fault of no hum at all (it divided by zero at its start)


@pytest.mark.parametrize(
    "flags",
    [
        ["--mains-hz", "55"],
        ["--fault", "mains:channel=1,start=1,end=2,hz=55"],
        ["--layout", "tripolar"],
        ["--fault", "drift:channel=1,start=1,end=2,to=up"],
        ["--source", "/nonexistent/source.npy"],
        ["--source", ""],
        ["--mains-uv", "lots"],
    ],
)
def test_bad_signal_options_are_one_line_on_stderr(flags: list[str]) -> None:
    import subprocess

    res = subprocess.run(
        [sys.executable, "-m", "sensorio", "emulate", *flags, "--timeout", "0.5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode in (1, 2), res
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr


@pytest.mark.parametrize(
    ("shape", "words"),
    [((8, 4000), "8 samples of 4000 channels"), ((2, 30), "2 samples of 30 channels"), ((0,), "holds no values")],
)
def test_a_source_turned_on_its_side_or_empty_is_refused(tmp_path: Path, shape: tuple, words: str) -> None:
    """An array of channels x samples played as it is loops 8 samples over
    the first of 4000 channels, without a word; it is refused, as is an
    empty one (which was said not to be 2-D)."""
    path = tmp_path / "src.npy"
    np.save(path, np.ones(shape))
    with pytest.raises(UsageError, match=words):
        render(EmulatorConfig(profile="emg8", rate=RATE, duration=0.1, signal=SignalConfig(source=str(path))))


def test_an_empty_source_name_is_refused_not_taken_for_synthetic_emg() -> None:
    """source= with no file fell back to synthetic EMG with its offsets and
    drift on."""
    with pytest.raises(UsageError, match="empty name"):
        SignalConfig(source="")
    with pytest.raises(UsageError, match="empty name"):
        config_from_options({"profile": ["emg8"], "source": [""]})


@pytest.mark.parametrize(("profile", "fmt"), [("emg8", "ascii"), ("cyton", "cyton"), ("emg8", "sio")])
def test_a_duration_gives_its_samples_and_not_one_more(profile: str, fmt: str) -> None:
    """duration=2 sent the sample taken at 2.000 s too: 4001 lines of ASCII
    at 2 kHz, 501 Cyton packets at 250 Hz."""
    cfg = EmulatorConfig(profile=profile, format=fmt, seed=1, duration=2.0, autostart=True)
    stream = cfg.device_profile().streams[0]
    _, truth = render(cfg)
    end = [r for r in truth.records if r.get("type") == "end"][-1]
    per_frame = stream.samples_per_frame if fmt == "sio" else 1  # (a line, a packet: one sample)
    assert end["frames"]["0"] * per_frame == int(2.0 * stream.rate_hz), end


def test_a_sim_url_that_cannot_open_is_named_once(tmp_path: Path) -> None:
    """The error said the URL twice: "cannot open URL: URL: why"."""
    import subprocess

    url = "sim://emg8?source=&fast=1&duration=1"
    res = subprocess.run(
        [sys.executable, "-m", "sensorio", "record", url, "-o", str(tmp_path / "x.sior")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.count(url) == 1 and "empty name" in res.stderr, res.stderr


def test_a_short_loop_of_the_devices_channels_plays(tmp_path: Path) -> None:
    """A source of fewer samples than channels is a short waveform when it
    has no more channels than the device (4 x 8 for an 8-channel device):
    it loops; only one with more (a recording on its side) is refused."""
    path = tmp_path / "loop.npy"
    loop = np.arange(32, dtype=float).reshape(4, 8) * 10.0
    np.save(path, loop)
    source = SignalConfig(source=str(path))
    cfg = EmulatorConfig(profile="emg8", rate=RATE, duration=0.01, autostart=True, signal=source)
    data, _ = render(cfg)
    uv = _uv(data)
    np.testing.assert_allclose(uv[:8], np.vstack([loop, loop]), atol=SCALE)


def test_a_duration_keeps_every_streams_samples_before_it() -> None:
    """With streams of several rates each keeps the samples taken before the
    duration's end: the 100 Hz stream's sample at 1.000 s is before 1.0002 s
    (it was cut by a margin of half the fastest stream's period)."""
    cfg = EmulatorConfig(profile="prosthesis", seed=1, duration=1.0002, autostart=True)
    profile = cfg.device_profile()
    _, truth = render(cfg)
    end = [r for r in truth.records if r.get("type") == "end"][-1]
    for st in profile.streams:
        per_frame = st.samples_per_frame
        expected = int(np.floor(1.0002 * st.rate_hz - 1e-9)) + 1  # samples at 0, 1/rate, ... < 1.0002 s
        assert end["frames"][str(st.id)] == expected // per_frame, (st, end)


def test_a_source_of_a_rig_plays_each_stream_its_own_columns(tmp_path: Path) -> None:
    """A 100-channel source on a 100-channel device (streams of 64 and 36):
    stream 1 plays the source's columns 64-99, not its first 36 again."""
    path, arr = _source(tmp_path, seconds=0.5, channels=100)
    cfg = EmulatorConfig(
        profile="emg8", channels=100, rate=RATE, duration=0.5, autostart=True, signal=SignalConfig(source=str(path))
    )
    p = sensorio.Parser()
    p.feed(render(cfg)[0])
    streams = sensorio.concat_blocks(p.read())
    got = np.hstack([streams[0]["samples"], streams[1]["samples"]]).astype(float) * SCALE
    assert got.shape == arr.shape
    np.testing.assert_allclose(got, arr, atol=SCALE / 2 + 1e-9, rtol=0)
