"""Stream: live capture from a port (path or URL) as Blocks.

    with sensorio.capture.open("/dev/ttyUSB0", record="run1.sior") as s:
        for block in s:             # or s.read(timeout), s.latest(2.0), callbacks, async for
            ...

Threads: a PortReader fills a Ring (and the recorder); the parser runs in
the consumer: whoever calls read/iterates, or, when callbacks are given, the
reader thread itself right after each read (no hand-off per packet), moving
to a dispatcher thread if a callback turns out slow. Any background failure
is raised in the consumer.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..blocks import EV_RESTART, Block, ShapeChange, ShapeCheck
from ..errors import Advice, SensorioError, same_file
from ..formats import resolve
from ..parser import Parser
from ..recording.writer import RecordingWriter
from ..ring import Ring
from .clock import DeviceClock
from .device import CommandTimeout, DeviceLink, describe_device, device_identity
from .diagnose import diagnose
from .ports import is_pseudo_terminal, open_serial, port_files, tune_latency_timer
from .reader import DeviceDisconnected, PortReader, SourceEnded, StreamEvent
from .reconnect import Reconnector

#: read_interval of `sensorio record`: a recorder needs no millisecond latency,
#: and gathering small reads for 10 ms cuts wake-ups (CPU) about ten-fold
RECORDING_READ_INTERVAL = 0.01
#: max_read_interval of `sensorio record`: a slow device (a 250 Hz Cyton
#: sends 8 kB/s) is read when about 2 kB have gathered, at most this long
#: (docs/performance.md, "Cyton at 250 Hz": 50 ms left its CPU 1.1-1.3 x
#: BrainFlow's; 825 bytes of it wait in a kernel buffer of 4 kB or more)
RECORDING_MAX_READ_INTERVAL = 0.1
#: a block callback that takes longer than this (s) moves the callbacks from
#: the reader thread to a dispatcher thread, so that reading goes on meanwhile
SLOW_CALLBACK_S = 0.02

BlockCallback = Callable[[Block], None]
EventCallback = Callable[[StreamEvent], None]


def saved_calibration(
    info: dict[str, Any] | None, directory: str | Path | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    """The user calibration saved for the device's serial (for a recording's
    header), or None; and what went wrong reading it (the recording goes on)."""
    serial = (info or {}).get("serial")
    if not serial:
        return None, None
    from ..dsp.calibrate import CalibrationStore

    try:
        cal = CalibrationStore(directory).load(str(serial))
    except SensorioError as exc:
        return None, f"calibration not recorded: {exc}"
    return (cal.to_json() if cal is not None else None), None


def record_clash(port: str, record: str | Path) -> str | None:
    """The error when a recording at ``record`` would be written over a file
    the port itself reads or writes (port_files: a ``replay://`` port's
    recording, gone while being replayed, or a ``sim://`` port's ``truth=``
    file), by any name (relative, through links, hard links), overwrite or
    not. None when it is none of them."""
    for path, role in port_files(port):
        if same_file(record, path):
            return f"{record} is the port's {role} {path}: give the recording another name"
    return None


class Stream:
    """A capture from one port: a reader thread moves the port's bytes into a
    Ring, the C Parser turns them into Blocks, and ``read()`` (or iteration,
    ``async for``, or callbacks) hands them out; nothing is dropped silently
    (``stats``, ``events``). Open one with :func:`sensorio.open`; close it (or
    use ``with``) to stop the thread and finish the recording.

    ``port``: a serial port path or a URL (``sim://``, ``replay://FILE``, ...);
    ``format``: the wire format (a name, a spec path or dict, a Format);
    ``baudrate``: the serial line's speed;
    ``exclusive``: lock the port against other processes;
    ``set_low_latency``: set an FTDI adapter's latency timer to 1 ms (None,
    the default: where it can be, with a warning when it cannot and stays
    slow, 16 ms; True: a warning whenever it cannot; False: leave it).

    Recording: ``record`` a .sior path (every byte received, with the device
    INFO in its header; never the port's own file, a ``replay://`` recording
    or a ``sim://`` truth=, by any name: see record_clash); ``overwrite`` an existing one; ``flush_interval`` (s)
    between flushes and ``fsync`` them to disk; ``calibration`` the user
    calibration to store in the header, else the one saved for the device's
    serial in ``calibration_dir``.

    The device: ``request_info`` send INFO at start (default: for SIO-1) and
    wait ``info_timeout`` s for the reply (and for each command);
    ``start_command`` sent once connected (e.g. "START"); ``reconnect`` find the
    device again after an unplug (by VID/PID/serial number); ``stall_timeout``
    (s) without bytes before a "stall" event.

    Reading: ``read_interval`` (s) the reader waits between small reads (less
    CPU, more latency), ``max_read_interval`` (s, if larger) up to that long
    when the byte rate is low, to read about 2 kB at a time; ``backpressure`` leave bytes in the port while the ring
    is full instead of dropping them (default: for pseudo-terminals, whose
    writer then waits); ``ring_size`` bytes (a power of two);
    ``history_seconds`` of samples kept per stream for ``recent()``;
    ``max_pending_blocks`` not yet read before the oldest are dropped (and
    counted in ``dropped_blocks``); ``on_block`` / ``on_event`` callbacks.
    Block callbacks run in the reader thread right after each read (the
    lowest latency and CPU: no thread hand-off per packet) until one call
    takes longer than SLOW_CALLBACK_S; from then on in a dispatcher thread,
    so a slow callback never holds up reading again; ``callback_thread``
    True uses the dispatcher thread from the start, False never."""

    def __init__(
        self,
        port: str,
        format: str = "sio",
        *,
        baudrate: int = 115200,
        record: str | Path | None = None,
        overwrite: bool = False,
        flush_interval: float = 0.5,
        fsync: bool = True,
        calibration: dict[str, Any] | None = None,
        calibration_dir: str | Path | None = None,
        request_info: bool | None = None,
        info_timeout: float = 1.0,
        start_command: str | None = None,
        reconnect: bool = True,
        stall_timeout: float = 2.0,
        read_interval: float = 0.0,
        max_read_interval: float = 0.0,
        backpressure: bool | None = None,
        ring_size: int = 1 << 22,
        history_seconds: float = 10.0,
        max_pending_blocks: int = 100_000,
        exclusive: bool = True,
        set_low_latency: bool | None = None,
        on_block: BlockCallback | None = None,
        on_event: EventCallback | None = None,
        callback_thread: bool | None = None,
    ) -> None:
        self.port = str(port)
        #: a recording played back (replay://): its advice is of the file, not a device
        self._replay = self.port.lower().startswith("replay:")
        self.format = resolve(format)
        self.parser = Parser(self.format)
        self.ring = Ring(ring_size)
        self._clock = DeviceClock(time_scale_us=self.format.time_scale_us(), clock_modulus=self.format.clock_modulus)
        #: blocks taken, with their arrival, whose clock observation and
        #: history entry are still to be made (see _settle)
        self._unsettled: list[tuple[Block, int]] = []
        self.events: deque[StreamEvent] = deque(maxlen=10_000)
        self._block_callbacks: list[BlockCallback] = [on_block] if on_block else []
        self._event_callbacks: list[EventCallback] = [on_event] if on_event else []
        self._end_callbacks: list[Callable[[], None]] = []
        self._poll_callbacks: list[Callable[[], None]] = []
        self._pending: deque[Block] = deque()
        self._max_pending = max_pending_blocks
        self.dropped_blocks = 0
        self._history: dict[int, deque[Block]] = {}
        self._history_rows: dict[int, int] = {}
        self._keep_rows: dict[int, int] = {}  # the last _history_keep per stream
        self.history_seconds = history_seconds
        self._pump_lock = threading.RLock()
        self._wait_lock = threading.Lock()  # around reader.waiting (two consumers may wait)
        self._consumed = 0
        self._seen_loss_marks = 0
        self.last_arrival_ns: int | None = None
        self._closed = False
        self._dispatch_error: BaseException | None = None
        self._dispatcher: threading.Thread | None = None
        self._callback_thread = callback_thread
        #: block callbacks run in the reader thread (see _dispatch_inline)
        self._inline = False
        self._delivering = False  # _dispatch_inline is running
        #: set when block callbacks will be called no more (source ended, or a failure)
        self._dispatch_done = threading.Event()
        self.baudrate = baudrate
        self._exclusive = exclusive
        if record is not None:
            clash = record_clash(self.port, record)
            if clash:
                raise SensorioError(clash)
        if record is not None and not overwrite and Path(record).exists():
            raise SensorioError(
                Advice(f"{record} exists: choose another name or pass {{overwrite}} to overwrite it", overwrite=True)
            )
        #: the port's FTDI latency timer (ms) now, None where it has none; one
        #: that cannot be set to 1 ms is warned of when asked for or slow
        self.latency_timer_ms = tune_latency_timer(self.port, set_low_latency)
        self._set_low_latency = set_low_latency  # (again on each reconnect: a replug resets it)
        ser = open_serial(self.port, baudrate=baudrate, exclusive=exclusive)
        self.recorder: RecordingWriter | None = None
        # Until the device has said who it is (INFO goes into the header), the
        # bytes and events for the recording wait here, in order.
        self._tee_lock = threading.Lock()
        self._early: list[tuple[str, Any, Any]] | None = [] if record is not None else None
        # After a reconnect, until the device that answered has been checked
        # against the first one (its INFO), its bytes and events wait here:
        # another device on the same path must never be merged into the file.
        self._held: list[tuple[str, Any, Any]] | None = None
        self._held_until = 0.0
        self._hold_timeout = info_timeout + 1.0
        #: identity (serial, model, stream layout) of the device this stream is of
        self._identity: tuple[Any, ...] | None = None
        self._first_info: dict[str, Any] | None = None
        self._foreign: SensorioError | None = None
        self._not_recorded = 0  # bytes of another device, left out of the recording
        self._shapes = ShapeCheck(self.port)
        self._record_options: dict[str, Any] = {
            "path": record,
            "overwrite": overwrite,
            "flush_interval": flush_interval,
            "fsync": fsync,
            "header": {
                "format": self.format.name,
                "port": self.port,
                "port_settings": {
                    "baudrate": baudrate,
                    "bytesize": ser.bytesize,
                    "parity": ser.parity,
                    "stopbits": ser.stopbits,
                },
                "software": f"sensorio {__version__}",
                "calibration": calibration,
                "device_info": None,
            },
        }
        self._calibration_dir = calibration_dir
        self.device = DeviceLink(self._write)
        self.device.on_info = self._got_info
        is_sio = self.format.name == "sio"
        self._request_info = is_sio if request_info is None else request_info
        self._start_command = start_command
        reconnector = Reconnector(self.port, self._reopen) if reconnect else None
        self._reader = PortReader(
            ser,
            self.ring,
            tee=self._tee if record is not None else None,
            emit=self._emit,
            reconnector=reconnector,
            stall_timeout=stall_timeout,
            on_connect=self._greet,
            read_interval=read_interval,
            max_read_interval=max_read_interval,
            on_read=self._dispatch_inline,
            # a pty's writer and a replayed file can wait; a serial port cannot
            backpressure=(is_pseudo_terminal(self.port) or self._replay) if backpressure is None else backpressure,
        )
        self._reader.start()
        try:
            if self._request_info:
                try:
                    self.command("INFO", timeout=info_timeout)
                except SourceEnded:
                    # a short replay may be over already: nothing to ask, but
                    # what it sent before it ended (its INFO) is parsed now, as
                    # the wait for a reply would have; left to the first read,
                    # the descriptor was there or not by the race of the two
                    self._pump(0.0)
                except SensorioError as exc:
                    self._emit(StreamEvent("warning", time.time_ns(), {"text": str(exc)}))
            if record is not None:
                self._start_recording()
            try:
                if start_command and self.parser.format.name != "sio":
                    # other formats have no reply frames (a Cyton's "b" just starts it)
                    self._write(start_command.encode())
                elif start_command:
                    try:
                        self.command(start_command, timeout=info_timeout)
                    except CommandTimeout as exc:  # a device that streams anyway may not answer
                        self._emit(StreamEvent("warning", time.time_ns(), {"text": str(exc)}))
            except SourceEnded:
                pass  # the source ended before it needed starting (a short replay)
            except DeviceDisconnected as exc:
                if reconnector is None:
                    raise
                # unplugged during the handshake: _greet starts it again on reconnect
                self._emit(StreamEvent("warning", time.time_ns(), {"text": str(exc)}))
        except BaseException:
            self.close()
            raise
        if self._block_callbacks:
            self.start_dispatch()

    # -- recording ------------------------------------------------------------------
    def _tee(self, data: bytes, t_ns: int) -> None:
        with self._tee_lock:
            if self._foreign is not None:
                self._not_recorded += len(data)  # another device's: never in this file
                return
            if self._early is not None:
                self._early.append(("data", data, t_ns))
                return
            if self._held is not None:
                self._held.append(("data", data, t_ns))
                return
        assert self.recorder is not None
        self.recorder.add(data, t_ns)

    def _record_event(self, kind: str, detail: dict[str, Any]) -> None:
        with self._tee_lock:
            if self._early is not None:
                self._early.append(("event", kind, detail))
                return
            if self._held is not None:
                self._held.append(("event", kind, detail))
                return
        if self.recorder is not None:
            self.recorder.event(kind, **detail)

    def _release_held(self, keep_data: bool = True) -> int:
        """Hand what waited since a reconnect to the recording (the device is
        the same, or could not be checked); with keep_data False only the
        events (the device is another one). Returns the bytes left out."""
        left_out = 0
        with self._tee_lock:
            held, self._held = self._held, None
            for kind, a, b in held or []:
                if kind == "data" and not keep_data:
                    left_out += len(a)
                    self._not_recorded += len(a)
                elif self.recorder is not None:
                    if kind == "data":
                        self.recorder.add(a, b)
                    else:
                        self.recorder.event(a, **b)
        return left_out

    def _start_recording(self) -> None:
        """Create the file (header with the device INFO), then hand over what waited."""
        opts = self._record_options
        header = dict(opts["header"])
        header["device_info"] = self.device.info
        problem = None
        if header["calibration"] is None:
            header["calibration"], problem = saved_calibration(self.device.info, self._calibration_dir)
        writer = RecordingWriter(
            opts["path"],
            header,
            overwrite=opts["overwrite"],
            flush_interval=opts["flush_interval"],
            fsync=opts["fsync"],
        )
        writer.event("connect", port=self.port)
        if problem:
            writer.event("warning", text=problem)
        with self._tee_lock:
            for kind, a, b in self._early or []:
                if kind == "data":
                    writer.add(a, b)
                else:
                    writer.event(a, **b)
            self._early = None
            self.recorder = writer

    # -- port plumbing (reader thread) ------------------------------------------
    def _reopen(self, path: str) -> Any:
        """The port again, after a reconnect: an FTDI adapter plugged back in
        has its latency timer at 16 ms again, so it is set as on open (once
        the port opens, so a replug still settling is not warned of twice)."""
        ser = open_serial(path, baudrate=self.baudrate, exclusive=self._exclusive)
        self.latency_timer_ms = tune_latency_timer(path, self._set_low_latency)
        return ser

    def _greet(self, ser: Any) -> None:
        """After a reconnect: ask again who is there, and restart streaming."""
        lines = (["INFO"] if self._request_info else []) + ([self._start_command] if self._start_command else [])
        for line in lines:
            try:
                ser.write(line.encode() + b"\n")
            except Exception:  # noqa: BLE001 - the next read reports the disconnect
                return

    def _write(self, data: bytes) -> None:
        self._reader.write(data)

    def _emit(self, event: StreamEvent) -> None:
        self.events.append(event)
        if event.kind == "connect" and self._identity is not None and self._request_info:
            # a reconnect (the first connection emits none): hold the
            # recording until the INFO asked for in _greet says who is there
            with self._tee_lock:
                if self._held is None and self._early is None and self.recorder is not None:
                    self._held = []
                    self._held_until = time.monotonic() + self._hold_timeout
        if event.kind in ("connect", "disconnect", "gap", "stall", "resume", "end", "marker"):
            self._record_event(event.kind, {"t_ns": event.t_ns, **event.detail})
        for cb in self._event_callbacks:
            cb(event)

    def _got_info(self, info: dict[str, Any]) -> None:
        identity = device_identity(info)
        if self._identity is None:
            self._identity, self._first_info = identity, info
        elif identity != self._identity:
            self._other_device(info)
            return
        for sid, rate in self.device.stream_rates().items():
            self.clock.set_rate(sid, rate)  # (the property: after the blocks before it)
        self._record_event("info", {"info": info})
        if self._held is not None:
            self._release_held()

    def _other_device(self, info: dict[str, Any] | None, why: str = "") -> None:
        """Another device answered at this port: stop, and keep its data out
        of the recording (what it sent is counted in a foreign_device event)."""
        if self._foreign is not None:
            return
        kept = f"; {self.recorder.path} keeps the first device's data" if self.recorder else ""
        what = (
            f"{describe_device(info)}, not {describe_device(self._first_info)} as before" if info is not None else why
        )
        self._foreign = SensorioError(f"a different device appeared on {self.port}: {what}; capture stopped{kept}")
        self._reader.stop()
        left_out = self._release_held(keep_data=False)
        self._record_event(
            "foreign_device",
            {"t_ns": time.time_ns(), "info": info, "bytes_not_recorded": left_out},
        )

    # -- consumer side ------------------------------------------------------------
    def _pump(self, wait: float = 0.0, settle: bool = True) -> None:
        """Parse what the reader delivered (waiting up to `wait` for some).
        settle False leaves the new blocks' clock observation and history
        entry to the caller's _settle (after it has handed them out)."""
        reader = self._reader
        if wait > 0:
            with self._wait_lock:
                reader.waiting += 1
            try:
                if not reader.arrivals and not reader.marks and not reader.finished:
                    reader.wake.wait(wait)
            finally:
                with self._wait_lock:
                    reader.waiting -= 1
        if reader.wake.is_set():
            reader.wake.clear()
        with self._pump_lock:
            arrivals, marks = reader.arrivals, reader.marks
            if not arrivals and not marks:
                if settle and self._unsettled:
                    self._settle()
                return
            marked = False
            # what had arrived when this call began, no more: the reader goes
            # on filling the ring while the parser drains it, and a caller
            # that parsed until it stopped would pile up blocks without end
            # (a replay at full speed: hundreds of MB)
            stop_at = max(arrivals[-1][0] if arrivals else -1, marks[-1][0] if marks else -1)
            while (arrivals and arrivals[0][0] <= stop_at) or (marks and marks[0][0] <= stop_at):
                if arrivals and arrivals[0][0] <= stop_at and (not marks or arrivals[0][0] <= marks[0][0]):
                    # everything that arrived before the next mark goes in one feed
                    limit = min(marks[0][0], stop_at) if marks else stop_at
                    end, t = arrivals.popleft()
                    by_read = self.parser.times_reads
                    while arrivals and arrivals[0][0] <= limit:
                        if by_read and end > self._consumed:
                            # a counter that stands in for a clock: each read's
                            # time bounds the gaps in its bytes (Parser.read_time)
                            self.parser.read_time(t)
                            self._consumed += self.parser.feed_ring(self.ring, end - self._consumed)
                        end, t = arrivals.popleft()
                    marks_placed = reader.loss_marks
                    if end > self._consumed:
                        if by_read:
                            self.parser.read_time(t)
                        self._consumed += self.parser.feed_ring(self.ring, end - self._consumed)
                        # the reader clears the flag before it looks at the ring's room
                        if not reader.space.is_set():
                            reader.space.set()
                    if marks_placed != self._seen_loss_marks:
                        # loss marks may sit after the last byte: a limit of 1
                        # lets the parser take them (and at most 1 newer byte)
                        self._seen_loss_marks = marks_placed
                        self._consumed += self.parser.feed_ring(self.ring, 1)
                    self.last_arrival_ns = t
                    messages, blocks = self.parser.take()
                    if messages:  # first: an INFO says who sent the blocks that follow it
                        self.device.handle(messages)
                    self._take(blocks, t)
                else:
                    _, _, lost = marks.popleft()
                    self.parser.discontinuity(lost)
                    marked = True
            if marked:
                self.device.handle(self.parser.read_messages())
        if settle and self._unsettled:
            self._settle()
        if self._held is not None and time.monotonic() > self._held_until:
            self._release_held()  # no INFO came back: the device cannot be checked by it

    def _take(self, blocks: list[Block], arrival_ns: int) -> None:
        if self._foreign is not None:
            return  # another device's data: not passed on
        try:
            self._shapes.check(blocks)
        except ShapeChange as exc:  # a device that did not say who it is, told by its data
            self._other_device(None, f"stream {exc.stream} changed {exc.change} at sample {exc.sample}")
            return
        pending, unsettled = self._pending, self._unsettled
        for b in blocks:
            unsettled.append((b, arrival_ns))
            if len(pending) >= self._max_pending:
                pending.popleft()
                self.dropped_blocks += 1
            pending.append(b)

    def _settle(self) -> None:
        """The clock observation and history entry of the blocks taken since
        the last call, in their order. The reader thread calls the block
        callbacks before this (less latency); whatever reads the clock or the
        history (host_times, latest, clock) calls it first, so it finds them
        as if each block had been booked when it was taken."""
        with self._pump_lock:
            if not self._unsettled:
                return
            unsettled, self._unsettled = self._unsettled, []
            clock = self._clock
            for b, arrival_ns in unsettled:
                if b.events.size and (b.events["kind"] == EV_RESTART).any():
                    clock.reset(b.stream)
                clock.observe(b, arrival_ns)
                self._remember(b)

    def _remember(self, b: Block) -> None:
        sid = b.stream
        hist = self._history.get(sid)
        if hist is None:
            hist = self._history[sid] = deque()
        hist.append(b)
        rows = self._history_rows.get(sid, 0) + b.samples.shape[0]
        # the rows to keep follow the rate, which may change (INFO, or as
        # measured); looked up afresh only when the oldest block may go, so
        # trimming always uses the current value (and a one-row block costs little)
        if rows - hist[0].samples.shape[0] >= self._keep_rows.get(sid, 0):
            keep = self._keep_rows[sid] = self._history_keep(sid)
            while hist and rows - len(hist[0]) >= keep:
                rows -= len(hist.popleft())
        self._history_rows[sid] = rows

    def _history_keep(self, stream: int) -> int:
        rate = self._clock.rate_hz(stream) or 10_000.0  # INFO's rate, else the measured one
        return max(1, int(rate * self.history_seconds))

    def _raise_background(self) -> None:
        err = (
            self._foreign
            or self._reader.error
            or self._dispatch_error
            or (self.recorder.error if self.recorder else None)
        )
        if err is not None:
            if isinstance(err, SensorioError):
                raise err
            raise SensorioError(f"capture from {self.port} failed: {type(err).__name__}: {err}") from err

    def read(self, timeout: float | None = None) -> list[Block]:
        """Blocks decoded since the last call; waits up to timeout (None: until
        some arrive or the stream ends). A failure of a background thread (the
        port reader, the recorder, the callback dispatcher) is raised as soon
        as it is known, before any block still pending."""
        if (self._inline or self._dispatcher is not None) and threading.current_thread() is not self._dispatcher:
            raise SensorioError("this stream delivers to callbacks; read() is not available too")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._pump(0.0)
            # a failure first: with a device that streams on, blocks are
            # pending at every call, and they must not hide it
            self._raise_background()
            if self._pending:
                return self._take_pending()
            if self._reader.finished or self._closed:
                self._pump(0.0)
                return self._take_pending()
            left = 0.1 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return []
            self._pump(min(left, 0.1))

    def _take_pending(self) -> list[Block]:
        # under the lock: another thread's _pump (a command() waiting for
        # its reply) may be appending meanwhile
        with self._pump_lock:
            out = list(self._pending)
            self._pending.clear()
        return out

    @property
    def ended(self) -> bool:
        """The source has ended (a replay ran out) or the stream is closed,
        and everything decoded has been read."""
        return (self._reader.finished or self._closed) and not self._pending and not self._reader.arrivals

    def __iter__(self) -> Iterator[Block]:
        while True:
            blocks = self.read(0.1)
            for b in blocks:
                self._raise_background()  # a failure is not held back by a batch
                yield b
            if not blocks and self.ended:
                self._raise_background()
                return

    async def aread(self, timeout: float | None = None) -> list[Block]:
        """``read`` for asyncio (runs it in the default executor; timeout default 0.1 s)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.read, 0.1 if timeout is None else timeout)

    async def __aiter__(self) -> AsyncIterator[Block]:
        while True:
            blocks = await self.aread(0.1)
            for b in blocks:
                self._raise_background()  # a failure is not held back by a batch
                yield b
            if not blocks and self.ended:
                self._raise_background()
                return

    def latest(self, seconds: float) -> dict[int, np.ndarray]:
        """The last `seconds` of samples per stream (at most history_seconds)."""
        if self._dispatcher is None and not self._inline:
            self._pump(0.0)
            self._raise_background()
        out = {}
        with self._pump_lock:
            self._settle()  # the blocks a callback is being given are in it too
            for sid, hist in self._history.items():
                if not hist:
                    continue
                rows = max(
                    1,
                    int(self._history_keep(sid) * min(seconds, self.history_seconds) / self.history_seconds),
                )
                data = np.concatenate([b.samples for b in hist])
                out[sid] = data[-rows:]
        return out

    def host_times(self, block: Block) -> tuple[np.ndarray, float] | None:
        """Host-clock time (s since the epoch) of each row of block, and its uncertainty (s)."""
        return self.clock.host_times(block)

    @property
    def clock(self) -> DeviceClock:
        """The map of each stream's device clock onto host time, up to date
        with every block handed out (also within a block callback)."""
        if self._unsettled:
            self._settle()
        return self._clock

    # -- callbacks ------------------------------------------------------------------
    def add_callback(self, on_block: BlockCallback) -> None:
        """Call ``on_block`` with every Block (in the reader thread, or a
        dispatcher thread once a callback has been slow: see Stream)."""
        self._block_callbacks.append(on_block)
        self.start_dispatch()

    def add_end_callback(self, on_end: Callable[[], None]) -> None:
        """Call ``on_end`` once the source has ended, after the last Block went
        to the block callbacks, in the thread that called them (what holds
        data back until its input ends, a filter's tail or a last window, can
        hand it out there)."""
        self._end_callbacks.append(on_end)

    def add_poll_callback(self, on_poll: Callable[[], None]) -> None:
        """Call ``on_poll()`` in the thread that calls the block callbacks,
        each time they have been given every Block decoded so far: after each
        read of the port, and while nothing comes, at each idle poll (about
        every 0.1 s), so that it can notice a silence (no block comes to tell
        of one). Not while the reader waits for an unplugged device to come
        back, if the callbacks run in the reader thread: the "disconnect"
        event and a poll come before that wait. A failure ends the callbacks
        as a block callback's does."""
        self._poll_callbacks.append(on_poll)

    def _polled(self) -> None:
        for cb in self._poll_callbacks:
            cb()

    def _ended(self) -> None:
        for cb in self._end_callbacks:
            cb()

    def add_event_callback(self, on_event: EventCallback) -> None:
        """Call ``on_event`` with every StreamEvent (connect, disconnect, stall, ...)."""
        self._event_callbacks.append(on_event)

    def start_dispatch(self) -> None:
        """Start calling the block callbacks: from the reader thread (its next
        read), or from a dispatcher thread (``callback_thread=True``)."""
        if self._inline or self._dispatcher is not None or self._dispatch_done.is_set():
            return
        if self._callback_thread:
            self._start_dispatcher()
        else:
            # from the reader's next read or idle poll (within its poll interval) on
            self._inline = True

    def _start_dispatcher(self) -> None:
        self._dispatcher = threading.Thread(target=self._dispatch, name="sensorio-dispatch", daemon=True)
        self._inline = False  # (after: wait() sees one of the two at any time)
        self._dispatcher.start()

    def _dispatch_inline(self) -> None:
        """In the reader thread, after every read (and every idle poll): parse
        what arrived and call the block callbacks. A callback slower than
        SLOW_CALLBACK_S hands the rest to a dispatcher thread (unless
        callback_thread=False); a failure is kept for wait(), emitted as an
        "error" event, and ends the callbacks, as in the dispatcher thread."""
        if not self._inline or self._delivering:
            return  # (a callback's command() reads in this thread too: no nested calls)
        self._delivering = True
        try:
            # the blocks to the callbacks first, their clock observation and
            # history entry after (_settle): less latency per packet
            self._pump(0.0, settle=False)
            try:
                pending, lock, clock = self._pending, self._pump_lock, time.perf_counter
                while True:
                    self._raise_background()  # a failure first, before any block still pending
                    with lock:
                        if not pending:
                            break
                        b = pending.popleft()
                    t0 = clock()
                    for cb in self._block_callbacks:
                        cb(b)
                    if self._callback_thread is None and clock() - t0 > SLOW_CALLBACK_S:
                        # the rest (still pending, in order) goes to a dispatcher thread
                        self._start_dispatcher()
                        return
                self._polled()
            finally:
                self._settle()
                # the next packet's Block made now, while nothing waits for it
                self.parser.prepare()
            if self._reader.finished:
                self._inline = False
                self._ended()
                self._dispatch_done.set()
        except BaseException as exc:  # noqa: BLE001 - raised to the user by wait()/close()
            self._inline = False
            self._dispatch_failed(exc)
        finally:
            self._delivering = False

    def _dispatch(self) -> None:
        try:
            while True:
                blocks = self.read(0.1)
                for b in blocks:
                    self._raise_background()  # a failure is not held back by a batch
                    for cb in self._block_callbacks:
                        cb(b)
                self._polled()
                if not blocks and self.ended:
                    self._ended()
                    return
        except BaseException as exc:  # noqa: BLE001 - raised to the user by wait()/close()
            self._dispatch_failed(exc)
        finally:
            self._dispatch_done.set()

    def _dispatch_failed(self, exc: BaseException) -> None:
        self._dispatch_error = exc
        self._dispatch_done.set()
        # callback users may never call wait(): tell them now, as an event
        try:
            self._emit(StreamEvent("error", time.time_ns(), {"text": str(exc)}))
        except Exception:  # noqa: BLE001 - a failing event callback; wait() still raises
            pass

    def wait(self, timeout: float | None = None) -> None:
        """With callbacks: block until the source ends (replay) or timeout;
        re-raises a failure of the background threads."""
        if self._inline or self._dispatcher is not None:
            self._dispatch_done.wait(timeout)
        self._raise_background()

    # -- device -------------------------------------------------------------------
    def command(self, text: str, timeout: float = 1.0) -> str:
        """Send an SIO-1 command line; returns the device's OK reply. Also
        from a block callback: there the reply is read by the callback's
        own thread (the reader), which cannot read while it waits otherwise."""
        if threading.current_thread() is self._reader:
            return self.device.command(text, timeout, self._read_and_pump)
        return self.device.command(text, timeout, self._pump)

    def _read_and_pump(self, wait: float) -> None:
        self._reader.read_now(wait)
        self._pump(0.0)

    @property
    def info(self) -> dict[str, Any] | None:
        """The device's INFO descriptor (the last it sent), None until it sends one."""
        return self.device.info

    def marker(self, text: str, **detail: Any) -> None:
        """Put a marker event into the recording, after the bytes received so
        far; ``detail``: more JSON fields for it (e.g. the stream row it marks)."""
        self._emit(StreamEvent("marker", time.time_ns(), {**detail, "text": text}))  # (_emit records it)

    # -- state --------------------------------------------------------------------
    @property
    def stats(self) -> Any:
        """The parser's statistics so far (sensorio.Stats)."""
        with self._pump_lock:
            return self.parser.stats

    @property
    def source_ended(self) -> bool:
        """The source said it has ended (a replay ran out, an emulated
        device's duration is over), as opposed to a disconnect or close()."""
        return self._reader.source_ended

    @property
    def quiet_s(self) -> float:
        """Seconds since the port last delivered a byte (or since it was
        opened): what tells a silent device from a slow consumer."""
        return max(0.0, (time.time_ns() - self._reader.last_byte_ns) * 1e-9)

    @property
    def connected(self) -> bool:
        """True while the port is open and its reader running."""
        return self._reader.connected and not self._reader.finished

    @property
    def ring_fill(self) -> float:
        """The share of the ring (0..1) holding bytes not yet parsed."""
        return self.ring.used() / self.ring.capacity

    @property
    def bytes_received(self) -> int:
        """Bytes read from the port (all of them are recorded)."""
        return self._reader.committed + self._reader.dropped

    @property
    def bytes_overflowed(self) -> int:
        """Bytes read while the ring was full: recorded, not parsed live."""
        return self._reader.dropped

    def diagnose(self) -> Advice | None:
        """Why no frames arrived, as advice (None if frames did arrive)."""
        arrived = self._reader.committed + self._reader.dropped
        sample = bytes(self._reader.sample)
        # a replay's recording, named in the advice (port_files: the URL's own rule)
        recording = next((f for f, role in port_files(self.port) if role == "recording"), None)
        replay = (recording or True) if self._replay else False
        return diagnose(sample, self.stats, self.format.name, self.baudrate, arrived, replay=replay)

    # -- shutdown -------------------------------------------------------------------
    def close(self) -> None:
        """Stop reading, decode what arrived, close the recording. Idempotent."""
        if self._closed:
            return
        self._reader.stop()
        if threading.current_thread() is not self._reader:
            self._reader.join()  # its last act delivers what it read to inline callbacks
        if self._dispatcher is not None and threading.current_thread() is not self._dispatcher:
            self._closed = True
            self._dispatcher.join()
        with self._pump_lock:
            self._pump(0.0)
        self._closed = True
        if self._held is not None and self._foreign is None:
            self._release_held()  # closed before the device could be checked: kept
        if self._early:
            try:  # stopped during the handshake: what arrived is still kept
                self._start_recording()
            except SensorioError:
                pass  # the file could not be created: the open error says why
        if self.recorder is not None:
            self.recorder.close(
                {
                    "stats": self.parser.stats.as_dict(),
                    "bytes_received": self.bytes_received,
                    **({"bytes_not_recorded": self._not_recorded} if self._not_recorded else {}),
                    "t_ns": time.time_ns(),
                }
            )

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close()
        if exc_type is None:
            self._raise_background()


def open(port_or_url: str, format: str = "sio", **options: Any) -> Stream:  # noqa: A001
    """Open a port (path or URL such as replay://FILE) for capture; see Stream."""
    return Stream(port_or_url, format, **options)
