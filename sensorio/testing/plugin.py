"""pytest fixtures that give a test an emulated sensor device and its ground truth.

``sensorio_emulator(**options)`` serves a device on a pseudo-terminal and
returns an ``EmulatedDevice``: ``.port`` (the path to open), ``.truth`` (a
TruthLog of everything sent and injected so far), ``.unplugged``/``.replugs``
and ``.stop()``. ``sensorio_sim(profile, **options)`` opens a ``sim://``
pyserial port (``.truth`` on the port). Options are those of
``sensorio emulate`` (``format``, ``profile``, ``seed``, ``fault=[...]``,
``link=[...]``, ``fast``, ``autostart``, ``duration``...). Everything is
stopped at the end of the test, and an error in the emulator thread fails it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def _options(options: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in options.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        out[key] = ["1" if v is True else "0" if v is False else str(v) for v in values if v is not None]
    return out


class EmulatedDevice:
    """A running emulated device on a pseudo-terminal."""

    def __init__(self, options: dict[str, Any], truth_file: Path | None, link: Path | None) -> None:
        from ..emulator import Emulator, Truth, TruthLog, config_from_options
        from ..emulator.pty import PtyServer

        self._TruthLog = TruthLog
        self.config = config_from_options(_options(options))
        self.truth_file = truth_file
        self._truth = Truth(truth_file, keep=True)
        self.emulator = Emulator(self.config, self._truth)
        self.server = PtyServer(self.emulator, link=link).start()
        self._stopped = False

    @property
    def port(self) -> str:
        """Path to open (the stable symlink, which survives unplug/replug)."""
        return self.server.port

    @property
    def truth(self) -> Any:
        """sensorio.emulator.TruthLog of the records so far."""
        self.server.check()
        return self._TruthLog(list(self._truth.records))

    @property
    def replugs(self) -> int:
        return self.server.replugs

    def stop(self) -> Any:
        """Stop the device; returns the final TruthLog."""
        if not self._stopped:
            self._stopped = True
            self.server.stop()
            self._truth.close()
        return self._TruthLog(list(self._truth.records))


@pytest.fixture
def sensorio_emulator(tmp_path: Path) -> Iterator[Callable[..., EmulatedDevice]]:
    """Factory: ``dev = sensorio_emulator(format="sio", profile="emg8", ...)``."""
    if sys.platform == "win32":  # pragma: no cover
        pytest.skip("pseudo-terminals need a POSIX system")
    devices: list[EmulatedDevice] = []

    def make(**options: Any) -> EmulatedDevice:
        n = len(devices)
        dev = EmulatedDevice(options, tmp_path / f"emulator{n}.truth.jsonl", tmp_path / f"emulator{n}.tty")
        devices.append(dev)
        return dev

    yield make
    for dev in devices:
        dev.stop()


@pytest.fixture
def sensorio_sim() -> Iterator[Callable[..., Any]]:
    """Factory: ``port = sensorio_sim("emg8", fast=True, autostart=True)``, an
    open pyserial port on ``sim://``; ``port.truth`` is its ground truth."""
    import serial

    import sensorio  # noqa: F401 - registers sim://

    from . import sim_url

    ports: list[Any] = []

    def make(profile: str | None = None, *, timeout: float | None = 1.0, **options: Any) -> Any:
        port = serial.serial_for_url(sim_url(profile, **options), timeout=timeout)
        ports.append(port)
        return port

    yield make
    for port in ports:
        port.finish()
