"""Wire formats the frame engine understands, and how a name or a spec file
selects one. Each format configures a C parser; decoding is always in C.

``resolve()`` accepts ``"sio"``, ``"cyton"``, ``"ascii"``, the name of a
board spec shipped in ``sensorio/formats/boards/``, a path to a ``.toml``
spec, a spec as a dict, or a Format. Every Format has ``descriptor()``: an
INFO-style dict (PROTOCOL.md) describing its streams, or None for SIO-1,
whose devices describe themselves.
"""

from __future__ import annotations

from pathlib import Path

from .._binding import ffi
from ..errors import FormatError
from .base import (
    ASCII,
    BOARDS_DIR,
    CYTON,
    ENC_F32,
    ENC_INT,
    SIO,
    AsciiFormat,
    CytonFormat,
    Format,
    SpecFormat,
    stream_info,
)
from .spec import compile_spec, load_spec

_BUILTIN: dict[str, Format] = {"sio": SIO, "sio1": SIO, "cyton": CYTON, "ascii": ASCII}


def board_names() -> list[str]:
    """Board specs shipped with sensorio (usable by name with resolve())."""
    return sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))


def format_names() -> list[str]:
    """Names accepted by --format, besides a path to a .toml spec."""
    return sorted(set(_BUILTIN) | set(board_names()))


def default_start_command(format: str | Format) -> str | None:
    """What a device of this format needs to hear before it streams: START
    for SIO-1 (PROTOCOL.md; one already streaming just answers OK), "b" for
    an OpenBCI Cyton, a spec's ``start_command`` (the shipped openbci-cyton's
    "b"); None for formats that stream on their own, or a format that does
    not resolve (opening it says why)."""
    try:
        return resolve(format).start_command
    except (FormatError, OSError):
        return None


def resolve(spec: str | Format | dict | Path) -> Format:
    """Turn a format name, a spec path or dict, or a Format into a Format."""
    if isinstance(spec, Format):
        return spec
    if isinstance(spec, dict):
        return compile_spec(spec, source="spec")
    if isinstance(spec, str) and spec.lower() in _BUILTIN:
        return _BUILTIN[spec.lower()]
    if isinstance(spec, str) and spec in board_names():
        return load_spec(BOARDS_DIR / f"{spec}.toml")
    if isinstance(spec, Path) or (isinstance(spec, str) and spec.lower().endswith(".toml")):
        return load_spec(Path(spec))
    raise FormatError(f"unknown format {spec!r}: use one of {', '.join(format_names())}, or a path to a .toml spec")


__all__ = [
    "default_start_command",
    "ASCII",
    "CYTON",
    "ENC_F32",
    "ENC_INT",
    "SIO",
    "AsciiFormat",
    "CytonFormat",
    "Format",
    "SpecFormat",
    "BOARDS_DIR",
    "board_names",
    "ffi",
    "format_names",
    "resolve",
    "stream_info",
]
