"""The drift monitor's window end in C (csrc/sio_drift.c, sio_drift_window)
gives the numpy reference's bits window after window, with its history
carried in the ring: the rms, the baseline, the time to a rail and the
warnings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sensorio.blocks import EV_GAP, EVENT_DTYPE, SignalBlock
from sensorio.dsp import DriftMonitor
from sensorio.dsp import drift as drift_module

RATE = 1000.0
RANGE = (-10_000, 10_000)

pytestmark = pytest.mark.skipif(drift_module._native_lib is None, reason="the C core is not built")


def _stream(n: int, ch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes and validity of ch channels: a walk to the top rail, one to the
    bottom, one flat at 0, one at the rail itself, noise; some invalid rows."""
    rng = np.random.default_rng(seed)
    codes = np.rint(rng.normal(0, 30, (n, ch))).astype(np.int64)
    codes[:, 0] += np.linspace(0, 0.95 * RANGE[1], n).astype(np.int64)
    codes[:, 1] -= np.linspace(0, 0.93 * RANGE[1], n).astype(np.int64)
    codes[:, 2] = 0
    codes[n // 3 : n // 2, 3] = RANGE[1]  # at the rail: not a baseline
    codes[:, 4] = np.rint(3000 * np.sin(np.arange(n) / 900.0)).astype(np.int64)
    codes = np.clip(codes, *RANGE).astype(np.int32)
    valid = rng.random((n, ch)) > 0.02
    valid[n // 5 : n // 5 + 700, 5 % ch] = False  # a channel masked for most of a window
    return codes, valid


def _run(native: bool, blocks: list[SignalBlock], monkeypatch: Any, **kw: Any) -> tuple[list[Any], list[Any]]:
    """Each window's figures (rms, baseline, near, eta, the ring) and the
    warnings, with the C window end or numpy's."""
    monkeypatch.setattr(drift_module, "DRIFT_NATIVE", native)
    mon = DriftMonitor(**kw)
    figures: list[Any] = []
    window_c, window_numpy = mon._window_c, mon._window_numpy

    def c(rng: Any) -> Any:
        eta = np.empty(len(mon._near))
        rms, mean, near = window_c(rng, eta)
        figures.append((rms.tobytes(), mean.tobytes(), near.copy(), eta.tobytes(), mon._trend.tobytes()))
        return rms, mean, near

    def numpy(rng: Any) -> Any:
        rms, mean, near, eta = window_numpy(rng)
        figures.append((rms.tobytes(), mean.tobytes(), near.copy(), eta.tobytes(), mon._trend.tobytes()))
        return rms, mean, near, eta

    mon._window_c, mon._window_numpy = c, numpy  # type: ignore[method-assign]
    for b in blocks:
        mon.process(b)
    mon.finish(blocks[-1].start / RATE + len(blocks[-1]) / RATE)
    events = [(e.kind, e.channel, e.start_s, e.end_s, e.detail) for e in mon.take_events()]
    return figures, events


def _blocks(
    codes: np.ndarray, valid: np.ndarray, cuts: list[int], code_range: Any, gap_at: int | None
) -> list[SignalBlock]:
    out = []
    at = 0
    k = 0
    while at < len(codes):
        z = min(len(codes), at + cuts[k % len(cuts)])
        k += 1
        ev = np.zeros(0, EVENT_DTYPE)
        if gap_at is not None and at <= gap_at < z:
            ev = np.zeros(1, EVENT_DTYPE)  # a filled gap: its rows are no baseline
            ev["kind"], ev["row"], ev["lost_samples"] = EV_GAP, gap_at - at, min(gap_at - at, 600)
        out.append(
            SignalBlock(
                stream=0,
                data=codes[at:z] * 0.5,
                valid=valid[at:z],
                rate_hz=RATE,
                start=at,
                codes=codes[at:z],
                code_range=code_range,
                events=ev,
            )
        )
        at = z
    return out


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("code_range", [RANGE, None])
def test_window_end_in_c_equals_numpy_window_after_window(seed: int, code_range: Any, monkeypatch: Any) -> None:
    # 0.25 s windows, a trend of 8 of them: the ring wraps many times over
    # 40 s; cuts that fall anywhere in a window
    codes, valid = _stream(40_000, 7, seed)
    blocks = _blocks(codes, valid, [97, 250, 13, 640], code_range, gap_at=12_345)
    kw = {"window_s": 0.25, "trend_s": 2.0, "horizon_s": 5.0, "floor_s": 3.0}
    c_figs, c_events = _run(True, blocks, monkeypatch, **kw)
    n_figs, n_events = _run(False, blocks, monkeypatch, **kw)
    assert len(c_figs) == len(n_figs) == 160
    for k, (got, want) in enumerate(zip(c_figs, n_figs, strict=True)):
        assert got[0] == want[0] and got[1] == want[1], f"window {k}: rms or baseline"
        assert np.array_equal(got[2], want[2]), f"window {k}: near"
        assert got[3] == want[3], f"window {k}: time to a rail"
        assert got[4] == want[4], f"window {k}: the baselines' ring"
    assert c_events == n_events
    if code_range is not None:  # the walks were seen, and some windows lacked a baseline
        assert {ch for kind, ch, *_ in c_events if kind == "baseline_near_rail"} >= {0, 1}
        assert any(np.isnan(np.frombuffer(f[1])).any() for f in c_figs)


def test_window_end_in_c_after_a_reset(monkeypatch: Any) -> None:
    # reset forgets the history: the ring starts again in both
    codes, valid = _stream(8000, 7, 2)
    blocks = _blocks(codes, valid, [500], RANGE, gap_at=None)
    figs = []
    for native in (True, False):
        monkeypatch.setattr(drift_module, "DRIFT_NATIVE", native)
        mon = DriftMonitor(window_s=0.25, trend_s=1.0, horizon_s=5.0)
        got = []
        for k, b in enumerate(blocks):
            if k == 9:
                mon.reset()
            mon.process(b)
            got.append((mon._trend_head, mon._trend_n, mon._trend.tobytes(), mon._rms[-1].tobytes()))
        figs.append(got)
    assert figs[0] == figs[1]
