"""sensorio.control decoders: the LDA's marginal over the valid channels is
the LDA trained on those channels; the regressor likewise; the model file
loads back bit-identically; the Controller switches channel subsets with the
validity mask and falls back to a safe output; vote, rejection, speed."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensorio.blocks import SignalBlock
from sensorio.control import (
    LDA,
    Controller,
    FeatureExtractor,
    LinearRegressor,
    MajorityVote,
    ProportionalControl,
    SklearnDecoder,
    fit_model,
    label_windows,
    load_model,
    save_model,
)
from sensorio.control.decoders import auto_shrinkage, shrink
from sensorio.errors import SensorioError

CLASSES = ["rest", "open", "close", "pronate"]


def gesture_data(seed: int = 0, ch: int = 6, reps: int = 4, fs: float = 1000.0, seconds: float = 1.5):
    """EMG-like noise whose per-channel amplitude depends on the class
    (a spatial pattern per gesture, varying per repetition)."""
    rng = np.random.default_rng(seed)
    k = len(CLASSES)
    patterns = rng.uniform(0.3, 1.5, (k, ch))
    patterns[0] = 0.05
    parts, labels = [], []
    n = int(fs * seconds)
    for _ in range(reps):
        for c in range(k):
            amp = patterns[c] * rng.uniform(0.8, 1.2, ch) * 40.0
            parts.append(rng.normal(size=(n, ch)) * amp)
            labels.append(np.full(n, c))
    return np.concatenate(parts), np.concatenate(labels)


def windows_and_labels(seed: int = 0, ch: int = 6):
    x, lab = gesture_data(seed, ch)
    fx = FeatureExtractor(1000.0, ch, features=["mav", "wl", "zc", "logvar", "ar1", "mnf"])
    win = fx.process(x)
    y = label_windows(win.end_row, fx.window, lab)
    return fx, win, y, x, lab


def random_features(seed: int, n: int = 300, ch: int = 5, f: int = 3, k: int = 3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    mix = rng.normal(size=(ch * f, ch * f))
    X = (rng.normal(size=(n, ch * f)) @ mix + rng.normal(0, 2.0, (k, ch * f))[y]).reshape(n, ch, f)
    return X, y


@pytest.mark.parametrize("shrinkage", [0.0, 0.3, "auto"])
def test_marginal_lda_equals_lda_trained_on_the_subset(shrinkage):
    X, y = random_features(1)
    classes = ["a", "b", "c"]
    full = LDA(shrinkage=shrinkage, min_channels=1).fit(X, y, classes)
    lam = full.shrinkage  # "auto" chose it at fit; the marginal keeps it
    rng = np.random.default_rng(2)
    probe = X[rng.choice(len(X), 40, replace=False)]
    for subset in [(0,), (1, 3), (0, 2, 4), (1, 2, 3, 4)]:
        sub = LDA(shrinkage=lam, min_channels=1).fit(X[:, list(subset)], y, classes)
        w_full, b_full, _ = full.marginal(subset)
        w_sub, b_sub, _ = sub.marginal(tuple(range(len(subset))))
        np.testing.assert_allclose(w_full, w_sub, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b_full, b_sub, rtol=1e-10, atol=1e-12)
        for x in probe:
            p_full = full.scores(x, subset)
            p_sub = sub.scores(x[list(subset)], tuple(range(len(subset))))
            np.testing.assert_allclose(p_full, p_sub, rtol=1e-9, atol=1e-12)
            assert np.argmax(p_full) == np.argmax(p_sub)


def test_marginal_is_not_the_full_model_with_zeros():
    """A faulty channel's features (here shifted far off, as a saturated
    electrode's are) wreck the full model; the marginal does not see them."""
    X, y = random_features(4)
    lda = LDA(shrinkage=0.1, min_channels=1).fit(X, y, ["a", "b", "c"])
    keep = (0, 1, 2, 3)
    Xz = X.copy()
    Xz[:, 4] += 30.0
    marg = np.array([np.argmax(lda.scores(x, keep)) for x in X])
    naive = np.array([np.argmax(lda.scores(x, tuple(range(5)))) for x in Xz])
    assert np.mean(marg == y) > 0.85 and np.mean(naive == y) < np.mean(marg == y) - 0.15


def test_lda_without_shrinkage_equals_scikit_learn():
    """scikit-learn's lsqr LDA averages the classes' biased covariances; with
    equal class sizes that is our pooled covariance times (n - K) / n, which
    scales every log-odds by n / (n - K)."""
    sk = pytest.importorskip("sklearn.discriminant_analysis")
    X, _ = random_features(3)
    y = np.repeat(np.arange(3), 100)
    ours = LDA(shrinkage=0.0).fit(X, y, ["a", "b", "c"])
    flat = X.reshape(len(X), -1)
    ref = sk.LinearDiscriminantAnalysis(solver="lsqr", priors=[1 / 3] * 3).fit(flat, y)
    logodds_ref = ref.decision_function(flat) - ref.decision_function(flat)[:, :1]
    p_ours = np.array([ours.scores(x, tuple(range(5))) for x in X])
    logodds_ours = np.log(p_ours) - np.log(p_ours[:, :1])
    np.testing.assert_allclose(logodds_ours * 300 / 297, logodds_ref, rtol=1e-7, atol=1e-7)
    np.testing.assert_array_equal(np.argmax(p_ours, axis=1), ref.predict(flat))


def test_shrinkage_keeps_variances_and_auto_is_in_range():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 10))
    s = np.cov(z.T)
    np.testing.assert_array_equal(np.diag(shrink(s, 0.4)), np.diag(s))
    np.testing.assert_allclose(shrink(s, 1.0), np.diag(np.diag(s)))
    # independent features from few samples: strong shrinkage; strongly correlated: little
    assert auto_shrinkage(z - z.mean(0)) > 0.5
    base = rng.normal(size=(500, 1))
    corr = base + 0.05 * rng.normal(size=(500, 10))
    assert auto_shrinkage(corr - corr.mean(0)) < 0.05


def test_marginal_regressor_equals_regressor_on_the_subset():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 4, 2))
    target = X[:, 0, 0] * 2.0 - X[:, 2, 1] + 0.5 * X[:, 3, 0] + 0.1 * rng.normal(size=400)
    full = LinearRegressor(shrinkage=0.05).fit(X, target)
    for subset in [(0, 2), (1, 2, 3), (3,)]:
        sub = LinearRegressor(shrinkage=0.05).fit(X[:, list(subset)], target)
        np.testing.assert_allclose(full.predict(X, subset), sub.predict(X[:, list(subset)]), rtol=1e-9, atol=1e-9)
    r2 = 1 - np.var(full.predict(X)[:, 0] - target) / np.var(target)
    assert r2 > 0.95


def test_model_file_loads_back_bit_identically(tmp_path):
    fx, win, y, x, _ = windows_and_labels()
    model = fit_model(win, y, CLASSES, fx, reject_below=0.4, vote=3, info={"source": "test"})
    path = tmp_path / "m.npz"
    save_model(path, model)
    back = load_model(path)
    a_meta, a_arr = model.decoder.to_arrays()
    b_meta, b_arr = back.decoder.to_arrays()
    assert a_meta == b_meta and a_arr.keys() == b_arr.keys()
    for key in a_arr:
        assert a_arr[key].tobytes() == b_arr[key].tobytes() and a_arr[key].dtype == b_arr[key].dtype
    for key in model.thresholds:
        assert model.thresholds[key].tobytes() == back.thresholds[key].tobytes()
    assert model.proportional.rest.tobytes() == back.proportional.rest.tobytes()
    assert model.proportional.mvc.tobytes() == back.proportional.mvc.tobytes()
    assert (back.features, back.rest, back.reject_below, back.vote, back.info) == (
        model.features,
        model.rest,
        model.reject_below,
        model.vote,
        model.info,
    )
    # saved again, the file is the same bytes; decisions are the same
    save_model(tmp_path / "again.npz", back)
    assert (tmp_path / "again.npz").read_bytes() == path.read_bytes()
    d1 = Controller(model).process(x[:5000])
    d2 = Controller(back).process(x[:5000])
    assert [(d.cls, d.speed, d.probabilities.tobytes()) for d in d1] == [
        (d.cls, d.speed, d.probabilities.tobytes()) for d in d2
    ]
    with np.load(path, allow_pickle=False) as z:  # no pickle inside
        assert "meta" in z.files


def test_bad_model_files_are_library_errors(tmp_path):
    with pytest.raises(SensorioError, match="no such model"):
        load_model(tmp_path / "none.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(SensorioError, match="not a sensorio model"):
        load_model(junk)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(SensorioError, match="not a sensorio model"):
        load_model(other)
    fx, win, y, _, _ = windows_and_labels()
    model = fit_model(win, y, CLASSES, fx)
    save_model(tmp_path / "m.npz", model)
    with np.load(tmp_path / "m.npz") as z:
        parts = {k: z[k] for k in z.files if k != "decoder.cov"}
    np.savez(tmp_path / "cut.npz", **parts)
    with pytest.raises(SensorioError, match="damaged model file"):
        load_model(tmp_path / "cut.npz")
    model.info["when"] = object()
    with pytest.raises(SensorioError, match="not plain JSON"):
        save_model(tmp_path / "bad.npz", model)


def _edited(tmp_path, model_path, edit):
    """A copy of the model file with edit(meta, arrays) applied."""
    import json

    with np.load(model_path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    edit(meta, arrays)
    out = tmp_path / "edited.npz"
    np.savez(out, meta=np.array(json.dumps(meta)), **arrays)
    return out


def _nan_in_means(meta, arrays):
    arrays["decoder.means"] = arrays["decoder.means"].copy()
    arrays["decoder.means"][0, 0] = np.nan


@pytest.mark.parametrize(
    "edit",
    [
        lambda meta, arrays: meta["features"].update(features=["mav", "wl"]),  # was an IndexError
        lambda meta, arrays: meta.update(pipeline="hello"),  # a ValueError when control built it
        lambda meta, arrays: meta.update(reject_below=2.0),  # every decision rejected
        lambda meta, arrays: meta.update(reject_below=float("nan")),  # none rejected
        lambda meta, arrays: meta["decoder"].update(classes=meta["decoder"]["classes"][:2]),
        lambda meta, arrays: arrays.update({"proportional.mvc": arrays["proportional.mvc"][:2]}),
        _nan_in_means,  # NaN posteriors, decided as rest
        lambda meta, arrays: arrays.update({"decoder.priors": np.zeros_like(arrays["decoder.priors"])}),
        lambda meta, arrays: meta["proportional"].update(rest_class=9),  # rest at a speed
        lambda meta, arrays: meta.update(pipeline={"stage": [{"type": "bogus"}]}),  # without the file's name
    ],
    ids=["features", "pipeline", "reject-2", "reject-nan", "classes", "mvc", "nan-means", "priors", "rest", "stage"],
)
def test_a_model_file_whose_parts_do_not_fit_is_damaged(tmp_path, edit):
    """Each part of a model file was read on its own: an edited one loaded,
    then failed with an internal error or decided nonsense."""
    fx, win, y, _, _ = windows_and_labels()
    model = fit_model(win, y, CLASSES, fx, proportional=ProportionalControl())
    save_model(tmp_path / "m.npz", model)
    load_model(tmp_path / "m.npz")  # as saved: fine
    with pytest.raises(SensorioError, match="damaged model file"):
        load_model(_edited(tmp_path, tmp_path / "m.npz", edit))


def test_a_file_that_is_no_archive_is_not_called_a_pickle(tmp_path):
    text = tmp_path / "g.npz"
    text.write_text("garbage\n")
    with pytest.raises(SensorioError, match=r"not a sensorio model file \(not a NumPy .npz archive\)$"):
        load_model(text)


def test_controller_uses_the_valid_channels_and_switches_back():
    fx, win, y, x, lab = windows_and_labels(ch=6)
    model = fit_model(win, y, CLASSES, fx)
    x2, lab2 = gesture_data(0, 6)  # same patterns
    valid = np.ones(x2.shape, dtype=bool)
    a, b = 3000, 7000
    valid[a:b, 2] = False  # channel 2 lifts off, then recovers
    x2 = np.where(valid, x2, 0.0)
    ds = Controller(model).process(x2, valid)
    w = fx.window
    for d in ds:
        masked = d.end_row - w < b and d.end_row > a
        assert d.channels_used == ((0, 1, 3, 4, 5) if masked else tuple(range(6)))
        assert not d.safe
    clean = [d for d in ds if label_windows(np.array([d.end_row]), w, lab2)[0] >= 0]
    acc = np.mean([d.cls == lab2[d.end_row - 1] for d in clean])
    assert acc > 0.9


def test_too_few_channels_gives_the_safe_output():
    fx, win, y, x, _ = windows_and_labels(ch=6)
    model = fit_model(win, y, CLASSES, fx, decoder=LDA(min_channels=4))
    valid = np.ones(x.shape, dtype=bool)
    valid[:, :3] = False
    ds = Controller(model).process(x[6000:9000], valid[6000:9000])  # "open" and "close" rows
    assert ds and all(d.safe and d.label == "rest" and d.speed == 0.0 and d.channels_used == () for d in ds)
    assert "fewer than the 4 needed" in ds[0].reason


def test_sklearn_decoder_is_not_tolerant_and_says_so(tmp_path):
    da = pytest.importorskip("sklearn.discriminant_analysis")
    fx, win, y, x, lab = windows_and_labels(ch=4)
    model = fit_model(win, y, CLASSES, fx, decoder=SklearnDecoder(da.LinearDiscriminantAnalysis()))
    valid = np.ones(x.shape, dtype=bool)
    ds = Controller(model).process(x, valid)
    assert not any(d.safe for d in ds)
    assert np.mean([d.cls == lab[d.end_row - 1] for d in ds]) > 0.8
    valid[:, 1] = False
    ds = Controller(model).process(x, valid)
    assert all(d.safe and d.label == "rest" and "not fault tolerant" in d.reason for d in ds)
    save_model(tmp_path / "sk.npz", model)
    back = load_model(tmp_path / "sk.npz")
    probe = win.features[::7]
    a = np.array([model.decoder.scores(f, tuple(range(4))) for f in probe])
    b = np.array([back.decoder.scores(f, tuple(range(4))) for f in probe])
    assert a.tobytes() == b.tobytes()


def test_rejection_and_majority_vote():
    fx, win, y, x, _ = windows_and_labels()
    model = fit_model(win, y, CLASSES, fx, reject_below=0.6, proportional=None)
    ctl = Controller(model)
    means = model.decoder.means.reshape(len(CLASSES), 6, -1)
    valid = np.ones(6, dtype=bool)
    clear = ctl.decide(means[1], valid, 100)
    assert (clear.label, clear.rejected) == ("open", False)
    between = ctl.decide(0.5 * (means[1] + means[2]), valid, 150)  # open and close alike
    assert between.probabilities.max() < 0.6
    assert (between.label, between.rejected, between.speed) == ("rest", True, 0.0)
    vote = MajorityVote(3)
    assert [vote(c) for c in [1, 2, 2, 1, 1, 3, 3, 3]] == [1, 2, 2, 2, 1, 1, 3, 3]


def test_proportional_speed_deadband_and_ramp():
    pc = ProportionalControl(deadband=0.2, ramp_per_s=2.0)
    mav = np.array([[1.0, 1.0]] * 10 + [[11.0, 21.0]] * 10)  # rest; class 1 at full effort
    y = np.array([0] * 10 + [1] * 10)
    pc.fit(mav, y, 2, rest_class=0)
    assert pc.level(np.array([6.0, 11.0]), 1, (0, 1)) == pytest.approx(0.5)
    assert pc.level(np.array([6.0, 99.0]), 1, (0,)) == pytest.approx(0.5)  # a subset's own ratio
    assert pc.level(np.array([1.5, 1.5]), 1, (0, 1)) == pytest.approx(1 / 30)
    assert pc(np.array([1.5, 1.5]), 1, (0, 1), 0.05) == 0.0  # inside the deadband
    speeds = [pc(np.array([11.0, 21.0]), 1, (0, 1), 0.05) for _ in range(12)]
    np.testing.assert_allclose(speeds[:10], 0.1 * np.arange(1, 11))  # 2/s at 50 ms steps
    assert speeds[-1] == 1.0
    assert pc(np.array([11.0, 21.0]), 0, (0, 1), 0.05) == pytest.approx(0.9)  # rest ramps down too


def test_after_the_signal_is_lost_the_speed_ramps_up_from_rest():
    """The safe output said speed 0, but one ramp step left the speed ramp
    near where it was: the first decision after the signal came back jumped
    from 0 to that, past the ramp's limit. settle() brings the vote and the
    ramp to rest first."""
    fx, win, y, x, lab = windows_and_labels(ch=6)
    model = fit_model(win, y, CLASSES, fx, vote=3, proportional=ProportionalControl(deadband=0.0, ramp_per_s=2.0))
    ctl = Controller(model)
    moving = [d for d in ctl.process(x) if d.label != "rest" and d.speed > 0.5]
    assert moving, "the gestures move at speed"
    ctl.settle()
    safe = ctl.safe_decision(moving[-1].end_row, "no signal")
    assert (safe.label, safe.speed, safe.safe) == ("rest", 0.0, True)
    assert ctl.proportional._speed == 0.0
    step = 2.0 * fx.increment / model.rate_hz
    after = ctl.decide(*_features_of_a_gesture(ctl, x, lab))
    assert after.speed <= step + 1e-9, after.speed


def _features_of_a_gesture(ctl, x, lab):
    """One window's features (channels, F), validity and end row from the
    middle of a gesture in x."""
    rows = np.flatnonzero(lab != 0)
    mid = int(rows[len(rows) // 2])
    windows = ctl.model.extractor().process(x[mid - ctl.extractor.window : mid], None)
    return windows.features[-1], np.ones(x.shape[1], dtype=bool), mid


def test_process_signal_restarts_windows_at_a_reset():
    fx, win, y, x, _ = windows_and_labels(ch=6)
    model = fit_model(win, y, CLASSES, fx)
    ctl = Controller(model)

    def block(a: int, b: int, start: int, reset: bool = False) -> SignalBlock:
        return SignalBlock(0, x[a:b], np.ones((b - a, 6), dtype=bool), 1000.0, start=start, reset=reset)

    first = ctl.process_signal(block(0, 500, 10_000))
    assert [d.end_row for d in first] == [10_200, 10_250, 10_300, 10_350, 10_400, 10_450, 10_500]
    after = ctl.process_signal(block(500, 800, 50_000, reset=True))
    assert [d.end_row for d in after] == [50_200, 50_250, 50_300]
    with pytest.raises(SensorioError, match="trained at 1000 Hz"):
        ctl.process_signal(SignalBlock(0, x[:10], np.ones((10, 6), dtype=bool), 2000.0))


def test_lda_needs_every_class():
    X, y = random_features(0)
    with pytest.raises(SensorioError, match="at least 2 clean windows"):
        LDA().fit(X, np.where(y == 2, 0, y), ["a", "b", "c"])


def test_marginal_cache_reuses_subsets():
    X, y = random_features(7, ch=4)
    lda = LDA(0.1, min_channels=1).fit(X, y, ["a", "b", "c"])
    subsets = [s for r in (1, 2, 3) for s in itertools.combinations(range(4), r)]
    first = [lda.marginal(s) for s in subsets]
    again = [lda.marginal(s) for s in subsets]
    assert all(a is b for a, b in zip(first, again, strict=True))


def small_model(ch: int = 8, rate: float = 2000.0):
    from sensorio.control.bench import synthetic_gestures

    x, lab = synthetic_gestures(ch, rate, 3, seconds_per_class=1.0, reps=2)
    fx = FeatureExtractor(rate, ch)
    win = fx.process(x)
    return fit_model(win, label_windows(win.end_row, fx.window, lab), ["rest", "a", "b"], fx)


def sim_blocks(stream, seconds: float, rate: float = 2000.0):
    rows = 0
    while rows < seconds * rate:
        for b in stream.read(0.5):
            rows += len(b) if b.stream == 0 else 0
            yield b


def test_run_follows_the_fault_detector_through_the_pipeline():
    """Emulated 8-channel device, channel 2 lifted off from 3 s to 5 s: the
    decisions leave it out while the detector masks it and take it back after."""
    import sensorio.capture
    from sensorio.control import control_pipeline, run

    model = small_model()
    url = "sim://emg8?seed=1&fast=1&fault=liftoff:channel=3,start=3,end=5"
    with sensorio.capture.open(url, start_command="START") as s:
        ds = list(run(sim_blocks(s, 8.0), model, pipeline=control_pipeline(s.info)))
    assert len(ds) > 140
    np.testing.assert_allclose(np.diff([d.t_s for d in ds]), 0.05)
    every = tuple(range(8))
    without = (0, 1, 3, 4, 5, 6, 7)
    for d in ds:
        start = d.t_s - 0.2  # the window's first sample
        if d.t_s < 2.9 or start > 5.6:
            assert d.channels_used == every, d.t_s
        elif 3.2 < start and d.t_s < 4.9:
            assert d.channels_used == without, d.t_s
        assert not d.safe


def test_attach_delivers_decisions_to_a_callback():
    import threading

    import sensorio.capture
    from sensorio.control import attach

    model = small_model()
    got = []
    enough = threading.Event()

    def on_decision(d):
        got.append(d)
        if len(got) >= 20:
            enough.set()

    with sensorio.capture.open("sim://emg8?seed=2&fast=1", start_command="START") as s:
        attach(s, model, on_decision)
        assert enough.wait(60)
    assert [round(d.t_s, 3) for d in got[:3]] == [0.2, 0.25, 0.3]


def test_regression_model_through_the_controller_and_its_file(tmp_path):
    """A LinearRegressor model: the decisions carry its estimates, from the
    valid channels (the marginal), and the file loads back bit-identically."""
    rng = np.random.default_rng(3)
    fs, ch = 1000.0, 4
    level = np.repeat(rng.uniform(0.0, 1.0, 40), 500)  # a level held for 0.5 s at a time
    x = rng.normal(size=(len(level), ch)) * (5.0 + 100.0 * level[:, None]) * np.array([1.0, 0.7, 1.3, 0.9])
    fx = FeatureExtractor(fs, ch, features=["mav", "logvar"])
    win = fx.process(x)
    target = level[win.end_row - 1]
    model = fit_model(win, target, (), fx, decoder=LinearRegressor(0.01, min_channels=2))
    save_model(tmp_path / "r.npz", model)
    back = load_model(tmp_path / "r.npz")
    valid = np.ones(x.shape, dtype=bool)
    valid[10_000:, 1] = False
    d1 = Controller(model).process(x, valid)
    d2 = Controller(back).process(x, valid)
    assert [d.outputs.tobytes() for d in d1] == [d.outputs.tobytes() for d in d2]
    est = np.array([d.outputs[0] for d in d1])
    clean = label_windows(win.end_row, fx.window, np.repeat(np.arange(40), 500)) >= 0
    assert 1 - np.var(est[clean] - target[clean]) / np.var(target[clean]) > 0.9
    assert all(d.channels_used == ((0, 2, 3) if d.end_row > 10_000 else (0, 1, 2, 3)) for d in d1)
    assert all(d.label == "" and d.probabilities.size == 0 for d in d1)
    with pytest.raises(SensorioError, match="targets, not classes"):
        fit_model(win, target, ["a"], fx, decoder=LinearRegressor())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(1, 11_999), max_size=40))
def test_decisions_do_not_depend_on_the_chunking(cuts):
    model, x = chunk_model()
    x = x[:12_000]
    valid = np.ones(x.shape, dtype=bool)
    valid[3000:5200, 4] = False
    whole = Controller(model).process(x, valid)
    ctl = Controller(model)
    bounds = [0, *sorted(set(cuts)), len(x)]
    parts = [d for a, b in zip(bounds[:-1], bounds[1:], strict=True) for d in ctl.process(x[a:b], valid[a:b])]
    assert [(d.end_row, d.cls, d.rejected, d.channels_used, d.safe) for d in parts] == [
        (d.end_row, d.cls, d.rejected, d.channels_used, d.safe) for d in whole
    ]
    np.testing.assert_allclose([d.speed for d in parts], [d.speed for d in whole], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        [d.probabilities for d in parts], [d.probabilities for d in whole], rtol=1e-9, atol=1e-12
    )


@functools.lru_cache(maxsize=1)
def chunk_model():
    fx, win, y, x, _ = windows_and_labels(ch=6)
    return fit_model(win, y, CLASSES, fx, reject_below=0.6, vote=3), x


def test_controllers_of_one_model_do_not_share_the_speed_ramp():
    fx, win, y, x, _ = windows_and_labels(ch=6)
    model = fit_model(win, y, CLASSES, fx)
    open_rows = x[1500:3000]  # the first "open" repetition
    first = [d.speed for d in Controller(model).process(open_rows)]
    Controller(model).process(x[1500:6000])  # another controller ramps up meanwhile
    again = [d.speed for d in Controller(model).process(open_rows)]
    assert first == again and first[0] <= 0.25 + 1e-12  # 5/s at 50 ms steps from 0


def test_non_finite_features_on_a_valid_channel_give_the_safe_output():
    fx, win, y, x, _ = windows_and_labels(ch=6)
    model = fit_model(win, y, CLASSES, fx)
    x = x[:3000].copy()
    x[1000, 3] = np.nan  # valid, yet NaN: the mask does not say so
    ds = Controller(model).process(x)
    hit = [d.end_row - fx.window <= 1000 < d.end_row for d in ds]
    assert any(hit)
    for d, h in zip(ds, hit, strict=True):
        assert d.safe == h
        if h:
            assert d.label == "rest" and "non-finite" in d.reason
