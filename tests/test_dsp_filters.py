"""Filters equal scipy's offline sosfilt on the whole signal; band edges,
notch, mains detection, envelope and decimation behave as documented."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from sensorio.blocks import SignalBlock
from sensorio.dsp import BandPass, Decimate, Envelope, HighPass, LowPass, Notch, detect_mains
from sensorio.dsp.filters import SosState, sosfilt_channels


def block(x: np.ndarray, rate: float = 2000.0) -> SignalBlock:
    return SignalBlock(stream=0, data=x, valid=np.ones(x.shape, bool), rate_hz=rate)


def offline(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The documented reference: sosfilt on the whole signal, primed on x[0]."""
    zi = signal.sosfilt_zi(sos)[:, :, None] * x[0][None, None, :]
    return signal.sosfilt(sos, x, axis=0, zi=zi)[0]


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(["highpass", "lowpass", "bandpass", "notch"]),
    rate=st.sampled_from([250.0, 500.0, 1000.0, 2000.0, 4000.0]),
    seed=st.integers(0, 2**31 - 1),
    cuts=st.lists(st.integers(1, 1999), max_size=8),
)
def test_filters_equal_offline_sosfilt(kind: str, rate: float, seed: int, cuts: list[int]) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2000, 3)) * 50 + rng.uniform(-1000, 1000, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stage = {
            "highpass": HighPass(20),
            "lowpass": LowPass(10),
            "bandpass": BandPass(20, 450),
            "notch": Notch(50),
        }[kind]
        sos = stage.design(rate)
        bounds = [0, *sorted(set(cuts)), 2000]
        out = np.concatenate(
            [stage.process(block(x[a:b], rate)).data for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
        )
    np.testing.assert_allclose(out, offline(sos, x), rtol=1e-10, atol=1e-8)


def test_kernel_equals_public_sosfilt() -> None:
    sos = signal.butter(4, [20, 450], "bandpass", fs=2000, output="sos")
    x = np.random.default_rng(1).standard_normal((5, 777))
    zi = np.random.default_rng(2).standard_normal((5, sos.shape[0], 2))
    ref, zf = signal.sosfilt(sos, x, axis=-1, zi=np.moveaxis(zi, 0, 1))
    y = x.copy()
    z = zi.copy()
    sosfilt_channels(sos, y, z)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(z, np.moveaxis(zf, 1, 0), rtol=1e-12, atol=1e-12)


def test_bandpass_upper_edge_capped_with_warning() -> None:
    bp = BandPass(20, 450)
    with pytest.warns(UserWarning, match="capped at 225"):
        lo, hi = bp.edges(500.0)
    assert (lo, hi) == (20.0, 225.0)
    assert bp.edges(2000.0) == (20.0, 450.0)


def test_bandpass_response() -> None:
    fs = 2000.0
    sos = BandPass().design(fs)
    w, h = signal.sosfreqz(sos, worN=[5, 100, 200, 1000], fs=fs)
    gain = np.abs(h)
    assert gain[0] < 0.1 and gain[1] > 0.9 and gain[2] > 0.9 and gain[3] < 0.01


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_notch_auto_detects_mains_and_removes_it(mains: float) -> None:
    fs = 2000.0
    t = np.arange(int(4 * fs)) / fs
    rng = np.random.default_rng(0)
    emg = signal.sosfilt(
        signal.butter(2, [20, 450], "bandpass", fs=fs, output="sos"),
        rng.standard_normal((t.size, 2)) * 20,
        axis=0,
    )
    hum = 100 * np.sin(2 * np.pi * mains * t)[:, None] + 30 * np.sin(2 * np.pi * 3 * mains * t)[:, None]
    x = emg + hum
    assert detect_mains(x, fs)[0] == mains
    notch = Notch("auto", detect_s=1.0)
    outs = [notch.process(block(x[i : i + 500], fs)) for i in range(0, len(x), 500)]
    assert len(outs[0]) == 0  # still listening
    out = np.concatenate([o.data for o in outs if len(o)])
    assert notch.detected == mains and len(out) == len(x)
    tail = slice(int(2 * fs), None)
    resid = out[tail] - emg[tail]
    assert np.sqrt(np.mean(resid**2)) < 0.2 * np.sqrt(np.mean(hum[tail] ** 2))


def test_detect_mains_over_a_long_window_hears_a_hum_between_contractions() -> None:
    """A 3 uV hum throughout, EMG of 5 uV at rest (2 s in 5) and 150 uV in
    the contractions between: one spectrum of the 30 s (as BIDS listened)
    put the hum 3.3 x above its neighbourhood, under the bar of 10; a low
    quantile of 1 s spectra hears it as the rest does."""
    from sensorio.dsp.filters import mains_in_power, mains_power

    fs = 2000.0
    n = int(30 * fs)
    t = np.arange(n) / fs
    rng = np.random.default_rng(1)
    sos = signal.butter(2, [20, 450], "bandpass", fs=fs, output="sos")
    emg = signal.sosfilt(sos, rng.standard_normal((n, 4)), axis=0)
    level = np.where((t % 5.0) < 2.0, 5.0, 150.0)
    x = emg / emg.std(axis=0) * level[:, None] + 3 * np.sqrt(2) * np.sin(2 * np.pi * 50 * t)[:, None]
    assert mains_in_power(mains_power(x), n, fs)[0] is None  # the one spectrum of before
    assert detect_mains(x, fs)[0] == 50.0
    # a masked stretch (held flat: no power) is left out, not taken for silence
    valid = np.ones(x.shape, dtype=bool)
    valid[: int(7 * fs)] = False
    assert detect_mains(x, fs, valid)[0] == 50.0
    # and white noise of every length stays far under the bar
    for seconds in (1.0, 3.0, 30.0):
        assert detect_mains(rng.standard_normal((int(seconds * fs), 8)), fs)[1] < 4.0


def test_detect_mains_none_without_hum() -> None:
    x = np.random.default_rng(0).standard_normal((4000, 2))
    assert detect_mains(x, 2000.0)[0] is None


def test_envelope_rms_equals_direct_moving_rms() -> None:
    x = np.random.default_rng(3).standard_normal((1000, 2))
    env = Envelope("rms", window_s=0.01)  # 20 samples at 2 kHz
    out = np.concatenate([env.process(block(x[i : i + 77])).data for i in range(0, 1000, 77)])
    sq = np.vstack([np.zeros((19, 2)), x**2])
    direct = np.sqrt(
        np.array([sq[i : i + 20].sum(axis=0) for i in range(1000)]) / np.minimum(np.arange(1000) + 1, 20)[:, None]
    )
    np.testing.assert_allclose(out, direct, rtol=1e-9)
    assert env.latency(2000.0) == 9.5


def _masked_blocks(x: np.ndarray, valid: np.ndarray, cuts: list[int]) -> list[SignalBlock]:
    edges = [0, *sorted(set(c for c in cuts if 0 < c < len(x))), len(x)]
    return [SignalBlock(0, x[a:b], valid[a:b], 2000.0, start=a) for a, b in itertools.pairwise(edges)]


def _envelope(blocks: list[SignalBlock], native: bool) -> tuple[np.ndarray, np.ndarray]:
    env = Envelope("rms", window_s=0.01)
    env.native = native
    outs = [env.process(b) for b in blocks]
    return np.concatenate([o.data for o in outs]), np.concatenate([o.valid for o in outs])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), cuts=st.lists(st.integers(1, 1499), max_size=6))
def test_envelope_native_equals_numpy_and_is_exact_in_any_chunking(seed: int, cuts: list[int]) -> None:
    """The C moving RMS (csrc/sio_env.c) equals the numpy reference, and gives
    the same bits whatever the chunking."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1500, 3)) * rng.uniform(1, 500, 3)
    valid = np.ones(x.shape, bool)
    for _ in range(3):  # invalid stretches, some longer than the window
        a = int(rng.integers(0, 1400))
        valid[a : a + int(rng.integers(1, 60)), int(rng.integers(0, 3))] = False
    whole, whole_ok = _envelope(_masked_blocks(x, valid, []), native=True)
    ref, ref_ok = _envelope(_masked_blocks(x, valid, cuts), native=False)
    got, got_ok = _envelope(_masked_blocks(x, valid, cuts), native=True)
    np.testing.assert_array_equal(got_ok, ref_ok)
    # the numpy reference takes differences of running sums: its rounding
    # grows with the loudest stretch so far
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * np.nanmax(ref), equal_nan=True)
    np.testing.assert_array_equal(got_ok, whole_ok)
    np.testing.assert_array_equal(got, whole)  # bit for bit


def test_envelope_native_many_channels_equal_each_channel_alone() -> None:
    """The C moving RMS walks the channels in groups (cache): with 37 channels
    (groups of 16, a short last one) and odd chunking, every channel gets the
    same bits as when it is run alone, and the valid flags agree."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((900, 37)) * rng.uniform(1, 300, 37)
    valid = rng.random(x.shape) > 0.02
    cuts = [1, 45, 46, 300, 777]
    got, got_ok = _envelope(_masked_blocks(x, valid, cuts), native=True)
    for c in (0, 15, 16, 31, 32, 36):
        one, one_ok = _envelope(_masked_blocks(x[:, c : c + 1], valid[:, c : c + 1], cuts), native=True)
        np.testing.assert_array_equal(got[:, c : c + 1], one)
        np.testing.assert_array_equal(got_ok[:, c : c + 1], one_ok)
    ref, ref_ok = _envelope(_masked_blocks(x, valid, cuts), native=False)
    np.testing.assert_array_equal(got_ok, ref_ok)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * np.nanmax(ref), equal_nan=True)


def test_envelope_native_is_exactly_zero_after_a_loud_stretch() -> None:
    """Window sums are sums of squares, never differences of running sums:
    silence after a loud stretch is exactly 0, not a rounding residue."""
    x = np.zeros((3000, 2))
    x[:1000] = np.random.default_rng(5).standard_normal((1000, 2)) * 1e4
    out, _ = _envelope(_masked_blocks(x, np.ones(x.shape, bool), [333, 1700]), native=True)
    assert np.all(out[1020:] == 0.0)


def test_envelope_rectify_is_lowpassed_abs() -> None:
    x = np.random.default_rng(4).standard_normal((3000, 2)) * 10
    env = Envelope("rectify", cutoff_hz=6.0)
    out = env.process(block(x)).data
    np.testing.assert_allclose(out, offline(LowPass(6.0).design(2000.0), np.abs(x)), rtol=1e-10)


def test_decimate_matches_offline_and_aligns_on_sample_clock() -> None:
    x = np.random.default_rng(5).standard_normal((3000, 2))
    dec = Decimate(4)
    parts = [
        dec.process(SignalBlock(0, x[a : a + 333], np.ones((len(x[a : a + 333]), 2), bool), 2000.0, start=a))
        for a in range(0, 3000, 333)
    ]
    out = np.concatenate([p.data for p in parts])
    ref = offline(dec.design(2000.0), x)[::4]
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    assert parts[1].start == 84 and parts[1].rate_hz == 500.0  # first kept row of 333.. is 336


def test_sos_state_holds_over_short_gap_and_reprimes_after_long() -> None:
    sos = HighPass(20).design(2000.0)
    x = np.random.default_rng(6).standard_normal((2000, 1)) + 500.0
    valid = np.ones_like(x, dtype=bool)
    valid[500:510] = False
    st_ = SosState(sos, reprime_after=100)
    y = st_.run(x, valid)
    held = x.copy()
    held[500:510] = x[499]
    np.testing.assert_allclose(y, offline(sos, held), rtol=1e-10, atol=1e-9)
    valid[1000:1200] = False
    y2 = SosState(sos, reprime_after=100).run(x, valid)
    np.testing.assert_allclose(y2[1200:], offline(sos, x[1200:]), rtol=1e-10, atol=1e-9)


def test_latencies_are_group_delays() -> None:
    fs = 2000.0
    bp = BandPass()
    sos = bp.design(fs)
    _, gd = signal.group_delay(signal.sos2tf(sos), w=[np.sqrt(20 * 450)], fs=fs)
    assert bp.latency(fs) == pytest.approx(gd[0], rel=1e-6)
    assert Decimate(1).latency(fs) == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    ch=st.integers(1, 11),
    n=st.integers(0, 300),
    order=st.integers(1, 8),
)
def test_native_sosfilt_is_scipys_bit_for_bit(seed: int, ch: int, n: int, order: int) -> None:
    """csrc/sio_sos.c (channels in lockstep) computes exactly what scipy's
    sosfilt kernel does, state included, for any channel count."""
    from scipy.signal._sosfilt import _sosfilt

    from sensorio.dsp import filters

    rng = np.random.default_rng(seed)
    sos = np.ascontiguousarray(signal.butter(order, [0.05, 0.3], "bandpass", output="sos"))
    x = rng.standard_normal((ch, n)) * 100
    zi = rng.standard_normal((ch, sos.shape[0], 2))
    ref_x, ref_zi = x.copy(), zi.copy()
    _sosfilt(sos, ref_x, ref_zi)
    assert filters.SOSFILT_NATIVE and filters._native_lib is not None
    filters.sosfilt_channels(sos, x, zi)
    np.testing.assert_array_equal(x, ref_x)
    np.testing.assert_array_equal(zi, ref_zi)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 299), max_size=4, unique=True))
def test_sos_state_channels_with_gaps_equal_each_channel_alone(seed: int, cuts: list[int]) -> None:
    """Gaps on some channels (short ones held, long ones re-primed, a channel
    valid only late): each channel's output is what it gives alone, in any
    chunking (the block's work is done only on the channels with gaps)."""
    rng = np.random.default_rng(seed)
    n, ch = 300, 6
    x = rng.standard_normal((n, ch)).cumsum(axis=0)
    valid = np.ones((n, ch), dtype=bool)
    for c in (1, 3, 4):
        for _ in range(int(rng.integers(1, 4))):
            a = int(rng.integers(0, n - 1))
            valid[a : a + int(rng.integers(1, 40)), c] = False
    valid[: int(rng.integers(1, 200)), 5] = False  # valid only from then on
    sos = signal.butter(2, [0.05, 0.3], "bandpass", output="sos")

    def run(cols: list[int]) -> np.ndarray:
        state = SosState(sos, reprime_after=10)
        edges = [0, *sorted(cuts), n]
        return np.vstack([state.run(x[a:b][:, cols], valid[a:b][:, cols]) for a, b in itertools.pairwise(edges)])

    together = run(list(range(ch)))
    for c in range(ch):
        np.testing.assert_array_equal(together[:, c], run([c])[:, 0])
