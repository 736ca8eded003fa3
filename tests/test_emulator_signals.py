"""Emulated signals: deterministic, chunk-invariant, shaped like real EMG."""

from __future__ import annotations

import numpy as np
import pytest
from emulator_util import decode, run
from scipy import signal as sps

from sensorio.emulator.devices.base import StreamState
from sensorio.emulator.faults import parse_fault
from sensorio.emulator.profiles import PROFILES
from sensorio.emulator.signals import ActivitySchedule, EmgShaper, SignalConfig, StreamSignal


def _stream(seed: int = 1, cfg: SignalConfig | None = None, faults=()) -> StreamState:
    prof = PROFILES["emg8"].streams[0]
    cfg = cfg or SignalConfig()
    return StreamState(prof, cfg, list(faults), seed, ActivitySchedule(seed, 2.5, 1.5), 10)


def test_chunking_does_not_change_the_signal() -> None:
    faults = [
        parse_fault("noise:channel=2,start=0.1,end=0.4"),
        parse_fault("stuck:channel=3,start=0.2,end=0.3"),
        parse_fault("spikes:channel=4,start=0,end=0.5"),
        parse_fault("motion:channel=5,start=0.05,end=0.45"),
    ]
    whole = _stream(
        faults=[parse_fault(f"{f.kind}:channel={f.channel + 1},start={f.start_s},end={f.end_s}") for f in faults]
    )
    codes_whole, lo_whole, _ = whole.produce(100)  # 1000 samples
    parts = _stream(faults=faults)
    rng = np.random.default_rng(5)
    got, lo = [], []
    left = 100
    while left:
        k = int(min(left, rng.integers(1, 9)))
        c, m, _ = parts.produce(k)
        got.append(c)
        lo.append(m)
        left -= k
    np.testing.assert_array_equal(np.concatenate(got), codes_whole)
    np.testing.assert_array_equal(np.concatenate(lo), lo_whole)


def test_same_seed_same_signal_other_seed_other_signal() -> None:
    a, _ = run(format="sio", seed=4, autostart=True, duration=0.3)
    b, _ = run(format="sio", seed=4, autostart=True, duration=0.3)
    c, _ = run(format="sio", seed=5, autostart=True, duration=0.3)
    assert a == b
    assert a != c


def _rows(seconds: float, cfg: SignalConfig, rate: float = 2000.0, seed: int = 2) -> np.ndarray:
    prof = PROFILES["emg8"].streams[0]
    sig = StreamSignal(prof, cfg, seed, ActivitySchedule(seed, cfg.rest_s, cfg.contraction_s))
    return sig.next(int(seconds * rate))


@pytest.mark.parametrize("layout", ["bipolar", "monopolar"])
def test_emg_spectrum_is_band_limited_with_a_peak_below_100_hz(layout: str) -> None:
    shaper = EmgShaper(2000.0, layout)
    w = np.linspace(0.5, 999.5, 4000)
    power = shaper.power(w, 2000.0)
    assert 15 <= w[np.argmax(power)] <= 100
    in_band = power[(w >= 1) & (w <= 450)].sum()
    assert in_band / power.sum() > 0.97
    # unit white noise in, unit RMS out
    x = shaper(np.random.default_rng(0).standard_normal((200_000, 1)))
    assert np.std(x) == pytest.approx(1.0, rel=0.03)


def test_contraction_schedule_modulates_emg_amplitude() -> None:
    cfg = SignalConfig(mains_uv=0, drift_uv=0, gain_drift=0, noise_uv=0)
    x = _rows(20.0, cfg)
    x = x - x.mean(axis=0)
    act = ActivitySchedule(2, cfg.rest_s, cfg.contraction_s)
    t = np.arange(x.shape[0]) / 2000.0
    level = act.level(t)
    rest = x[level == 0, 0]
    busy = x[level > 0.5, 0]
    assert rest.size and busy.size
    assert np.std(busy) > 10 * np.std(rest)
    assert np.std(rest) == pytest.approx(cfg.rest_uv, rel=0.2)


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_mains_hum_and_harmonics(mains: float) -> None:
    cfg = SignalConfig(
        mains_hz=mains,
        mains_uv=50,
        rest_uv=0.5,
        contraction_uv=0.5,
        drift_uv=0,
        gain_drift=0,
        noise_uv=0.1,
    )
    x = _rows(4.0, cfg)[:, 0]
    f, pxx = sps.welch(x - x.mean(), fs=2000.0, nperseg=4000)
    peak = f[np.argmax(pxx)]
    assert peak == pytest.approx(mains, abs=0.5)
    third = pxx[np.argmin(np.abs(f - 3 * mains))]
    assert third > 100 * np.median(pxx)


def test_drift_and_gain_drift_are_slow() -> None:
    cfg = SignalConfig(mains_uv=0, rest_uv=0.1, contraction_uv=0.1, noise_uv=0, drift_uv=100)
    x = _rows(30.0, cfg, rate=500.0)
    # the baseline wanders by tens of uV over seconds, smoothly
    assert np.ptp(x[:, 0]) > 50
    assert np.max(np.abs(np.diff(x[:, 0]))) < 5


def test_npy_source_replaces_synthetic_emg(tmp_path) -> None:
    src = np.tile(np.arange(100.0)[:, None], (1, 2)) * 10.0
    path = tmp_path / "src.npy"
    np.save(path, src)
    data, truth = run(
        format="sio",
        autostart=True,
        duration=0.2,
        source=str(path),
        mains_uv=0,
        drift_uv=0,
        gain_drift=0,
        noise_uv=0,
        truth_codes=True,
    )
    _, streams = decode(data)
    samples = streams[0]["samples"]
    scale = truth.start["streams"][0]["scale"]
    uv = samples * scale
    offset = uv[0] - src[0, [0, 1, 0, 1, 0, 1, 0, 1]]
    # the source repeats every 100 samples, on top of each electrode's DC offset
    np.testing.assert_allclose(uv[100:200] - offset, uv[:100] - offset, atol=scale)
    np.testing.assert_allclose(uv[:100, 0] - offset[0], src[:, 0], atol=scale)


@pytest.mark.parametrize(
    ("shape", "words"),
    [((100, 0), "holds no values"), ((0, 8), "holds no values"), ((0,), "holds no values"), ((4, 5, 2), "2-D")],
)
def test_a_source_with_no_samples_or_no_channels_is_a_usage_error(tmp_path, shape, words) -> None:
    """Refused in one line; a source of no channels divided by zero."""
    from sensorio.emulator.signals import _load_source
    from sensorio.errors import UsageError

    path = tmp_path / "src.npy"
    np.save(path, np.zeros(shape))
    with pytest.raises(UsageError, match=words):
        _load_source(str(path), 8, 2000.0)


def test_a_source_that_is_not_an_array_file_says_so(tmp_path) -> None:
    """numpy's message for it spoke of pickles and unsafe loading."""
    from sensorio.emulator.signals import _load_source
    from sensorio.errors import UsageError

    path = tmp_path / "notes.npy"
    path.write_text("channel 1: biceps\n")
    with pytest.raises(UsageError, match=r"is not a \.npy array file") as exc:
        _load_source(str(path), 8, 2000.0)
    assert "pickle" not in str(exc.value)


def _quiet(**kw):
    return run(format="sio", autostart=True, mains_uv=0, drift_uv=0, gain_drift=0, noise_uv=0, truth_codes=True, **kw)


def _uv(data: bytes, truth) -> np.ndarray:
    _, streams = decode(data)
    return streams[0]["samples"] * truth.start["streams"][0]["scale"]


@pytest.mark.parametrize("rate", [2000, 1000])
def test_a_recording_as_the_source_plays_its_emg_at_the_device_rate(tmp_path, rate) -> None:
    from sensorio.recording import RecordingWriter

    data, truth = _quiet(seed=3, duration=1.0, channels=2)  # 2 kHz, 2 channels
    recorded = _uv(data, truth)
    path = tmp_path / "rec.sior"
    w = RecordingWriter(path, {"format": "sio", "port": "test"}, flush_interval=0.05)
    for k in range(0, len(data), 4096):
        w.add(data[k : k + 4096])
    w.close()
    played, truth2 = _quiet(seed=9, duration=0.5, channels=2, rate=rate, source=str(path))
    uv = _uv(played, truth2)
    scale = truth2.start["streams"][0]["scale"]
    # the played signal is the recorded one at the device's rate (resampled
    # with scipy's anti-alias filter when the rates differ), on top of each
    # device's electrode offsets, constant per channel
    want = recorded if rate == 2000 else sps.resample_poly(recorded, 1, 2000 // rate, axis=0)
    diff = uv - want[: len(uv)]
    inner = diff[10:-10]  # away from the resampler's edges
    assert np.ptp(recorded) > 100 * scale  # (not a flat signal)
    np.testing.assert_allclose(inner - np.median(inner, axis=0), 0.0, atol=2 * scale)


def test_a_recording_without_samples_is_a_clear_error(tmp_path) -> None:
    from sensorio.errors import UsageError
    from sensorio.recording import RecordingWriter

    path = tmp_path / "empty.sior"
    RecordingWriter(path, {"format": "sio", "port": "test"}).close()
    with pytest.raises(UsageError, match="as a signal source"):
        _quiet(duration=0.1, source=str(path))
