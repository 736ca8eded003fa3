"""Recordings: raw port bytes with host timestamps and events, crash-safe.

``RecordingWriter`` appends, ``RecordingReader`` reads (also damaged or cut
files), ``decode_recording`` runs the same Parser as live capture over the
recorded bytes, marking disconnects and damage as discontinuities exactly
where live capture marked them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ..blocks import Block, Message, ShapeChange, ShapeCheck
from ..errors import SensorioError
from ..parser import Parser
from .format import MAGIC, SUFFIX
from .reader import Damage, DataChunk, End, Event, ReadReport, RecordingReader
from .writer import RecordingWriter

#: event kinds after which the byte stream does not continue where it stopped
#: ("gap": a discontinuity that was itself replayed from a recording)
DISCONTINUITY_EVENTS = frozenset({"disconnect", "gap"})


def lost_bytes(event: Event) -> int:
    """Bytes known lost at a discontinuity event (the file is untrusted input)."""
    value = event.detail.get("lost_bytes", 0)
    return value if isinstance(value, int) and 0 <= value < 1 << 62 else 0


def feed_items(parser: Parser, items: Iterator[Any]) -> Iterator[tuple[Any, list[Block]]]:
    """Feed a recording's items to parser; yields (item, blocks decoded)."""
    for item in items:
        if isinstance(item, DataChunk):
            parser.feed(item.raw)
        elif isinstance(item, Event) and item.kind in DISCONTINUITY_EVENTS:
            parser.discontinuity(lost_bytes(item))
        elif isinstance(item, Damage):
            parser.discontinuity(item.length)
        yield item, parser.read()


def decode_recording(
    path: str | os.PathLike[str], format: str | None = None
) -> tuple[Parser, list[Block], list[Message], RecordingReader]:
    """Decode a whole recording with the format named in its header (or
    format). Raises ShapeChange if a stream's shape changes within the file."""
    reader = RecordingReader(path)
    parser = Parser(format or reader.header.get("format", "sio"))
    blocks: list[Block] = []
    shapes = ShapeCheck(str(path))
    try:
        for item, got in feed_items(parser, reader.items()):
            if got:
                shapes.check(got, _where(item, reader))
            blocks.extend(got)
    finally:
        reader.close()
    return parser, blocks, parser.read_messages(), reader


def _where(item: Any, reader: RecordingReader) -> str:
    """Where in a recording an item lies, for messages."""
    t_ns = getattr(item, "t_ns", None)
    at = f"in the record at byte {item.offset}"
    if isinstance(t_ns, int) and reader.header_t_ns:
        at += f", {(t_ns - reader.header_t_ns) * 1e-9:.1f} s into the recording"
    return at


def decode_any(
    path: str | os.PathLike[str], format: str | None = None, chunk: int = 1 << 20
) -> tuple[Parser, list[Block], list[Message], RecordingReader | None]:
    """Decode a recording (found by its magic) or a raw byte dump (format
    defaults to sio). The reader is None for a raw dump."""
    if RecordingReader.is_recording(path):
        return decode_recording(path, format)
    parser = Parser(format or "sio")
    blocks: list[Block] = []
    shapes = ShapeCheck(str(path))
    try:
        with open(path, "rb") as f:
            while data := f.read(chunk):
                parser.feed(data)
                got = parser.read()
                shapes.check(got, f"in the bytes before offset {f.tell()}")
                blocks.extend(got)
        parser.flush()  # the file ended: decide what waits for lookahead
        got = parser.read()
        shapes.check(got)
        blocks.extend(got)
    except FileNotFoundError:
        raise SensorioError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise SensorioError(f"{path} is a directory, not a byte dump or recording") from None
    except PermissionError:
        raise SensorioError(f"permission denied reading {path}") from None
    return parser, blocks, parser.read_messages(), None


__all__ = [
    "decode_any",
    "MAGIC",
    "SUFFIX",
    "DataChunk",
    "Damage",
    "End",
    "Event",
    "ReadReport",
    "RecordingReader",
    "RecordingWriter",
    "ShapeChange",
    "ShapeCheck",
    "decode_recording",
    "feed_items",
]
