"""RecordingReader: read a recording, complete, growing, cut short or damaged.

Every length is checked against the file before it is used. A file that is
not a recording, or that ends inside its header, raises SensorioError. A
header that does not check out (a flipped bit) is replaced by its copy in
record 1; without one (older recordings, or both damaged) the body is still
read, with an empty header (``header_damage`` says so, and ``wire_format()``
warns about the format it has to assume). In the body, a DATA record that
fails its CRC but whose head is sane (the sequence's next number, a length
that ends where the next record starts) keeps its port bytes, marked
``damaged`` (reported in ``damaged_records``), when the format it is
decoded as checks every frame (``Format.checks_frames``): the parser keeps
every intact frame and drops those the damage hit; its read times are not
trusted. Other damaged bytes are skipped to the next record that checks out and
reported as Damage (the decoder marks a gap there); an incomplete last record
(the writer died or is still writing) is reported as ``cut_bytes``, and when
it is the DATA record the sequence expects, the port bytes of its intact part
are read (``salvaged_bytes``: the record's CRC cannot check them; a file only
cut short leaves them as written).
"""

from __future__ import annotations

import json
import mmap
import os
import stat
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import SensorioError
from .format import (
    COUNT,
    HEADER_COPY,
    KIND_DATA,
    KIND_END,
    KIND_EVENT,
    KIND_HEADER,
    KIND_NAMES,
    MAGIC,
    MAX_PAYLOAD,
    READ_ENTRY,
    RECORD_CRC,
    RECORD_HEAD,
    SYNC,
)


@dataclass(frozen=True)
class DataChunk:
    """Raw port bytes of one DATA record and when each read arrived."""

    offset: int  # of the record in the file
    t_ns: int  # when the record was written
    raw: bytes
    #: (end offset in raw, host arrival ns) per port read
    reads: tuple[tuple[int, int], ...]
    #: the record failed its CRC: its bytes were kept for the parser's own
    #: framing and frame checks to sort out (its times may be damaged too)
    damaged: bool = False


@dataclass(frozen=True)
class Event:
    """An EVENT record: ``kind`` (marker, connect, disconnect, ...; ``unknown``
    if it names none) and its JSON object ``detail``, written at host time
    ``t_ns`` (ns since the epoch), found at byte ``offset`` of the file."""

    offset: int
    t_ns: int
    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Damage:
    """Bytes skipped because no valid record could be read there."""

    offset: int
    length: int
    reason: str


@dataclass(frozen=True)
class End:
    """The END record that closes a recording: the capture's ``summary`` (parser
    stats, bytes received, ...), written at ``t_ns``, at byte ``offset``."""

    offset: int
    t_ns: int
    summary: dict[str, Any]


Item = DataChunk | Event | Damage | End


@dataclass
class ReadReport:
    """What a full pass over the file found."""

    records: int = 0
    data_records: int = 0
    raw_bytes: int = 0
    events: int = 0
    damaged: list[Damage] = field(default_factory=list)
    #: DATA records that failed their CRC but whose port bytes were kept
    #: (offset and length of each whole record)
    damaged_records: list[Damage] = field(default_factory=list)
    #: frames the decoder counted lost where the file was damaged (set by
    #: whoever decoded the items: sensorio.recording.DamageTally; None: not decoded)
    file_lost_frames: int | None = None
    missing_records: int = 0
    cut_bytes: int = 0  # an incomplete record at the end
    #: port bytes read from that record (its intact prefix, when it is data)
    salvaged_bytes: int = 0
    complete: bool = False  # an END record closed the file
    first_ns: int | None = None
    last_ns: int | None = None

    @property
    def has_damage(self) -> bool:
        """Bytes of the body were damaged: skipped, or kept in a damaged record."""
        return bool(self.damaged or self.damaged_records)

    def count(self, item: DataChunk | Event | End) -> None:
        """Count a record read: its time, and what it holds."""
        self.records += 1
        if not (isinstance(item, DataChunk) and item.damaged):  # (its time may be damaged)
            self.first_ns = item.t_ns if self.first_ns is None else self.first_ns
            self.last_ns = item.t_ns
        if isinstance(item, DataChunk):
            self.data_records += 1
            self.raw_bytes += len(item.raw)
        elif isinstance(item, Event):
            self.events += 1
        else:
            self.complete = True

    def problems(self) -> list[str]:
        """One line per problem found (damage, missing records, a cut end, no END record); empty for a sound file."""
        out = []
        if self.damaged_records:
            n, total = len(self.damaged_records), sum(d.length for d in self.damaged_records)
            out.append(
                f"{n} damaged record{'s' if n > 1 else ''} ({total} bytes): frames in "
                f"{'them' if n > 1 else 'it'} with a bad CRC dropped"
            )
        if self.damaged:
            total = sum(d.length for d in self.damaged)
            out.append(f"{len(self.damaged)} damaged region(s), {total} bytes skipped")
        if self.file_lost_frames and out:  # (said beside the damage, one line)
            k = self.file_lost_frames
            were = "were" if k > 1 else "was"
            out[-1] += f"; of the frames counted lost, {k} {were} lost to the file's damage, not on the link"
        if self.missing_records:
            out.append(f"{self.missing_records} record(s) missing")
        if self.cut_bytes:
            if self.salvaged_bytes:
                out.append(
                    f"the last {self.cut_bytes} bytes were cut inside a record; "
                    f"the {self.salvaged_bytes} bytes of port data in it were read"
                )
            else:
                out.append(f"the last {self.cut_bytes} bytes (an unfinished record) were cut")
        if not self.complete:
            out.append("no end record: the recording was not closed cleanly (or is still being written)")
        return out


class RecordingWarning(UserWarning):
    """A recording was read with something assumed (its header was damaged)."""


def require_regular_file(path: str | os.PathLike[str], what: str = "a recording file") -> None:
    """Raise SensorioError unless path is a regular file. Checked before
    opening: opening a FIFO blocks until a writer comes, reading it until
    the writer writes, and a pipe can be read only once."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise SensorioError(f"no such file: {path}") from None
    except PermissionError:
        raise SensorioError(f"permission denied reading {path}") from None
    except OSError as exc:
        raise SensorioError(f"cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise SensorioError(f"{path} is a directory, not {what}")
    if not stat.S_ISREG(mode):
        kind = "a pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise SensorioError(
            f"{path} is {kind}, not {what}: this needs a file it can read more than once "
            "(save the bytes to a file first)"
        )


def _magic_ok(head: bytes) -> bool:
    """The magic, or (one byte of it damaged) the magic followed by the
    header record's SYNC."""
    if head[: len(MAGIC)] == MAGIC:
        return True
    if len(head) < len(MAGIC) + len(SYNC) or head[len(MAGIC) : len(MAGIC) + len(SYNC)] != SYNC:
        return False
    return sum(a != b for a, b in zip(head[: len(MAGIC)], MAGIC, strict=True)) <= 1


#: RecordingReader.items releases the mapped pages it has read every this many bytes
RELEASE_EVERY = 16 << 20
_MADV_DONTNEED: int | None = getattr(mmap, "MADV_DONTNEED", None)

#: bytes at the start of a file that tell a recording (see is_recording)
SNIFF_BYTES = len(MAGIC) + len(SYNC)


def _mapped(f: BinaryIO) -> tuple[mmap.mmap | bytes, int]:
    """An open file's bytes, memory-mapped read-only (b"" when empty: mmap
    refuses a length of 0), and its size."""
    size = os.fstat(f.fileno()).st_size
    return (mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""), size


class RecordingReader:
    """Reads a recording (.sior): its header, then its records in order (see the
    module text for damaged, cut and growing files). The file is memory-mapped;
    use it as a context manager or call :meth:`close`.

    Raises:
        SensorioError: the path is not a readable regular file, or not a
            recording (wrong magic, or it ends inside the header)."""

    #: why the header in use is not the file's own first record (None: it is)
    header_damage: str | None = None
    #: True when no header could be read at all (metadata and format unknown)
    header_lost: bool = False
    #: records before the body (the header and its copy), and the body's first number
    _head_records: int = 1
    _first_number: int | None = 1

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        require_regular_file(self.path)
        try:
            with open(self.path, "rb") as f:
                self._mm, size = _mapped(f)
        except FileNotFoundError:
            raise SensorioError(f"no such file: {self.path}") from None
        except IsADirectoryError:
            raise SensorioError(f"{self.path} is a directory, not a recording") from None
        except PermissionError:
            raise SensorioError(f"permission denied reading {self.path}") from None
        except (OSError, ValueError) as exc:
            raise SensorioError(f"cannot read {self.path}: {exc}") from None
        self._setup(size)

    @classmethod
    def from_file(cls, f: BinaryIO, name: str) -> RecordingReader:
        """A reader over an open file (a temporary one a pipe was spooled
        into), memory-mapped as a path's is; the file may be closed after."""
        self = cls.__new__(cls)
        self.path = Path(name)
        self._mm, size = _mapped(f)
        self._setup(size)
        return self

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>") -> RecordingReader:
        """A reader over a recording held in memory (fuzzing, network)."""
        self = cls.__new__(cls)
        self.path = Path(name)
        self._mm = bytes(data)
        self._setup(len(data))
        return self

    def _setup(self, size: int) -> None:
        self.size = size
        if not _magic_ok(bytes(self._mm[:SNIFF_BYTES])):
            raise SensorioError(f"{self.path} is not a sensorio recording (wrong magic)")
        self.report = ReadReport()
        if self._mm[: len(MAGIC)] != MAGIC:
            self.header_damage = "its magic (first 8 bytes) is damaged"
            warnings.warn(f"{self.path}: {self.header_damage}", RecordingWarning, stacklevel=3)
        pos = len(MAGIC)
        parsed = self._parse_at(pos)
        header = None
        if isinstance(parsed, tuple) and parsed[0] == KIND_HEADER:
            header = _json_object(parsed[3])
        if header is not None:
            assert isinstance(parsed, tuple)
            self.header: dict[str, Any] = header
            self.header_t_ns = parsed[2]
            self._body = parsed[4]
            self._skip_copy()
            return
        # the header does not check out: its copy (record 1), else the body alone
        nxt = self._next_sync(pos + 1)
        if nxt < 0:
            if parsed == "cut":
                raise SensorioError(f"{self.path} is a truncated recording: its header is incomplete")
            raise SensorioError(f"{self.path} is a damaged recording: its header does not check out")
        self._body = nxt
        copy = self._parse_at(nxt)
        # the damaged header's own fields may hold the sync bytes by chance:
        # the body starts at the first record that checks out
        while not isinstance(copy, tuple) and (later := self._next_sync(nxt + 1)) >= 0:
            nxt, copy = later, self._parse_at(later)
        if isinstance(copy, tuple):
            self._body = nxt
        if isinstance(copy, tuple) and (got := _header_copy(copy)) is not None:
            self.header = got
            self.header_t_ns = copy[2]
            self._body = copy[4]
            self._head_records, self._first_number = 2, copy[1] + 1
            self.header_damage = "its header is damaged; the copy kept after it was used"
            warnings.warn(f"{self.path}: {self.header_damage}", RecordingWarning, stacklevel=3)
            return
        self.header = {}
        self.header_lost = True
        self._head_records, self._first_number = 0, None
        self.header_damage = "its header is damaged and has no intact copy (metadata unknown)"
        first = copy[2] if isinstance(copy, tuple) else None
        self.header_t_ns = first if first is not None else 0

    def _skip_copy(self) -> None:
        """Start the body after the header's copy (a damaged copy stays in the
        body, where it is reported as damage)."""
        parsed = self._parse_at(self._body)
        if isinstance(parsed, tuple) and _header_copy(parsed) is not None:
            self._body = parsed[4]
            self._head_records, self._first_number = 2, parsed[1] + 1

    def wire_format(self, given: str | None = None) -> str:
        """The format to decode with: given, else the header's. When the
        header is lost, says in one RecordingWarning what was assumed."""
        if self.header_lost:
            used = given or "sio"
            how = "as given" if given else "the default; give the format if it was another"
            warnings.warn(
                f"{self.path}: {self.header_damage}: decoding the body as format {used!r} ({how})",
                RecordingWarning,
                stacklevel=2,
            )
            self._decode_as = used
            return used
        name = self.header.get("format", "sio")
        self._decode_as = given or (name if isinstance(name, str) else "sio")
        return self._decode_as

    #: the format wire_format last chose to decode with (None: not asked)
    _decode_as: str | None = None

    def _keeps_damaged(self) -> bool:
        """Whether a DATA record that fails its CRC is handed to the parser:
        only when the format it is decoded as checks every frame itself
        (Format.checks_frames: SIO-1, a spec with a CRC), so that the frames
        the damage hit are dropped. A Cyton's or an ASCII line's bytes carry
        no check: a flipped bit there would be a wrong sample, so such a
        record is skipped as damage (a gap), as is one whose format is not
        known."""
        name = self._decode_as
        if name is None and not self.header_lost:
            name = self.header.get("format", "sio")
        if not isinstance(name, str):
            return False
        from ..formats import resolve  # (only here: the reader needs no format otherwise)

        try:
            return resolve(name).checks_frames()
        except (SensorioError, OSError):
            return False

    @staticmethod
    def is_recording(path: str | os.PathLike[str]) -> bool:
        """True if the file at path starts with a recording's magic (one byte may be damaged); False if unreadable."""
        try:
            with open(path, "rb") as f:
                return _magic_ok(f.read(SNIFF_BYTES))
        except OSError:
            return False

    @staticmethod
    def looks_like_recording(head: bytes) -> bool:
        """Do these first bytes of a file (SNIFF_BYTES of them) start a recording?"""
        return _magic_ok(head)

    def close(self) -> None:
        """Release the memory-mapped file (nothing to do for a reader over bytes)."""
        if isinstance(self._mm, mmap.mmap):
            self._mm.close()

    def __enter__(self) -> RecordingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- parsing --------------------------------------------------------------
    def _parse_at(self, pos: int) -> tuple[int, int, int, bytes, int] | str | None:
        """(kind, number, t_ns, payload, end) for a valid record at pos,
        "cut" if the file ends inside what could be one, None if invalid."""
        mm, size = self._mm, self.size
        if size - pos < RECORD_HEAD.size:
            return "cut"
        sync, kind, length, number, t_ns = RECORD_HEAD.unpack_from(mm, pos)
        if sync != SYNC or kind not in KIND_NAMES or length > MAX_PAYLOAD:
            return None
        end = pos + RECORD_HEAD.size + length + RECORD_CRC.size
        if end > size:
            return "cut"
        body_end = end - RECORD_CRC.size
        (crc,) = RECORD_CRC.unpack_from(mm, body_end)
        if zlib.crc32(mm[pos:body_end]) != crc:
            return None
        return kind, number, t_ns, bytes(mm[pos + RECORD_HEAD.size : body_end]), end

    def _next_sync(self, pos: int) -> int:
        return self._mm.find(SYNC, pos)

    def __iter__(self) -> Iterator[Item]:
        return self.items()

    def _release(self, pos: int) -> None:
        """Let the kernel drop the mapped pages before pos: pages of the file
        once read stay in this process's resident set until unmapped or
        advised away, so without this a pass over a 3 GB file ends with 3 GB
        resident. Done every RELEASE_EVERY bytes (the pages stay in the page
        cache: reading them again is cheap)."""
        if pos - self._released < RELEASE_EVERY or not isinstance(self._mm, mmap.mmap):
            return
        end = pos - pos % mmap.PAGESIZE
        if end > self._released and _MADV_DONTNEED is not None:
            try:
                self._mm.madvise(_MADV_DONTNEED, self._released, end - self._released)
            except (OSError, ValueError):
                return  # only a memory hint
        self._released = end

    #: bytes of the mapping released so far (see _release)
    _released: int = 0

    #: how far the reader has come in the file (bytes), for progress bars
    position: int = 0

    def items(self) -> Iterator[Item]:
        """Data, events, damage and the end record, in file order. After the
        loop, ``report`` tells what was found (and what was cut). Memory stays
        bounded whatever the file's length (mapped pages already read are
        released as the pass goes on)."""
        rep = self.report = ReadReport(records=self._head_records)
        pos = self._body
        expected = self._first_number
        keep_damaged = self._keeps_damaged()
        last_ns = self.header_t_ns  # the last read time that checked out
        self._released = 0
        while pos < self.size:
            self.position = pos
            self._release(pos)
            parsed = self._parse_at(pos)
            if isinstance(parsed, tuple):
                kind, number, t_ns, payload, end = parsed
                item = _decode(kind, pos, t_ns, payload)
                if item is None:  # checks out but its content does not
                    parsed = None
                else:
                    if expected is not None and number > expected:
                        rep.missing_records += number - expected
                    expected = number + 1
                    rep.count(item)
                    if isinstance(item, DataChunk):
                        last_ns = item.reads[-1][1] if item.reads else item.t_ns
                    yield item
                    pos = end
                    continue
            if (
                parsed is None
                and keep_damaged
                and (kept := self._salvaged_data(pos, expected, whole=True, at_ns=last_ns)) is not None
            ):
                chunk, end, number = kept
                rep.damaged_records.append(Damage(pos, end - pos, "record CRC failed; its port bytes kept"))
                expected = number + 1
                rep.count(chunk)
                yield chunk
                pos = end
                continue
            nxt = self._next_sync(pos + 1)
            if parsed == "cut" and nxt < 0:
                rep.cut_bytes = self.size - pos
                cut = self._salvaged_data(pos, expected, whole=False)
                salvaged = cut[0] if cut is not None else None
                if salvaged is not None:
                    rep.salvaged_bytes = len(salvaged.raw)
                    rep.count(salvaged)
                    yield salvaged
                self.position = self.size
                return
            if nxt < 0:
                nxt = self.size
                reason = "damaged data up to the end of the file"
            else:
                reason = "damaged record"
            damage = Damage(pos, nxt - pos, reason)
            rep.damaged.append(damage)
            yield damage
            pos = nxt
        self.position = self.size

    def _salvaged_data(
        self, pos: int, expected: int | None, whole: bool, at_ns: int = 0
    ) -> tuple[DataChunk, int, int] | None:
        """The port bytes of a DATA record that cannot be read as one, with
        the record's end and number: one cut by the file's end (not whole: a
        capture that died, a full disk; with fast sources one record is
        megabytes), read from its intact prefix, or (whole) one that is all
        in the file but fails its CRC (a flipped bit), kept marked damaged
        for the parser's own frame checks to sort out. Only for the record
        the sequence expects next, whose head is sane (a whole one must also
        end where the next record, or the file, starts), and only the bytes
        past its table of reads. None when there are none. A whole one's
        times are not trusted (no CRC vouches for them: a flipped high bit
        made a replay wait for centuries): its reads are all at at_ns, the
        last time that checked out before it."""
        mm, size = self._mm, self.size
        if size - pos < RECORD_HEAD.size:
            return None
        sync, kind, length, number, t_ns = RECORD_HEAD.unpack_from(mm, pos)
        if sync != SYNC or kind != KIND_DATA or length > MAX_PAYLOAD or (expected is not None and number != expected):
            return None
        body = pos + RECORD_HEAD.size
        end = body + length + RECORD_CRC.size
        if whole and (end > size or (end < size and mm[end : end + len(SYNC)] != SYNC)):
            return None  # its length is damaged: no telling where its bytes end
        have = bytes(mm[body : min(size, body + length)])
        if len(have) < COUNT.size:
            return None
        (n,) = COUNT.unpack_from(have, 0)
        start = COUNT.size + n * READ_ENTRY.size
        if n == 0 or start >= len(have) or start > length:
            return None
        raw = have[start:]
        reads: list[tuple[int, int]] = []
        for stop, t in READ_ENTRY.iter_unpack(have[COUNT.size : start]):
            if stop < (reads[-1][0] if reads else 0):
                return None  # not the table a writer makes: damage, not a cut
            reads.append((min(stop, len(raw)), t))
            if stop >= len(raw):
                break
        if reads[-1][0] < len(raw):
            if not whole:
                return None
            reads[-1] = (len(raw), reads[-1][1])  # (an end offset damaged)
        if whole:
            reads = [(stop, at_ns) for stop, _ in reads]
            t_ns = at_ns
        return DataChunk(pos, t_ns, raw, tuple(reads), damaged=whole), min(end, size), number

    def data(self) -> Iterator[bytes]:
        """Only the raw port bytes (damage and events dropped)."""
        for item in self.items():
            if isinstance(item, DataChunk):
                yield item.raw


def _decode(kind: int, offset: int, t_ns: int, payload: bytes) -> DataChunk | Event | End | None:
    if kind == KIND_DATA:
        if len(payload) < COUNT.size:
            return None
        (n,) = COUNT.unpack_from(payload, 0)
        start = COUNT.size + n * READ_ENTRY.size
        if n == 0 or start > len(payload):
            return None
        reads = tuple(READ_ENTRY.iter_unpack(payload[COUNT.size : start]))
        raw = payload[start:]
        prev = 0
        for end, _ in reads:
            if end < prev or end > len(raw):
                return None
            prev = end
        if prev != len(raw):
            return None
        return DataChunk(offset, t_ns, raw, reads)
    obj = _json_object(payload)
    if obj is None:
        return None
    if kind == KIND_EVENT:
        name = obj.get("kind")
        return Event(offset, t_ns, name if isinstance(name, str) else "unknown", obj)
    if kind == KIND_END:
        return End(offset, t_ns, obj)
    return None  # a second HEADER is damage


def _header_copy(parsed: tuple[int, int, int, bytes, int]) -> dict[str, Any] | None:
    """The header held by a parsed record, if it is the header's copy."""
    if parsed[0] != KIND_EVENT:
        return None
    obj = _json_object(parsed[3])
    if obj is None or obj.get("kind") != HEADER_COPY:
        return None
    header = obj.get("header")
    return header if isinstance(header, dict) else None


def _json_object(payload: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None
