"""What the frame engine produces: Blocks of samples and device Messages."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import SensorioError

if TYPE_CHECKING:
    from .descriptor import ElectrodeGrid

#: numpy layout of one event, mirroring ``sio_event`` in csrc/sio_parser.h
#: (its last 4 bytes are reserved, left out of the fields).
EVENT_DTYPE = np.dtype(
    {
        "names": ["row", "kind", "seq_before", "seq_after", "lost_frames", "lost_samples", "lost_bytes", "flags"],
        "formats": ["<u4", "<u4", "<u4", "<u4", "<u8", "<u8", "<u8", "<u4"],
        "offsets": [0, 4, 8, 12, 16, 24, 32, 40],
        "itemsize": 48,
    }
)

EV_GAP = 1
EV_RESTART = 2
EV_OVERFLOW = 3
EV_RESYNC = 4
EVENT_NAMES = {EV_GAP: "gap", EV_RESTART: "restart", EV_OVERFLOW: "overflow", EV_RESYNC: "resync"}

#: ``flags`` of a GAP event: its lost_frames / lost_samples are only a lower
#: bound (bytes were lost and no device clock could count the frames in them)
EVF_AT_LEAST = 1
#: ``flags`` of a GAP event: counted from the device clock, because the frame
#: counter alone could not tell (it wraps, or bytes were lost)
EVF_CLOCK = 2


def _empty_events() -> np.ndarray:
    return np.zeros(0, dtype=EVENT_DTYPE)


@dataclass
class Block:
    """Consecutive accepted samples of one device stream.

    ``samples`` holds raw codes, shape (rows, channels): int32, or float32
    when ``encoding`` is ENC_F32 (ASCII lines, f32 spec channels). Per frame:
    ``frame_seq`` (the frame counter), ``frame_t_us`` (device clock at the
    frame's first sample), ``frame_leadoff`` (bit i = channel i off) and
    ``frame_row`` (the frame's first row here). ``events`` (EVENT_DTYPE) marks
    gaps, device restarts and host overflows at the row where the stream
    resumed; a gap with ``flags & EVF_AT_LEAST`` lost at least its
    ``lost_frames``, maybe more (docs/capture.md, "Counting lost frames").
    ``first_row`` counts the stream's accepted rows before this block.
    A Block from a Parser (or a capture) is a view of the parser's buffers:
    it never changes, but it keeps them alive (see Parser).
    """

    stream: int
    samples: np.ndarray
    frame_seq: np.ndarray
    frame_t_us: np.ndarray
    frame_leadoff: np.ndarray
    frame_row: np.ndarray
    events: np.ndarray = field(default_factory=_empty_events)
    first_row: int = 0
    encoding: int = 0

    @property
    def n_channels(self) -> int:
        """Channels of the stream (columns of ``samples``)."""
        return int(self.samples.shape[1])

    def __len__(self) -> int:
        return int(self.samples.shape[0])

    def leadoff_rows(self) -> np.ndarray:
        """Per-row lead-off bitmask (uint64), expanded from the frame masks."""
        counts = np.diff(np.append(self.frame_row.astype(np.int64), len(self)))
        return np.repeat(self.frame_leadoff, counts)


#: a device clock's range: SIO-1's ``t_us`` (a 32-bit µs clock) wraps here, every 71.6 minutes
CLOCK_WRAP = 1 << 32


def clock_step(a: Any, b: Any, wrap: int = CLOCK_WRAP) -> Any:
    """a - b of a device clock that wraps at wrap (``Format.clock_modulus``),
    as the step between -wrap/2 and wrap/2 (ints or integer arrays)."""
    return (a - b + wrap // 2) % wrap - wrap // 2


class ClockUnwrap:
    """One stream's frame times (``Block.frame_t_us``) made monotonic across
    the wraps of its device clock, block after block: each step from one
    frame to the next is taken modulo the clock's range (``wrap``: 2^32 for
    SIO-1's µs clock, a spec's ``[timestamp]`` width) as the one between
    -wrap/2 and wrap/2, so the clock's drop at a wrap becomes the forward
    step it was (a device restart still steps back), unless that step back
    would take the time before 0: a restart cannot (the clock starts again
    at 0 or after), so it was a jump forward of more than half the range (a
    device paused or unplugged for 36 minutes or more at 2^32 µs, near the
    stream's start; later on, such a jump still reads as a restart). Only
    the last raw time and its unwrapped value carry from block to block, so
    the times are the ones the whole stream at once would give, in bounded
    memory. A frame count (Cyton, spec formats without a clock) is unwrapped
    already and passes unchanged. CSV, NPZ, decode and the LSL outlet all use
    this (docs/capture.md, Timestamps)."""

    __slots__ = ("last", "acc", "wrap")

    def __init__(self, wrap: int = CLOCK_WRAP) -> None:
        """wrap: where the clock wraps (``Format.clock_modulus``: a spec's
        16-bit timestamp turns at 2^16)."""
        self.last: int | None = None  # the last raw time
        self.acc = 0  # its unwrapped value
        self.wrap = wrap

    def __call__(self, t_raw: np.ndarray) -> np.ndarray:
        """The unwrapped times (int64) of the next frames of the stream."""
        t = np.asarray(t_raw).astype(np.int64)
        if not t.size:
            return t
        before = t[0] if self.last is None else self.last
        steps = clock_step(t, np.concatenate(([before], t[:-1])), self.wrap)
        base = t[0] if self.last is None else self.acc
        out = base + np.cumsum(steps)
        while out.min() < 0:  # a wrap more from the first time before 0 on (a few at most)
            out[int(np.argmax(out < 0)) :] += self.wrap
        self.last, self.acc = int(t[-1]), int(out[-1])
        return out


class StreamClocks:
    """The frame times of every stream of one recording, each unwrapped by
    a ClockUnwrap of its own, which starts where the recording's clock is
    by then (the stream unwrapped last): its streams share the device's
    clock, and a stream that first comes after the clock has turned is that
    many turns on, as the others are, not a turn behind them (a spec's u16
    timestamp of ms turns every 65.5 s; a stream sent only now and then).
    Called as ``clocks(stream, t_raw)``."""

    def __init__(self, wrap: int = CLOCK_WRAP) -> None:
        """wrap: where the clock wraps (``Format.clock_modulus``)."""
        self.wrap = wrap
        self._clocks: dict[int, ClockUnwrap] = {}
        self._latest: ClockUnwrap | None = None

    def __call__(self, stream: int, t_raw: np.ndarray) -> np.ndarray:
        """The unwrapped times (int64) of the stream's next frames."""
        clock = self._clocks.get(stream)
        if clock is None:
            clock = self._clocks[stream] = ClockUnwrap(self.wrap)
            if self._latest is not None:
                clock.last, clock.acc = self._latest.last, self._latest.acc
        out = clock(t_raw)
        if out.size:
            self._latest = clock
        return out


MESSAGE_KINDS = {2: "info", 3: "reply", 4: "log"}


@dataclass
class StreamTally:
    """What one stream of the data holds, analysed or not: the samples
    decoded, the samples the link lost in gaps (time the stream covered
    all the same) and the frames that carried them."""

    samples: int = 0
    lost_samples: int = 0
    frames: int = 0

    def add(self, block: Block) -> None:
        """Count one more block of the stream."""
        self.samples += len(block)
        self.frames += int(block.frame_seq.size)
        gaps = block.events[block.events["kind"] == EV_GAP]
        self.lost_samples += int(gaps["lost_samples"].astype(np.int64).sum())

    @property
    def span(self) -> int:
        """The samples of time the stream covers, from its first sample to the
        end of its last: those received and those lost in gaps (the row axis
        of sensorio.dsp, on which analyze gives a stream's seconds)."""
        return self.samples + self.lost_samples


@dataclass(frozen=True)
class Message:
    """A device message: SIO-1 INFO (JSON descriptor), REPLY or LOG text."""

    type: int
    payload: bytes

    @property
    def kind(self) -> str:
        """ "info", "reply" or "log" (``typeN`` for another type)."""
        return MESSAGE_KINDS.get(self.type, f"type{self.type}")

    @property
    def text(self) -> str:
        """The payload as text (UTF-8; undecodable bytes replaced)."""
        return self.payload.decode("utf-8", errors="replace")


@dataclass
class SignalBlock:
    """Consecutive samples of one stream in physical units, as dsp stages
    pass them to each other (see docs/dsp.md).

    ``data`` is float64 (rows, channels); ``valid`` (same shape, bool) is
    False where a sample must not be trusted: a filled gap, a detected fault,
    or a masked value (NaN, held or zero, by the pipeline's policy). Rows are
    evenly spaced at ``rate_hz``: row i is sample ``start + i`` of the
    stream's clock, which counts lost samples too, so ``start / rate_hz`` is
    the time in seconds since the stream's first sample. ``reset`` says the
    first row follows a discontinuity of unknown length (a device restart, a
    very long gap): stateful stages restart there. ``events`` are the link
    events (EVENT_DTYPE, rows relative to this block); ``leadoff`` the
    per-row lead-off bitmask; ``codes`` the raw codes behind ``data`` (None
    once a stage changed the rate) and ``code_range`` the device rails
    (min_code, max_code), ``code_zero`` the code that means 0. ``grid``
    says where the electrodes sit, when the device's descriptor says
    (:func:`sensorio.descriptor.electrode_grid`).
    """

    stream: int
    data: np.ndarray
    valid: np.ndarray
    rate_hz: float
    start: int = 0
    units: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    events: np.ndarray = field(default_factory=_empty_events)
    leadoff: np.ndarray | None = None
    codes: np.ndarray | None = None
    code_range: tuple[int, int] | None = None
    code_zero: float = 0.0
    reset: bool = False
    grid: ElectrodeGrid | None = None

    @property
    def n_channels(self) -> int:
        """Channels of the signal (columns of ``data``)."""
        return int(self.data.shape[1])

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def start_s(self) -> float:
        return self.start / self.rate_hz

    def times(self) -> np.ndarray:
        """Seconds since the stream's first sample, one per row."""
        return (self.start + np.arange(len(self))) / self.rate_hz

    def replace(self, **changes: object) -> SignalBlock:
        """A copy with some fields replaced (arrays are shared, not copied).
        A plain shallow copy (no __post_init__ to run): dataclasses.replace
        costs ~20 us, as much as filtering a small block."""
        unknown = changes.keys() - self.__dataclass_fields__.keys()
        if unknown:
            raise TypeError(f"SignalBlock has no field(s) {sorted(unknown)}")
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out.__dict__.update(changes)
        return out


class ShapeChange(SensorioError):
    """A stream's shape (channel count or sample type) changes within one
    source (a recording that holds data of more than one device): it cannot
    be treated as one signal. ``stream``, ``change`` (what changed, in
    words) and ``sample`` (the stream's first sample in the new shape) say where."""

    stream: int = -1
    change: str = ""
    sample: int = 0


class ShapeCheck:
    """Follows the shape of each stream's Blocks; ``check`` raises
    ShapeChange, naming the stream, the sample and ``where``, at the first
    block whose shape differs from the stream's first."""

    def __init__(self, name: str) -> None:
        self.name = name
        #: per stream: channels, sample type name, sample dtype
        self.shapes: dict[int, tuple[int, str, np.dtype]] = {}

    def check(self, blocks: list[Block], where: str = "") -> None:
        """Check each block's channel count and sample type against its stream's first block.

        Raises:
            ShapeChange: a block's shape differs; the message names the stream, the
                sample where it changes and ``where``."""
        shapes = self.shapes
        for b in blocks:
            samples = b.samples
            # the dtype itself, not its name: dtype.name costs ~7 µs, which
            # counts when blocks are one row (a 250 Hz Cyton read as it comes)
            first = shapes.get(b.stream)
            if first is not None and first[0] == samples.shape[1] and first[2] == samples.dtype:
                continue
            shape = (int(samples.shape[1]), samples.dtype.name, samples.dtype)
            first = shapes.setdefault(b.stream, shape)
            if shape == first:
                continue
            what = (
                f"from {first[0]} to {shape[0]} channels"
                if shape[0] != first[0]
                else f"its sample type from {first[1]} to {shape[1]}"
            )
            exc = ShapeChange(
                f"{self.name}: stream {b.stream} changes {what} at sample {b.first_row}"
                f"{' (' + where + ')' if where else ''}: data of more than one device cannot be "
                "read as one signal"
            )
            exc.stream, exc.change, exc.sample = b.stream, what, b.first_row
            raise exc


def split_block(block: Block, rows: int) -> Iterator[Block]:
    """Pieces of at most about ``rows`` rows, cut at frame boundaries (so each
    calibration step takes only the data it needs from a long block)."""
    fr = block.frame_row.astype(np.int64)
    if len(block) <= rows or fr.size <= 1:
        yield block
        return
    starts = [0]
    for i in range(1, fr.size):
        if fr[i] - fr[starts[-1]] >= rows:
            starts.append(i)
    bounds = starts + [fr.size]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        r0 = int(fr[a])
        r1 = int(fr[b]) if b < fr.size else len(block)
        ev = block.events[(block.events["row"] >= r0) & (block.events["row"] < r1)].copy()
        ev["row"] -= r0
        yield Block(
            stream=block.stream,
            samples=block.samples[r0:r1],
            frame_seq=block.frame_seq[a:b],
            frame_t_us=block.frame_t_us[a:b],
            frame_leadoff=block.frame_leadoff[a:b],
            frame_row=(block.frame_row[a:b] - r0).astype(block.frame_row.dtype),
            events=ev,
            first_row=block.first_row + r0,
            encoding=block.encoding,
        )


def cut_block(block: Block, row: int) -> tuple[Block, Block]:
    """(rows before ``row``, rows from ``row`` on) of a block, 0 < row < len.
    A cut inside a frame puts that frame in both pieces (its lead-off holds
    for all its rows): the second piece's first frame starts at its row 0
    and keeps the seq and device time of the frame's first sample, which is
    in the first piece."""
    fr = block.frame_row.astype(np.int64)
    head_frames = int(np.searchsorted(fr, row, side="left"))  # frames starting before row
    first = max(int(np.searchsorted(fr, row, side="right")) - 1, 0)  # the frame row is in
    head_ev = block.events[block.events["row"] < row]
    tail_ev = block.events[block.events["row"] >= row].copy()
    tail_ev["row"] -= row
    tail_rows = np.maximum(fr[first:] - row, 0).astype(block.frame_row.dtype)
    head = Block(
        stream=block.stream,
        samples=block.samples[:row],
        frame_seq=block.frame_seq[:head_frames],
        frame_t_us=block.frame_t_us[:head_frames],
        frame_leadoff=block.frame_leadoff[:head_frames],
        frame_row=block.frame_row[:head_frames],
        events=head_ev,
        first_row=block.first_row,
        encoding=block.encoding,
    )
    tail = Block(
        stream=block.stream,
        samples=block.samples[row:],
        frame_seq=block.frame_seq[first:],
        frame_t_us=block.frame_t_us[first:],
        frame_leadoff=block.frame_leadoff[first:],
        frame_row=tail_rows,
        events=tail_ev,
        first_row=block.first_row + row,
        encoding=block.encoding,
    )
    return head, tail


class Pushback:
    """Blocks from an iterator, with what a consumer hands back (``unread``)
    coming out first: consecutive consumers (calibration steps) each take
    the rows they need of a long block, and the next one gets the rest."""

    def __init__(self, blocks: Iterable[Block]) -> None:
        self._it = iter(blocks)
        self._back: list[Block] = []  # a stack: the last handed back comes out first

    def __iter__(self) -> Iterator[Block]:
        while True:
            if self._back:
                yield self._back.pop()
                continue
            b = next(self._it, None)
            if b is None:
                return
            yield b

    def unread(self, rest: Block) -> None:
        """Hand back the rows of the last block taken that were not used: the next block to come out."""
        self._back.append(rest)

    def drop_unread(self) -> list[Block]:
        """The blocks handed back and not taken again, which are forgotten."""
        back, self._back = self._back[::-1], []
        return back
