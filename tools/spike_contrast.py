"""How far injected spikes stand out of real EMG, by the signal the spike test reads.

The fault detector's spike test compares each sample of the 20 Hz
high-passed signal with 1.4826 x the larger median absolute deviation of the
two neighbouring 50 ms hops (docs/dsp.md). This tool asks which signal makes
a spike stand out most against real EMG: for every recording of the corpus
(tools/real_emg.py) at 1 and 4 kHz it injects 400 spikes (2 ms triangles,
10-30 x the channel's RMS, as tools/score_faults.py --real does) and prints,
per signal and threshold k, the share of spikes whose peak exceeds k robust
sigmas, and how many hops of the clean recording exceed it somewhere
(per channel-hour: what the other rules of the test, the peak floor and the
lone-pulse test, then have to remove).

Signals: ``hp20`` (what the detector reads), ``d2`` (the second difference
x[n] - (x[n-1] + x[n+1]) / 2: tissue low-passes EMG, a pulse a few samples
wide keeps most of its height there) and ``hp150`` (a 150 Hz high-pass).

    python3 tools/spike_contrast.py [--rates 1000,4000] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import signal

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_emg  # noqa: E402

SPIKE_WIDTH_S = 0.002
AMPLITUDE_RMS = (10.0, 30.0)
THRESHOLDS = (8.0, 10.0, 12.0)


def signals(x: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """The candidate signals of x (samples x channels)."""
    hp20 = signal.sosfilt(signal.butter(2, 20.0, "highpass", fs=fs, output="sos"), x, axis=0)
    hp150 = signal.sosfilt(signal.butter(2, min(150.0, 0.2 * fs), "highpass", fs=fs, output="sos"), x, axis=0)
    d2 = np.zeros_like(x)
    d2[1:-1] = x[1:-1] - 0.5 * (x[:-2] + x[2:])
    return {"hp20": hp20, "d2": d2, "hp150": hp150}


def robust_z(y: np.ndarray, hop: int) -> np.ndarray:
    """|y| over 1.4826 x the larger MAD of the neighbouring hops, (hops, hop, channels)."""
    n = y.shape[0] // hop * hop
    h = y[:n].reshape(-1, hop, y.shape[1])
    mad = np.median(np.abs(h - np.median(h, axis=1, keepdims=True)), axis=1)
    before = np.vstack([mad[:1], mad[:-1]])
    after = np.vstack([mad[1:], mad[-1:]])
    return np.abs(h) / (1.4826 * np.maximum(before, after))[:, None, :]


def inject(x: np.ndarray, fs: float, hop: int, rng: np.random.Generator, n: int) -> tuple[np.ndarray, list]:
    """x with n triangular spikes; their (row, channel)."""
    y = x.copy()
    rms = np.sqrt((x**2).mean(axis=0))
    width = max(1, int(round(SPIKE_WIDTH_S * fs)))
    at = []
    for _ in range(n):
        c = int(rng.integers(x.shape[1]))
        t = int(rng.integers(2 * hop, x.shape[0] - 2 * hop))
        amp = rng.uniform(*AMPLITUDE_RMS) * rms[c]
        frac = rng.uniform(0.0, 1.0)  # the spike starts between samples
        for k in range(width + 1):
            v = amp * (1.0 - (k + frac) / fs / SPIKE_WIDTH_S)
            if v > 0:
                y[t + k, c] += v
        at.append((t, c))
    return y, at


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="1000,4000")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    try:
        rates = [float(r) for r in args.rates.split(",")]
    except ValueError:
        print(f"spike_contrast: --rates takes numbers separated by commas, not {args.rates!r}", file=sys.stderr)
        return 2
    try:
        real_emg.fetch({pf for e in real_emg.CORPUS.values() for pf in e.files})
    except real_emg.CorpusError as exc:
        print(f"spike_contrast: {exc}", file=sys.stderr)
        return 1
    rng = np.random.default_rng(args.seed)
    print(f"{'recording':<32} {'rate':>5} {'signal':<6} " + " ".join(f"{f'k={k:g}':>18}" for k in THRESHOLDS))
    print(f"{'':<45}" + " ".join(f"{'recall  clean/ch-h':>18}" for _ in THRESHOLDS))
    for key in real_emg.keys(real_emg.LAYOUTS):
        for fs in rates:
            r = real_emg.load(key).resampled(fs)
            x = r.uv - r.uv.mean(axis=0)
            hop = int(round(0.05 * fs))
            width = max(1, int(round(SPIKE_WIDTH_S * fs)))
            y, at = inject(x, fs, hop, rng, 400)
            clean = {name: robust_z(s, hop).max(axis=1) for name, s in signals(x, fs).items()}
            for name, s in signals(y, fs).items():
                z = robust_z(s, hop).reshape(-1, s.shape[1])
                peaks = np.array([z[t : t + width + 2, c].max() for t, c in at if t + width + 2 < len(z)])
                hours = clean[name].size * 0.05 / 3600
                cells = [f"{np.mean(peaks > k):6.2f} {(clean[name] > k).sum() / hours:11.1f}" for k in THRESHOLDS]
                print(f"{key:<32} {fs:5.0f} {name:<6} " + " ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
