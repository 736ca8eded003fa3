"""Finding a port again after it went away, with backoff and no busy wait."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import serial

from ..errors import SensorioError
from .ports import PortInfo, find_device, is_url, port_info


class Reconnector:
    """Reopens what ``open_port(path)`` opened first: a USB device by its
    VID/PID/serial number (its path may change on replug), anything else
    (pseudo-terminals, symlinks, URLs) by the same name."""

    def __init__(
        self,
        port: str,
        open_port: Callable[[str], serial.SerialBase],
        first_delay: float = 0.05,
        max_delay: float = 0.5,
    ) -> None:
        self.port = port
        self._open = open_port
        self.first_delay = first_delay
        self.max_delay = max_delay
        info: PortInfo | None = None if is_url(port) else port_info(port)
        self.identity = (
            (info.vid, info.pid, info.serial_number) if info and info.vid is not None and info.pid is not None else None
        )

    def locate(self) -> str | None:
        if self.identity is not None:
            return find_device(*self.identity)
        if is_url(self.port) or os.path.exists(self.port):
            return self.port
        return None

    def wait(self, stop: threading.Event) -> serial.SerialBase | None:
        """Block (sleeping, not spinning) until the device is back and open,
        or until stop is set (then None)."""
        delay = self.first_delay
        while not stop.wait(delay):
            delay = min(delay * 2, self.max_delay)
            path = self.locate()
            if path is None:
                continue
            try:
                return self._open(path)
            except SensorioError:
                continue  # present but not ready yet (permissions settling, still held)
        return None
