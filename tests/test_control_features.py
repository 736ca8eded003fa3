"""sensorio.control.features: streaming windows equal the plain numpy
reference on any chunking, the validity mask per window, and the feature
values themselves on signals whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensorio.control import FEATURES, FeatureExtractor, Windows, noise_thresholds, reference_features
from sensorio.errors import SensorioError

RATE = 500.0
WIN_MS, INC_MS = 40.0, 10.0  # 20 and 5 samples: small, so the reference is quick


def signal(seed: int, n: int = 240, ch: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 20.0, (n, ch)) * rng.uniform(0.2, 3.0, ch)
    x[: n // 3, 0] += 15.0  # an offset: zero crossings rarer there
    x[n // 2 : n // 2 + 30, ch - 1] = 0.0  # a flat stretch: AR and spectra guarded
    valid = rng.random((n, ch)) > 0.02
    return x, valid


def run_chunked(fx: FeatureExtractor, x: np.ndarray, valid: np.ndarray, cuts: list[int]) -> Windows:
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(x)}), len(x)]
    parts = [fx.process(x[a:b], valid[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return Windows.concatenate(parts, fx.n_channels, fx.n_features_per_channel)


def reference_valid(valid: np.ndarray, w: int, inc: int) -> np.ndarray:
    n_win = (len(valid) - w) // inc + 1
    return np.array([valid[k * inc : k * inc + w].all(axis=0) for k in range(n_win)])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    cuts=st.lists(st.integers(0, 240), max_size=30),
    thr=st.sampled_from([None, {"zc": 4.0, "ssc": 3.0, "wamp": 12.0}]),
    nan_invalid=st.booleans(),
    sizes=st.sampled_from([(WIN_MS, INC_MS), (30.0, 30.0), (14.0, 22.0), (50.0, 2.0)]),
)
def test_features_equal_reference_on_any_chunking(seed, cuts, thr, nan_invalid, sizes):
    x, valid = signal(seed)
    if nan_invalid:
        x = np.where(valid, x, np.nan)  # the pipeline's "nan" policy
    win_ms, inc_ms = sizes
    w, inc = int(round(win_ms * RATE / 1000)), int(round(inc_ms * RATE / 1000))
    fx = FeatureExtractor(RATE, 3, win_ms, inc_ms, thresholds_uv=thr)
    got = run_chunked(fx, x, valid, cuts)
    ref = reference_features(x, RATE, win_ms, inc_ms, FEATURES, thr)
    assert got.features.shape == ref.shape == ((240 - w) // inc + 1, 3, len(FEATURES))
    np.testing.assert_allclose(got.features, ref, rtol=1e-9, atol=1e-9, equal_nan=True)
    counts = [FEATURES.index(f) for f in ("zc", "ssc", "wamp")]
    np.testing.assert_array_equal(got.features[..., counts], ref[..., counts])
    np.testing.assert_array_equal(got.valid, reference_valid(valid, w, inc))
    np.testing.assert_array_equal(got.end_row, w + inc * np.arange(len(ref)))


def test_single_samples_and_one_block_agree_exactly_in_counts():
    x, valid = signal(3, n=120)
    one = FeatureExtractor(RATE, 3, WIN_MS, INC_MS).process(x, valid)
    fx = FeatureExtractor(RATE, 3, WIN_MS, INC_MS)
    single = run_chunked(fx, x, valid, list(range(120)))
    np.testing.assert_allclose(single.features, one.features, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(single.valid, one.valid)


def test_subset_of_features_in_the_order_asked():
    x, valid = signal(5)
    names = ["mdf", "mav", "ar2"]
    got = FeatureExtractor(RATE, 3, WIN_MS, INC_MS, features=names).process(x, valid)
    ref = reference_features(x, RATE, WIN_MS, INC_MS)
    np.testing.assert_allclose(got.features, ref[..., [FEATURES.index(n) for n in names]], rtol=1e-9, atol=1e-9)


def test_values_on_known_signals():
    fs = 2000.0
    t = np.arange(400) / fs  # one 200 ms window
    sine = 100.0 * np.sin(2 * np.pi * 100.0 * t + 0.1)
    const = np.full(400, 7.0)
    x = np.stack([sine, const], axis=1)
    f = FeatureExtractor(fs, 2).process(x)
    assert len(f) == 1
    v = dict(zip(FEATURES, f.features[0, 0], strict=True))
    assert v["mav"] == pytest.approx(200 / np.pi, rel=5e-3)  # 20 samples a period
    assert v["rms"] == pytest.approx(100 / np.sqrt(2), rel=1e-3)
    assert v["zc"] == 39  # 20 periods from phase 0.1: the 40th crossing falls after the window
    assert v["ssc"] == 40  # one peak and one trough per period
    assert v["mnf"] == pytest.approx(100.0, abs=1.0)
    assert v["mdf"] == pytest.approx(100.0, abs=5.0)
    c = dict(zip(FEATURES, f.features[0, 1], strict=True))
    assert c["mav"] == 7.0 and c["wl"] == 0.0 and c["zc"] == 0 and c["ssc"] == 0 and c["wamp"] == 0
    assert [c[f"ar{k}"] for k in range(1, 5)] == [0.0] * 4  # flat: guarded, not NaN
    assert c["mnf"] == 0.0 and c["mdf"] == 0.0


def test_ar_coefficients_of_an_ar_process():
    rng = np.random.default_rng(1)
    a1, a2 = 1.2, -0.5
    e = rng.normal(size=20000)
    x = np.zeros_like(e)
    for i in range(2, len(e)):
        x[i] = a1 * x[i - 1] + a2 * x[i - 2] + e[i]
    fx = FeatureExtractor(1000.0, 1, window_ms=20000.0, increment_ms=1000.0, features=["ar1", "ar2", "ar3", "ar4"])
    got = fx.process(x[:, None]).features[0, 0]
    np.testing.assert_allclose(got, [a1, a2, 0.0, 0.0], atol=0.03)


def test_wamp_threshold_per_channel():
    x = np.tile(np.array([0.0, 10.0]), 50)[:, None] * np.ones((1, 2))  # |d| = 10 everywhere
    fx = FeatureExtractor(1000.0, 2, 100.0, 100.0, features=["wamp"], thresholds_uv={"wamp": [10.0, 10.5]})
    got = fx.process(x).features[0, :, 0]
    np.testing.assert_array_equal(got, [99, 0])


def test_windows_aligned_on_the_origin_after_reset():
    x, valid = signal(2, n=100)
    fx = FeatureExtractor(RATE, 3, WIN_MS, INC_MS)
    fx.process(x[:33], valid[:33])
    fx.reset(1000)
    assert fx.next_row == 1000
    got = fx.process(x, valid)
    np.testing.assert_array_equal(got.end_row, 1020 + 5 * np.arange((100 - 20) // 5 + 1))
    ref = FeatureExtractor(RATE, 3, WIN_MS, INC_MS).process(x, valid)
    np.testing.assert_allclose(got.features, ref.features, rtol=1e-12)


def test_noise_thresholds_from_rest():
    rng = np.random.default_rng(0)
    rest = rng.normal(0.0, [1.0, 4.0], (20000, 2))
    thr = noise_thresholds(rest, k=3.0)
    # the first difference of white noise has sigma*sqrt(2)
    np.testing.assert_allclose(thr["zc"], 3.0 * np.sqrt(2) * np.array([1.0, 4.0]), rtol=0.05)
    valid = np.ones_like(rest, dtype=bool)
    valid[:, 1] = False
    assert noise_thresholds(rest, valid)["wamp"][1] == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"features": ["mav", "bogus"]}, "unknown feature"),
        ({"features": ["mav", "mav"]}, "each feature once"),
        ({"window_ms": 1.0}, "at least"),
        ({"increment_ms": 0.1}, "less than one sample"),
        ({"thresholds_uv": {"mav": 1.0}}, "only zc"),
        ({"thresholds_uv": {"zc": [1.0, 2.0]}}, "one per channel"),
        ({"thresholds_uv": {"zc": -1.0}}, ">= 0"),
    ],
)
def test_bad_settings_are_library_errors(kwargs, match):
    with pytest.raises(SensorioError, match=match):
        FeatureExtractor(RATE, 3, **{"window_ms": WIN_MS, "increment_ms": INC_MS, **kwargs})


def test_bad_shapes_are_library_errors():
    fx = FeatureExtractor(RATE, 3, WIN_MS, INC_MS)
    with pytest.raises(SensorioError, match="expected"):
        fx.process(np.zeros((10, 2)))
    with pytest.raises(SensorioError, match="validity mask"):
        fx.process(np.zeros((10, 3)), np.ones((9, 3), dtype=bool))


@pytest.mark.parametrize("window_ms, increment_ms", [(20.0, 50.0), (40.0, 40.0), (30.0, 2.0)])
def test_any_window_and_increment(window_ms, increment_ms):
    """Increments longer than the window skip rows; equal ones tile; short ones overlap."""
    x, valid = signal(9, n=300)
    fx = FeatureExtractor(RATE, 3, window_ms, increment_ms)
    got = run_chunked(fx, x, valid, [7, 8, 60, 61, 62, 190, 250])
    ref = reference_features(x, RATE, window_ms, increment_ms)
    assert got.features.shape == ref.shape
    np.testing.assert_allclose(got.features, ref, rtol=1e-9, atol=1e-9)
