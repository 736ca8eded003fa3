"""Proportional control on real data: force from HD-EMG, R² on held-out time.

The openhdemg 0.1.2 test recording (OT Bioelettronica, vastus lateralis, 64
monopolar channels at 2048 Hz, one trapezoidal contraction to ~26 %MVC over
32.5 s): ``Data`` columns 0-63 are EMG in µV, column 74 the measured force in
%MVC. The EMG goes through sensorio's dsp stages (50 Hz notch, 20-450 Hz
band-pass), then sensorio.control's features (MAV, RMS, WL, log-variance;
200 ms windows every 50 ms). Each estimate is compared with the force at the
decision time (the window's end: what an online controller could know).

Honest split in time, two folds: fit on the first half and test on the
second, then the other way round. Nothing about the test half is used to fit:
the regressor's shrinkage is chosen on the last 30 % of the training half.

- ``linear``: sensorio.control.LinearRegressor (tolerant regression);
- ``amplitude``: ProportionalControl's MVC-normalised amplitude (one class,
  rest = training windows under 5 %MVC), mapped to %MVC by a line fitted on
  the training half;
- ``masked k``: the linear model on the test half with k random channels
  masked (its marginal over the others), beside the same model fed zeros for
  them without masking.

    PYTHONPATH=. python tools/bench_control_force.py [--data DIR]

The recording is fetched once with ``pip download --no-deps openhdemg==0.1.2``
into DIR (default $SENSORIO_DATA/openhdemg or ~/.cache/sensorio/openhdemg),
never into the repository. A benchmark that prints figures, not a test.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from sensorio.blocks import SignalBlock
from sensorio.control import FeatureExtractor, LinearRegressor, ProportionalControl
from sensorio.dsp import BandPass, Notch, Pipeline
from sensorio.dsp.stages import concat_signal

WHEEL = "openhdemg-0.1.2-py3-none-any.whl"
MEMBER = "openhdemg/library/decomposed_test_files/otb_testfile.mat"
FEATURES = ("mav", "rms", "wl", "logvar")
SHRINKAGES = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)


def data_dir(given: str | None) -> Path:
    if given:
        return Path(given)
    base = os.environ.get("SENSORIO_DATA")
    return Path(base) / "openhdemg" if base else Path.home() / ".cache" / "sensorio" / "openhdemg"


def load_recording(directory: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """EMG (rows, 64) µV, force (rows,) %MVC and the rate, from the wheel
    (downloaded with pip on first use)."""
    from scipy.io import loadmat

    wheel = directory / WHEEL
    if not wheel.exists():
        directory.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "openhdemg==0.1.2", "-d", str(directory)]
        print("fetching:", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with zipfile.ZipFile(wheel) as z:
        mat = loadmat(io.BytesIO(z.read(MEMBER)))
    data = np.asarray(mat["Data"][0, 0], dtype=np.float64)
    rate = float(np.asarray(mat["SamplingFrequency"]).ravel()[0])
    return data[:, :64], data[:, 74], rate


def r2(y: np.ndarray, est: np.ndarray) -> float:
    return float(1.0 - np.sum((y - est) ** 2) / np.sum((y - y.mean()) ** 2))


def conditioned(emg: np.ndarray, rate: float) -> np.ndarray:
    pipe = Pipeline([Notch(mains=50.0), BandPass()], policy="zero")
    block = SignalBlock(0, emg, np.ones(emg.shape, dtype=bool), rate, units=("uV",) * emg.shape[1])
    return concat_signal(pipe.process(block) + pipe.flush()).data


def fit_linear(X: np.ndarray, y: np.ndarray) -> tuple[LinearRegressor, float]:
    """Shrinkage chosen on the last 30 % of the training data, then refit on all of it."""
    cut = int(0.7 * len(X))
    scores = [r2(y[cut:], LinearRegressor(s).fit(X[:cut], y[:cut]).predict(X[cut:])[:, 0]) for s in SHRINKAGES]
    best = SHRINKAGES[int(np.argmax(scores))]
    return LinearRegressor(best).fit(X, y), best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="directory holding (or receiving) the openhdemg wheel")
    ap.add_argument("--seed", type=int, default=0, help="seed for the channels masked")
    a = ap.parse_args()
    emg, force, rate = load_recording(data_dir(a.data))
    x = conditioned(emg, rate)
    fx = FeatureExtractor(rate, x.shape[1], features=FEATURES)
    win = fx.process(x)
    y = force[win.end_row - 1]
    n = len(win)
    half = n // 2
    print(
        f"openhdemg 0.1.2 otb_testfile: {emg.shape[1]} ch x {rate:g} Hz, {len(force) / rate:.1f} s, "
        f"force {force.min():.1f}..{force.max():.1f} %MVC; {n} windows of {fx.window_ms:g} ms every "
        f"{fx.increment_ms:g} ms; features {', '.join(FEATURES)}"
    )
    rng = np.random.default_rng(a.seed)
    mav = FEATURES.index("mav")
    rows = []
    for name, train, test in (
        ("first half -> second", slice(0, half), slice(half, n)),
        ("second half -> first", slice(half, n), slice(0, half)),
    ):
        Xtr, ytr, Xte, yte = win.features[train], y[train], win.features[test], y[test]
        reg, lam = fit_linear(Xtr, ytr)
        lin = r2(yte, reg.predict(Xte)[:, 0])
        # amplitude: one class, rest under 5 %MVC
        labels = (ytr >= 5.0).astype(np.int64)
        pc = ProportionalControl(deadband=0.0, ramp_per_s=None).fit(Xtr[..., mav], labels, 2, rest_class=0)
        every = tuple(range(x.shape[1]))
        level_tr = np.array([pc.level(f[:, mav], 1, every) for f in Xtr])
        level_te = np.array([pc.level(f[:, mav], 1, every) for f in Xte])
        gain, offset = np.polyfit(level_tr, ytr, 1)
        amp = r2(yte, gain * level_te + offset)
        masked = {}
        for k in (8, 16, 32):
            drop = rng.choice(x.shape[1], k, replace=False)
            keep = tuple(int(c) for c in np.setdiff1d(np.arange(x.shape[1]), drop))
            marg = r2(yte, reg.predict(Xte, keep)[:, 0])
            zeroed = Xte.copy()
            zeroed[:, drop] = 0.0
            naive = r2(yte, reg.predict(zeroed)[:, 0])
            masked[k] = (marg, naive)
        rows.append((name, lam, lin, amp, masked))
    print(f"{'fold':22s} {'linear R²':>10s} {'(shrinkage)':>12s} {'amplitude R²':>13s}")
    for name, lam, lin, amp, _ in rows:
        print(f"{name:22s} {lin:10.3f} {lam:12g} {amp:13.3f}")
    print(
        f"{'mean':22s} {np.mean([r[2] for r in rows]):10.3f} {'':12s} {np.mean([r[3] for r in rows]):13.3f}"
        f"   (goal: R² >= 0.9)"
    )
    print("channels masked on the test half: linear model's marginal R² / same model fed zeros, unmasked")
    for k in (8, 16, 32):
        cells = "   ".join(f"{r[0]}: {r[4][k][0]:.3f} / {r[4][k][1]:.3f}" for r in rows)
        print(f"  {k:2d} of 64 masked   {cells}")


if __name__ == "__main__":
    main()
