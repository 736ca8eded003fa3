"""Pseudo-terminal devices for the capture and recording tests: the test
plays the device, writing SIO-1 frames built with sensorio.sio1.DataEncoder
into the master side; sensorio opens the slave side like a serial port."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
import tty
from pathlib import Path

import numpy as np

from sensorio.sio1 import ENC_I24, DataEncoder


class PtyDevice:
    """A fake serial device. With ``link`` the port is reached through that
    symlink, which replug() points at a fresh pseudo-terminal (like a udev
    name surviving an unplug)."""

    def __init__(self, link: Path | None = None) -> None:
        self.link = link
        self.master = -1
        self._had_reader = False  # some program has had the port open
        self._open()

    def _open(self) -> None:
        master, slave = pty.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        self.master = master
        self.tty = os.ttyname(slave)
        os.close(slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self.tty)
            os.replace(tmp, self.link)

    @property
    def path(self) -> str:
        return str(self.link) if self.link is not None else self.tty

    def write(self, data: bytes) -> None:
        """Send like a device: wait while the port's reader is behind (the
        pseudo-terminal is full); once no program has the port open any more,
        what is left goes nowhere, as on a real line (instead of blocking
        forever on a terminal that no one will read)."""
        view = memoryview(data)
        poller = select.poll()
        poller.register(self.master, select.POLLOUT)
        was_blocking = os.get_blocking(self.master)
        os.set_blocking(self.master, False)
        try:
            while view:
                ready = poller.poll(50)
                if not ready:
                    continue
                if not ready[0][1] & select.POLLHUP:
                    self._had_reader = True
                elif self._had_reader:
                    return  # the port was closed: nobody will read these bytes
                # (before any program opened it, bytes wait in the terminal as before)
                try:
                    view = view[os.write(self.master, view) :]
                except BlockingIOError:
                    if ready[0][1] & select.POLLHUP:
                        time.sleep(0.02)  # poll() does not wait while no one has the port open
        finally:
            os.set_blocking(self.master, was_blocking)

    def unplug(self) -> None:
        if self.link is not None:
            self.link.unlink(missing_ok=True)
        os.close(self.master)
        self.master = -1

    def replug(self) -> None:
        self._had_reader = False
        self._open()

    def close(self) -> None:
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


def make_frames(
    first_seq: int,
    count: int,
    *,
    n_ch: int = 4,
    n_samp: int = 8,
    enc: int = ENC_I24,
    stream: int = 0,
    period_us: int = 250,
    skip: frozenset[int] = frozenset(),
) -> tuple[bytes, np.ndarray]:
    """`count` DATA frames (seq first_seq...), leaving out seqs in skip; returns
    the wire bytes and the samples of the frames that were kept."""
    encoder = DataEncoder()
    out, kept = [], []
    for seq in range(first_seq, first_seq + count):
        rows = (np.arange(n_samp)[:, None] * 7 + np.arange(n_ch)[None, :] * 1000 + seq * 13) % 50000 - 25000
        if seq in skip:
            continue
        out.append(encoder.encode(rows, stream=stream, enc=enc, seq=seq & 0xFFFF, t_us=seq * n_samp * period_us))
        kept.append(rows)
    samples = np.concatenate(kept) if kept else np.zeros((0, n_ch), dtype=np.int32)
    return b"".join(out), samples.astype(np.int32)


def stop_in_the_handshake(proc: subprocess.Popen, dev: PtyDevice, sig: int = signal.SIGINT) -> str:
    """Once proc asks dev for something (a live command's INFO request: it
    waits in the handshake now for an answer that never comes), stop it with
    sig; its stderr (proc is killed if it does not end)."""
    try:
        got = b""
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            if select.select([dev.master], [], [], 0.05)[0]:
                try:
                    got = os.read(dev.master, 4096)
                except OSError:  # no program has the port open yet
                    time.sleep(0.02)
        assert got, "the command asked the device nothing"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return err
