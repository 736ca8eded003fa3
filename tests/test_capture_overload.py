"""Overload: a consumer that stops reading for a long time while the device
keeps sending far more than the ring holds. Memory must stay flat, and capture
must recover when the consumer resumes, in both designed behaviours
(docs/capture.md): a real serial port (backpressure=False) keeps reading and
recording, and the parser counts the overflow and marks it as a gap; a
pseudo-terminal (backpressure=True) stops reading, the writer waits, nothing
is lost. The short versions with a few hundred frames are in test_capture_pty.py.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from capture_support import PtyDevice, make_frames  # noqa: E402

from sensorio import concat_blocks  # noqa: E402
from sensorio.blocks import EV_OVERFLOW  # noqa: E402
from sensorio.capture import open as capture_open  # noqa: E402
from sensorio.recording import decode_recording  # noqa: E402

RING = 64 * 1024
FRAMES = 30_000  # ~3.4 MB: over 50 rings' worth, under one seq wrap (65536 frames)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


@pytest.fixture(scope="module")
def frames() -> tuple[bytes, np.ndarray]:
    return make_frames(0, FRAMES)


def _drain(stream, until, timeout: float = 20.0) -> list:
    blocks: list = []
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        blocks += stream.read(0.05)
    return blocks + stream.read(0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS from /proc")
def test_serial_port_behaviour_counts_overflow_marks_the_gap_and_recovers(
    frames: tuple[bytes, np.ndarray], tmp_path: Path
) -> None:
    data, expected = frames
    tail, tail_samples = make_frames(FRAMES, 200)
    rec = tmp_path / "overload.sior"
    dev = PtyDevice()
    try:
        with capture_open(dev.path, request_info=False, record=rec, ring_size=RING, backpressure=False) as s:
            before = _rss_mb()
            # the consumer stalls: nobody calls read() while the whole burst arrives
            dev.write(data)
            deadline = time.monotonic() + 20
            while s.bytes_received < len(data) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert s.bytes_received == len(data)
            grown = _rss_mb() - before
            assert grown < 16, f"memory grew by {grown:.1f} MB for a {len(data) / 1e6:.1f} MB burst"
            # the consumer resumes; the device keeps going
            blocks = _drain(s, lambda: s.stats.bytes_in + s.bytes_overflowed >= len(data))
            dev.write(tail)
            blocks += _drain(s, lambda: s.stats.bytes_in + s.bytes_overflowed >= len(data) + len(tail))
            blocks += _drain(s, lambda: not s.stats.bytes_pending, timeout=1)
            stats = s.stats
    finally:
        dev.close()
    assert stats.ring_overflows >= 1 and stats.ring_overflow_bytes > len(data) // 2
    assert stats.bytes_in + stats.ring_overflow_bytes == len(data) + len(tail)
    # every frame is either received or reported lost; the loss is marked where it happened
    assert stats.frames_ok + stats.lost_frames == FRAMES + 200
    got = concat_blocks(blocks)[0]
    overflow_rows = got["events"][got["events"]["kind"] == EV_OVERFLOW]
    assert overflow_rows.size >= 1 and overflow_rows["lost_bytes"].sum() > len(data) // 2
    assert got["events"]["lost_frames"].sum() == stats.lost_frames  # the seq gap, in the stream
    # recovered: the frames after the stall arrive intact
    assert np.array_equal(got["samples"][-len(tail_samples) :], tail_samples)
    # and the recording has every byte, overflow or not
    parser, decoded, _, _ = decode_recording(rec)
    assert parser.stats.frames_ok == FRAMES + 200 and parser.stats.lost_frames == 0
    assert np.array_equal(concat_blocks(decoded)[0]["samples"][: len(expected)], expected)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS from /proc")
def test_pty_behaviour_waits_for_the_stalled_consumer_and_loses_nothing(
    frames: tuple[bytes, np.ndarray],
) -> None:
    data, expected = frames
    dev = PtyDevice()
    try:
        with capture_open(dev.path, request_info=False, ring_size=RING) as s:
            before = _rss_mb()
            writer = threading.Thread(target=dev.write, args=(data,), daemon=True)
            writer.start()
            time.sleep(1.0)  # the consumer stalls; the writer blocks once ring and pty are full
            assert writer.is_alive(), "a stalled consumer must hold the writer back"
            assert s.bytes_received <= RING + 64 * 1024  # ring plus at most one read
            grown = _rss_mb() - before
            assert grown < 16, f"memory grew by {grown:.1f} MB while stalled"
            blocks = _drain(s, lambda: s.stats.bytes_in >= len(data) and not s.stats.bytes_pending)
            writer.join(5)
            stats = s.stats
    finally:
        dev.close()
    assert not writer.is_alive()
    assert stats.ring_overflow_bytes == 0 and stats.lost_frames == 0 and stats.frames_ok == FRAMES
    assert np.array_equal(concat_blocks(blocks)[0]["samples"], expected)
