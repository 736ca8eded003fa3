"""Synthetic EMG with injected sensor faults, for the dsp tests and tools
(until and besides the emulator): physical signal -> codes -> SIO-1 bytes,
with the ground truth of what was injected."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from sensorio import sio1

KINDS = ("liftoff", "saturation", "spikes", "motion", "stuck", "noise")
SCALE = 0.5  # uV per count, int16 front end
RAILS = (-32768, 32767)


def info(
    channels: int = 4,
    rate_hz: float = 2000.0,
    serial: str = "SYN-1",
    enc: int = sio1.ENC_I16,
    scale: float = SCALE,
    zero: int = 0,
    rails: tuple[int, int] = RAILS,
) -> dict:
    return {
        "device": "synthetic",
        "serial": serial,
        "fw": "0",
        "test_uv": 100.0,
        "test_hz": 2.0,
        "streams": [
            {
                "id": 0,
                "name": "emg",
                "channels": channels,
                "rate_hz": rate_hz,
                "enc": enc,
                "unit": "uV",
                "scale": scale,
                "zero": zero,
                "min_code": rails[0],
                "max_code": rails[1],
            }
        ],
    }


@dataclass
class Fault:
    kind: str
    channel: int
    start_s: float
    end_s: float
    times_s: list[float] = field(default_factory=list)


def emg(
    n: int,
    channels: int,
    rate_hz: float,
    rng: np.random.Generator,
    *,
    rest_uv: float = 5.0,
    active_uv: float = 250.0,
    mains_hz: float = 50.0,
    mains_uv: float = 2.0,
    drift_uv: float = 60.0,
) -> np.ndarray:
    """Band-limited noise, amplitude-modulated by rest/contraction periods,
    plus mains hum, slow baseline drift and a DC offset (uV)."""
    t = np.arange(n) / rate_hz
    sos = signal.butter(2, [20, min(450, 0.45 * rate_hz)], "bandpass", fs=rate_hz, output="sos")
    shaped = signal.sosfilt(sos, rng.standard_normal((n, channels)), axis=0)
    shaped /= shaped.std(axis=0)
    period = rng.uniform(2.0, 4.0)
    level = 0.5 - 0.5 * np.cos(2 * np.pi * t / period)
    level = np.clip((level - 0.4) / 0.6, 0, 1)
    amp = rest_uv + np.outer(level, rng.uniform(0.4, 1.0, channels)) * (active_uv - rest_uv)
    out = shaped * amp
    out += mains_uv * np.sqrt(2) * np.sin(2 * np.pi * mains_hz * t[:, None] + rng.uniform(0, 6.3, channels))
    out += drift_uv * np.sin(2 * np.pi * 0.05 * t[:, None] + rng.uniform(0, 6.3, channels))
    out += rng.uniform(-300, 300, channels)
    out += rng.standard_normal((n, channels))
    return out


def random_faults(
    rng: np.random.Generator,
    duration_s: float,
    channels: int,
    n: int,
    kinds: tuple[str, ...] = KINDS,
) -> list[Fault]:
    """Non-overlapping (per channel) faults of random kinds."""
    out: list[Fault] = []
    for _ in range(n * 4):
        if len(out) >= n:
            break
        kind = kinds[int(rng.integers(len(kinds)))]
        ch = int(rng.integers(channels))
        dur = float(rng.uniform(0.3, 2.0))
        start = float(rng.uniform(0.5, duration_s - dur - 0.5))
        if any(f.channel == ch and start < f.end_s + 1.5 and f.start_s < start + dur + 1.5 for f in out):
            continue
        f = Fault(kind, ch, round(start, 3), round(start + dur, 3))
        if kind == "spikes":
            f.times_s = sorted(rng.uniform(f.start_s, f.end_s, max(1, int(round(4 * dur)))).tolist())
        out.append(f)
    return out


def apply(
    values: np.ndarray,
    rate_hz: float,
    faults: list[Fault],
    rng: np.random.Generator,
    scale: float = SCALE,
    rails: tuple[int, int] = RAILS,
) -> tuple[np.ndarray, np.ndarray]:
    """Faults into physical values, then codes; returns (codes, per-row lead-off bits)."""
    t = np.arange(values.shape[0]) / rate_hz
    for f in faults:
        a, b = np.searchsorted(t, [f.start_s, f.end_s])
        c = f.channel
        if f.kind == "spikes":
            w = max(1, int(round(0.002 * rate_hz)))
            for ts in f.times_s:
                i = int(np.searchsorted(t, ts))
                k = min(w, values.shape[0] - i)
                values[i : i + k, c] += 3000.0 * (1 - np.arange(k) / w)
        elif f.kind == "motion":
            tw = t[a:b] - f.start_s
            env = np.sin(np.pi * tw / (f.end_s - f.start_s)) ** 2
            values[a:b, c] += 2000.0 * env * np.sin(2 * np.pi * 2.0 * tw)
        elif f.kind == "noise":
            values[a:b, c] += 300.0 * rng.standard_normal(b - a)
    codes = np.clip(np.rint(values / scale), *rails).astype(np.int64)
    leadoff = np.zeros(values.shape[0], dtype=np.uint64)
    for f in faults:
        a, b = np.searchsorted(t, [f.start_s, f.end_s])
        c = f.channel
        if f.kind == "saturation":
            codes[a:b, c] = np.where(codes[a:b, c] >= 0, rails[1], rails[0])
        elif f.kind == "stuck":
            codes[a:b, c] = codes[a, c]
        elif f.kind == "liftoff":
            codes[a:b, c] = rails[1]
            leadoff[a:b] |= np.uint64(1 << c)
    return codes, leadoff


def encode(
    codes: np.ndarray,
    leadoff: np.ndarray,
    descriptor: dict,
    frame: int = 8,
    drop: set[int] | None = None,
) -> bytes:
    """INFO then DATA frames of `frame` samples; frames in `drop` are left out."""
    enc = sio1.DataEncoder()
    out = [b"\x00", sio1.encode_info(descriptor)]
    s = descriptor["streams"][0]
    for k, i in enumerate(range(0, codes.shape[0] - frame + 1, frame)):
        if drop and k in drop:
            continue
        lo = int(np.bitwise_or.reduce(leadoff[i : i + frame])) if frame else 0
        out.append(
            enc.encode(
                codes[i : i + frame],
                enc=s["enc"],
                seq=k,
                leadoff=lo,
                t_us=int(i * 1e6 / s["rate_hz"]),
            )
        )
    return b"".join(out)


def recording(
    seconds: float = 10.0,
    channels: int = 4,
    rate_hz: float = 2000.0,
    seed: int = 0,
    n_faults: int = 0,
    kinds: tuple[str, ...] = KINDS,
    **emg_kw: float,
) -> tuple[bytes, dict, list[Fault], np.ndarray]:
    """(SIO-1 bytes, INFO, faults injected, the physical signal before faults)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate_hz)
    n -= n % 8
    clean = emg(n, channels, rate_hz, rng, **emg_kw)
    faults = random_faults(rng, seconds, channels, n_faults, kinds) if n_faults else []
    codes, leadoff = apply(clean.copy(), rate_hz, faults, rng)
    desc = info(channels, rate_hz)
    return encode(codes, leadoff, desc), desc, faults, clean
