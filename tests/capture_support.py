"""Pseudo-terminal devices for the capture and recording tests: the test
plays the device, writing SIO-1 frames built with sensorio.sio1.DataEncoder
into the master side; sensorio opens the slave side like a serial port."""

from __future__ import annotations

import os
import pty
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
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view) :]

    def unplug(self) -> None:
        if self.link is not None:
            self.link.unlink(missing_ok=True)
        os.close(self.master)
        self.master = -1

    def replug(self) -> None:
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
        rows = (
            np.arange(n_samp)[:, None] * 7 + np.arange(n_ch)[None, :] * 1000 + seq * 13
        ) % 50000 - 25000
        if seq in skip:
            continue
        out.append(
            encoder.encode(
                rows, stream=stream, enc=enc, seq=seq & 0xFFFF, t_us=seq * n_samp * period_us
            )
        )
        kept.append(rows)
    samples = np.concatenate(kept) if kept else np.zeros((0, n_ch), dtype=np.int32)
    return b"".join(out), samples.astype(np.int32)
