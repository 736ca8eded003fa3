"""Sensor faults on a per-channel schedule, applied to a stream's samples
chunk by chunk (same result whatever the chunking).

Kinds:
- ``liftoff``: the electrode comes off: the channel goes flat at the zero code
  (``mode=flat``) or rails at the top of the ADC (``mode=rail``), and the
  device sets the channel's lead-off bit where its format has one;
- ``saturation``: the amplifier is overdriven: every sample sits at a rail;
- ``spikes``: short large pulses (electrostatic discharge, cable snaps) at
  times drawn from the seed, listed in the ground truth;
- ``motion``: a large low-frequency artifact (cable or electrode movement);
- ``stuck``: the ADC repeats one code (the one it had at the fault's start);
- ``noise``: sudden broadband noise (a bad contact, a nearby motor);
- ``mains``: mains hum picked up by one electrode (``amp`` uV RMS at ``hz``, 50 or 60),
  as when its contact dries or its lead runs beside a mains cable; it fades
  in and out over one period (a coupling cannot make the signal jump);
- ``drift``: the baseline walks linearly toward a rail (``to=high|low``): at
  ``end_s`` it has gone ``reach`` of the way from the zero code to that rail
  (0.9: 90 %), then the electrode settles back at once. The detector's answer
  to this is the drift monitor's ``baseline_near_rail`` warning.

``random_faults`` draws from the first six kinds only (RANDOM_KINDS), so that
a seed gives the same faults as before mains and drift existed.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UsageError
from ..faultkinds import EMULATED_KINDS as KINDS
from ..faultkinds import RANDOM_KINDS, check_mains_hz
from .profiles import StreamProfile

#: defaults of each kind's parameters (amplitudes in the stream's unit)
DEFAULTS: dict[str, dict[str, Any]] = {
    "liftoff": {"mode": "rail"},
    "saturation": {},
    "spikes": {"rate": 4.0, "amp": 3000.0, "width_s": 0.002},
    "motion": {"amp": 2000.0, "hz": 2.0},
    "stuck": {},
    "noise": {"amp": 300.0},
    "mains": {"amp": 100.0, "hz": 50.0},
    "drift": {"to": "high", "reach": 0.9},
}


@dataclass
class SensorFault:
    """One fault on one channel of one stream, from start_s to end_s (device seconds)."""

    kind: str
    channel: int
    start_s: float
    end_s: float
    stream: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    #: spike times (device seconds), drawn when the schedule is built
    times_s: list[float] = field(default_factory=list)
    _held: int | None = None
    _rng: np.random.Generator | None = None

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "fault",
            "kind": self.kind,
            "stream": self.stream,
            "channel": self.channel,
            "start_s": self.start_s,
            "end_s": self.end_s,
        }
        out.update(self.params)
        if self.kind == "spikes":
            out["times_s"] = [round(t, 6) for t in self.times_s]
        return out


def _fault_channel(opts: dict[str, str], text: str) -> int:
    """The fault's channel index (from 0) from ``channel=N`` (from 1, as the
    labels emg1.. and every other channel option count) or the former
    ``ch=N`` (from 0), which still works with a deprecation warning."""
    if "channel" in opts and "ch" in opts:
        raise UsageError(f"fault {text!r} gives its channel twice (channel= and ch=)")
    if "ch" in opts:
        index = int(opts.pop("ch"))
        if index < 0:
            raise UsageError(f"fault {text!r}: ch= counts from 0; give 0 or above")
        warnings.warn(
            f"fault option ch={index} counts from 0 and is deprecated: write channel={index + 1} "
            "(channels count from 1, as the labels emg1.. do)",
            FutureWarning,
            stacklevel=4,
        )
        return index
    number = int(opts.pop("channel", "1"))
    if number < 1:
        raise UsageError(f"fault {text!r}: channel= counts from 1, as the labels emg1.. do; give 1 or above")
    return number - 1


def parse_fault(text: str) -> SensorFault:
    """``KIND:channel=3,start=2,end=4[,stream=0][,param=value...]`` -> SensorFault.

    ``channel`` counts from 1 (``channel=3`` is the channel labelled emg3);
    :attr:`SensorFault.channel` is the array index, from 0.
    """
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise UsageError(f"unknown sensor fault {kind!r}: use one of {', '.join(KINDS)}")
    opts: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise UsageError(f"fault option {item!r} in {text!r} must be key=value")
        opts[key.strip()] = value.strip()
    try:
        channel = _fault_channel(opts, text)
        start = float(opts.pop("start", "0"))
        end = float(opts.pop("end")) if "end" in opts else start + float(opts.pop("dur", "1"))
        stream = int(opts.pop("stream", "0"))
        params: dict[str, Any] = dict(DEFAULTS[kind])
        for key, value in opts.items():
            if key not in params:
                raise UsageError(
                    f"fault {kind} has no option {key!r} "
                    f"(options: channel, stream, start, end, dur, {', '.join(params)})"
                )
            params[key] = value if isinstance(params[key], str) else float(value)
    except ValueError as exc:
        raise UsageError(f"bad number in fault {text!r}: {exc}") from None
    numbers = [start, end, *(v for v in params.values() if isinstance(v, float))]
    if not all(math.isfinite(v) for v in numbers):  # (nan passed every check below, and did nothing)
        raise UsageError(f"fault {text!r}: its numbers must be finite")
    if end <= start:
        raise UsageError(f"fault {text!r} ends before it starts")
    if kind == "liftoff" and params["mode"] not in ("flat", "rail"):
        raise UsageError("liftoff mode must be flat or rail")
    if kind == "mains":
        try:  # the signal's mains_hz rule: the detector knows no other hum
            check_mains_hz(params["hz"])
        except ValueError as exc:
            raise UsageError(f"fault {text!r}: {exc}") from None
    if kind == "drift":
        if params["to"] not in ("high", "low"):
            raise UsageError("drift to must be high or low")
        if not 0.0 < params["reach"] <= 1.0:
            raise UsageError("drift reach must be above 0 and at most 1 (the rail)")
    return SensorFault(kind, channel, start, end, stream, params)


def random_faults(n: int, seed: int, streams: list[StreamProfile], duration_s: float) -> list[SensorFault]:
    """n faults of random kinds, channels and times on the EMG stream(s)."""
    rng = np.random.default_rng([seed, 0xFA17])
    emg = [s for s in streams if s.kind == "emg"] or list(streams)
    out = []
    for _ in range(n):
        s = emg[int(rng.integers(len(emg)))]
        kind = RANDOM_KINDS[int(rng.integers(len(RANDOM_KINDS)))]
        dur = float(rng.uniform(0.3, 2.0))
        start = float(rng.uniform(0.5, max(0.6, duration_s - dur)))
        out.append(
            SensorFault(
                kind,
                int(rng.integers(s.channels)),
                round(start, 3),
                round(start + dur, 3),
                s.id,
                dict(DEFAULTS[kind]),
            )
        )
    return out


class StreamFaults:
    """The faults of one stream, applied to its chunks."""

    def __init__(self, faults: list[SensorFault], stream: StreamProfile, seed: int) -> None:
        self.stream = stream
        self.faults = [f for f in faults if f.stream == stream.id]
        for i, f in enumerate(self.faults):
            if not 0 <= f.channel < stream.channels:
                raise UsageError(
                    f"fault {f.kind} on channel {f.channel + 1}: stream {stream.id} has channels 1..{stream.channels}"
                )
            f._rng = np.random.default_rng([seed, 0xF0, stream.id, i])
            if f.kind == "spikes" and not f.times_s:
                count = max(1, int(round(f.params["rate"] * (f.end_s - f.start_s))))
                f.times_s = sorted(float(t) for t in f._rng.uniform(f.start_s, f.end_s, count))

    def _rows(self, f: SensorFault, t: np.ndarray) -> tuple[int, int]:
        """Rows of a chunk with sample times t (seconds) inside the fault."""
        return int(np.searchsorted(t, f.start_s - 1e-9)), int(np.searchsorted(t, f.end_s - 1e-9))

    def apply_physical(self, values: np.ndarray, t: np.ndarray) -> None:
        """Additive faults (spikes, motion, noise, mains, drift) on physical values, in place."""
        rate = self.stream.rate_hz
        for f in self.faults:
            a, b = self._rows(f, t)
            if a >= b:
                continue
            c = f.channel
            tw = t[a:b]
            if f.kind == "spikes":
                width_s = max(1, int(round(f.params["width_s"] * rate))) / rate
                for ts in f.times_s:
                    # triangular pulse from the first sample at or after ts
                    age = tw - ts
                    hit = (age > -1e-9) & (age < width_s - 1e-9)
                    if hit.any():
                        values[a:b, c][hit] += f.params["amp"] * (1.0 - np.maximum(age[hit], 0) / width_s)
            elif f.kind == "motion":
                span = f.end_s - f.start_s
                env = np.sin(np.pi * (tw - f.start_s) / span) ** 2
                values[a:b, c] += f.params["amp"] * env * np.sin(2 * np.pi * f.params["hz"] * (tw - f.start_s))
            elif f.kind == "noise":
                assert f._rng is not None
                values[a:b, c] += f.params["amp"] * f._rng.standard_normal(b - a)
            elif f.kind == "mains":
                hum = f.params["amp"] * np.sqrt(2.0) * np.sin(2 * np.pi * f.params["hz"] * tw)
                values[a:b, c] += hum * self._fade(f, tw, 1.0 / f.params["hz"])
            elif f.kind == "drift":
                values[a:b, c] += (
                    f.params["reach"] * self.rail_distance(f.params["to"]) * (tw - f.start_s) / (f.end_s - f.start_s)
                )

    @staticmethod
    def _fade(f: SensorFault, tw: np.ndarray, ramp_s: float) -> np.ndarray:
        """The fault's envelope at times tw: up from 0 over ramp_s after its
        start and down to 0 over ramp_s before its end (raised cosines; over
        half the fault each when it is shorter than two ramps)."""
        ramp = min(ramp_s, 0.5 * (f.end_s - f.start_s))
        if ramp <= 0:
            return np.ones_like(tw)
        edge = np.clip(np.minimum(tw - f.start_s, f.end_s - tw) / ramp, 0.0, 1.0)
        return 0.5 - 0.5 * np.cos(np.pi * edge)

    def rail_distance(self, to: str) -> float:
        """Signed distance in physical units from the zero code to a rail."""
        lo, hi = self.stream.code_range
        return ((hi if to == "high" else lo) - self.stream.zero) * self.stream.scale

    def apply_codes(self, codes: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Code faults (saturation, stuck, then liftoff over both) in place;
        returns the per-row lead-off mask (uint64, bit i = channel i)."""
        lo, hi = self.stream.code_range
        zero = self.stream.zero
        leadoff = np.zeros(codes.shape[0], dtype=np.uint64)
        order = {"saturation": 0, "stuck": 1, "liftoff": 2}
        for f in sorted((f for f in self.faults if f.kind in order), key=lambda f: order[f.kind]):
            a, b = self._rows(f, t)
            if a >= b:
                continue
            c = f.channel
            if f.kind == "saturation":
                codes[a:b, c] = np.where(codes[a:b, c] >= zero, hi, lo)
            elif f.kind == "stuck":
                if f._held is None:
                    f._held = int(codes[a, c])
                codes[a:b, c] = f._held
            else:
                codes[a:b, c] = hi if f.params["mode"] == "rail" else zero
                leadoff[a:b] |= np.uint64(1 << c)
        return leadoff
