"""Recordings: raw port bytes with host timestamps and events, crash-safe.

``RecordingWriter`` appends, ``RecordingReader`` reads (also damaged or cut
files), ``decode_recording`` runs the same Parser as live capture over the
recorded bytes, marking disconnects and damage as discontinuities exactly
where live capture marked them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import Any, BinaryIO

from ..blocks import Block, Message, ShapeChange, ShapeCheck
from ..descriptor import resolve_descriptor
from ..errors import SensorioError
from ..parser import Parser
from .format import MAGIC, SUFFIX
from .reader import (
    SNIFF_BYTES,
    Damage,
    DataChunk,
    End,
    Event,
    ReadReport,
    RecordingReader,
    RecordingWarning,
    require_regular_file,
)
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
    return _decode_reader(RecordingReader(path), format, str(path))


def _decode_reader(
    reader: RecordingReader, format: str | None, name: str
) -> tuple[Parser, list[Block], list[Message], RecordingReader]:
    blocks: list[Block] = []
    shapes = ShapeCheck(name)
    try:
        parser = Parser(reader.wire_format(format))
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
    path: str | os.PathLike[str],
    format: str | None = None,
    chunk: int = 1 << 20,
    *,
    stream_ok: bool = False,
) -> tuple[Parser, list[Block], list[Message], RecordingReader | None]:
    """Decode a recording (found by its magic) or a raw byte dump (format
    defaults to sio). The reader is None for a raw dump.

    The file is opened once. Unless ``stream_ok``, it must be a regular file
    (a pipe or FIFO raises SensorioError instead of blocking); with it, a pipe
    is read once, to its end: a raw dump decoded as it comes, a recording
    held in memory."""
    regular = True
    if stream_ok:
        try:
            regular = stat.S_ISREG(os.stat(path).st_mode)
        except OSError:
            pass  # open() below says what is wrong
    if regular:
        require_regular_file(path, "a byte dump or recording")
    parser: Parser | None = None
    blocks: list[Block] = []
    shapes = ShapeCheck(str(path))
    try:
        with open(path, "rb") as f:
            head = _read_full(f, SNIFF_BYTES)
            if RecordingReader.looks_like_recording(head):
                if regular:
                    reader = RecordingReader(path)
                else:
                    reader = RecordingReader.from_bytes(head + f.read(), str(path))
                return _decode_reader(reader, format, str(path))
            parser = Parser(format or "sio")
            data = head
            offset = 0  # counted, not f.tell(): a pipe cannot tell
            while data:
                parser.feed(data)
                offset += len(data)
                got = parser.read()
                shapes.check(got, f"in the bytes before offset {offset}")
                blocks.extend(got)
                data = f.read(chunk)
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


def source_descriptor(
    parser: Parser, messages: list[Message], header: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The device descriptor of decoded data (sensorio.descriptor.resolve_descriptor:
    the recording header's copy, else the first INFO, else the format's own)."""
    return resolve_descriptor(header, (m.text for m in messages if m.kind == "info"), parser.format)


def _read_full(f: BinaryIO, n: int) -> bytes:
    """Up to n bytes, fewer only at the end (a pipe gives what it has)."""
    out = b""
    while len(out) < n and (got := f.read(n - len(out))):
        out += got
    return out


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
    "RecordingWarning",
    "RecordingWriter",
    "ShapeChange",
    "ShapeCheck",
    "decode_recording",
    "feed_items",
    "source_descriptor",
]
