"""sensorio: acquire sensor data (EMG, prosthesis sensors) from serial devices.

The frame engine is C (csrc/), bound with cffi: feed bytes to a Parser, read
Blocks of raw codes per device stream, and check ``Parser.stats`` for every
byte and frame that was not accepted.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .blocks import Block, Message
from .capture import Stream, open
from .errors import FormatError, SensorioError
from .parser import Parser, Stats, concat_blocks
from .ring import Ring

# sensorio's URL schemes (sim://, replay://) open with plain
# serial.serial_for_url once sensorio is imported.
_URL_PACKAGE = "sensorio.urlhandler"


def _register_url_handlers() -> None:
    import serial

    from . import urlhandler  # noqa: F401 (tells the capture the files its ports use)

    if _URL_PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(_URL_PACKAGE)


_register_url_handlers()


def to_mne(recording: Any, **options: Any) -> Any:
    """A recording as an MNE-Python Raw (see sensorio.export.mne.to_mne)."""
    from .export.mne import to_mne as convert  # loads the analysis layers only when asked

    return convert(recording, **options)


__all__ = [
    "Block",
    "FormatError",
    "Message",
    "Parser",
    "Ring",
    "SensorioError",
    "Stats",
    "Stream",
    "__version__",
    "concat_blocks",
    "open",
    "to_mne",
]
