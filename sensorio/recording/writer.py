"""RecordingWriter: append raw port bytes to a recording, crash-safely.

The port reader thread hands over bytes with ``add`` (a list append under a
lock: it never waits for the disk). A flush thread writes everything pending
as one DATA record every ``flush_interval`` seconds (or sooner when a lot is
pending) and then fsyncs, so a kill -9 or a power cut loses at most the last
interval. fsync policy: ``fsync=True`` (default) syncs after every flush and
every event; ``fsync=False`` leaves it to the OS (a killed process still
loses nothing written, a power cut may lose more).

A disk error (full disk, file size limit) stops the recording, keeps what is
on disk and is reported through ``error``: the capture raises it to the user.
"""

from __future__ import annotations

import json
import os
import threading
import time
import zlib
from pathlib import Path
from typing import Any

from ..errors import Advice, SensorioError, cannot_create
from .format import (
    COUNT,
    HEADER_COPY,
    KIND_DATA,
    KIND_END,
    KIND_EVENT,
    KIND_HEADER,
    MAGIC,
    READ_ENTRY,
    RECORD_CRC,
    RECORD_HEAD,
    SYNC,
    VERSION,
)

#: flush early when this much is pending, whatever the interval
FLUSH_BYTES = 4 << 20
#: DATA records are cut at read boundaries around this size (well under MAX_PAYLOAD)
DATA_SPLIT = 8 << 20


def encode_record(kind: int, number: int, t_ns: int, payload: bytes | bytearray) -> bytes:
    head = RECORD_HEAD.pack(SYNC, kind, len(payload), number & 0xFFFFFFFF, t_ns)
    crc = zlib.crc32(payload, zlib.crc32(head))
    return b"".join((head, payload, RECORD_CRC.pack(crc)))


def encode_data_payload(reads: list[tuple[int, int]], raw: bytes | bytearray) -> bytes:
    """reads: (end offset in raw, arrival ns) per port read."""
    index = b"".join(READ_ENTRY.pack(end, t) for end, t in reads)
    return b"".join((COUNT.pack(len(reads)), index, raw))


class RecordingWriter:
    """Appends raw port bytes and events to a new recording, crash-safely (see
    the module text): the header (with a copy) is written and synced at once,
    and a flush thread writes DATA records every ``flush_interval`` seconds.

    Raises:
        SensorioError: the file exists (unless ``overwrite``), its folder does
            not, or it cannot be created or written."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        header: dict[str, Any],
        *,
        overwrite: bool = False,
        flush_interval: float = 0.5,
        fsync: bool = True,
    ) -> None:
        if not 0 < flush_interval <= 60:
            raise SensorioError(f"flush interval must be in (0, 60] s, not {flush_interval}")
        self.path = Path(path)
        self.flush_interval = float(flush_interval)
        self.fsync = fsync
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        try:
            self._fd = os.open(self.path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
        except FileExistsError:
            raise SensorioError(
                Advice(f"{self.path} exists: choose another name or pass {{overwrite}} to overwrite it", overwrite=True)
            ) from None
        except (FileNotFoundError, NotADirectoryError):
            raise SensorioError(cannot_create(self.path)) from None
        except PermissionError:
            raise SensorioError(f"permission denied creating {self.path}") from None
        except IsADirectoryError:
            raise SensorioError(f"{self.path} is a directory") from None
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._raw = bytearray()
        self._reads: list[tuple[int, int]] = []
        # (kind, payload) in file order; a DATA entry holds (raw, reads)
        self._queue: list[tuple[int, Any]] = []
        self._number = 0
        self._closing = False
        self._closed = False
        self.error: SensorioError | None = None
        self.bytes_written = 0  # raw port bytes safely in the file
        self.bytes_dropped = 0  # raw bytes handed over after a disk error
        self.records = 0
        header = dict(header)
        header.setdefault("recording_version", VERSION)
        header.setdefault("created_ns", time.time_ns())
        header["flush_interval_s"] = self.flush_interval
        header["fsync"] = fsync
        self.header = header
        try:
            # the header, then its copy (record 1), for a reader to fall back on
            # when a damaged bit makes the first one fail its CRC
            copy = {"kind": HEADER_COPY, "header": header}
            self._write_all(MAGIC + self._record(KIND_HEADER, _json(header)) + self._record(KIND_EVENT, _json(copy)))
            self._sync()
        except OSError as exc:
            os.close(self._fd)
            raise _disk_error(self.path, exc, 0) from None
        self._thread = threading.Thread(target=self._run, name="sensorio-recorder", daemon=True)
        self._thread.start()

    # -- producer side (any thread) -------------------------------------------
    def add(self, data: bytes | bytearray | memoryview, t_ns: int | None = None) -> None:
        """Append raw port bytes that arrived at host time t_ns."""
        if not data:
            return
        t = time.time_ns() if t_ns is None else t_ns
        with self._lock:
            if self.error is not None or self._closed:
                self.bytes_dropped += len(data)
                return
            for start in range(0, len(data), DATA_SPLIT):
                piece = data[start : start + DATA_SPLIT]
                self._raw += piece
                self._reads.append((len(self._raw), t))
            if len(self._raw) >= FLUSH_BYTES:
                self._wake.notify()

    def event(self, kind: str, **detail: Any) -> None:
        """An event record, placed after all bytes added before it."""
        payload = dict(detail)
        payload["kind"] = kind
        payload.setdefault("t_ns", time.time_ns())
        with self._lock:
            if self.error is not None or self._closed:
                return
            self._seal_pending()
            self._queue.append((KIND_EVENT, _json(payload)))
            self._wake.notify()

    def marker(self, text: str) -> None:
        """Record a ``marker`` event with this text, after the bytes added so far."""
        self.event("marker", text=text)

    def close(self, summary: dict[str, Any] | None = None) -> None:
        """Write what is pending and an END record; idempotent."""
        with self._lock:
            if self._closed:
                return
            if self.error is None:
                self._seal_pending()
                self._queue.append((KIND_END, _json(summary or {})))
            self._closing = True
            self._wake.notify()
        self._thread.join()
        with self._lock:
            self._closed = True
        try:
            os.close(self._fd)
        except OSError:
            pass

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _seal_pending(self) -> None:
        """Queue the pending bytes so that what is queued next follows them."""
        if self._raw:
            self._queue.append((KIND_DATA, (self._raw, self._reads)))
            self._raw, self._reads = bytearray(), []

    @property
    def pending_bytes(self) -> int:
        """Raw bytes handed over but not yet sealed into a DATA record."""
        return len(self._raw)

    # -- flush thread ---------------------------------------------------------
    def _run(self) -> None:
        deadline = time.monotonic() + self.flush_interval
        while True:
            with self._lock:
                while not self._closing and not self._queue and len(self._raw) < FLUSH_BYTES:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._wake.wait(left)
                raw, reads, queue = self._raw, self._reads, self._queue
                self._raw, self._reads, self._queue = bytearray(), [], []
                closing = self._closing
            if time.monotonic() >= deadline or queue or closing or len(raw) >= FLUSH_BYTES:
                deadline = time.monotonic() + self.flush_interval
            try:
                self._flush(raw, reads, queue)
            except OSError as exc:
                with self._lock:
                    self.error = _disk_error(self.path, exc, self.bytes_written)
                    self.bytes_dropped += len(raw) + len(self._raw)
                    self._raw, self._reads, self._queue = bytearray(), [], []
                return
            if closing:
                return

    def _flush(self, raw: bytearray, reads: list[tuple[int, int]], queue: list[tuple[int, Any]]) -> None:
        parts: list[bytes] = []
        nbytes = len(raw)
        for kind, payload in queue:
            if kind == KIND_DATA:
                parts.extend(self._data_records(*payload))
                nbytes += len(payload[0])
            else:
                parts.append(self._record(kind, payload))
        parts.extend(self._data_records(raw, reads))
        if not parts:
            return
        self._write_all(b"".join(parts))
        self.bytes_written += nbytes
        self._sync()

    def _data_records(self, raw: bytearray, reads: list[tuple[int, int]]) -> list[bytes]:
        """One DATA record per ~DATA_SPLIT bytes, cut at read boundaries."""
        out = []
        start = 0
        chunk: list[tuple[int, int]] = []
        for end, t in reads:
            if chunk and end - start > DATA_SPLIT:
                stop = chunk[-1][0]
                out.append(self._data_record(raw, start, stop, chunk))
                start, chunk = stop, []
            chunk.append((end, t))
        if chunk:
            out.append(self._data_record(raw, start, chunk[-1][0], chunk))
        return out

    def _data_record(self, raw: bytearray, start: int, stop: int, reads: list[tuple[int, int]]) -> bytes:
        rel = [(end - start, t) for end, t in reads]
        return self._record(KIND_DATA, encode_data_payload(rel, raw[start:stop]))

    def _record(self, kind: int, payload: bytes) -> bytes:
        rec = encode_record(kind, self._number, time.time_ns(), payload)
        self._number += 1
        self.records += 1
        return rec

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def _sync(self) -> None:
        if self.fsync:
            os.fsync(self._fd)


def _json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode()


def _disk_error(path: Path, exc: OSError, kept: int) -> SensorioError:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "the disk is full"
    elif exc.errno == errno.EFBIG:
        what = "the file size limit was reached"
    else:
        what = exc.strerror or str(exc)
    return SensorioError(
        f"recording to {path} stopped: {what}; what was recorded before it is kept ({kept} bytes in whole records)"
    )
