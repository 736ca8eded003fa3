"""PortReader: the thread that moves bytes from a port into a Ring.

It waits with poll() on the port's file descriptor (no spinning, no 1-byte
reads) and reads whatever is there straight into the ring's free block
(zero copy). Every read is handed to the recorder before the parser can see
it. A hang-up or I/O error is a disconnect: the reader closes the port,
marks the place in the byte stream and waits for the device to come back.
Ports without a descriptor (URL handlers) are read with in_waiting and a
short timeout instead.
"""

from __future__ import annotations

import errno
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import serial

from ..errors import SensorioError
from ..ring import Ring
from .reconnect import Reconnector

#: largest single read; a replay or a fast device fills this in one go
MAX_READ = 1 << 20
#: with read_interval set, reads smaller than this wait before the next poll
BATCH_BELOW = 2048
#: bytes kept from the start of the stream for format diagnostics
SAMPLE_BYTES = 4096
_POLL_DATA = select.POLLIN | select.POLLPRI


def _nothing() -> None:
    pass


class SourceEnded(SensorioError):
    """The source has ended (a replay ran out, an emulated device's duration
    is over): nothing more can be sent to it."""


class DeviceDisconnected(SensorioError):
    """The device is disconnected (and perhaps coming back): nothing can be
    sent to it now."""


@dataclass(frozen=True)
class StreamEvent:
    """Something that happened to a capture besides data: ``kind`` is connect,
    disconnect, stall, resume, gap, end, warning, error or marker; ``t_ns`` is
    the host time in ns since the epoch; ``detail`` holds the kind's fields
    (``port``, ``reason``, ``quiet_s``, ``lost_bytes``, ``text``, ...)."""

    kind: str  # connect, disconnect, stall, resume, end, error
    t_ns: int
    detail: dict[str, Any] = field(default_factory=dict)


class PortReader(threading.Thread):
    def __init__(
        self,
        ser: serial.SerialBase,
        ring: Ring,
        *,
        tee: Callable[[bytes, int], None] | None,
        emit: Callable[[StreamEvent], None],
        reconnector: Reconnector | None,
        stall_timeout: float,
        on_connect: Callable[[serial.SerialBase], None] | None = None,
        poll_interval: float = 0.1,
        read_interval: float = 0.0,
        max_read_interval: float = 0.0,
        backpressure: bool = False,
        on_read: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name="sensorio-reader", daemon=True)
        self.ser: serial.SerialBase | None = ser
        self.ring = ring
        self._tee = tee
        self._emit = emit
        self._reconnector = reconnector
        self.stall_timeout = stall_timeout
        self._on_connect = on_connect
        self._poll_ms = int(poll_interval * 1000)
        self.read_interval = read_interval
        #: up to this long when the byte rate is low (see _gather_time)
        self.max_read_interval = max_read_interval
        self._byte_rate = 0.0  # bytes per second over the last second
        self._rate_since = time.monotonic()
        self._rate_bytes = 0
        #: wait for room instead of dropping when the ring is full
        self.backpressure = backpressure
        #: called in this thread after every read, idle poll, disconnect and at
        #: the end (the stream parses and calls its block callbacks there);
        #: it must not raise
        self._on_read = on_read or _nothing
        self.space = threading.Event()  # set by the consumer after parsing
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        #: consumers about to wait on `wake` (see _advance)
        self.waiting = 0
        #: (stream position after the read, host arrival ns), consumer pops
        self.arrivals: deque[tuple[int, int]] = deque()
        #: (stream position, kind, bytes lost) where the byte stream is discontinuous
        self.marks: deque[tuple[int, str, int]] = deque()
        self.committed = 0
        self.dropped = 0  # read while the ring was full (recorded, not parsed)
        self._pending_loss = 0
        self.loss_marks = 0  # overflow episodes marked in the ring so far
        self.sample = bytearray()
        self.error: BaseException | None = None
        self.finished = False  # the source ended (replay) or the thread stopped
        #: the source said it has ended (a finished replay or emulated device)
        self.source_ended = False
        self.connected = True
        self.last_byte_ns = time.time_ns()
        self._stalled = False
        self._write_lock = threading.Lock()

    # -- control --------------------------------------------------------------
    def stop(self) -> None:
        self.stop_event.set()

    def write(self, data: bytes) -> None:
        with self._write_lock:
            ser = self.ser
            if ser is None:
                if self.finished and self.error is None:
                    raise SourceEnded("the source has ended: command not sent")
                raise DeviceDisconnected("the device is disconnected: command not sent")
            ser.write(data)

    def read_now(self, wait: float) -> None:
        """In this thread, while it runs the stream's callbacks (one that
        sends a command and waits for the reply): read what the port has,
        waiting up to `wait` s for it. Errors are left for the read loop,
        which finds them at its next poll."""
        ser = self.ser
        if ser is None:
            self.stop_event.wait(wait)
            return
        try:
            fd = ser.fileno()
        except (AttributeError, OSError, ValueError, NotImplementedError, serial.SerialException):
            fd = None
        try:
            if fd is not None:
                if select.select([fd], [], [], wait)[0]:
                    self._read_fd(fd)
                return
            waiting = min(ser.in_waiting, MAX_READ)
            if not waiting:
                self.stop_event.wait(min(wait, 0.005))
                return
            data = ser.read(waiting)
        except (serial.SerialException, OSError):
            return
        if data:
            t = self._record(data)
            self._flush_loss()
            stored = self.ring.write(data)
            self._advance(stored, len(data) - stored, t)

    # -- thread ---------------------------------------------------------------
    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                if self.ser is None:
                    if not self._reconnect():
                        break
                    continue
                if self._serve(self.ser):
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self.error = exc
        finally:
            self.finished = True
            self._close_port()
            self.wake.set()
            self._on_read()  # the last of what was read, to the callbacks

    def _serve(self, ser: serial.SerialBase) -> bool:
        """Read until a disconnect (returns False) or the end (True)."""
        try:
            fd = ser.fileno()
        except (AttributeError, OSError, ValueError, NotImplementedError, serial.SerialException):
            fd = None
        if fd is None:
            return self._serve_generic(ser)
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
        while not self.stop_event.is_set():
            ready = poller.poll(self._poll_ms)
            if not ready:
                self._check_stall()
                self._on_read()
                continue
            flags = ready[0][1]
            if flags & _POLL_DATA:
                try:
                    n = self._read_fd(fd)
                    if n < 0:
                        continue  # waited for room in the ring
                    if n == 0:
                        self._disconnect("end of file on the port")
                        return False
                    self._on_read()
                    self.ring.prepare_write(MAX_READ)  # for the next read, while nothing waits
                    if n < BATCH_BELOW and self.read_interval > 0:
                        # a trickle: let it gather (fewer wake-ups, less CPU);
                        # a flood (large reads) is never held back
                        if self.stop_event.wait(self._gather_time(n)):
                            # stopped while bytes gathered: they arrived before
                            # the stop, so they are read (and parsed) too
                            last = poller.poll(0)
                            if last and last[0][1] & select.POLLIN:
                                try:
                                    self._read_fd(fd)
                                except OSError:
                                    pass  # stopping anyway
                except OSError as exc:
                    if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                        continue
                    self._disconnect(exc.strerror or str(exc))
                    return False
            elif flags & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                self._disconnect("hang-up")
                return False
        return True

    def _gather_time(self, n: int) -> float:
        """How long to let bytes gather after a small read of n bytes:
        read_interval, or up to max_read_interval when the byte rate is so
        low that read_interval would still wake for a few bytes (time for
        about BATCH_BELOW bytes at the rate measured over the last second)."""
        now = time.monotonic()
        total = self.committed + self.dropped
        if now - self._rate_since >= 1.0:
            self._byte_rate = (total - self._rate_bytes) / (now - self._rate_since)
            self._rate_since, self._rate_bytes = now, total
        if self.max_read_interval <= self.read_interval or self._byte_rate <= 0:
            return self.read_interval
        want = (BATCH_BELOW - n) / self._byte_rate
        return min(self.max_read_interval, max(self.read_interval, want))

    def _flush_loss(self) -> None:
        """Mark bytes dropped at a full ring, once per overflow episode, at
        the place they belong (before anything read later)."""
        if self._pending_loss:
            self.ring.note_loss(self._pending_loss)
            self._pending_loss = 0
            self.loss_marks += 1
            self.arrivals.append((self.committed, time.time_ns()))
            self.wake.set()

    def _read_fd(self, fd: int) -> int:
        if self._pending_loss and self.ring.free():
            self._flush_loss()  # the consumer made room: the overflow episode ends here
        if not self._pending_loss:
            # what _deliver does, inline: with a device read as it comes this
            # runs for every packet. Without a recorder the bytes are
            # published as they are read; with one, after it has them.
            tee = self._tee
            view = self.ring.read_from(fd, MAX_READ, commit=tee is None)
            if view is not None:
                n = len(view)
                if n:
                    t = time.time_ns()
                    if tee is not None:
                        tee(bytes(view), t)
                        self.ring.commit(n)
                    if len(self.sample) < SAMPLE_BYTES:
                        self.sample += bytes(view[: SAMPLE_BYTES - len(self.sample)])
                    # _advance(n, 0, t), inline
                    self.committed += n
                    self.arrivals.append((self.committed, t))
                    self.last_byte_ns = t
                    if self._stalled:
                        self._stalled = False
                        self._emit(StreamEvent("resume", t))
                    if self.waiting and not self.wake.is_set():  # (see _advance)
                        self.wake.set()
                return n
        if self.backpressure:
            # ring full, and the port can wait (a pseudo-terminal blocks its
            # writer): leave the bytes in the kernel until the parser makes room
            self.space.clear()
            if not self.ring.free():
                self._on_read()  # callbacks run in this thread: the parser is here
            if not self.ring.free():
                self.space.wait(self._poll_ms / 1000)
            return -1
        # ring full: the consumer is behind. Keep the bytes for the recording,
        # and mark the loss for the parser rather than stalling the port
        # (a real serial port would overflow in the driver, unseen).
        data = os.read(fd, MAX_READ)
        if data:
            self._deliver(data, len(data), into_ring=False)
        return len(data)

    def _serve_generic(self, ser: serial.SerialBase) -> bool:
        ser.timeout = self._poll_ms / 1000
        while not self.stop_event.is_set():
            free = self.ring.free()
            if self.backpressure and not free:
                # ring full and the source can wait (a replayed file): leave
                # the bytes there until the parser makes room
                self.space.clear()
                if not self.ring.free():
                    self._on_read()  # callbacks run in this thread: the parser is here
                if not self.ring.free():
                    self.space.wait(self._poll_ms / 1000)
                continue
            try:
                waiting = ser.in_waiting
                if self.backpressure:
                    waiting = min(waiting, free)
                # with nothing waiting, read(1) is only the timed wait for the
                # next byte; the bulk is then read through in_waiting
                data = ser.read(min(waiting, MAX_READ) if waiting else 1)
            except (serial.SerialException, OSError) as exc:
                self._disconnect(str(exc))
                return False
            if data:
                t = self._record(data)
                self._flush_loss()
                stored = self.ring.write(data)  # what does not fit is marked lost
                self._advance(stored, len(data) - stored, t)
            take_gap = getattr(ser, "sensorio_take_gap", None)
            if take_gap is not None:
                lost = take_gap()
                if lost is not None:  # a replayed disconnect or damaged region
                    self.marks.append((self.committed, "gap", lost))
                    self._emit(StreamEvent("gap", time.time_ns(), {"lost_bytes": lost}))
                    self.wake.set()
            take_markers = getattr(ser, "sensorio_take_markers", None)
            if take_markers is not None:
                for detail in take_markers():  # a replayed recording's markers, after the bytes before them
                    self._emit(StreamEvent("marker", time.time_ns(), detail))
            if not data:
                if getattr(ser, "sensorio_finished", False) and not getattr(ser, "in_waiting", 0):
                    self.source_ended = True
                    self._emit(StreamEvent("end", time.time_ns()))
                    return True
                self._check_stall()
            self._on_read()
        return True

    def _deliver(self, data: memoryview | bytes, n: int, *, into_ring: bool) -> None:
        t = self._record(data)
        if into_ring:
            self.ring.commit(n)
            self._advance(n, 0, t)
        else:
            self._pending_loss += n
            self._advance(0, n, t)

    def _record(self, data: memoryview | bytes) -> int:
        """Tee to the recorder (before the parser can see the bytes)."""
        t = time.time_ns()
        if self._tee is not None:
            self._tee(bytes(data), t)
        if len(self.sample) < SAMPLE_BYTES:
            self.sample += bytes(data[: SAMPLE_BYTES - len(self.sample)])
        return t

    def _advance(self, committed: int, dropped: int, t: int) -> None:
        self.committed += committed
        self.dropped += dropped
        self.arrivals.append((self.committed, t))
        self.last_byte_ns = t
        if self._stalled:
            self._stalled = False
            self._emit(StreamEvent("resume", t))
        # only a consumer that waits needs waking (Event.set takes a lock and
        # costs a dozen Python calls: per packet, when callbacks run here and
        # no one waits). The consumer counts itself in `waiting` before it
        # looks at arrivals, and clears the flag before it does, so it sees
        # this arrival or is woken; a set flag means it will see this one too
        if self.waiting and not self.wake.is_set():
            self.wake.set()

    def _check_stall(self) -> None:
        self._flush_loss()  # an idle port: a loss must not wait for the next byte
        if self._stalled or self.stall_timeout <= 0:
            return
        quiet = (time.time_ns() - self.last_byte_ns) * 1e-9
        if quiet >= self.stall_timeout:
            self._stalled = True
            self._emit(StreamEvent("stall", time.time_ns(), {"quiet_s": round(quiet, 3)}))
            self.wake.set()

    def _close_port(self) -> None:
        with self._write_lock:
            ser, self.ser = self.ser, None
        if ser is not None:
            try:
                ser.close()
            except Exception:  # noqa: BLE001 - the port is gone anyway
                pass

    def _disconnect(self, reason: str) -> None:
        self._close_port()
        self.connected = False
        self.marks.append((self.committed, "disconnect", 0))
        self._emit(StreamEvent("disconnect", time.time_ns(), {"reason": reason}))
        self.wake.set()
        self._on_read()

    def _reconnect(self) -> bool:
        if self._reconnector is None:
            return False
        ser = self._reconnector.wait(self.stop_event)
        if ser is None:
            return False
        with self._write_lock:
            self.ser = ser
        self.connected = True
        self._stalled = False
        self.last_byte_ns = time.time_ns()
        self._emit(StreamEvent("connect", time.time_ns(), {"port": ser.port}))
        if self._on_connect is not None:
            self._on_connect(ser)
        return True
