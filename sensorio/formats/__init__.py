"""Wire formats the frame engine understands, and how a name or a spec file
selects one. Each format configures a C parser; decoding is always in C."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._binding import ffi, lib
from ..errors import FormatError


@dataclass(frozen=True)
class Format:
    """A resolved format: its name and how to set up a C parser for it."""

    name: str
    c_id: int
    #: time unit of Block.frame_t_us for this format ("us" or "")
    time_unit: str = "us"
    #: the frame counter wraps at this value (0 = no counter)
    seq_modulus: int = 65536

    def init_parser(self, parser_ptr: Any) -> None:
        if lib.sio_parser_init(parser_ptr, self.c_id) != 0:
            raise FormatError(f"format {self.name!r}: the C core does not know it")


SIO = Format("sio", lib.SIO_FMT_SIO1)

_BUILTIN = {"sio": SIO, "sio1": SIO}


def format_names() -> list[str]:
    """Names accepted by --format, besides a path to a .toml spec."""
    return sorted(_BUILTIN)


def resolve(spec: str | Format | dict | Path) -> Format:
    """Turn ``"sio"``, a Format, or (later) a spec path/dict into a Format."""
    if isinstance(spec, Format):
        return spec
    if isinstance(spec, str) and spec.lower() in _BUILTIN:
        return _BUILTIN[spec.lower()]
    raise FormatError(
        f"unknown format {spec!r}: use one of {', '.join(format_names())}"
    )


__all__ = ["Format", "SIO", "format_names", "resolve", "ffi"]
