"""Recordings: raw port bytes with host timestamps and events, crash-safe.

``RecordingWriter`` appends, ``RecordingReader`` reads (also damaged or cut
files), ``decode_recording`` runs the same Parser as live capture over the
recorded bytes, marking disconnects and damage as discontinuities exactly
where live capture marked them.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any, BinaryIO

from ..blocks import Block, Message, ShapeChange, ShapeCheck
from ..descriptor import parse_info, resolve_descriptor
from ..errors import Advice, SensorioError
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


def data_pieces(parser: Parser, chunk: DataChunk, size: int | None = None) -> Iterator[memoryview]:
    """The port bytes of a DATA record, in pieces of at most ``size`` bytes
    to feed to parser in turn. When the parser counts losses with host read
    times (Parser.times_reads), the pieces follow the record's reads and the
    parser is told each read's time before its bytes come."""
    raw = memoryview(chunk.raw)
    step = size or max(1, len(raw))
    start = 0
    if parser.times_reads:
        for end, t_ns in chunk.reads:
            end = min(end, len(raw))
            if end <= start:
                continue
            parser.read_time(t_ns)
            for a in range(start, end, step):
                yield raw[a : min(a + step, end)]
            start = end
    for a in range(start, len(raw), step):
        yield raw[a : a + step]


#: the parser's counts of frames it threw away (bad CRC, framing, ...):
#: damage in a kept record shows in one of them
_FRAME_ERRORS = ("crc_errors", "cobs_errors", "malformed", "oversized", "unknown_type", "bytes_resync")
#: after file damage, bytes fed one at a time until a frame decodes (its
#: counter tells the frames the damage took); then no longer (twice the
#: longest frame of any format: SIO_SPEC_MAX_FRAME)
_SETTLE_LIMIT = 4096


class DamageTally:
    """Counts the frames a parser counts lost because the file was damaged,
    apart from those lost on the link: from a damaged record (or a skipped
    damaged region) up to the first frame decoded after it, where the frame
    counter tells the gap. A damaged record whose frames all checked out
    (the damage hit a read time) lost nothing. Feed a recording's items
    through :meth:`feed`; :meth:`finish` writes the count into the report
    (ReadReport.file_lost_frames), which its problems() then say."""

    def __init__(self, parser: Parser) -> None:
        self.parser = parser
        self.lost = 0
        self._start: tuple[int, int] | None = None  # (lost_frames, frame errors) at the damage
        self._skipped = False  # bytes were skipped there (not only a kept record)
        self._frames = 0  # frames_ok when the damaged bytes ended
        self._settle = 0  # bytes fed one at a time since

    def _counts(self) -> tuple[int, int, int]:
        st = self.parser.stats
        return st.lost_frames, sum(getattr(st, n) for n in _FRAME_ERRORS), st.frames_ok

    def _open(self, skipped: bool) -> None:
        if self._start is None:
            lost, errors, _ = self._counts()
            self._start = (lost, errors)
        self._skipped = self._skipped or skipped

    def _close(self) -> None:
        """The damaged bytes ended: the first frame after them settles the count."""
        self._frames, self._settle = self._counts()[2], 0

    def _end(self) -> None:
        if self._start is None:
            return
        lost, errors, _ = self._counts()
        # a kept record none of whose frames failed its checks (the damage
        # hit a read time) lost nothing: whatever was lost, the link lost
        if self._skipped or errors != self._start[1]:
            self.lost += max(0, lost - self._start[0])
        self._start, self._skipped = None, False

    def feed(self, item: Any, size: int | None = None) -> Iterator[None]:
        """Feed one recording item to the parser (data in pieces of at most
        size bytes; a discontinuity for a disconnect or damage); yields after
        each piece, when Blocks may be read."""
        parser = self.parser
        if isinstance(item, DataChunk):
            if item.damaged:
                self._open(skipped=False)
            for piece in data_pieces(parser, item, size):
                if self._start is not None and not item.damaged:
                    piece = self._settle_on(piece)
                parser.feed(piece)
                yield
            if item.damaged:
                self._close()
            return
        if isinstance(item, Event) and item.kind in DISCONTINUITY_EVENTS:
            parser.discontinuity(lost_bytes(item))
        elif isinstance(item, Damage):
            self._open(skipped=True)
            parser.discontinuity(item.length)
            self._close()
        yield

    def _settle_on(self, piece: memoryview) -> memoryview:
        """Feed piece a byte at a time until a frame decodes (the count of
        the damage ends there); the rest, to feed as usual."""
        for i in range(len(piece)):
            if self._counts()[2] != self._frames or self._settle >= _SETTLE_LIMIT:
                self._end()
                return piece[i:]
            self.parser.feed(piece[i : i + 1])
            self._settle += 1
        if self._counts()[2] != self._frames:
            self._end()
        return piece[len(piece) :]

    def finish(self, report: ReadReport) -> None:
        """The items ended: the count so far, into report."""
        self._end()
        report.file_lost_frames = self.lost


def feed_items(
    parser: Parser, items: Iterator[Any], tally: DamageTally | None = None
) -> Iterator[tuple[Any, list[Block]]]:
    """Feed a recording's items to parser; yields (item, blocks decoded).
    Frames lost to file damage are counted in tally (one made here if not
    given: DamageTally.finish tells them to a report)."""
    tally = tally or DamageTally(parser)
    for item in items:
        for _ in tally.feed(item):
            pass
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
        tally = DamageTally(parser)
        for item, got in feed_items(parser, reader.items(), tally):
            if got:
                shapes.check(got, _where(item, reader))
            blocks.extend(got)
        tally.finish(reader.report)
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


#: bytes of a pipe or device without one frame after which a raw dump is
#: given up as another format (/dev/zero decoded nothing, forever); a real
#: port resynchronises within a few frames
UNSYNCED_STREAM_LIMIT = 64 << 20


class BlockStream:
    """The Blocks of a recording (found by its magic) or raw byte dump (format
    defaults to sio), decoded as the file is read: iterate it for the Blocks
    of every stream in file order. Memory stays bounded whatever the file's
    length: ``chunk`` bytes of the file at a time.

    ``reader`` is the RecordingReader (None for a raw dump), ``parser`` the
    Parser; ``messages`` collects the device's messages as they come (all of
    them once the iteration ended); ``position`` / ``size`` tell how far it
    has come (for progress). A stream whose channel count changes raises
    ShapeChange where it happens. Unless ``stream_ok``, the path must be a
    regular file; with it a pipe is read once (a raw dump as it comes, a
    recording held in memory). Use it as a context manager, or call close().
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        format: str | None = None,
        *,
        chunk: int = 1 << 18,
        stream_ok: bool = False,
    ) -> None:
        self.path = path
        self.chunk = chunk
        self.messages: list[Message] = []
        self.reader: RecordingReader | None = None
        self.size: int | None = None
        self._f: BinaryIO | None = None
        self._shapes = ShapeCheck(str(path))
        self._done = False
        regular = True
        if stream_ok:
            try:
                regular = stat.S_ISREG(os.stat(path).st_mode)
            except OSError:
                pass  # open() below says what is wrong
        if regular:
            require_regular_file(path, "a byte dump or recording")
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise SensorioError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise SensorioError(f"{path} is a directory, not a byte dump or recording") from None
        except PermissionError:
            raise SensorioError(f"permission denied reading {path}") from None
        try:
            self._head = _read_full(f, SNIFF_BYTES)
            if RecordingReader.looks_like_recording(self._head):
                if regular:
                    f.close()
                    self.reader = RecordingReader(path)
                else:
                    # a recording through a pipe is spooled to an unnamed
                    # temporary file and mapped as a file is: held in memory,
                    # it took twice its size (1.3 GB for a 637 MB recording)
                    with tempfile.TemporaryFile() as spool:
                        try:
                            spool.write(self._head)
                            shutil.copyfileobj(f, spool, 1 << 20)
                            spool.flush()
                        except OSError as exc:
                            raise SensorioError(
                                f"cannot keep the recording from {path} in a temporary file in "
                                f"{tempfile.gettempdir()}: {exc.strerror or exc} (TMPDIR sets another folder)"
                            ) from None
                        self.reader = RecordingReader.from_file(spool, str(path))
                    f.close()
                self.size = self.reader.size
                self.parser = Parser(self.reader.wire_format(format))
            else:
                self._f = f
                self.size = os.fstat(f.fileno()).st_size if regular else None
                self.parser = Parser(format or "sio")
        except BaseException:
            f.close()
            if self.reader is not None:
                self.reader.close()
            raise
        self._raw_position = 0

    @property
    def position(self) -> int:
        """Bytes of the file decoded so far."""
        return self.reader.position if self.reader is not None else self._raw_position

    @property
    def header(self) -> dict[str, Any]:
        """The recording's header ({} for a raw dump)."""
        return dict(self.reader.header) if self.reader is not None else {}

    def close(self) -> None:
        """Close the file (or the recording reader); the Blocks already given stay valid."""
        if self.reader is not None:
            self.reader.close()
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self) -> BlockStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Block]:
        if self._done:
            raise SensorioError(f"{self.path}: a BlockStream can be iterated only once")
        self._done = True
        try:
            if self.reader is not None:
                yield from self._recording_blocks()
            else:
                yield from self._raw_blocks()
            self.messages.extend(self.parser.read_messages())
            if self.reader is not None:
                # every reader of a damaged or cut file says so, not only
                # decode and info: an export of 40 % of a file said nothing
                for problem in self.reader.report.problems():
                    warnings.warn(f"{self.path}: {problem}", RecordingWarning, stacklevel=2)
        finally:
            self.close()

    def _recording_blocks(self) -> Iterator[Block]:
        """As feed_items, but a long DATA record is fed ``chunk`` bytes at a
        time, so that no Block holds more than about a chunk's samples."""
        assert self.reader is not None
        tally = DamageTally(self.parser)
        for item in self.reader.items():
            for _ in tally.feed(item, self.chunk):
                yield from self._take(item)
        tally.finish(self.reader.report)

    def _take(self, item: Any) -> list[Block]:
        assert self.reader is not None
        self.messages.extend(self.parser.read_messages())
        got = self.parser.read()
        if got:
            self._shapes.check(got, _where(item, self.reader))
        return got

    def _raw_blocks(self) -> Iterator[Block]:
        assert self._f is not None
        data = self._head
        endless = self.size is None  # a pipe or device: it may never end
        found = False
        while data:
            self.parser.feed(data)
            self._raw_position += len(data)  # counted, not f.tell(): a pipe cannot tell
            self.messages.extend(self.parser.read_messages())
            got = self.parser.read()
            self._shapes.check(got, f"in the bytes before offset {self._raw_position}")
            found = found or bool(got) or bool(self.messages)
            if endless and not found and self._raw_position >= UNSYNCED_STREAM_LIMIT:
                # /dev/zero or a port of another format decoded nothing forever
                raise SensorioError(
                    Advice(
                        f"{self.path}: no frame in its first {self._raw_position >> 20} MB as format "
                        f"{self.parser.format.name!r}: check {{format}}",
                        format=None,
                    )
                )
            yield from got
            data = self._f.read(self.chunk)
        self.parser.flush()  # the file ended: decide what waits for lookahead
        got = self.parser.read()
        self._shapes.check(got)
        yield from got


def iter_blocks(path: str | os.PathLike[str], format: str | None = None, *, stream_ok: bool = False) -> BlockStream:
    """A BlockStream over a recording or raw dump (see BlockStream)."""
    return BlockStream(path, format, stream_ok=stream_ok)


def decode_any(
    path: str | os.PathLike[str],
    format: str | None = None,
    chunk: int = 1 << 20,
    *,
    stream_ok: bool = False,
) -> tuple[Parser, list[Block], list[Message], RecordingReader | None]:
    """Decode a whole recording (found by its magic) or a raw byte dump
    (format defaults to sio), all Blocks at once (memory grows with the
    file: commands use BlockStream). The reader is None for a raw dump.

    The file is opened once. Unless ``stream_ok``, it must be a regular file
    (a pipe or FIFO raises SensorioError instead of blocking); with it, a pipe
    is read once, to its end: a raw dump decoded as it comes, a recording
    held in memory."""
    with BlockStream(path, format, chunk=chunk, stream_ok=stream_ok) as bs:
        blocks = list(bs)
    return bs.parser, blocks, bs.messages, bs.reader


def source_descriptor(
    parser: Parser, messages: list[Message], header: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The device descriptor of decoded data (sensorio.descriptor.resolve_descriptor:
    the recording header's copy, else the first INFO, else the format's own)."""
    return resolve_descriptor(header, (m.text for m in messages if m.kind == "info"), parser.format)


#: lookahead_info waits for the device's INFO for at most this many bytes of samples
INFO_LOOKAHEAD = 32 << 20


def lookahead_info(it: Any, bs: Any) -> tuple[list[Block], dict[str, Any] | None]:
    """Blocks read until the device's description is known (the header's
    copy, or an INFO; at least one block, at most INFO_LOOKAHEAD bytes of
    samples, or the end),
    and that description, decided by the one rule (descriptor.resolve_descriptor)."""

    def infos() -> list[str]:
        return [m.text for m in bs.messages if m.kind == "info"]

    head: list[Block] = []
    held = 0
    while not head or not (bs.header or {}).get("device_info") and not any(parse_info(t) for t in infos()):
        if held > INFO_LOOKAHEAD:
            break
        block = next(it, None)
        if block is None:
            break
        head.append(block)
        held += block.samples.nbytes
    return head, resolve_descriptor(bs.header, infos(), bs.parser.format)


def nothing_decoded(path: str | os.PathLike[str], format: str | None, reader: RecordingReader | None) -> SensorioError:
    """The error for a file of which no sample decoded (another format, or
    not a recording at all): format is the one asked for, else the
    recording's (reader; None for a raw dump), else sio. A recording read to
    its end that holds no port bytes at all says so instead, and so does a
    damaged one (its problems were warned): the format is not what is
    wrong, and --format is not suggested."""
    report = getattr(reader, "report", None)
    if report is not None and report.raw_bytes == 0:
        return SensorioError(f"{path}: the recording holds no data (nothing arrived from the device while it ran)")
    used = format or (reader.header.get("format", "sio") if reader is not None else "sio")
    if report is not None and report.has_damage:
        return SensorioError(
            f"{path}: no samples decoded as format {used!r} from what is left of the damaged recording"
        )
    return SensorioError(Advice(f"{path}: no samples decoded as format {used!r}: check {{format}}", format=None))


def _read_full(f: BinaryIO, n: int) -> bytes:
    """Up to n bytes, fewer only at the end (a pipe gives what it has)."""
    out = b""
    while len(out) < n and (got := f.read(n - len(out))):
        out += got
    return out


__all__ = [
    "BlockStream",
    "DamageTally",
    "INFO_LOOKAHEAD",
    "lookahead_info",
    "nothing_decoded",
    "decode_any",
    "iter_blocks",
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
    "data_pieces",
    "feed_items",
    "source_descriptor",
]
