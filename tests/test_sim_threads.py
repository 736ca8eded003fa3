"""A sim:// port is read by capture's reader thread while commands are
written from another thread: the emulator must be stepped by one at a time,
or frames come out twice or interleaved (seen as restarts in a recording)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import serial

import sensorio
from sensorio import Parser, concat_blocks


def test_reads_and_commands_from_two_threads_give_each_frame_once() -> None:
    port = serial.serial_for_url("sim://emg8?seed=1&fast=1&autostart=1&duration=3", timeout=0.01)
    parser = Parser()
    stop = threading.Event()

    def commands() -> None:
        while not stop.is_set():
            port.write(b"INFO\n")
            time.sleep(0.002)

    writer = threading.Thread(target=commands, daemon=True)
    writer.start()
    end = time.monotonic() + 60  # a bound against hanging
    while parser.stats.frames_ok < 700 and time.monotonic() < end:  # 3 s is 750 frames
        parser.feed(port.read(4096))
    stop.set()
    writer.join(10)
    port.close()
    seq = concat_blocks(parser.read())[0]["frame_seq"].astype(np.int64)
    assert len(seq) >= 700
    assert np.array_equal(seq, np.arange(len(seq)))
    assert parser.stats.restarts == 0 and parser.stats.lost_frames == 0


def test_recording_a_sim_device_keeps_its_frames_in_order(tmp_path: Path) -> None:
    rec = tmp_path / "s.sior"
    with sensorio.open("sim://emg8?seed=1&fast=1&autostart=1&duration=2", record=rec) as s:
        blocks: list = []
        end = time.monotonic() + 60
        while sum(len(b) for b in blocks) < 3000 and time.monotonic() < end:
            blocks += s.read(0.2)
        stats = s.stats
    seq = concat_blocks(blocks)[0]["frame_seq"].astype(np.int64)
    assert np.array_equal(seq, np.arange(len(seq)))
    assert stats.restarts == 0 and stats.lost_frames == 0
