"""Hand and wrist gestures for the emulated EMG: an emulated person who
performs a scripted or random sequence of gestures.

The electrodes sit in a ring around the forearm. Each muscle group (a
synergy) shows on the ring as a smooth bump centred at its angle, so
neighbouring electrodes see overlapping groups; a gesture is a fixed mix of
groups (``open`` is mostly the finger extensors, ``close`` the finger flexors
with some extensor co-contraction, ...), which gives every gesture its own
spatial pattern over the channels. The anatomy (where the groups are, how
the ring sits) comes from ``subject``; a session (``seed``) shifts the ring
a little and changes electrode gains a little, as re-donning a socket does.

Every repetition differs: its effort level is drawn in [0.6, 1] and every
channel's share varies by ``variability`` (log-normal); within a hold the
effort wavers slowly (``wobble``: relative amplitude of two sinusoids at
0.3-0.8 Hz and 1-2 Hz, drawn per repetition), as no one holds a contraction
perfectly steady. With ``fatigue`` the
EMG amplitude grows with the work done so far (at the same effort), up to
``1 + fatigue``. Gestures blend into each other over ``ramp_s``.

The sequence is ``script`` (``open:3,rest:2,...``: label and seconds), or
built from ``gestures``, ``reps``, ``hold_s`` and ``pause_s``: a pause (the
rest class), then every active gesture once per repetition, each followed by
a pause, in the listed order or (``order=random``) shuffled per repetition.
The sequence repeats (``loop``, default) or rests after its end. Every
segment goes to the ground truth as a ``gesture`` record when the device
first generates samples in it.

Options (``sim://gestures?...``, ``sensorio emulate --gestures ...``):
``gestures``, ``reps``, ``hold_s``, ``pause_s``, ``order``, ``script``,
``loop``, ``subject``, ``variability``, ``wobble``, ``fatigue``, ``ramp_s``.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UsageError
from .signals import ActivitySchedule

#: the class that means "no gesture"
REST = "rest"
#: classes used when none are named (6 classes: rest and five gestures)
DEFAULT_GESTURES = ("rest", "open", "close", "pronate", "supinate", "point")

#: muscle groups: (angle of their centre on the forearm ring in radians,
#: 0 = the middle of the flexor side; concentration of their bump)
SYNERGIES: dict[str, tuple[float, float]] = {
    "finger_flexors": (0.0, 3.0),
    "wrist_flexors": (-0.8, 3.5),
    "pronator": (0.9, 4.0),
    "thumb": (1.6, 5.0),
    "finger_extensors": (np.pi, 3.0),
    "wrist_extensors": (np.pi + 0.8, 3.5),
    "supinator": (np.pi - 0.9, 4.0),
    "index_extensor": (np.pi - 0.35, 7.0),
}

#: gestures as mixes of muscle groups (weights before normalisation)
GESTURE_MIX: dict[str, dict[str, float]] = {
    "rest": {},
    "open": {"finger_extensors": 1.0, "thumb": 0.35, "index_extensor": 0.3},
    "close": {"finger_flexors": 1.0, "wrist_flexors": 0.3, "finger_extensors": 0.25},
    "pronate": {"pronator": 1.0, "wrist_flexors": 0.3},
    "supinate": {"supinator": 1.0, "wrist_extensors": 0.3},
    "point": {"index_extensor": 1.0, "finger_flexors": 0.6},
    "flex": {"wrist_flexors": 1.0, "finger_flexors": 0.3},
    "extend": {"wrist_extensors": 1.0, "finger_extensors": 0.3},
    "pinch": {"thumb": 1.0, "finger_flexors": 0.4},
}

ORDERS = ("cycle", "random")


#: the longest session of gestures that makes sense: longer is a typo
MAX_SESSION_H = 24.0


@dataclass(frozen=True)
class GestureConfig:
    """What the emulated person does (see the module text)."""

    gestures: tuple[str, ...] = DEFAULT_GESTURES
    reps: int = 5
    hold_s: float = 3.0
    pause_s: float = 2.0
    order: str = "cycle"
    #: explicit sequence of (label, seconds); overrides gestures/reps/order
    script: tuple[tuple[str, float], ...] = ()
    loop: bool = True
    subject: int = 0
    variability: float = 0.15
    wobble: float = 0.1
    fatigue: float = 0.2
    ramp_s: float = 0.3

    def __post_init__(self) -> None:
        if not self.script and not [g for g in self.gestures if g != REST]:
            raise UsageError("gestures: name at least one gesture besides rest")
        if len(set(self.gestures)) != len(self.gestures):
            raise UsageError("gestures: a class is named twice")
        if self.reps < 1:
            raise UsageError("reps must be at least 1")
        if self.hold_s <= 0 or self.pause_s < 0:
            raise UsageError("hold_s must be positive and pause_s at least 0")
        if self.order not in ORDERS:
            raise UsageError(f"order {self.order!r}: use one of {', '.join(ORDERS)}")
        if not 0 <= self.variability <= 1 or not 0 <= self.fatigue <= 5:
            raise UsageError("variability must be in [0, 1] and fatigue in [0, 5]")
        if not 0 <= self.wobble < 1:
            raise UsageError("wobble must be in [0, 1)")
        if not 0 <= self.ramp_s <= 2:
            raise UsageError("ramp_s must be in [0, 2] s")
        for label, dur in self.script:
            if dur <= 0:
                raise UsageError(f"script: {label} lasts {dur} s; durations must be positive")
        if not self.script:
            # checked before the sequence is built: 1e8 repetitions took gigabytes first
            hours = self.reps * len(self.gestures) * (self.hold_s + self.pause_s) / 3600.0
            if hours > MAX_SESSION_H:
                raise UsageError(
                    f"reps, hold_s and pause_s make a session of {hours:.3g} hours: at most {MAX_SESSION_H:g}"
                )

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names, rest first, in order of first appearance."""
        names = [label for label, _ in self.script] if self.script else list(self.gestures)
        return tuple(dict.fromkeys([REST, *names]))

    def sequence(self, rng: np.random.Generator) -> list[tuple[str, float]]:
        """One pass of the sequence: (label, seconds) items."""
        if self.script:
            return list(self.script)
        active = [g for g in self.gestures if g != REST]
        out = [(REST, self.pause_s)] if self.pause_s > 0 else []
        for _ in range(self.reps):
            order = [active[i] for i in rng.permutation(len(active))] if self.order == "random" else active
            for g in order:
                out.append((g, self.hold_s))
                if self.pause_s > 0:
                    out.append((REST, self.pause_s))
        return out

    def duration_s(self) -> float:
        """Seconds of one pass of the sequence (the same for every pass)."""
        return float(sum(d for _, d in self.sequence(np.random.default_rng(0))))


#: option names (sim:// query, ``sensorio emulate`` flags with dashes)
OPTION_NAMES = (
    "gestures",
    "reps",
    "hold_s",
    "pause_s",
    "order",
    "script",
    "loop",
    "subject",
    "variability",
    "wobble",
    "fatigue",
    "ramp_s",
)


def parse_script(text: str) -> tuple[tuple[str, float], ...]:
    """``open:3,rest:2,close:3`` -> (("open", 3.0), ("rest", 2.0), ("close", 3.0))."""
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        label, colon, dur = item.partition(":")
        if not colon or not label.strip():
            raise UsageError(f"script item {item!r} must be LABEL:SECONDS")
        try:
            out.append((label.strip().lower(), float(dur)))
        except ValueError:
            raise UsageError(f"script item {item!r}: {dur!r} is not a number of seconds") from None
    if not out:
        raise UsageError("script is empty")
    return tuple(out)


def format_script(items: list[tuple[str, float]] | tuple[tuple[str, float], ...]) -> str:
    """The inverse of parse_script."""
    return ",".join(f"{label}:{dur:g}" for label, dur in items)


def gesture_config(options: Mapping[str, str]) -> GestureConfig:
    """A GestureConfig from option values as text (names as in OPTION_NAMES)."""
    kw: dict[str, Any] = {}
    for key, value in options.items():
        try:
            if key == "gestures":
                kw[key] = tuple(g.strip().lower() for g in value.split(",") if g.strip())
            elif key in ("reps", "subject"):
                kw[key] = int(value)
            elif key in ("hold_s", "pause_s", "variability", "wobble", "fatigue", "ramp_s"):
                kw[key] = float(value)
            elif key == "order":
                kw[key] = value.strip().lower()
            elif key == "script":
                kw[key] = parse_script(value)
            elif key == "loop":
                low = value.strip().lower()
                if low not in ("1", "0", "true", "false", "yes", "no", "on", "off", ""):
                    raise UsageError(f"loop={value!r} is not a yes/no value")
                kw[key] = low in ("1", "true", "yes", "on", "")
            else:
                raise UsageError(f"unknown gesture option {key!r}")
        except ValueError as exc:
            raise UsageError(f"gesture option {key}={value!r}: {exc}") from None
    return GestureConfig(**kw)


def _bump(angles: np.ndarray, centre: float, kappa: float) -> np.ndarray:
    return np.exp(kappa * (np.cos(angles - centre) - 1.0))


def gesture_patterns(
    classes: tuple[str, ...], n_channels: int, subject: int = 0, seed: int | None = None
) -> dict[str, np.ndarray]:
    """Each class's activation over the electrode ring (max 1; rest all 0).
    ``seed`` None: the subject's anatomy only; else a session of it (the ring
    shifted a little, electrode gains varied a little)."""
    anat = np.random.default_rng([subject, 0x6E57])
    rotation = float(anat.uniform(-np.pi / 8, np.pi / 8))
    gains = anat.uniform(0.6, 1.0, n_channels)
    if seed is not None:
        sess = np.random.default_rng([seed, 0x5E55])
        rotation += float(sess.normal(0.0, 0.04))
        gains = gains * sess.uniform(0.9, 1.1, n_channels)
    angles = 2 * np.pi * np.arange(n_channels) / n_channels + rotation
    out = {}
    for name in classes:
        mix = GESTURE_MIX.get(name)
        if mix is None:  # a gesture the table does not know: a mix drawn from its name
            r = np.random.default_rng([subject, zlib.crc32(name.encode())])
            groups = list(SYNERGIES)
            picks = r.choice(len(groups), 2, replace=False)
            mix = {groups[int(picks[0])]: 1.0, groups[int(picks[1])]: float(r.uniform(0.2, 0.6))}
        pattern = np.zeros(n_channels)
        for group, w in mix.items():
            centre, kappa = SYNERGIES[group]
            pattern += w * _bump(angles, centre, kappa)
        pattern *= gains
        out[name] = pattern / pattern.max() if pattern.max() > 0 else pattern
    return out


@dataclass
class _Segment:
    start: float
    end: float
    label: str
    rep: int
    level: float
    activation: np.ndarray = field(repr=False)
    work0: float = 0.0  # effort-seconds done before this segment (fatigue)
    #: the effort's slow wavering: two frequencies (Hz) and phases
    wobble_hz: tuple[float, float] = (0.0, 0.0)
    wobble_phase: tuple[float, float] = (0.0, 0.0)


class GestureSchedule(ActivitySchedule):
    """The gesture sequence in device time; drives the EMG channels' activation
    (``emg_activation``) and, for other streams, an overall effort level."""

    #: seconds over which fatigue builds up (at full effort)
    FATIGUE_TAU_S = 120.0

    def __init__(self, config: GestureConfig, seed: int, n_channels: int) -> None:
        self.config = config
        self._rng = np.random.default_rng([seed, 0x6E5, config.subject])
        self.classes = config.classes
        self.patterns = gesture_patterns(self.classes, n_channels, config.subject, seed)
        self._n_ch = n_channels
        self._segments: list[_Segment] = []
        self._pending: list[tuple[str, float]] = []
        self._passes = 0
        self._reps: dict[str, int] = {}
        self._records: list[dict[str, Any]] = []
        # arrays over the segments, rebuilt when segments are added
        self._starts = np.zeros(0)
        self._acts = np.zeros((0, n_channels))
        self._seg_levels = np.zeros(0)
        self._work0 = np.zeros(0)
        self._wobble_hz = np.zeros((0, 2))
        self._wobble_phase = np.zeros((0, 2))

    # -- the sequence ----------------------------------------------------------
    def _next_item(self) -> tuple[str, float]:
        if not self._pending:
            if self._passes and not self.config.loop:
                return (REST, float("inf"))
            self._pending = self.config.sequence(self._rng)
            self._passes += 1
        return self._pending.pop(0)

    def _extend(self, t_end: float) -> None:
        added = False
        while not self._segments or self._segments[-1].end <= t_end:
            label, dur = self._next_item()
            prev = self._segments[-1] if self._segments else None
            start = prev.end if prev else 0.0
            work0 = prev.work0 + prev.level * (prev.end - prev.start) if prev else 0.0
            rep = self._reps.get(label, 0)
            self._reps[label] = rep + 1
            hz, phase = (0.0, 0.0), (0.0, 0.0)
            if label == REST:
                level = 0.0
                act = np.zeros(self._n_ch)
            else:
                level = float(self._rng.uniform(0.6, 1.0))
                jitter = np.exp(self.config.variability * self._rng.standard_normal(self._n_ch))
                act = level * self.patterns[label] * jitter
                hz = (float(self._rng.uniform(0.3, 0.8)), float(self._rng.uniform(1.0, 2.0)))
                phase = (
                    float(self._rng.uniform(0, 2 * np.pi)),
                    float(self._rng.uniform(0, 2 * np.pi)),
                )
            seg = _Segment(start, start + dur, label, rep, level, act, work0, hz, phase)
            self._segments.append(seg)
            rec: dict[str, Any] = {
                "type": "gesture",
                "label": label,
                "class": self.classes.index(label),
                "start_s": round(start, 6),
                "end_s": None if not np.isfinite(seg.end) else round(seg.end, 6),
                "rep": rep,
                "level": round(level, 4),
                "ramp_s": self.config.ramp_s,
            }
            self._records.append(rec)
            added = True
        if added:
            self._starts = np.array([s.start for s in self._segments])
            self._acts = np.array([s.activation for s in self._segments])
            self._seg_levels = np.array([s.level for s in self._segments])
            self._work0 = np.array([s.work0 for s in self._segments])
            self._wobble_hz = np.array([s.wobble_hz for s in self._segments])
            self._wobble_phase = np.array([s.wobble_phase for s in self._segments])

    def take_records(self) -> list[dict[str, Any]]:
        """Ground-truth records of the segments generated since the last call."""
        out, self._records = self._records, []
        return out

    def segments(self, t_end: float) -> list[dict[str, Any]]:
        """(label, start_s, end_s, level) of every segment starting before t_end."""
        self._extend(t_end)
        return [
            {"label": s.label, "start_s": s.start, "end_s": s.end, "level": s.level, "rep": s.rep}
            for s in self._segments
            if s.start < t_end
        ]

    def label_at(self, t: np.ndarray) -> np.ndarray:
        """Class index (into ``classes``) of the segment at each time t."""
        t = np.asarray(t, dtype=float)
        if t.size == 0:
            return np.zeros(0, dtype=np.int64)
        self._extend(float(t.max()) + 1.0)
        i = np.searchsorted(self._starts, t, side="right") - 1
        idx = np.array([self.classes.index(s.label) for s in self._segments])
        return idx[np.maximum(i, 0)]

    # -- what the signals ask -------------------------------------------------------
    def _index_ramp(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._extend(float(t[-1]) + 1.0)
        i = np.maximum(np.searchsorted(self._starts, t, side="right") - 1, 0)
        if self.config.ramp_s > 0:
            frac = np.clip((t - self._starts[i]) / self.config.ramp_s, 0.0, 1.0)
        else:
            frac = np.ones_like(t)
        return i, 0.5 - 0.5 * np.cos(np.pi * frac)

    def level(self, t: np.ndarray) -> np.ndarray:
        """Overall effort 0..1 at times t (for force and position streams)."""
        if t.size == 0:
            return np.zeros(0)
        i, ramp = self._index_ramp(t)
        prev = np.where(i > 0, self._seg_levels[np.maximum(i - 1, 0)], 0.0)
        return prev * (1.0 - ramp) + self._seg_levels[i] * ramp * self.wobble_gain(t)

    def fatigue_gain(self, t: np.ndarray) -> np.ndarray:
        """EMG amplitude factor for the work done by time t (1 when fresh)."""
        if t.size == 0 or self.config.fatigue == 0:
            return np.ones(t.size)
        i, _ = self._index_ramp(t)
        work = self._work0[i] + self._seg_levels[i] * (t - self._starts[i])
        return 1.0 + self.config.fatigue * (1.0 - np.exp(-work / self.FATIGUE_TAU_S))

    def wobble_gain(self, t: np.ndarray) -> np.ndarray:
        """The effort's slow wavering within a hold at times t (1 = steady)."""
        if t.size == 0 or self.config.wobble == 0:
            return np.ones(t.size)
        i, _ = self._index_ramp(t)
        arg = 2 * np.pi * self._wobble_hz[i] * (t - self._starts[i])[:, None] + self._wobble_phase[i]
        return 1.0 + self.config.wobble * (0.6 * np.sin(arg[:, 0]) + 0.4 * np.sin(arg[:, 1]))

    def emg_activation(self, t: np.ndarray, weights: np.ndarray, first: int = 0) -> np.ndarray:
        """Activation of a stream's EMG channels at times t, (len(t),
        len(weights)): the gestures' own spatial patterns replace
        ``weights``, from the device's EMG channel ``first`` on (a rig of
        more than 64 channels is several streams of one pattern)."""
        cols = slice(first, first + len(weights))
        if t.size == 0:
            return np.zeros((0, len(weights)))
        i, ramp = self._index_ramp(t)
        acts = self._acts[:, cols]
        prev = np.where((i > 0)[:, None], acts[np.maximum(i - 1, 0)], 0.0)
        act = prev * (1.0 - ramp)[:, None] + acts[i] * (ramp * self.wobble_gain(t))[:, None]
        return act * self.fatigue_gain(t)[:, None]

    def periods(self, t_end: float) -> list[tuple[float, float, float]]:
        """(start_s, end_s, level) of each gesture (not rest) up to t_end."""
        return [(s["start_s"], s["end_s"], s["level"]) for s in self.segments(t_end) if s["label"] != REST]


__all__ = [
    "DEFAULT_GESTURES",
    "GESTURE_MIX",
    "GestureConfig",
    "GestureSchedule",
    "OPTION_NAMES",
    "REST",
    "SYNERGIES",
    "format_script",
    "gesture_config",
    "gesture_patterns",
    "parse_script",
]
