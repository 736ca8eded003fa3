"""Link faults between the device and the host, applied to the device's
frames on their way out.

Kinds (``KIND:key=value,...``; times are device seconds):
- ``drop:at=S[,count=N][,stream=I]`` or ``drop:rate=P[,stream=I]``: frames
  vanish (a scheduled fault hits stream 0 unless ``stream`` is given, a
  rate-based one every stream);
- ``bitflip:at=S[,count=N]`` or ``bitflip:rate=P``: one bit flipped in a
  frame (where the format's framing survives it, so exactly that frame is hit);
- ``garbage:at=S[,bytes=N]``: N noise bytes before the next frame (never a
  frame delimiter or start byte, so they spoil at most that one frame);
- ``stall:at=S,dur=D``: nothing is delivered for D seconds, then all at once;
- ``burst:at=S,dur=D[,period=P]``: delivery in bursts every P seconds;
- ``unplug:at=S,dur=D``: the port disappears for D seconds (the pseudo-terminal
  closes and comes back at the same path); frames of that time are lost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UsageError

KINDS = ("drop", "bitflip", "garbage", "stall", "burst", "unplug")
_KEYS = {"at", "count", "stream", "rate", "bytes", "dur", "period"}


@dataclass
class Frame:
    """One frame as the device produced it."""

    stream: int
    seq: int  # unwrapped
    sample0: int
    n_samp: int
    t_us: int
    #: device time when the frame is complete and can be sent
    t_end: float
    data: bytes
    codes: np.ndarray | None = None


@dataclass
class FrameBatch:
    """Consecutive frames of one stream, as the device produced them in one
    step: one object for many frames (fast mode), with what a Frame says
    about each of them (frame i: seq0 + i, sample0 + i * n_samp)."""

    stream: int
    seq0: int  # unwrapped
    sample0: int
    n_samp: int
    t_us: list[int]
    #: wire bytes of each frame (their data, joined, is the Outgoing's)
    sizes: list[int]
    #: the samples, n_frames * n_samp rows (truth codes), or None
    codes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.t_us)

    def keys(self) -> list[list[int]]:
        """[stream, seq] of every frame, as the truth names frames."""
        return [[self.stream, self.seq0 + i] for i in range(len(self.t_us))]

    def split(self, k: int) -> tuple[FrameBatch, FrameBatch]:
        """The first k frames, and the rest."""
        rows = k * self.n_samp
        codes = self.codes
        first = FrameBatch(
            self.stream,
            self.seq0,
            self.sample0,
            self.n_samp,
            self.t_us[:k],
            self.sizes[:k],
            codes[:rows] if codes is not None else None,
        )
        rest = FrameBatch(
            self.stream,
            self.seq0 + k,
            self.sample0 + rows,
            self.n_samp,
            self.t_us[k:],
            self.sizes[k:],
            codes[rows:] if codes is not None else None,
        )
        return first, rest


@dataclass
class Outgoing:
    """Bytes due for delivery at device time ``due``: a frame, a batch of
    frames (``batch``: fast mode), a reply, noise, or a port event
    (``control`` = "unplug" / "replug")."""

    due: float
    data: bytes = b""
    frame: Frame | None = None
    control: str = ""
    batch: FrameBatch | None = None

    def frame_keys(self) -> list[list[int]]:
        """[stream, seq] of the frames these bytes carry (none for a reply or noise)."""
        if self.batch is not None:
            return self.batch.keys()
        return [[self.frame.stream, self.frame.seq]] if self.frame is not None else []

    def split(self, nbytes: int) -> tuple[Outgoing | None, Outgoing]:
        """A batch's whole frames within its first nbytes (None if none), and the rest."""
        assert self.batch is not None
        k = int(np.searchsorted(np.cumsum(self.batch.sizes), nbytes, side="right"))
        if k == 0:
            return None, self
        first, rest = self.batch.split(k)
        cut = sum(first.sizes)
        return Outgoing(self.due, self.data[:cut], batch=first), Outgoing(self.due, self.data[cut:], batch=rest)

    def pieces(self) -> list[tuple[list[int] | None, int]]:
        """(frame key or None, bytes) for each frame in these bytes, in order."""
        if self.batch is not None:
            b = self.batch
            return [([b.stream, b.seq0 + i], n) for i, n in enumerate(b.sizes)]
        key = [self.frame.stream, self.frame.seq] if self.frame is not None else None
        return [(key, len(self.data))]


def tail_frames(items: Iterable[Outgoing], nbytes: int) -> list[list[int]]:
    """[stream, seq] of the frames with bytes among the last ``nbytes`` of
    ``items`` (bytes in the order they went out), oldest first: the frames
    that bytes left unread at the end of a port's buffer belong to."""
    frames: list[list[int]] = []
    left = nbytes
    for item in reversed(list(items)):
        if left <= 0:
            break
        for key, n in reversed(item.pieces()):
            if left <= 0:
                break
            if key is not None:
                frames.append(key)
            left -= n
    return frames[::-1]


@dataclass
class LinkFault:
    kind: str
    at: float = 0.0
    dur: float = 0.0
    count: int = 1
    stream: int | None = None
    rate: float = 0.0
    n_bytes: int = 16
    period: float = 0.05
    touched: list[list[int]] = field(default_factory=list)
    remaining: int = 0
    done: bool = False

    @property
    def windowed(self) -> bool:
        return self.kind in ("stall", "burst", "unplug")

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "link", "kind": self.kind}
        if self.rate:
            out["rate"] = self.rate
        else:
            out["at_s"] = self.at
        if self.windowed:
            out["end_s"] = self.at + self.dur
        if self.kind == "burst":
            out["period_s"] = self.period
        if self.kind == "garbage":
            out["bytes"] = self.n_bytes
        out["frames"] = self.touched
        return out


def parse_link_fault(text: str) -> LinkFault:
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise UsageError(f"unknown link fault {kind!r}: use one of {', '.join(KINDS)}")
    opts: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in _KEYS:
            raise UsageError(
                f"link fault option {item!r} in {text!r}: use key=value with keys {', '.join(sorted(_KEYS))}"
            )
        opts[key] = value.strip()
    try:
        f = LinkFault(
            kind,
            at=float(opts.get("at", 0)),
            dur=float(opts.get("dur", 0.5)),
            count=int(opts.get("count", 1)),
            stream=int(opts["stream"]) if "stream" in opts else None,
            rate=float(opts.get("rate", 0)),
            n_bytes=int(opts.get("bytes", 16)),
            period=float(opts.get("period", 0.05)),
        )
    except ValueError as exc:
        raise UsageError(f"bad number in link fault {text!r}: {exc}") from None
    if not all(math.isfinite(v) for v in (f.at, f.dur, f.period, f.rate)) or f.at < 0:
        raise UsageError(f"link fault {text!r}: times must be finite numbers, at >= 0")
    if f.rate and kind not in ("drop", "bitflip"):
        raise UsageError(f"rate= is for drop and bitflip, not {kind}")
    if not 0 <= f.rate < 1:
        raise UsageError("a link fault rate is a probability per frame, 0 <= rate < 1")
    if f.windowed and f.dur <= 0:
        raise UsageError(f"{kind} needs dur > 0")
    if f.period <= 0 or f.count < 1 or f.n_bytes < 1:
        raise UsageError(f"link fault {text!r}: period, count and bytes must be positive")
    if f.stream is None and not f.rate:
        f.stream = 0  # a scheduled fault hits the primary stream unless told otherwise
    f.remaining = f.count
    return f


class LinkLayer:
    """Applies link faults to frames in the order the device produces them.

    ``corrupt(data, rng) -> (data, offset, bit)`` and ``garbage_exclude`` come
    from the device format, so that a flip or noise spoils exactly one frame.
    """

    def __init__(
        self,
        faults: list[LinkFault],
        seed: int,
        corrupt: Callable[[bytes, np.random.Generator], tuple[bytes, int, int]],
        garbage_exclude: bytes,
        record: Callable[[dict[str, Any]], None],
    ) -> None:
        # losses first: a frame that never leaves is not also delayed or corrupted
        order = {"unplug": 0, "drop": 1, "stall": 2, "burst": 2, "bitflip": 3, "garbage": 4}
        self.faults = sorted(faults, key=lambda f: order[f.kind])
        self._rng = np.random.default_rng([seed, 0x11C])
        self._corrupt = corrupt
        self._exclude = np.frombuffer(garbage_exclude, dtype=np.uint8)
        self._record = record

    def _finish(self, f: LinkFault) -> None:
        if not f.done:
            f.done = True
            self._record(f.record())

    def process(self, frames: list[Frame]) -> list[Outgoing]:
        out: list[Outgoing] = []
        for fr in frames:
            key = [fr.stream, fr.seq]
            due = fr.t_end
            data = fr.data
            dropped = False
            for f in self.faults:
                if f.done or (f.stream is not None and f.stream != fr.stream):
                    continue
                if f.windowed:
                    if fr.t_end >= f.at + f.dur:
                        self._finish(f)
                        continue
                    if fr.t_end < f.at or (dropped and f.kind != "unplug"):
                        continue
                    f.touched.append(key)
                    if f.kind == "unplug":
                        dropped = True
                    elif f.kind == "stall":
                        due = max(due, f.at + f.dur)
                    else:  # burst: hold until the next burst boundary
                        due = max(due, f.at + np.ceil((fr.t_end - f.at) / f.period) * f.period)
                    continue
                if f.rate:
                    hit = self._rng.random() < f.rate
                else:
                    hit = fr.t_end >= f.at and f.remaining > 0
                if not hit or dropped:
                    continue
                if f.kind == "drop":
                    dropped = True
                elif f.kind == "bitflip":
                    data, offset, bit = self._corrupt(data, self._rng)
                    key = key + [offset, bit]
                elif f.kind == "garbage":
                    out.append(Outgoing(due, self._garbage(f.n_bytes)))
                f.touched.append(key[:2] if f.kind != "bitflip" else key)
                if not f.rate:
                    f.remaining -= 1
                    if f.remaining == 0:
                        self._finish(f)
            if not dropped:
                out.append(Outgoing(due, data, fr))
        return out

    def port_events(self) -> list[tuple[float, str]]:
        """(device time, "unplug"/"replug") of every unplug window."""
        events = []
        for f in self.faults:
            if f.kind == "unplug":
                events += [(f.at, "unplug"), (f.at + f.dur, "replug")]
        return sorted(events)

    def close(self) -> None:
        """Record the faults still open (rate-based ones, unfinished windows)."""
        for f in self.faults:
            self._finish(f)

    def _garbage(self, n: int) -> bytes:
        alphabet = np.setdiff1d(np.arange(256, dtype=np.uint8), self._exclude)
        return alphabet[self._rng.integers(0, alphabet.size, n)].tobytes()
