"""Live capture: ``open(port_or_url, format="sio", ...)`` returns a Stream
(reader thread, ring, parser, device link, clock fit, optional recording)."""

from __future__ import annotations

from .clock import ClockFit, DeviceClock
from .ports import PortInfo, list_ports
from .reader import StreamEvent
from .stream import Stream, open

__all__ = ["ClockFit", "DeviceClock", "PortInfo", "Stream", "StreamEvent", "list_ports", "open"]
