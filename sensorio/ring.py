"""Ring: the lock-free byte ring between a port reader thread and a Parser.

One thread writes (write / write_block + commit), one thread parses
(Parser.feed_ring). Writes never block; what does not fit is dropped,
counted, and marked so the parser resynchronises there.
"""

from __future__ import annotations

from ._binding import ffi, lib


class Ring:
    def __init__(self, capacity: int = 1 << 22) -> None:
        if capacity < 2 or capacity & (capacity - 1):
            raise ValueError(f"ring capacity must be a power of two >= 2, not {capacity}")
        self._mem = ffi.new("char[]", lib.sio_ring_struct_size())
        self._buf = ffi.new("uint8_t[]", capacity)
        self._r = ffi.cast("sio_ring *", self._mem)
        lib.sio_ring_init(self._r, self._buf, capacity)
        self._len = ffi.new("size_t *")

    @property
    def capacity(self) -> int:
        return lib.sio_ring_capacity(self._r)

    def used(self) -> int:
        return lib.sio_ring_used(self._r)

    def free(self) -> int:
        return lib.sio_ring_free(self._r)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Store data; returns bytes stored (the rest is counted as overflow)."""
        return lib.sio_ring_write(self._r, ffi.from_buffer(data), len(data))

    def write_block(self) -> memoryview:
        """Zero-copy: a writable view of the largest contiguous free block.
        Fill a prefix of it (e.g. with readinto) and then commit()."""
        ptr = lib.sio_ring_write_block(self._r, self._len)
        return memoryview(ffi.buffer(ptr, self._len[0]))

    def commit(self, n: int) -> None:
        lib.sio_ring_write_commit(self._r, n)

    def note_loss(self, n: int) -> None:
        """Record n bytes lost at the write position (e.g. a driver overrun)."""
        lib.sio_ring_note_loss(self._r, n)

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
        return lib.sio_ring_overflow_bytes(self._r)

    @property
    def overflow_events(self) -> int:
        return lib.sio_ring_overflow_events(self._r)
