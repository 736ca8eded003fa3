"""Ring: the lock-free byte ring between a port reader thread and a Parser.

One thread writes (write / write_block + commit), one thread parses
(Parser.feed_ring). Writes never block; what does not fit is dropped,
counted, and marked so the parser resynchronises there.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from ._binding import ffi, lib
from .errors import SensorioError

_write_block = lib.sio_ring_write_block
_write_commit = lib.sio_ring_write_commit

_TWO_PRODUCERS = (
    "two threads write to one Ring at the same time; a Ring has one producer thread "
    "(and one consumer thread): write from one thread, or give each writer its own Ring"
)


class Ring:
    """A single-producer single-consumer byte ring (csrc/sio_ring.h).

    The producer side (write, write_block + commit, note_loss) belongs to one
    thread at a time, the consumer side (Parser.feed_ring, read, pop_mark) to
    one other; the two run without locks. A second producer at the same time
    would corrupt the ring: it is detected (cheaply, in the calls themselves)
    and raises SensorioError instead. Two consumers are a bug of the same
    kind; a Parser already serialises its own calls, so use one Parser.
    """

    def __init__(self, capacity: int = 1 << 22) -> None:
        if capacity < 2 or capacity & (capacity - 1):
            raise ValueError(f"ring capacity must be a power of two >= 2, not {capacity}")
        self._mem = ffi.new("char[]", lib.sio_ring_struct_size())
        self._buf = ffi.new("uint8_t[]", capacity)
        self._r = ffi.cast("sio_ring *", self._mem)
        lib.sio_ring_init(self._r, self._buf, capacity)
        self._len = ffi.new("size_t *")
        self._view = memoryview(ffi.buffer(self._buf))  # the whole buffer, for read_from
        # producer-side misuse detection: held during each producer call
        self._producing = threading.Lock()
        self._block_owner: int | None = None  # thread holding a write_block view
        #: the free block found in advance (prepare_write), for read_from
        self._ahead: memoryview | None = None

    @property
    def handle(self) -> Any:
        """The C ring (``sio_ring *``), for the C calls of its one consumer (Parser.feed_ring)."""
        return self._r

    def _enter_producer(self) -> None:
        """Start a producer call; raises if another thread is in one, or holds
        a write_block view it has not committed."""
        if not self._producing.acquire(blocking=False):
            raise SensorioError(_TWO_PRODUCERS)
        self._ahead = None  # a producer call may move the write position: found again when needed
        owner = self._block_owner
        if owner is not None and owner != threading.get_ident():
            self._block_owner = None  # report it once
            self._producing.release()
            raise SensorioError(_TWO_PRODUCERS)

    @property
    def capacity(self) -> int:
        """Bytes the ring holds when full."""
        return lib.sio_ring_capacity(self._r)

    def used(self) -> int:
        """Bytes written and not yet read."""
        return lib.sio_ring_used(self._r)

    def free(self) -> int:
        """Bytes that can be written now."""
        return lib.sio_ring_free(self._r)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Store data; returns bytes stored (the rest is counted as overflow)."""
        self._enter_producer()
        try:
            return lib.sio_ring_write(self._r, ffi.from_buffer(data), len(data))
        finally:
            self._producing.release()

    def write_block(self) -> memoryview:
        """Zero-copy: a writable view of the largest contiguous free block.
        Fill a prefix of it (e.g. with readinto) and then commit(), from the
        same thread."""
        self._enter_producer()
        try:
            ptr = lib.sio_ring_write_block(self._r, self._len)
            if self._len[0]:
                self._block_owner = threading.get_ident()
            return memoryview(ffi.buffer(ptr, self._len[0]))
        finally:
            self._producing.release()

    def read_from(self, fd: int, limit: int, commit: bool = True) -> memoryview | None:
        """Producer, zero-copy: one read of file descriptor fd (os.readv)
        into the free space, up to limit bytes. Returns a view of the bytes
        read (empty at end of file), or None without reading when the ring
        (or its mark queue) is full. With commit the bytes are published at
        once; else commit(len(view)) publishes them, from the same thread,
        once the caller has looked at them. write_block, readv and commit in
        one call: a device read as it comes does this for every packet."""
        view = self._ahead  # (taken before _enter_producer forgets it)
        self._enter_producer()
        try:
            if view is None or len(view) > limit:
                ptr = _write_block(self._r, self._len)
                n = self._len[0]
                if not n:
                    return None
                off = ptr - self._buf
                view = self._view[off : off + min(n, limit)]
            got = os.readv(fd, (view,))
            if got:
                if commit:
                    _write_commit(self._r, got)
                else:
                    self._block_owner = threading.get_ident()
            return view[:got]
        finally:
            self._producing.release()

    def prepare_write(self, limit: int) -> None:
        """Producer: find the free block for the next read_from now (up to
        limit bytes), so that read_from then needs neither a C call nor a
        new view: a reader calls this after handing on what it read, where
        it costs no latency. Any other producer call forgets it. Kept only
        when it is all read_from would find then (the consumer can only
        free more room): it reaches the end of the buffer, or limit."""
        self._enter_producer()
        try:
            ptr = _write_block(self._r, self._len)
            n = self._len[0]
            off = ptr - self._buf
            if n and (n >= limit or off + n == len(self._view)):
                self._ahead = self._view[off : off + min(n, limit)]
        finally:
            self._producing.release()

    def commit(self, n: int) -> None:
        """Publish the first n bytes written into the last write_block view."""
        self._enter_producer()
        try:
            self._block_owner = None
            lib.sio_ring_write_commit(self._r, n)
        finally:
            self._producing.release()

    def note_loss(self, n: int) -> None:
        """Record n bytes lost at the write position (e.g. a driver overrun)."""
        self._enter_producer()
        try:
            lib.sio_ring_note_loss(self._r, n)
        finally:
            self._producing.release()

    def read(self, n: int) -> bytes:
        """Copy out up to n bytes (stops at a loss mark); for tests and tools."""
        out = ffi.new("uint8_t[]", n)
        got = lib.sio_ring_read(self._r, out, n)
        return bytes(ffi.buffer(out, got))

    def pop_mark(self) -> int:
        """At a loss mark: remove it and return the bytes lost there (else 0)."""
        return lib.sio_ring_pop_mark(self._r)

    @property
    def overflow_bytes(self) -> int:
        """Bytes the producer could not write because the ring was full (lost, and counted)."""
        return lib.sio_ring_overflow_bytes(self._r)

    @property
    def overflow_events(self) -> int:
        """How many times the ring was full when the producer wrote."""
        return lib.sio_ring_overflow_events(self._r)
