"""Serve an emulated device on a pseudo-terminal, as a USB-serial device
would appear: raw mode, output discarded while no program has the port open,
and an optional stable symlink that survives an emulated unplug/replug
(the master side closes, which a reader sees exactly as a USB unplug).
"""

from __future__ import annotations

import array
import collections
import errno
import fcntl
import os
import select
import sys
import termios
import threading
import time
import tty
from collections.abc import Callable

from ..errors import SensorioError
from .engine import Emulator
from .link import Outgoing, tail_frames

if sys.platform == "win32":  # pragma: no cover
    raise ImportError("pseudo-terminals need a POSIX system; use sim:// URLs on Windows")


def check_link_path(link: str | os.PathLike[str]) -> None:
    """Refuse a link path that already exists (a file, a directory, a
    symlink) or whose directory does not: the server would otherwise replace
    someone's file by its symlink, and remove it on exit."""
    path = os.fspath(link)
    if os.path.lexists(path):
        raise SensorioError(f"{path} exists: remove it or choose another link path")
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        why = "is not a directory" if os.path.exists(parent) else "does not exist"
        raise SensorioError(f"cannot make the link {path}: the directory {parent} {why}")


class PtyServer:
    """Runs an Emulator on a pseudo-terminal, in a thread (``start``) or in
    the calling thread (``serve``). ``port`` is the path clients open."""

    #: bytes the emulated device can hold while the host does not read (its USB FIFO)
    MAX_PENDING = 256 * 1024
    #: how often to look for a client while none has the port open
    IDLE_POLL_S = 0.02
    #: after the device's duration, how long to wait for the client to read the rest
    DRAIN_S = 2.0
    #: how long after a write the pty is trusted to have handed the bytes to the reader side
    SETTLE_S = 0.03
    #: output discarded after a client opens the port, unless it writes first:
    #: pyserial's open() ends by flushing the input, as hosts commonly do, so
    #: bytes sent in that moment would be lost without the truth knowing
    OPEN_GRACE_S = 0.1
    #: shortest sleep between deliveries (USB-serial adapters deliver in 1-16 ms packets anyway)
    MIN_WAKE_S = 0.004

    def __init__(
        self,
        emulator: Emulator,
        link: str | os.PathLike[str] | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.emulator = emulator
        self.link = os.fspath(link) if link else None
        #: where the link this server made points (None: no link of ours)
        self._link_target: str | None = None
        if self.link:
            check_link_path(self.link)
        self.on_event = on_event
        self.master = -1
        self.path = ""
        self._pending: list[Outgoing] = []
        self._pending_bytes = 0
        self._head_sent = 0  # bytes of _pending[0] already written
        self._client = False
        self._opening_until = 0.0
        self._unplugged = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.replugs = 0
        self._last_write = 0.0
        # (item, bytes) of the latest writes, to name what a client never read
        # (a batch item is split into its frames only then)
        self._recent: collections.deque[tuple[Outgoing, int]] = collections.deque()
        self._recent_bytes = 0
        self._open_pty()

    @property
    def port(self) -> str:
        return self.link or self.path

    # -- the pseudo-terminal -------------------------------------------------
    def _open_pty(self) -> None:
        master, slave = os.openpty()
        # a fresh pty echoes and translates bytes; a serial port does neither
        tty.setraw(slave, termios.TCSANOW)
        self.path = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(master, False)
        self.master = master
        self._poller = select.poll()
        self._poller.register(master, select.POLLIN)
        self._readable = False
        self._client = False
        if self.link:
            try:
                self._make_link()
            except SensorioError:
                self._close_pty()
                raise

    def _make_link(self) -> None:
        """Point the link at the current pty. Only our own link is ever
        replaced: a file that appeared at the path meanwhile is left alone."""
        assert self.link is not None
        if os.path.lexists(self.link) and not self._own_link():
            raise SensorioError(f"{self.link} exists: remove it or choose another link path")
        try:
            if os.path.lexists(self.link):  # our link to the pty before a replug
                os.unlink(self.link)
            os.symlink(self.path, self.link)  # fails, rather than replace, if a file appeared
            self._link_target = self.path
        except OSError as exc:
            raise SensorioError(f"cannot make the link {self.link}: {exc.strerror or exc}") from None

    def _own_link(self) -> bool:
        """True if the link path is a symlink this server made (to one of its ptys)."""
        assert self.link is not None
        try:
            return self._link_target is not None and os.readlink(self.link) == self._link_target
        except OSError:
            return False

    def _close_pty(self) -> None:
        if self.master >= 0:
            os.close(self.master)
            self.master = -1
        self._remove_link()

    def _remove_link(self) -> None:
        if self.link and self._own_link():
            os.unlink(self.link)
        self._link_target = None

    def _client_present(self) -> bool:
        """True while some program has the slave side open (no POLLHUP)."""
        flags = 0
        for _, ev in self._poller.poll(0):
            flags |= ev
        hup = bool(flags & select.POLLHUP)
        self._readable = bool(flags & select.POLLIN)
        if not hup and not self._client:
            self._client = True
            self._opening_until = time.monotonic() + self.OPEN_GRACE_S
            self._event(f"client opened {self.port}")
        elif hup and self._client:
            self._client = False
            self._flush_stale()
            self._event(f"client closed {self.port}")
        return not hup

    def _flush_stale(self) -> None:
        """Drop what the last client left unread, as a USB-serial driver does
        when the port closes (the pty would hand it to the next reader)."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return
        try:
            self._note_unread(fd, "unread")
            termios.tcflush(fd, termios.TCIFLUSH)
        finally:
            os.close(fd)
        self.emulator.discard(self._pending, "port_closed")
        self._pending, self._pending_bytes, self._head_sent = [], 0, 0

    def _unread_bytes(self) -> int:
        """Bytes in the pty that the client has not read yet."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return 0
        buf = array.array("i", [0])
        try:
            fcntl.ioctl(fd, termios.FIONREAD, buf, True)
        except OSError:
            return 0
        finally:
            os.close(fd)
        return buf[0]

    def _take_unread(self, slave_fd: int) -> int:
        """Read off, and count, what the client has not read yet, so that the
        count is exact even while the client keeps reading: a byte is either
        the client's or ours. First wait until the pty has moved everything
        written to the reader's side: the kernel does that in a worker a moment
        after write(), and bytes still on the way would be missed and then
        called delivered by the truth when they were lost."""
        taken = 0
        quiet_since: float | None = None
        deadline = time.monotonic() + 20 * self.SETTLE_S
        while True:
            got = 0
            while True:
                try:
                    chunk = os.read(slave_fd, 65536)
                except OSError:  # EAGAIN: nothing more for now
                    break
                if not chunk:
                    break
                got += len(chunk)
            taken += got
            now = time.monotonic()
            if got:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            # done once nothing has come for a while, well after the last write
            # (a loaded machine runs the kernel's worker late)
            settled = now - self._last_write >= self.SETTLE_S and quiet_since is not None and now - quiet_since >= 0.01
            if (quiet_since is not None and settled) or now > deadline:
                return taken
            time.sleep(0.002)

    def _note_unread(self, slave_fd: int, why: str) -> None:
        """Record the frames still in the pty's buffer, which the client never
        read (it closed the port, or the device was unplugged under it)."""
        unread = self._take_unread(slave_fd)
        # the newest bytes in the pty are the written part of the frame still
        # pending (_head_sent): that frame is discarded with the rest of
        # _pending, and counted there. Counted here too, they pinned one
        # frame too many, a frame the client had read whole, as unread.
        unread -= min(unread, self._head_sent)
        frames = tail_frames((item for item, _ in self._recent), unread)
        self._recent.clear()
        self._recent_bytes = 0
        self.emulator.unread(frames, unread, why)

    def _give_up_output(self, reason: str) -> None:
        """The pty is about to close (an unplug, or the server stops), which
        drops whatever the client has not read: record those bytes' frames
        (``unread``) and the frames still waiting to be written (``reason``)
        in the truth, which called them delivered or said nothing of them."""
        if self._client:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            except OSError:
                pass
            else:
                try:
                    self._note_unread(fd, "unread")
                finally:
                    os.close(fd)
        self.emulator.discard(self._pending, reason)
        self._pending, self._pending_bytes, self._head_sent = [], 0, 0

    def _event(self, text: str) -> None:
        if self.on_event is not None:
            self.on_event(text)

    # -- running ---------------------------------------------------------------
    def start(self) -> PtyServer:
        self._thread = threading.Thread(target=self._run_guarded, name="sensorio-emulator", daemon=True)
        self._thread.start()
        return self

    def _run_guarded(self) -> None:
        try:
            self.serve()
        except BaseException as exc:  # re-raised in the owner's thread by check()/stop()
            self._error = exc

    def check(self) -> None:
        """Re-raise an error of the server thread in the caller's thread."""
        if self._error is not None:
            err, self._error = self._error, None
            raise SensorioError(f"the emulator thread failed: {type(err).__name__}: {err}") from err

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.master >= 0 and (self._thread is None or not self._thread.is_alive()):
            # a client may still have the port open (Ctrl-C, SIGTERM, --timeout):
            # what it has not read yet is lost with the pty, and said so
            self._give_up_output("port_closed")
        self._close_pty()
        self.emulator.close()
        self.check()

    def __enter__(self) -> PtyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve(self, until: Callable[[], bool] | None = None) -> None:
        """Run until stop() (or until ``until()`` is true, or the device's
        duration is over and everything is delivered)."""
        emu = self.emulator
        fast = emu.config.speed <= 0
        drain_until: float | None = None
        while not self._stop.is_set() and not (until and until()):
            mono = time.monotonic()
            if self._unplugged:
                emu.output_wanted = False
                items = emu.step(mono) if not fast else emu.step_fast(mono)
                self._route(items)
                if self._unplugged:
                    self._sleep_until(emu.next_due_mono(mono), cap=0.05)
                continue
            present = self._client_present()
            emu.output_wanted = self._client
            # also after a close: the client's last command may still be queued
            self._read_input()
            if fast and not self._pending and present:
                self._route(emu.step_fast(mono))
            else:
                self._route(emu.step(mono))
            if self._unplugged:
                continue
            if self._client and self._pending:
                self._write_pending()
            if emu.finished and emu.idle and not self._pending:
                # done: give the client up to DRAIN_S to read what is still in the pty
                if drain_until is None:
                    drain_until = mono + self.DRAIN_S
                # (the pty hands written bytes to the reader side asynchronously:
                # count on FIONREAD only a moment after the last write)
                settled = mono - self._last_write > 0.05 and not self._unread_bytes()
                if not self._client or mono > drain_until or settled:
                    return
            self._wait(mono, fast)

    def _route(self, items: list[Outgoing]) -> None:
        lost: list[Outgoing] = []
        for it in items:
            if it.control == "unplug":
                self._event(f"unplug {self.port}")
                # the path goes first: reading off the unread bytes below can make
                # the client's read fail, and a client that then looks for the
                # device must not find it still there
                self._remove_link()
                self._give_up_output("unplug")
                self._close_pty()
                self._unplugged = True
            elif it.control == "replug":
                self._open_pty()
                self._unplugged = False
                self.replugs += 1
                self._event(f"replug {self.port} -> {self.path}")
            elif self._unplugged or not self._client or time.monotonic() < self._opening_until:
                lost.append(it)
            else:
                self._pending.append(it)
                self._pending_bytes += len(it.data)
        self.emulator.discard(lost, "port_closed")
        # the device's buffer is full: it loses the oldest frames, as a real one would
        over: list[Outgoing] = []
        while self._pending_bytes > self.MAX_PENDING and len(self._pending) > 1:
            it = self._pending.pop(1)
            self._pending_bytes -= len(it.data)
            over.append(it)
        self.emulator.discard(over, "overrun")

    def _read_input(self) -> None:
        if not self._readable:
            return
        try:
            data = os.read(self.master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:  # the client went away between poll and read
                return
            raise
        if data:
            self._opening_until = 0.0  # a client that writes has finished opening
            self.emulator.input(data)

    def _write_pending(self) -> None:
        # one write for everything due: few system calls, whole frames when the pty has room
        data = b"".join(it.data for it in self._pending)
        try:
            n = os.write(self.master, memoryview(data)[self._head_sent :])
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:
                return
            raise
        self._last_write = time.monotonic()
        written = self._head_sent + n
        done: list[Outgoing] = []
        while self._pending and len(self._pending[0].data) <= written:
            head = self._pending.pop(0)
            size = len(head.data)
            written -= size
            self._pending_bytes -= size
            done.append(head)
            self._recent.append((head, size))
            self._recent_bytes += size
        if written and self._pending and self._pending[0].batch is not None:
            # a batch part written: its whole frames are delivered now, as
            # frames one by one would be (a client that closes the port
            # meanwhile has read them)
            part, rest = self._pending[0].split(written)
            if part is not None:
                size = len(part.data)
                self._pending[0] = rest
                written -= size
                self._pending_bytes -= size
                done.append(part)
                self._recent.append((part, size))
                self._recent_bytes += size
        self._head_sent = written
        while self._recent_bytes > self.MAX_PENDING:
            self._recent_bytes -= self._recent.popleft()[1]
        if done:
            self.emulator.delivered(done)

    def _wait(self, mono: float, fast: bool) -> None:
        due = self.emulator.next_due_mono(mono)
        if not self._client:
            # in fast mode the device clock's "due" lies in the past: with
            # nobody to serve, waiting for it spun a core; poll for a client
            self._sleep_until(None if fast else due, cap=self.IDLE_POLL_S)
            return
        if fast:
            # nothing is due at a time in fast mode: step at once when all is
            # written, else wait until the pty takes more (POLLOUT) or the
            # host writes; the device clock's "due" lies in the past there,
            # and polling with no timeout spun a core while the host did not read
            due = mono if not self._pending and not self.emulator.idle else None
        timeout = 0.1 if due is None else min(max(due - time.monotonic(), 0.0), 0.1)
        if 0.0 < timeout < self.MIN_WAKE_S:
            timeout = self.MIN_WAKE_S  # batch frames instead of waking for each one
        self._poller.modify(self.master, select.POLLIN | (select.POLLOUT if self._pending else 0))
        self._poller.poll(timeout * 1000)

    def _sleep_until(self, due: float | None, cap: float) -> None:
        wait = cap if due is None else min(max(due - time.monotonic(), 0.0), cap)
        self._stop.wait(wait)
