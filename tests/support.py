"""Helpers shared by the tests (import as ``from support import ...``)."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

ROOT = Path(__file__).resolve().parent.parent
#: the SIO-1 conformance vectors, kept in the project so that a bare clone
#: tests itself; CI checks they are identical to ../shared/vectors
VECTORS = ROOT / "tests" / "vectors"
VECTOR_NAMES = ["basic_i16", "wrap_i24", "single_u16", "wide_i32", "corrupt_i16", "multistream"]


def require_or_skip(ok: bool, reason: str, env: str = "SENSORIO_REQUIRE_ALL") -> None:
    """Skip with a reason when a required outside tool is missing, except
    when the environment demands it (CI sets these), where it fails."""
    if ok:
        return
    if os.environ.get(env) or os.environ.get("SENSORIO_REQUIRE_ALL"):
        pytest.fail(f"required for this test run but missing: {reason}")
    pytest.skip(reason)


def pytest_plugin_args() -> list[str]:
    """Arguments that load sensorio's pytest plugin in a child pytest: none
    when the installed entry point loads it already (naming it twice fails)."""
    installed = any(ep.name == "sensorio" for ep in importlib.metadata.entry_points(group="pytest11"))
    return [] if installed else ["-p", "sensorio.testing.plugin"]


def contractions_under_hum(seconds: float, rate: float, channels: int, rng: np.random.Generator) -> np.ndarray:
    """EMG (20-450 Hz noise) at 5 uV at rest, contracting to about 200 uV
    every 3 s, under a steady 20 uV 50 Hz hum on every channel (samples,
    channels; uV): the hum is mains at rest, on and off on every channel
    at once. The noise is drawn from rng."""
    n = int(seconds * rate)
    sos = signal.butter(2, [20, 450], "bandpass", fs=rate, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal((n, channels)), axis=0)
    t = np.arange(n) / rate
    level = 5 + 200 * np.clip(np.sin(2 * np.pi * t / 3.0), 0, None) ** 2
    return x / x.std() * level[:, None] + 20 * np.sin(2 * np.pi * 50 * t)[:, None]


def coded_blocks(x: np.ndarray, rate: float, size: int, stream: int = 0, scale: float = 0.5) -> list:
    """x (samples, channels; uV) as 16-bit codes of scale uV each, in
    SignalBlocks of size rows, every sample valid, their codes kept."""
    from sensorio.blocks import SignalBlock

    codes = np.rint(x / scale).astype(np.int32)
    return [
        SignalBlock(
            stream,
            codes[a : a + size] * scale,
            np.ones((len(codes[a : a + size]), codes.shape[1]), dtype=bool),
            rate,
            start=a,
            codes=codes[a : a + size].copy(),
            code_range=(-32768, 32767),
        )
        for a in range(0, len(codes), size)
    ]


def narrow_and_wide_device(serial: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """A device of two 2-channel streams at 1 kHz in uV: stream 0 of 24-bit
    codes (scale 0.02235), stream 1 of int32 codes (scale 0.001, zero 7);
    with 200 rows of stream 1's codes around 2^30, each 1 above the one
    before, and their values in float64, which float32 (24 bits) merges."""
    from sensorio import sio1

    desc = {
        "device": "test", "serial": serial, "fw": "0",
        "streams": [
            {"id": 0, "name": "emg", "channels": 2, "rate_hz": 1000, "enc": sio1.ENC_I24, "unit": "uV",
             "scale": 0.02235, "zero": 0, "min_code": -(2**23), "max_code": 2**23 - 1},
            {"id": 1, "name": "wide", "channels": 2, "rate_hz": 1000, "enc": sio1.ENC_I32, "unit": "uV",
             "scale": 0.001, "zero": 7, "min_code": -(2**31), "max_code": 2**31 - 1},
        ],
    }  # fmt: skip
    wide = (2**30 + np.arange(400).reshape(200, 2)).astype(np.int32)
    want = (wide.astype(np.float64) - 7) * 0.001
    assert len(np.unique(want.astype(np.float32))) < want.size  # what float32 made of them
    return desc, wide, want
