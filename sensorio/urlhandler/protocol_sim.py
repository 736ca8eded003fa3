"""pyserial URL handler for ``sim://``: an emulated device in-process.

    sim://[PROFILE]?format=sio&seed=1&fault=liftoff:channel=3,start=1,end=3&link=drop:at=2&truth=/tmp/t.jsonl

Query parameters are the options of ``sensorio emulate`` (dashes or
underscores; ``fault`` and ``link`` repeat), plus ``truth=FILE``, created or
overwritten when the port opens (the command line checks it first, by
``sensorio.urlhandler.truth_file``; the library refuses a recording
there). Pacing is real time unless ``fast=1`` or ``speed=N``. The
emulated device and its ground truth (``port.truth``, a
sensorio.emulator.TruthLog) live as long as the port object: closing and
reopening it is like unplugging the cable and plugging it back, and an
emulated unplug makes reads fail as a USB unplug does until the port is
reopened after the replug time. A new port of the same URL opened then (a
capture reconnecting) takes the unplugged device over, as a replugged cable
finds the same board.
"""

from __future__ import annotations

import collections
import threading
import time
import urllib.parse
from typing import Any

import serial
from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from ..emulator import Emulator, Truth, TruthLog, config_from_options
from ..emulator.link import Outgoing, tail_frames
from ..errors import SensorioError

#: a device its link faults unplugged, by URL, with the host time of its
#: replug, for the next port of that URL to plug back in: a capture reconnects
#: with a new port object, which made a new device start over at 0 s and
#: unplug again, forever. (Lock order: a port's _lock, then this one.)
_UNPLUGGED: dict[str, tuple[Serial, float]] = {}
_UNPLUGGED_LOCK = threading.Lock()
#: a device left unplugged this long past its replug is nobody's to
#: reconnect to: a later port of the URL makes a new one
REPLUG_WAIT_S = 10.0


def _query(url: str) -> tuple[urllib.parse.SplitResult, dict[str, list[str]]]:
    """A sim:// URL's parts and its query parameters (SerialException for another scheme)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "sim":
        raise SerialException(f"expected a sim:// URL, not {url!r}")
    return parts, urllib.parse.parse_qs(parts.query, keep_blank_values=True)


class Serial(SerialBase):
    """A pyserial port backed by sensorio.emulator.Emulator."""

    is_open: bool  # SerialBase's (pyserial has no type information)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._emu: Emulator | None = None
        self._truth: Truth | None = None
        self._buf = bytearray()
        # what went into _buf, newest last, back to its oldest unread byte at
        # least: whose frames the bytes the client leaves unread are
        self._taken: collections.deque[Outgoing] = collections.deque()
        self._taken_bytes = 0
        self._unplugged = False
        self._replug_at = 0.0
        # capture reads in its reader thread while commands are written from
        # another: the emulator is stepped by both, and must be stepped by
        # one at a time (else frames come out twice or interleaved)
        self._lock = threading.RLock()
        super().__init__(*args, **kwargs)

    # -- pyserial contract -------------------------------------------------------
    def open(self) -> None:
        if self.is_open:
            raise SerialException("port already open")
        if self._port is None:
            raise SerialException("port must be configured before it can be used")
        if self._emu is None:
            self._adopt_unplugged()
        if self._emu is None:
            self._emu = self._create(self.portstr)
        elif self._unplugged:
            self._pass_unplugged_time()
            if self._emu.clock.now(time.monotonic()) < self._replug_at:
                raise SerialException(f"could not open port {self.portstr}: the emulated device is unplugged")
            self._unplugged = False
            with _UNPLUGGED_LOCK:  # plugged back into this port: nobody else's to adopt
                if _UNPLUGGED.get(self.portstr, (None,))[0] is self:
                    del _UNPLUGGED[self.portstr]
        self.is_open = True
        self._buf.clear()
        self._pump()

    def _adopt_unplugged(self) -> None:
        """Plug back in the device a port of this URL lost to an emulated
        unplug (SerialException while it is still unplugged)."""
        with _UNPLUGGED_LOCK:  # (only the registry under it: see the lock order)
            found = _UNPLUGGED.pop(self.portstr, None)
        if found is None:
            return
        old, replug_due = found
        emu = old._emu
        if emu is None or time.monotonic() > replug_due + REPLUG_WAIT_S:
            return  # long gone: this port makes a new device
        old._pass_unplugged_time()
        if old._unplugged and emu.clock.now(time.monotonic()) < old._replug_at:
            with _UNPLUGGED_LOCK:
                _UNPLUGGED.setdefault(self.portstr, found)
            raise SerialException(f"could not open port {self.portstr}: the emulated device is unplugged")
        with old._lock:
            self._emu, self._truth = emu, old._truth
            old._emu = old._truth = None  # (its __del__ must not close them)

    def _pass_unplugged_time(self) -> None:
        """A device driven by its reads (fast=1) is run to its replug time,
        what it sends meanwhile lost to the unplug: nobody reads it while it
        is unplugged, so its clock would never get there."""
        emu = self._emu
        if emu is None or emu.config.speed > 0:
            return
        with self._lock:
            while emu.clock.now(time.monotonic()) < self._replug_at and not emu.idle:
                self._route(emu.step_fast(until=self._replug_at))

    def _replug_wait_s(self) -> float:
        """Host seconds from now to the replug (0 when it is due)."""
        emu = self._emu
        if emu is None or emu.config.speed <= 0:
            return 0.0
        return max(0.0, (self._replug_at - emu.clock.now(time.monotonic())) / emu.config.speed)

    def _create(self, url: str) -> Emulator:
        parts, query = _query(url)
        if len(query.get("truth", [])) > 1:  # (config_from_options sees no truth: the port writes it)
            raise SerialException(f"{url}: emulator option 'truth' given more than once: give it once")
        truth_path = query.pop("truth", [""])[-1] or None  # (as truth_file reads it)
        if parts.netloc:
            query.setdefault("profile", [parts.netloc])
        try:
            cfg = config_from_options(query)
            self._truth = Truth(truth_path, keep=True)
            return Emulator(cfg, self._truth)
        except (SensorioError, OSError) as exc:
            raise SerialException(f"{url}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            if self.is_open and self._emu is not None:
                self._pump()
                self._drop_unread()
                # the port is closed: what the device sends now goes nowhere
                self._emu.truth.flush()
            self.is_open = False

    def _drop_unread(self, reason: str = "unread") -> None:
        """The port closes with bytes the client has not read: they are lost
        with it, as a real port's driver drops them, and the truth, which
        called them delivered, says so (``unread``, as the pty's). reason
        ``flushed``: the client threw them away itself (reset_input_buffer)."""
        assert self._emu is not None
        self._emu.unread(tail_frames(self._taken, len(self._buf)), len(self._buf), reason)
        self._buf.clear()
        self._taken.clear()
        self._taken_bytes = 0

    def __del__(self) -> None:
        if self._emu is not None:
            self._emu.close()
            if self._truth is not None:
                self._truth.close()
            self._emu = None

    def finish(self) -> None:
        """Close the port and write the truth's last record (totals)."""
        self.close()
        self.__del__()

    @property
    def emulator(self) -> Emulator:
        if self._emu is None:
            raise PortNotOpenError()
        return self._emu

    @property
    def truth(self) -> TruthLog:
        """The ground truth so far."""
        if self._truth is None:
            raise PortNotOpenError()
        return TruthLog(self._truth.records)

    def _reconfigure_port(self) -> None:
        pass  # baud rate, parity...: a virtual device takes anything

    def _pump(self) -> None:
        """Take what the device has delivered by now."""
        emu = self.emulator
        if emu.config.speed <= 0:
            return
        self._route(emu.step())

    def _route(self, items: list) -> None:
        emu = self.emulator
        lost = []
        taken = []
        for it in items:
            if it.control == "unplug":
                self._unplugged = True
                self._replug_at = next(
                    (t for t, what in emu.link.port_events() if what == "replug" and t > it.due),
                    it.due,
                )
                with _UNPLUGGED_LOCK:
                    _UNPLUGGED[self.portstr] = (self, time.monotonic() + self._replug_wait_s())
            elif it.control:
                continue
            elif self._unplugged or not self.is_open:
                lost.append(it)
            else:
                taken.append(it)
                self._buf += it.data
                self._taken.append(it)
                self._taken_bytes += len(it.data)
        # keep what the unread bytes may belong to, not everything ever read
        while self._taken and self._taken_bytes - len(self._taken[0].data) >= len(self._buf):
            self._taken_bytes -= len(self._taken.popleft().data)
        emu.delivered(taken)
        emu.discard(lost, "unplug" if self._unplugged else "port_closed")

    def _check(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()
        if self._unplugged:
            raise SerialException("read failed: device disconnected (emulated unplug)")

    @property
    def in_waiting(self) -> int:
        with self._lock:
            return self._in_waiting()

    def _in_waiting(self) -> int:
        if not (self._unplugged and self._buf):  # (what came before the unplug is read first)
            self._check()
            self._pump()
            if not self._buf and self.emulator.config.speed <= 0:
                self._route(self.emulator.step_fast())
        if not self._buf:
            self._check()
        return len(self._buf)

    def read(self, size: int = 1) -> bytes:
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            with self._lock:
                out, wake = self._read_some(size, deadline)
            if wake is None:
                return out
            time.sleep(max(wake - time.monotonic(), 0.0))

    def _read_some(self, size: int, deadline: float | None) -> tuple[bytes, float | None]:
        """What read() returns now, or (b"", when to look again)."""
        if not (self._unplugged and self._buf):
            self._check()
        emu = self.emulator
        if emu.config.speed <= 0:
            while len(self._buf) < size and not emu.idle and not self._unplugged:
                self._route(emu.step_fast())
        else:
            self._pump()
        if self._unplugged and self._buf:
            # what arrived before the unplug is read first, as from a real port
            out = bytes(self._buf[:size])
            del self._buf[:size]
            return out, None
        self._check()
        now = time.monotonic()
        due = emu.next_due_mono(now)
        done = (
            len(self._buf) >= size
            or (deadline is not None and now >= deadline)
            # a stopped device sends nothing more: do not hang forever
            or (due is None and deadline is None and (emu.config.speed <= 0 or emu.idle))
        )
        if not done:
            return b"", min(t for t in (due, deadline, now + 0.1) if t is not None)
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out, None

    def write(self, data: bytes) -> int:
        with self._lock:
            self._check()
            data = serial.to_bytes(data)
            self.emulator.input(data)
            return len(data)

    def reset_input_buffer(self) -> None:
        with self._lock:
            self._check()
            self._pump()
            # the client's own flush: what it drops never reached it, and the
            # truth, which called it delivered, says so (``flushed``)
            self._drop_unread("flushed")

    def reset_output_buffer(self) -> None:
        self._check()

    @property
    def sensorio_finished(self) -> bool:
        """The device's duration is over and everything it sent has been read
        (the hook sensorio's capture uses to end the stream)."""
        emu = self._emu
        if emu is None or not self.is_open or self._unplugged:
            return False
        if not emu.finished and emu.config.speed > 0:
            self._pump()
        return emu.finished and emu.idle and not self._buf

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True
