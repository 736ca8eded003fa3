"""RecordingReader: read a recording, complete, growing, cut short or damaged.

Every length is checked against the file before it is used. A file that is
not a recording, or whose header is cut or damaged, raises SensorioError. In
the body, damaged bytes are skipped to the next record that checks out and
reported as Damage (the decoder marks a gap there); an incomplete last record
(the writer died or is still writing) is reported as ``cut_bytes``.
"""

from __future__ import annotations

import json
import mmap
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SensorioError
from .format import (
    COUNT,
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


@dataclass(frozen=True)
class Event:
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
    missing_records: int = 0
    cut_bytes: int = 0  # an incomplete record at the end
    complete: bool = False  # an END record closed the file
    first_ns: int | None = None
    last_ns: int | None = None

    def problems(self) -> list[str]:
        out = []
        if self.damaged:
            total = sum(d.length for d in self.damaged)
            out.append(f"{len(self.damaged)} damaged region(s), {total} bytes skipped")
        if self.missing_records:
            out.append(f"{self.missing_records} record(s) missing")
        if self.cut_bytes:
            out.append(f"the last {self.cut_bytes} bytes (an unfinished record) were cut")
        if not self.complete:
            out.append(
                "no end record: the recording was not closed cleanly (or is still being written)"
            )
        return out


class RecordingReader:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                self._mm: mmap.mmap | bytes = (
                    mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
                )
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
    def from_bytes(cls, data: bytes, name: str = "<bytes>") -> RecordingReader:
        """A reader over a recording held in memory (fuzzing, network)."""
        self = cls.__new__(cls)
        self.path = Path(name)
        self._mm = bytes(data)
        self._setup(len(data))
        return self

    def _setup(self, size: int) -> None:
        self.size = size
        if size < len(MAGIC) or self._mm[: len(MAGIC)] != MAGIC:
            raise SensorioError(f"{self.path} is not a sensorio recording (wrong magic)")
        pos = len(MAGIC)
        parsed = self._parse_at(pos)
        if parsed == "cut":
            raise SensorioError(f"{self.path} is a truncated recording: its header is incomplete")
        if parsed is None or parsed[0] != KIND_HEADER:
            raise SensorioError(
                f"{self.path} is a damaged recording: its header does not check out"
            )
        kind, number, t_ns, payload, end = parsed
        header = _json_object(payload)
        if header is None:
            raise SensorioError(f"{self.path} is a damaged recording: its header is not valid JSON")
        self.header: dict[str, Any] = header
        self.header_t_ns = t_ns
        self._body = end
        self.report = ReadReport()

    @staticmethod
    def is_recording(path: str | os.PathLike[str]) -> bool:
        try:
            with open(path, "rb") as f:
                return f.read(len(MAGIC)) == MAGIC
        except OSError:
            return False

    def close(self) -> None:
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

    def items(self) -> Iterator[Item]:
        """Data, events, damage and the end record, in file order. After the
        loop, ``report`` tells what was found (and what was cut)."""
        rep = self.report = ReadReport(records=1)
        pos = self._body
        expected = 1
        while pos < self.size:
            parsed = self._parse_at(pos)
            if isinstance(parsed, tuple):
                kind, number, t_ns, payload, end = parsed
                item = _decode(kind, pos, t_ns, payload)
                if item is None:  # checks out but its content does not
                    parsed = None
                else:
                    if number != expected and number > expected:
                        rep.missing_records += number - expected
                    expected = number + 1
                    rep.records += 1
                    rep.first_ns = t_ns if rep.first_ns is None else rep.first_ns
                    rep.last_ns = t_ns
                    if isinstance(item, DataChunk):
                        rep.data_records += 1
                        rep.raw_bytes += len(item.raw)
                    elif isinstance(item, Event):
                        rep.events += 1
                    elif isinstance(item, End):
                        rep.complete = True
                    yield item
                    pos = end
                    continue
            nxt = self._next_sync(pos + 1)
            if parsed == "cut" and nxt < 0:
                rep.cut_bytes = self.size - pos
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

    def data(self) -> Iterator[bytes]:
        """Only the raw port bytes (damage and events dropped)."""
        for item in self.items():
            if isinstance(item, DataChunk):
                yield item.raw


def _decode(kind: int, offset: int, t_ns: int, payload: bytes) -> Item | None:
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


def _json_object(payload: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None
