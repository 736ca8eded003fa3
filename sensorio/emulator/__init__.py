"""The device emulator: virtual SIO-1, Cyton and ASCII devices with realistic
EMG, sensor faults and link faults, served on pseudo-terminals (``PtyServer``,
``sensorio emulate``) or as ``sim://`` pyserial URLs, with a JSON-lines
ground truth of everything sent and injected (``Truth`` / ``TruthLog``)."""

from __future__ import annotations

from .config import EmulatorConfig, config_from_options
from .engine import Emulator, render
from .truth import Truth, TruthLog

__all__ = ["Emulator", "EmulatorConfig", "Truth", "TruthLog", "config_from_options", "render"]
