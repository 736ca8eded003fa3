"""replay://FILE?speed=S : a sensorio recording played back as a serial port.

``speed`` is 1 (real time, the default), any factor (2 = twice as fast), or
0 / max for as fast as possible. Reads deliver the recorded bytes in the
recorded bursts; writes are accepted and ignored (a recording cannot answer
commands). Besides the pyserial API the port offers two hooks that sensorio's
capture uses: ``sensorio_take_gap()`` (None, or the bytes lost at a recorded
disconnect or damage just before the next byte), ``sensorio_take_markers()``
(the recorded markers just before the next byte, after that gap) and
``sensorio_finished``.
"""

from __future__ import annotations

import time
import urllib.parse
from collections import deque
from collections.abc import Iterator
from typing import Any

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from ..errors import SensorioError
from ..recording.replay import Piece, ReplaySchedule, parse_speed
from . import replay_file, url_options


class Serial(SerialBase):
    """A pyserial port that plays a recording back (``replay://PATH?speed=...``)."""

    is_open: bool  # SerialBase's (pyserial has no type information)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._schedule: ReplaySchedule | None = None
        self._pieces: Iterator[Piece] | None = None
        self._next: Piece | None = None
        #: (gap before, markers before, bytes)
        self._segments: deque[tuple[int | None, tuple[dict[str, Any], ...], bytes]] = deque()
        self._t0 = 0.0
        self._exhausted = False
        self.path = ""
        self.speed = 1.0
        super().__init__(*args, **kwargs)

    # -- pyserial plumbing ----------------------------------------------------
    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        self.from_url(self._port)
        try:
            self._schedule = ReplaySchedule(self.path, self.speed)
        except SensorioError as exc:
            raise SerialException(str(exc)) from None
        self._pieces = iter(self._schedule)
        self._next = None
        self._segments.clear()
        self._exhausted = False
        self._t0 = time.monotonic()
        self.is_open = True

    def close(self) -> None:
        if self._schedule is not None:
            self._schedule.close()
            self._schedule = None
        self.is_open = False

    def from_url(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "replay":
            raise SerialException(f"expected replay://FILE[?speed=S], not {url!r}")
        path = replay_file(url)
        if not path:
            raise SerialException("replay:// needs a file: replay://FILE[?speed=S]")
        self.path = path
        for option, value in url_options(parts.query, "replay").items():
            if option == "speed":
                try:
                    self.speed = parse_speed(value)
                except ValueError as exc:
                    raise SerialException(f"replay:// {exc}") from None
            else:
                raise SerialException(f"replay:// does not know the option {option!r} (only speed)")

    def _reconfigure_port(self) -> None:
        pass  # baud, parity ... mean nothing for a recording

    def reset_input_buffer(self) -> None:
        pass  # dropping recorded bytes would break the replay's accounting

    def reset_output_buffer(self) -> None:
        pass

    def write(self, data: bytes) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        return len(data)

    # -- schedule -------------------------------------------------------------------
    def _advance(self) -> float | None:
        """Move due pieces into the buffer; seconds until the next is due
        (None when the recording is exhausted)."""
        now = time.monotonic() - self._t0
        while True:
            if self.speed == 0 and self._next is None and sum(len(d) for _, _, d in self._segments) >= 1 << 20:
                return 0.0  # enough buffered: a reader that takes less each time must not pile pieces up
            if self._next is None:
                if self._pieces is None:
                    return None
                self._next = next(self._pieces, None)
                if self._next is None:
                    self._pieces = None
                    return None
            if self._next.at_s > now:
                return self._next.at_s - now
            self._segments.append((self._next.gap_lost, self._next.markers, self._next.data))
            self._next = None

    def _ready_bytes(self) -> int:
        """Bytes available before the next gap or marker."""
        n = 0
        for i, (gap, markers, data) in enumerate(self._segments):
            if (gap is not None or markers) and i > 0:
                break
            if i == 0 and (gap is not None or markers):
                return 0  # the caller must take the gap and markers first
            n += len(data)
        return n

    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        self._advance()
        return self._ready_bytes()

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            wait = self._advance()
            if self._ready_bytes():
                break
            if self._segments and (self._segments[0][0] is not None or self._segments[0][1]):
                return b""  # a gap or a marker is next
            if wait is None:
                self._exhausted = not self._segments
                return b""
            left = wait if deadline is None else min(wait, deadline - time.monotonic())
            if left <= 0:
                return b""
            time.sleep(left)
        out = bytearray()
        while self._segments and len(out) < size:
            gap, markers, data = self._segments[0]
            if (gap is not None or markers) and out:
                break
            take = data[: size - len(out)]
            out += take
            if len(take) == len(data):
                self._segments.popleft()
            else:
                self._segments[0] = (None, (), data[len(take) :])
        return bytes(out)

    # -- sensorio hooks ---------------------------------------------------------------
    def sensorio_take_gap(self) -> int | None:
        if self._segments and self._segments[0][0] is not None:
            gap, markers, data = self._segments.popleft()
            if data or markers:
                self._segments.appendleft((None, markers, data))
            return gap
        return None

    def sensorio_take_markers(self) -> list[dict[str, Any]]:
        """The recorded markers due before the next byte (after a gap there,
        which sensorio_take_gap gives first), each its event's fields."""
        if self._segments and self._segments[0][0] is None and self._segments[0][1]:
            _, markers, data = self._segments.popleft()
            if data:
                self._segments.appendleft((None, (), data))
            return list(markers)
        return []

    @property
    def sensorio_finished(self) -> bool:
        return self._exhausted and not self._segments and self._next is None and self._pieces is None
