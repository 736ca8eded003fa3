"""The device emulator: virtual SIO-1, Cyton and ASCII devices with realistic
EMG, sensor faults and link faults, served on pseudo-terminals (``PtyServer``,
``sensorio emulate``) or as ``sim://`` pyserial URLs, with a JSON-lines
ground truth of everything sent and injected (``Truth`` / ``TruthLog``).

The names below are imported on first use, so that importing a light part
(``sensorio.emulator.settings``, for the command line's flags) does not
load the signal generators and scipy."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import EmulatorConfig, config_from_options
    from .engine import Emulator, render
    from .truth import Truth, TruthLog

_WHERE = {
    "Emulator": ".engine",
    "render": ".engine",
    "EmulatorConfig": ".config",
    "config_from_options": ".config",
    "Truth": ".truth",
    "TruthLog": ".truth",
}

__all__ = ["Emulator", "EmulatorConfig", "Truth", "TruthLog", "config_from_options", "render"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
