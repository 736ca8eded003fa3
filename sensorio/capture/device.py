"""SIO-1 device conversation: commands answered by REPLY frames, the INFO
descriptor requested and kept, LOG lines collected.

Messages reach this object through the consumer's parser, so a command
waits by pumping the parser (``pump``) until the reply shows up or the
timeout passes; Blocks decoded meanwhile are queued for the user, not lost.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..blocks import Message
from ..errors import SensorioError

MAX_COMMAND = 64


#: the fields of a stream in INFO that fix the shape of its data (not the
#: rate: RATE changes it on the same device)
_STREAM_SHAPE = ("id", "channels", "enc", "unit")


def device_identity(info: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """What tells one device from another in its INFO: the serial number,
    the model, and each stream's layout (channels, encoding, unit). None
    without INFO. Two INFOs with the same identity are the same device,
    whose data can continue one recording."""
    if not isinstance(info, dict):
        return None
    streams = info.get("streams")
    layout = tuple(
        tuple(str(s.get(k)) for k in _STREAM_SHAPE) if isinstance(s, dict) else str(s)
        for s in (streams if isinstance(streams, list) else [])
    )
    return (str(info.get("serial")), str(info.get("device")), layout)


def describe_device(info: dict[str, Any] | None) -> str:
    """A device in a few words, for messages: model, serial and channels."""
    if not isinstance(info, dict):
        return "a device that did not describe itself"
    streams = info.get("streams")
    streams = streams if isinstance(streams, list) else []
    channels = "+".join(str(s.get("channels", "?")) for s in streams if isinstance(s, dict))
    return f"{info.get('device', '?')} serial {info.get('serial', '?')}" + (
        f", {channels} channels" if channels else ""
    )


class CommandRefused(SensorioError):
    """The device answered ERR."""


class CommandTimeout(SensorioError):
    """No reply within the timeout."""


class DeviceLink:
    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self.info: dict[str, Any] | None = None
        self.info_raw: str | None = None
        self.replies: deque[str] = deque(maxlen=256)
        self.logs: deque[str] = deque(maxlen=1000)
        self.on_info: Callable[[dict[str, Any]], None] | None = None

    def handle(self, messages: list[Message]) -> None:
        for m in messages:
            if m.kind == "reply":
                self.replies.append(m.text)
            elif m.kind == "log":
                self.logs.append(m.text)
            elif m.kind == "info":
                try:
                    info = json.loads(m.text)
                except ValueError:
                    self.logs.append(f"(unreadable INFO: {m.text[:80]!r})")
                    continue
                if isinstance(info, dict):
                    self.info, self.info_raw = info, m.text
                    if self.on_info is not None:
                        self.on_info(info)

    def command(self, text: str, timeout: float, pump: Callable[[float], None]) -> str:
        """Send one command line and return its reply ("OK ..."); an "ERR"
        reply or no reply within timeout raises SensorioError."""
        line = text.strip()
        if not line or len(line) + 1 > MAX_COMMAND or "\n" in line:
            raise SensorioError(f"command {text!r} is not one line of at most {MAX_COMMAND - 1} characters")
        self.replies.clear()
        self._write(line.encode("ascii", errors="replace") + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            if self.replies:
                reply = self.replies.popleft()
                if reply.startswith("ERR"):
                    raise CommandRefused(f"device refused {line!r}: {reply}")
                return reply
            left = deadline - time.monotonic()
            if left <= 0:
                raise CommandTimeout(
                    f"no reply to {line!r} within {timeout:g} s: is it an SIO-1 device, and the right baud rate?"
                )
            pump(min(left, 0.05))

    def stream_rates(self) -> dict[int, float]:
        """rate_hz per stream id from INFO."""
        out: dict[int, float] = {}
        streams = (self.info or {}).get("streams")
        if isinstance(streams, list):
            for s in streams:
                if isinstance(s, dict):
                    try:
                        out[int(s["id"])] = float(s["rate_hz"])
                    except (KeyError, TypeError, ValueError):
                        continue
        return out
