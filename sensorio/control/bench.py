"""Compute cost of the controller, measured (for tools/bench_control_compute.py
and tools/bench_control.py): per-decision time, the time to switch to a new
channel subset, and the feature extraction's share of a core at full rate.

Timings are wall-clock on whatever machine runs them; nothing here is a test.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .controller import Controller
from .decoders import LDA
from .features import DEFAULT_FEATURES, FeatureExtractor
from .model import fit_model, label_windows


def synthetic_gestures(
    n_channels: int, rate_hz: float, n_classes: int, seconds_per_class: float = 2.0, reps: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Noise with a spatial amplitude pattern per class (class 0 at rest):
    enough to fit a model of the right size, (rows, channels) µV and the
    class of each row."""
    rng = np.random.default_rng(seed)
    pattern = rng.uniform(0.2, 1.5, (n_classes, n_channels))
    pattern[0] = 0.05
    n = int(rate_hz * seconds_per_class)
    parts, labels = [], []
    for _ in range(reps):
        for k in range(n_classes):
            parts.append(rng.normal(size=(n, n_channels)) * pattern[k] * rng.uniform(0.8, 1.2, n_channels) * 50.0)
            labels.append(np.full(n, k))
    return np.concatenate(parts), np.concatenate(labels)


def _percentiles(ms: list[float], cpu_ms: list[float]) -> dict[str, float]:
    a, c = np.asarray(ms), np.asarray(cpu_ms)
    return {
        "p50_ms": float(np.percentile(a, 50)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
        "cpu_p50_ms": float(np.percentile(c, 50)),
        "cpu_p99_ms": float(np.percentile(c, 99)),
    }


def measure_compute(
    n_channels: int = 16,
    rate_hz: float = 2000.0,
    n_classes: int = 6,
    n_decisions: int = 1000,
    n_switches: int = 200,
    chunk_rows: int = 16,
    seed: int = 0,
) -> dict[str, Any]:
    """Measure, with all the default features and an LDA:

    - ``decision``: time of one Controller.process call that completes one
      window (feature extraction, decoder, vote, speed), channel subset cached;
    - ``switch``: the same call when the valid channels just changed to a
      subset not seen before (the marginal model is computed then);
    Each as wall-clock and as the thread's CPU time (p50, p99): on a loaded
    machine the wall-clock tail is the scheduler's, the CPU time the code's.

    - ``features_core_share``: CPU time of the feature extractor per second of
      signal fed in ``chunk_rows`` pieces (1.0 = a whole core).
    """
    x, lab = synthetic_gestures(n_channels, rate_hz, n_classes, seed=seed)
    fx = FeatureExtractor(rate_hz, n_channels, features=DEFAULT_FEATURES)
    win = fx.process(x)
    classes = ["rest"] + [f"g{k}" for k in range(1, n_classes)]
    model = fit_model(win, label_windows(win.end_row, fx.window, lab), classes, fx, decoder=LDA(min_channels=1))
    ctl = Controller(model)
    inc = fx.increment
    rng = np.random.default_rng(seed + 1)
    # prime the window, then one window per call
    ctl.process(x[: fx.window - inc])
    pos = fx.window - inc
    valid = np.ones((inc, n_channels), dtype=bool)
    decision_ms: list[float] = []
    decision_cpu: list[float] = []
    for _ in range(n_decisions):
        if pos + inc > len(x):
            pos = 0
            ctl.reset(ctl.extractor.next_row)
            ctl.process(x[: fx.window - inc])
            pos = fx.window - inc
        chunk = x[pos : pos + inc]
        c0, t0 = time.thread_time(), time.perf_counter()
        out = ctl.process(chunk, valid)
        decision_ms.append((time.perf_counter() - t0) * 1e3)
        decision_cpu.append((time.thread_time() - c0) * 1e3)
        assert len(out) == 1
        pos += inc
    # switching: each time a random subset (1..3 channels masked) whose
    # marginal is not cached (forgotten first), as when a channel just failed
    switch_ms: list[float] = []
    switch_cpu: list[float] = []
    lda: Any = model.decoder  # an LDA (forget: drop channels)
    for _ in range(n_switches):
        k = int(rng.integers(1, min(3, n_channels - 1) + 1))
        drop = tuple(sorted(rng.choice(n_channels, k, replace=False).tolist()))
        keep = tuple(c for c in range(n_channels) if c not in drop)
        lda.forget(keep)
        mask = np.ones((inc, n_channels), dtype=bool)
        mask[:, list(drop)] = False
        if pos + inc > len(x):
            pos = fx.window
        # the window must see the mask on every row to drop the channels: mask
        # the whole window's rows and time only the call that completes it
        ctl.reset(ctl.extractor.next_row)
        head = np.ones((fx.window - inc, n_channels), dtype=bool)
        head[:, list(drop)] = False
        ctl.process(x[pos - fx.window + inc : pos], head)
        c0, t0 = time.thread_time(), time.perf_counter()
        out = ctl.process(x[pos : pos + inc], mask)
        switch_ms.append((time.perf_counter() - t0) * 1e3)
        switch_cpu.append((time.thread_time() - c0) * 1e3)
        assert len(out) == 1 and out[0].channels_used == keep
        pos += inc
    # the feature extractor's share of a core at full rate
    seconds = min(len(x) / rate_hz, 10.0)
    rows = int(seconds * rate_hz)
    fx2 = FeatureExtractor(rate_hz, n_channels)
    ok = np.ones((rows, n_channels), dtype=bool)
    t0 = time.process_time()
    for a in range(0, rows, chunk_rows):
        fx2.process(x[a : a + chunk_rows], ok[a : a + chunk_rows])
    share = (time.process_time() - t0) / seconds
    return {
        "n_channels": n_channels,
        "rate_hz": rate_hz,
        "n_classes": n_classes,
        "n_features": n_channels * len(DEFAULT_FEATURES),
        "window_ms": fx.window_ms,
        "increment_ms": fx.increment_ms,
        "decision": _percentiles(decision_ms, decision_cpu),
        "switch": _percentiles(switch_ms, switch_cpu),
        "features_core_share": share,
    }
