"""Parser: feed bytes in any chunking, read Blocks, Messages and statistics.

A thin wrapper over csrc/sio_parser.h. The C side writes samples straight
into numpy buffers owned here; Python only steps in when a buffer is full or
a new stream appears, so no Python object is made per frame or per sample.
cffi releases the GIL during every C call, so a reader thread can keep
filling a Ring while this parses. One Parser may be used from several
threads: its methods take turns (a lock), each C call still runs without the GIL.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._binding import ffi, lib
from .blocks import EVENT_DTYPE, Block, Message
from .errors import SensorioError
from .formats import Format, resolve
from .ring import Ring

_STAT_FIELDS = [name for name, _ in ffi.typeof("sio_stats").fields]
_ENC_F32 = lib.SIO_ENC_F32


@dataclasses.dataclass(frozen=True)
class Stats:
    """Cumulative parser statistics (see sio_stats in csrc/sio_parser.h).
    bytes_in equals the sum of the bytes_* reasons plus bytes_pending.

    frames_ok, lost_frames and restarts count frames on the wire: one that
    carries several streams (a Cyton packet and its accelerometer) counts once;
    samples_ok and lost_samples add up every stream's samples. lost_frames
    adds up the gaps of the frame counter. When the counter cannot tell (a ring overflow, a resync, a gap
    longer than its range, e.g. 65536 SIO-1 frames) the device clock counts
    the frames exactly (gaps_by_clock); without a usable clock the bytes lost
    give a lower bound, which is what lost_frames then adds, and gaps_at_least
    counts such gaps, as it counts a gap across which the host's read times
    (read_time) saw a whole turn of a clockless counter pass (a Cyton's):
    lost_frames is exact only while gaps_at_least is 0
    (lost_frames_exact). Formats without a counter (ASCII lines;
    Format.counts_lost_frames false) count no lost frames, and the commands
    say so instead of "0 lost"; ring_overflow_bytes still says bytes were lost. Details:
    docs/capture.md, 'Counting lost frames'.

    The fields up to gaps_by_clock are sio_stats' own, in its order (a test
    holds them equal); bytes_pending is the bytes the parser holds for a frame
    not yet complete."""

    bytes_in: int = 0
    bytes_ok: int = 0
    frames_ok: int = 0
    messages_ok: int = 0
    samples_ok: int = 0
    crc_errors: int = 0
    bytes_crc: int = 0
    cobs_errors: int = 0
    bytes_cobs: int = 0
    oversized: int = 0
    bytes_oversized: int = 0
    malformed: int = 0
    bytes_malformed: int = 0
    unknown_type: int = 0
    bytes_unknown: int = 0
    bytes_resync: int = 0
    bytes_idle: int = 0
    lost_frames: int = 0
    lost_samples: int = 0
    restarts: int = 0
    ring_overflow_bytes: int = 0
    ring_overflows: int = 0
    too_many_streams: int = 0
    messages_dropped: int = 0
    gaps_at_least: int = 0
    gaps_by_clock: int = 0
    bytes_pending: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name (plain ints: cheaper than dataclasses.asdict)."""
        return {n: getattr(self, n) for n in _ALL_FIELDS}

    @property
    def lost_frames_exact(self) -> bool:
        """True when lost_frames is an exact count, False when it is a lower bound."""
        return self.gaps_at_least == 0


_ALL_FIELDS = tuple(f.name for f in dataclasses.fields(Stats))

#: stats counters whose bytes, added up, account for every byte fed
BYTE_REASONS = tuple(name for name in _STAT_FIELDS if name.startswith("bytes_") and name != "bytes_in") + (
    "bytes_pending",
)


class _SlotBuffers:
    """numpy arrays behind one stream slot's sio_block. Blocks are handed out
    as views of them, not copies (a copy per packet of a device read as it
    comes cost more than the rest of the read): the C block then continues
    after them (sio_parser_block_advance), at these offsets, until the
    buffers are used up and the parser asks for new ones."""

    __slots__ = ("samples", "samples2d", "n_ch", "seq", "time", "leadoff", "row", "events", "s_off", "f_off", "e_off")

    def __init__(self, rows: int, n_ch: int, events: int) -> None:
        self.samples = np.empty(rows * n_ch, dtype=np.int32)
        # the usual layout (the block's channels as allocated) as a 2-D view:
        # a block's rows are then one slice, no reshape
        self.samples2d = self.samples.reshape(rows, n_ch)
        self.n_ch = n_ch
        self.seq = np.empty(rows, dtype=np.uint32)
        self.time = np.empty(rows, dtype=np.uint64)
        self.leadoff = np.empty(rows, dtype=np.uint64)
        self.row = np.empty(rows, dtype=np.uint32)
        self.events = np.empty(events, dtype=EVENT_DTYPE)
        #: where the C block starts: in samples (values), frames, events
        self.s_off = self.f_off = self.e_off = 0

    def attach(self, block: Any) -> None:
        """Point the C block at the start of these buffers (its counts are left as they are)."""
        block.samples = ffi.cast("int32_t *", ffi.from_buffer(self.samples))
        block.samples_cap = self.samples.size
        block.frame_seq = ffi.cast("uint32_t *", ffi.from_buffer(self.seq))
        block.frame_time = ffi.cast("uint64_t *", ffi.from_buffer(self.time))
        block.frame_leadoff = ffi.cast("uint64_t *", ffi.from_buffer(self.leadoff))
        block.frame_row = ffi.cast("uint32_t *", ffi.from_buffer(self.row))
        block.frames_cap = self.seq.size
        block.events = ffi.cast("sio_event *", ffi.from_buffer(self.events))
        block.events_cap = self.events.size

    def renew_events(self, block: Any) -> None:
        """A fresh events array in place of this one, holding the C block's
        events (not handed out yet) at its start, and the block pointed at it.
        The old array stays with the Blocks that are views of it."""
        n, e0 = block.n_events, self.e_off
        events = np.empty(self.events.size, dtype=EVENT_DTYPE)
        events[:n] = self.events[e0 : e0 + n]
        self.events, self.e_off = events, 0
        block.events = ffi.cast("sio_event *", ffi.from_buffer(events))
        block.events_cap = events.size

    def moved(self, block: Any) -> _SlotBuffers:
        """Fresh buffers like these, holding what the C block holds, at their
        start, and the block pointed at them."""
        out = _SlotBuffers(self.seq.size, self.n_ch, self.events.size)
        n, s0 = block.n_rows * block.n_ch, self.s_off
        f, f0 = block.n_frames, self.f_off
        e, e0 = block.n_events, self.e_off
        out.samples[:n] = self.samples[s0 : s0 + n]
        for name in ("seq", "time", "leadoff", "row"):
            getattr(out, name)[:f] = getattr(self, name)[f0 : f0 + f]
        out.events[:e] = self.events[e0 : e0 + e]
        out.attach(block)
        return out


class _Slot:
    """One stream slot of the C parser, as read here per block: its sio_block
    (a pointer that never moves), its stream id (fixed once the slot is
    taken), the rows handed over so far (sio_parser_slot_rows_before: only
    block_advance, called from here, changes it) and its buffers. Kept here
    so that reading a block needs no C call but the advance. ``last``: the
    channels and encoding of its last block; ``ahead``: the Block a one-row
    block would be next, made in advance (Parser.prepare), or None."""

    __slots__ = ("index", "block", "stream", "rows_before", "bufs", "last", "ahead")

    def __init__(self, p: Any, slot: int, bufs: _SlotBuffers) -> None:
        self.index = slot
        self.block = lib.sio_parser_block(p, slot)
        self.stream = lib.sio_parser_slot_stream(p, slot)
        self.rows_before = lib.sio_parser_slot_rows_before(p, slot)
        self.bufs = bufs
        self.last: tuple[int, int] | None = None
        self.ahead: Block | None = None


_block_advance = lib.sio_parser_block_advance
_feed_ring = lib.sio_parser_feed_ring
_feed = lib.sio_parser_feed
_FEED_DONE = lib.SIO_FEED_DONE
_BAD_BLOCK = "the parser's block does not fit its buffers (its counts were changed): not handed out"


class Parser:
    """Incremental decoder of one byte stream.

    >>> p = Parser("sio")
    >>> p.feed(data)                 # any chunking, as often as you like
    >>> for block in p.read(): ...   # Blocks, per device stream, in order
    >>> p.read_messages()            # INFO / REPLY / LOG
    >>> p.stats.crc_errors

    Blocks are views of the Parser's buffers, not copies: a Block never
    changes after it is read (nothing is written there again), but keeping
    one keeps its buffers alive (``block_rows`` rows of its stream, e.g.
    0.9 MB for 8 channels, 4.4 MB for 64). To keep a few blocks out of many
    for long, keep copies (``np.copy``) of what you need.

    Thread safety: the methods of one Parser take turns (a lock around each
    call; the C code inside runs without the GIL), so one thread may feed
    while another reads or looks at ``stats``. Bytes fed from two threads at
    once are parsed whole, call after call, in whichever order the calls get
    the lock: that is one byte stream only if the callers order their calls.
    """

    def __init__(
        self,
        format: str | Format = "sio",
        *,
        block_rows: int = 16384,
        max_events: int = 256,
        message_buffer: int = 1 << 16,
    ) -> None:
        self.format = resolve(format)
        self._mem = ffi.new("char[]", lib.sio_parser_struct_size())
        self._p = ffi.cast("sio_parser *", self._mem)
        self.format.init_parser(self._p)
        period_us = self.format.counter_period_us()
        #: whether host read times matter to the loss count (read_time)
        self.times_reads = bool(period_us)
        if period_us:
            lib.sio_parser_set_counter_period(self._p, int(round(period_us * 1000)))
        self._block_rows = max(1, int(block_rows))
        self._max_events = max(2, int(max_events))
        self._msg = np.empty(max(message_buffer, 4096), dtype=np.uint8)
        lib.sio_parser_set_msg_buffer(self._p, ffi.cast("uint8_t *", ffi.from_buffer(self._msg)), self._msg.size)
        self._slots: dict[int, _Slot] = {}
        self._ready: list[Block] = []
        self._messages: list[Message] = []
        self._consumed = ffi.new("size_t *")
        # read after every feed_ring of a capture: a pointer, not a C call
        self._msg_len = lib.sio_parser_msg_len_ref(self._p)
        self._no_bytes = ffi.new("uint8_t[1]")
        # one caller at a time: the C parser and the buffers here are not
        # thread-safe (two feeds at once crash, a read during a feed returns
        # rows being written); held around C calls that release the GIL
        self._lock = threading.Lock()

    # -- feeding ---------------------------------------------------------
    def feed(self, data: bytes | bytearray | memoryview | np.ndarray) -> None:
        """Parse a chunk of bytes. Frames may straddle chunks."""
        with self._lock:
            self._feed(data)

    def _feed(self, data: bytes | bytearray | memoryview | np.ndarray) -> None:
        buf = ffi.from_buffer("uint8_t[]", data)
        total = len(buf)
        off = 0
        consumed = self._consumed
        while True:
            status = lib.sio_parser_feed(self._p, buf + off, total - off, consumed)
            off += consumed[0]
            if status == lib.SIO_FEED_DONE:
                return
            self._service(status)

    def read_time(self, t_ns: int) -> None:
        """The bytes fed next came from a port read at host time ``t_ns`` (ns
        since the epoch). For a format whose frame counter stands in for a
        clock (``times_reads``: a Cyton's 8-bit counter turns in 1.024 s), a
        gap across which the reads saw as much time pass as a whole turn is
        counted as "at least" (Stats.gaps_at_least), not as the counter's
        count modulo its range. Without read times the counter is believed."""
        with self._lock:
            lib.sio_parser_read_time(self._p, int(t_ns))

    def feed_ring(self, ring: Ring, max_bytes: int | None = None) -> int:
        """Parse what a Ring holds (up to max_bytes); returns bytes consumed.
        Ring overflow marks become OVERFLOW events and counters. The Ring's
        one consumer is whoever calls this (see Ring)."""
        limit = ring.capacity if max_bytes is None else max_bytes
        done = 0
        with self._lock:
            consumed, p, r = self._consumed, self._p, ring.handle
            while True:
                if done < limit:
                    status = _feed_ring(p, r, limit - done, consumed)
                else:
                    # the limit reached with a frame waiting for a block (the
                    # one it needed, just given): no bytes, but it goes in
                    # now, as feed() has it, not at the next read
                    status = _feed(p, self._no_bytes, 0, consumed)
                done += consumed[0]
                if status == _FEED_DONE:
                    return done
                self._service(status)

    def flush(self) -> None:
        """The input has ended: decode what the format holds back waiting for
        lookahead (the last Cyton packet, a last line without newline).
        Call at the end of a file; feeding may go on afterwards."""
        with self._lock:
            while True:
                status = lib.sio_parser_flush(self._p)
                if status == lib.SIO_FEED_DONE:
                    return
                self._service(status)

    def discontinuity(self, lost_bytes: int = 0) -> None:
        """Tell the parser the byte stream jumps here (reconnect, seek).
        lost_bytes, if known, bounds the frames lost from below where no
        device clock can count them (docs/capture.md)."""
        with self._lock:
            lib.sio_parser_discontinuity(self._p, lost_bytes, lib.SIO_EV_RESYNC)

    def _service(self, status: int) -> None:
        if status == lib.SIO_FEED_NEED_MSG:
            self._drain_messages()
            return
        slot = lib.sio_parser_need_slot(self._p)
        st = self._slots.get(slot)
        n_ch = lib.sio_parser_need_channels(self._p)
        need_rows = lib.sio_parser_need_rows(self._p)
        if st is not None:
            st.ahead = None  # (its views are of the buffers being replaced)
            bufs, block = st.bufs, st.block
            if (
                block.events_cap - block.n_events < 2
                and block.n_events + 2 <= bufs.events.size  # (else fresh ones would not help)
                and (not block.n_ch or block.n_ch == n_ch)
                and block.n_frames < block.frames_cap
                and (block.n_rows + need_rows) * n_ch <= block.samples_cap
            ):
                # only the events are used up (a frame needs at most 2): a
                # fresh events array, not fresh 0.9 MB of everything (kept
                # blocks of a lossy link, one gap each, would each hold on
                # to buffers of their own); the parser tries again. (If it
                # was a change of encoding, it asks again, with room for
                # events this time, and gets new buffers below.)
                bufs.renew_events(block)
                return
            if block.n_rows and (bufs.s_off or bufs.f_off or bufs.e_off):
                # the buffers are used up behind blocks handed out as views:
                # move the block to the start of fresh ones, as it would be
                # had those blocks been copies, and let the parser try again
                # there (so blocks end where they always did: at a read, a
                # full buffer or a layout change)
                st.bufs = bufs.moved(block)
                return
            if block.n_rows:
                # full, or the layout changed: hand the arrays over whole
                self._ready.append(self._make_block(st))
            # (an empty block gets new buffers sized for the frame that asked)
        rows = max(self._block_rows, need_rows)
        bufs = _SlotBuffers(rows, n_ch, self._max_events)
        if st is None:
            st = self._slots[slot] = _Slot(self._p, slot, bufs)
        else:
            st.bufs = bufs
        bufs.attach(st.block)
        st.block.n_ch = 0

    # -- reading ---------------------------------------------------------
    def _make_block(self, st: _Slot) -> Block:
        """What the slot's block holds, as a Block of views of its buffers;
        the C block goes on after it. Plain slicing, no helper calls: with a
        device read as it comes (one row per block) this runs for every packet."""
        block, bufs = st.block, st.bufs
        rows, frames, n_ch, enc, n_ev = block.n_rows, block.n_frames, block.n_ch, block.enc, block.n_events
        s0, f0, e0 = bufs.s_off, bufs.f_off, bufs.e_off
        n = rows * n_ch
        ahead = st.ahead
        if ahead is not None:
            st.ahead = None
            if rows == 1 and frames == 1 and not n_ev and st.last == (n_ch, enc):
                # made by prepare() for exactly this: views where this row is
                if _block_advance(self._p, st.index):
                    raise SensorioError(_BAD_BLOCK)
                bufs.s_off, bufs.f_off = s0 + n, f0 + 1
                st.rows_before += 1
                return ahead
        if n_ch == bufs.n_ch and not s0 % n_ch:
            r0 = s0 // n_ch
            samples = bufs.samples2d[r0 : r0 + rows]
        else:  # a channel count other than allocated (a layout change into an empty block), or after one
            samples = bufs.samples[s0 : s0 + n].reshape(rows, n_ch)
        f1 = f0 + frames
        if enc == _ENC_F32:
            # the C side stored float32 bit patterns in the int32 slots
            samples = samples.view(np.float32)
        out = Block(
            st.stream,
            samples,
            bufs.seq[f0:f1],
            bufs.time[f0:f1],
            bufs.leadoff[f0:f1],
            bufs.row[f0:f1],
            bufs.events[e0 : e0 + n_ev],
            st.rows_before,
            enc,
        )
        if _block_advance(self._p, st.index):
            raise SensorioError(_BAD_BLOCK)
        bufs.s_off, bufs.f_off, bufs.e_off = s0 + n, f1, e0 + n_ev
        st.rows_before += rows
        st.last = (n_ch, enc)
        return out

    def prepare(self) -> None:
        """Make in advance, for each stream, the Block that its next block
        is if it has one row and one frame (as a device read as it comes
        gives), with no events and the last block's layout: views of the
        buffers where that row will be. Reading such a block then costs no
        numpy at all (the views' cost, cold, was a third of the time from a
        read of the port to the block callback). A capture calls this after
        its callbacks, where it costs no latency; a block of another shape
        is read as always."""
        with self._lock:
            for st in self._slots.values():
                if st.ahead is not None or st.last is None:
                    continue
                n_ch, enc = st.last
                bufs = st.bufs
                s0, f0, e0 = bufs.s_off, bufs.f_off, bufs.e_off
                if s0 + n_ch > bufs.samples.size or f0 >= bufs.seq.size:
                    continue  # full: the next block goes to new buffers
                if n_ch == bufs.n_ch and not s0 % n_ch:
                    r0 = s0 // n_ch
                    samples = bufs.samples2d[r0 : r0 + 1]
                else:
                    samples = bufs.samples[s0 : s0 + n_ch].reshape(1, n_ch)
                if enc == _ENC_F32:
                    samples = samples.view(np.float32)
                f1 = f0 + 1
                st.ahead = Block(
                    st.stream,
                    samples,
                    bufs.seq[f0:f1],
                    bufs.time[f0:f1],
                    bufs.leadoff[f0:f1],
                    bufs.row[f0:f1],
                    bufs.events[e0:e0],
                    st.rows_before,
                    enc,
                )

    def read(self) -> list[Block]:
        """All Blocks decoded since the last read, oldest first per stream."""
        with self._lock:
            return self._read()

    def _read(self) -> list[Block]:
        out = self._ready
        self._ready = []
        for st in self._slots.values():
            if st.block.n_rows:
                out.append(self._make_block(st))
        return out

    def take(self) -> tuple[list[Message], list[Block]]:
        """read_messages() and read() in one turn (one lock, not two: a
        capture calls this after every read of the port)."""
        with self._lock:
            if self._msg_len[0]:
                self._drain_messages()
            messages, self._messages = self._messages, []
            return messages, self._read()

    def parse(self, data: bytes | bytearray | memoryview) -> list[Block]:
        """feed() then read(), in one turn."""
        with self._lock:
            self._feed(data)
            return self._read()

    def _drain_messages(self) -> None:
        n = lib.sio_parser_msg_len(self._p)
        if not n:
            return
        raw = self._msg[:n].tobytes()
        lib.sio_parser_msg_reset(self._p)
        i = 0
        while i + 3 <= n:
            length = raw[i + 1] | (raw[i + 2] << 8)
            self._messages.append(Message(raw[i], raw[i + 3 : i + 3 + length]))
            i += 3 + length

    def read_messages(self) -> list[Message]:
        """Device messages (INFO, REPLY, LOG) since the last call, in order."""
        with self._lock:
            self._drain_messages()
            out = self._messages
            self._messages = []
            return out

    @property
    def stats(self) -> Stats:
        """A snapshot of the cumulative statistics (consistent: taken between
        two calls that parse, never during one)."""
        with self._lock:
            st = lib.sio_parser_stats(self._p)
            values = {name: getattr(st, name) for name in _STAT_FIELDS}
            values["bytes_pending"] = lib.sio_parser_pending_bytes(self._p)
        return Stats(**values)


def concat_blocks(blocks: Iterable[Block]) -> dict[int, dict[str, np.ndarray]]:
    """Join Blocks per stream into whole arrays: samples, frame_seq,
    frame_t_us, frame_leadoff, and events with rows made absolute."""
    per: dict[int, list[Block]] = {}
    for b in blocks:
        per.setdefault(b.stream, []).append(b)
    out: dict[int, dict[str, np.ndarray]] = {}
    for stream, bl in sorted(per.items()):
        n_ch = bl[0].n_channels
        events = []
        for b in bl:
            ev = b.events.copy()
            ev["row"] += np.uint32(b.first_row)
            events.append(ev)
        out[stream] = {
            "samples": np.concatenate([b.samples for b in bl]) if bl else np.zeros((0, n_ch)),
            "frame_seq": np.concatenate([b.frame_seq for b in bl]),
            "frame_t_us": np.concatenate([b.frame_t_us for b in bl]),
            "frame_leadoff": np.concatenate([b.frame_leadoff for b in bl]),
            "events": np.concatenate(events),
        }
    return out
