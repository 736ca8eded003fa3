"""ReplaySchedule: a recording's bytes as they arrived, in order, each read
with the time (relative to the first) at which to hand it out again.

Used by the replay:// URL handler and ``sensorio replay``. Each piece is
one port read of the original capture, so a replay at speed 1 delivers the
same bytes in the same bursts; a disconnect or damaged region comes as a
gap, which the capture turns into the same discontinuity live capture made
(a DATA record kept though it failed its CRC comes as its bytes: the
capture's frame checks drop what the damage hit). The recording's markers
come at their place between the bytes, for a capture to hand on (a copy
made through replay:// keeps them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import DISCONTINUITY_EVENTS, lost_bytes
from .reader import Damage, DataChunk, Event, RecordingReader


@dataclass(frozen=True)
class Piece:
    at_s: float  # when to deliver, seconds after the replay started (already divided by speed)
    data: bytes
    gap_lost: int | None = None  # not None: a gap (that many bytes lost) comes BEFORE data
    #: the recording's markers (each an event's JSON fields but its kind and
    #: time) that come after the gap and BEFORE data, in their order
    markers: tuple[dict[str, Any], ...] = ()


#: replay speeds outside [MIN_SPEED, MAX_SPEED] (other than 0 = as fast as possible)
#: would wait for centuries or make every time step round to nothing
MIN_SPEED = 1e-3
MAX_SPEED = 1e6


def parse_speed(text: str | float) -> float:
    """'1', '2.5', '0', 'max' or 'fast'; 0 means as fast as possible. A
    factor must lie in [MIN_SPEED, MAX_SPEED]."""
    if isinstance(text, str) and text.strip().lower() in ("max", "fast", "inf"):
        return 0.0
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"speed must be a number or 'max', not {text!r}") from None
    if speed != 0 and not MIN_SPEED <= speed <= MAX_SPEED:
        raise ValueError(
            f"speed must be 0 or 'max' (as fast as possible) or between {MIN_SPEED:g} and {MAX_SPEED:g}, not {text}"
        )
    return speed


class ReplaySchedule:
    def __init__(self, path: str | os.PathLike[str], speed: float = 1.0) -> None:
        self.reader = RecordingReader(path)
        self.speed = speed

    def close(self) -> None:
        self.reader.close()

    def __iter__(self) -> Iterator[Piece]:
        first: int | None = None
        gap: int | None = None
        markers: list[dict[str, Any]] = []
        last_at = 0.0
        for item in self.reader.items():
            if isinstance(item, Damage) or (isinstance(item, Event) and item.kind in DISCONTINUITY_EVENTS):
                if markers:  # the markers came before this gap: they go first
                    yield Piece(last_at, b"", gap, tuple(markers))
                    gap, markers = None, []
                gap = (gap or 0) + (item.length if isinstance(item, Damage) else lost_bytes(item))
            elif isinstance(item, Event) and item.kind == "marker":
                markers.append({k: v for k, v in item.detail.items() if k not in ("kind", "t_ns")})
            elif isinstance(item, DataChunk):
                start = 0
                for end, t_ns in item.reads:
                    if first is None:
                        first = t_ns
                    if self.speed > 0:
                        # never earlier than the previous piece (host clock steps)
                        last_at = max(last_at, (t_ns - first) * 1e-9 / self.speed)
                    yield Piece(last_at, item.raw[start:end], gap, tuple(markers))
                    gap, markers = None, []
                    start = end
        if gap is not None or markers:
            yield Piece(last_at, b"", gap, tuple(markers))
