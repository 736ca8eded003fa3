"""Data integrity of the frame engine.

Lost frames that the frame counter cannot count (a ring overflow, a gap
longer than the counter's range) are counted from the device clock, or
bounded from below by the bytes lost and flagged, never reported as 0
(docs/capture.md, "Counting lost frames"): through Parser and Ring, and end
to end with the emulator behind a consumer that stalls with backpressure off.
And one Parser or Ring used from several threads: the Parser takes turns, a
second Ring producer raises.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from capture_support import PtyDevice, make_frames  # noqa: E402
from emulator_util import run as emulator_run  # noqa: E402

from sensorio import Parser, Ring, concat_blocks  # noqa: E402
from sensorio.blocks import EV_GAP, EV_OVERFLOW, EVF_AT_LEAST, EVF_CLOCK  # noqa: E402
from sensorio.capture import open as capture_open  # noqa: E402
from sensorio.errors import SensorioError  # noqa: E402

HERE = Path(__file__).parent
ROOT = HERE.parent


class RingFeeder:
    """Bytes through a small Ring into a Parser, as capture does, without
    overflowing it; loss marks where the test says."""

    def __init__(self, fmt: str = "sio") -> None:
        self.ring = Ring(1 << 16)
        self.parser = Parser(fmt)
        self.blocks: list = []

    def put(self, data: bytes) -> None:
        for off in range(0, max(len(data), 1), 4096):
            piece = data[off : off + 4096]
            assert self.ring.write(piece) == len(piece)
            self.parser.feed_ring(self.ring)
            self.blocks += self.parser.read()

    def lose(self, n: int) -> None:
        self.ring.note_loss(n)

    def done(self) -> dict:
        self.parser.flush()
        self.blocks += self.parser.read()
        return concat_blocks(self.blocks)


def gaps(events: np.ndarray) -> np.ndarray:
    return events[events["kind"] == EV_GAP]


# -- SIO-1: the device clock counts what the 16-bit counter cannot ---------------------


def sio_with_ring_loss(before: int, lost: int, after: int) -> tuple[RingFeeder, int]:
    """Frames [0, before) arrive, then the ring loses `lost` frames (from 5 bytes
    into the first to 9 bytes into the last: two of them in part), then
    `after` frames. The lost frames are not built: their bytes are counted."""
    head, _ = make_frames(0, before)
    first_cut, _ = make_frames(before, 1)
    last_cut, _ = make_frames(before + lost - 1, 1)
    tail, _ = make_frames(before + lost, after)
    f = RingFeeder()
    f.put(head + first_cut[:5])
    f.lose(len(first_cut) - 5 + len(first_cut) * (lost - 2) + 9)
    f.put(last_cut[9:] + tail)
    return f, before + lost + after


def test_ring_overflow_longer_than_the_counter_is_counted_from_the_device_clock() -> None:
    # the reported case: 323,221 frames overflowed; 323221 % 65536 = 61077 made
    # it a "device restart" with 0 frames lost
    f, sent = sio_with_ring_loss(200, 323_221, 200)
    got = f.done()[0]
    st = f.parser.stats
    assert st.ring_overflows == 1
    assert st.lost_frames == 323_221
    assert st.frames_ok + st.lost_frames == sent
    assert st.restarts == 0
    assert st.lost_frames_exact and st.gaps_by_clock == 1
    gap = gaps(got["events"])
    assert gap["lost_frames"].tolist() == [323_221]
    assert gap["flags"].tolist() == [EVF_CLOCK]
    assert gap["lost_samples"].tolist() == [323_221 * 8]
    assert (got["events"]["kind"] == EV_OVERFLOW).sum() == 1


def test_ring_overflow_of_whole_counter_turns_is_not_zero() -> None:
    f, sent = sio_with_ring_loss(100, 2 * 65536, 100)  # the counter sees the next frame
    f.done()
    st = f.parser.stats
    assert st.lost_frames == 2 * 65536 and st.frames_ok + st.lost_frames == sent


def test_gap_longer_than_the_counter_without_overflow() -> None:
    # frames dropped before the host (device buffer, USB): no ring overflow
    head, _ = make_frames(0, 100)
    tail, tail_samples = make_frames(70_100, 100)
    p = Parser("sio")
    got = concat_blocks(p.parse(head + tail))[0]
    st = p.stats
    assert st.ring_overflows == 0
    assert st.lost_frames == 70_000  # not 70000 % 65536 = 4464
    assert st.frames_ok + st.lost_frames == 70_200
    assert gaps(got["events"])["lost_frames"].tolist() == [70_000]
    assert np.array_equal(got["samples"][-len(tail_samples) :], tail_samples)


def test_a_restart_is_still_a_restart() -> None:
    # the device reboots: counter and clock start again from 0
    head, _ = make_frames(30_000, 100)
    again, _ = make_frames(0, 100)
    p = Parser("sio")
    p.parse(head + again)
    assert p.stats.restarts == 1 and p.stats.lost_frames == 0


def test_interleaved_streams_each_count_their_own_loss() -> None:
    # EMG at 2 kHz (4 rows a frame, every 2 ms) and an IMU at 100 Hz (every
    # 10 ms), interleaved; the ring loses 200 s: 100,000 and 20,000 frames
    from sensorio.sio1 import DataEncoder

    enc = DataEncoder()
    emg_rows = np.zeros((4, 8), dtype=np.int32)
    imu_rows = np.ones((1, 6), dtype=np.int32)

    def span(t0_ms: int, t1_ms: int) -> bytes:  # frames due in [t0, t1) ms, in time order
        out = []
        for ms in range(t0_ms, t1_ms, 2):
            out.append(enc.encode(emg_rows, stream=0, seq=(ms // 2) & 0xFFFF, t_us=ms * 1000))
            if ms % 10 == 0:
                out.append(enc.encode(imu_rows, stream=1, seq=(ms // 10) & 0xFFFF, t_us=ms * 1000))
        return b"".join(out)

    f = RingFeeder()
    f.put(span(0, 1000))
    per_second = len(span(0, 1000))
    f.lose(per_second * 200)
    f.put(span(201_000, 202_000))
    got = f.done()
    st = f.parser.stats
    assert gaps(got[0]["events"])["lost_frames"].tolist() == [100_000]
    assert gaps(got[1]["events"])["lost_frames"].tolist() == [20_000]
    assert st.lost_frames == 120_000 and st.lost_frames_exact and st.restarts == 0


def test_without_a_clock_the_bytes_lost_give_a_lower_bound() -> None:
    # a device whose t_us never moves: only the overflowed bytes can tell
    from sensorio.sio1 import DataEncoder

    enc = DataEncoder()
    rows = np.arange(8, dtype=np.int32).reshape(2, 4)

    def frames(first: int, n: int) -> bytes:
        return b"".join(enc.encode(rows, seq=s & 0xFFFF, t_us=0) for s in range(first, first + n))

    one = frames(0, 1)
    f = RingFeeder()
    f.put(frames(0, 100))
    f.lose(len(one) * 70_000)
    f.put(frames(70_100, 100))
    got = f.done()[0]
    st = f.parser.stats
    assert st.lost_frames > 0 and not st.lost_frames_exact and st.gaps_at_least == 1
    assert st.lost_frames <= 70_000 and st.lost_frames % 65536 == 70_000 % 65536
    assert gaps(got["events"])["flags"].tolist() == [EVF_AT_LEAST]


@st.composite
def lossy_device(draw):
    """A device with a steady clock (any rate, rounded to whole microseconds,
    starting anywhere, so it may wrap) and a plan: runs of frames received,
    ring overflows and silent drops of up to 300,000 frames in between. A
    silent drop of a whole number of counter turns looks like the next frame
    (docs/capture.md): not drawn."""
    n_samp = draw(st.integers(1, 8))
    rate = draw(st.sampled_from([250.0, 500.0, 1000.0, 2000.0, 2048.0, 4000.0, 10_000.0, 64_000.0]))
    t0 = draw(st.integers(0, 2**32 - 1))
    plan = [("recv", draw(st.integers(5, 30)))]
    for _ in range(draw(st.integers(1, 4))):
        what = draw(st.sampled_from(["overflow", "drop"]))
        n = draw(st.integers(1, 300_000).filter(lambda n, w=what: w == "overflow" or n % 65536))
        plan.append((what, n))
        plan.append(("recv", draw(st.integers(1, 30))))
    return n_samp, rate, t0, plan


@given(lossy_device())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_frame_is_received_or_counted_lost(device) -> None:
    from sensorio.sio1 import DataEncoder

    n_samp, rate, t0, plan = device
    enc = DataEncoder()
    rows = np.arange(2 * n_samp, dtype=np.int32).reshape(n_samp, 2)

    def frame(i: int) -> bytes:
        t_us = (t0 + round(i * n_samp * 1e6 / rate)) % 2**32
        return enc.encode(rows, seq=i & 0xFFFF, t_us=t_us)

    f = RingFeeder()
    i = 0
    clock_turned = False  # a loss longer than half a turn of the 32-bit microsecond clock
    for what, n in plan:
        if what == "recv":
            f.put(b"".join(frame(k) for k in range(i, i + n)))
        else:
            clock_turned |= (n + 1) * n_samp * 1e6 / rate >= 2**31
            if what == "overflow":
                f.lose(len(frame(i)) * n)  # the frames' bytes, give or take COBS
        i += n
    f.done()
    st_ = f.parser.stats
    if not clock_turned:
        assert st_.frames_ok + st_.lost_frames == i, (st_.frames_ok, st_.lost_frames, i)
        assert st_.lost_frames_exact and st_.restarts == 0
    else:  # the clock cannot tell: at least what the bytes say, never more than the truth
        assert st_.frames_ok + st_.lost_frames <= i


# -- Cyton: an 8-bit counter and no clock ------------------------------------------------


def cyton_packet(i: int) -> bytes:
    body = bytes((i * 3 + c) & 0xFF for c in range(24))
    return bytes([0xA0, i & 0xFF]) + body + bytes(6) + b"\xc1"  # no accelerometer data


def cyton_packets(first: int, n: int) -> bytes:
    return b"".join(cyton_packet(i) for i in range(first, first + n))


@pytest.mark.parametrize("lost", [1024, 1001, 300])
def test_cyton_ring_overflow_is_never_zero(lost: int) -> None:
    # 1024 = 4 * 256: the counter sees the next packet; 1001 % 256 = 233 looks
    # like a restart; 300 % 256 = 44 looks like a gap of 44
    f = RingFeeder("cyton")
    f.put(cyton_packets(0, 100) + cyton_packet(100)[:28])
    lost_bytes = 5 + (lost - 2) * 33 + 20
    f.lose(lost_bytes)
    f.put(cyton_packet(100 + lost - 1)[20:] + cyton_packets(100 + lost, 100))
    got = f.done()[0]
    st = f.parser.stats
    assert st.ring_overflows == 1 and st.restarts == 0
    assert lost_bytes // 33 <= st.lost_frames <= lost
    assert not st.lost_frames_exact and st.gaps_at_least == 1
    gap = gaps(got["events"])
    assert gap["flags"].tolist() == [EVF_AT_LEAST]
    # the bound and the counter pin the count here, and the sample number
    # (frame time) counts the lost packets
    assert st.lost_frames == lost and st.frames_ok + st.lost_frames == 200 + lost
    row = int(gap["row"][0])
    assert got["frame_t_us"][row] == 100 + lost


def test_cyton_spec_counts_an_overflow_as_the_builtin_parser_does() -> None:
    # the shipped openbci-cyton.toml: same counts, same sample numbers
    results = []
    for fmt in ("cyton", "openbci-cyton"):
        f = RingFeeder(fmt)
        f.put(cyton_packets(0, 100) + cyton_packet(100)[:28])
        f.lose(5 + 998 * 33 + 20)
        f.put(cyton_packet(1099)[20:] + cyton_packets(1100, 100))
        got = f.done()[0]
        results.append((f.parser.stats.lost_frames, f.parser.stats.gaps_at_least, got["frame_t_us"].tolist()))
    assert results[0] == results[1]
    assert results[0][0] == 1000


def test_cyton_discontinuity_with_known_loss() -> None:
    # a replayed recording with a damaged region of known size
    p = Parser("cyton")
    p.feed(cyton_packets(0, 100))
    p.discontinuity(512 * 33)
    p.feed(cyton_packets(612, 100))
    p.flush()
    p.read()
    st = p.stats
    # while locked, the last packet before the damage is not held back for
    # its successor's start byte: it comes through, and only the damage is lost
    assert st.lost_frames == 512 and st.frames_ok == 200 and st.gaps_at_least == 1


# -- end to end: the emulator behind a consumer that stalls, backpressure off ------------


def _drain(stream, until, timeout: float = 30.0) -> list:
    blocks: list = []
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        blocks += stream.read(0.05)
    return blocks + stream.read(0)


def _stalled_capture(data: bytes, fmt: str, tail_bytes: int) -> tuple[object, dict]:
    """Write all but the last tail_bytes while nobody reads (the ring
    overflows), then read, then write the rest."""
    head, tail = data[:-tail_bytes], data[-tail_bytes:]
    dev = PtyDevice()
    try:
        with capture_open(dev.path, format=fmt, request_info=False, ring_size=1 << 16, backpressure=False) as s:
            dev.write(head)
            deadline = time.monotonic() + 30
            while s.bytes_received < len(head) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert s.bytes_received == len(head)
            blocks = _drain(s, lambda: s.stats.bytes_in + s.bytes_overflowed >= len(head))
            dev.write(tail)
            blocks += _drain(s, lambda: s.stats.bytes_in + s.bytes_overflowed >= len(data))
            blocks += _drain(s, lambda: not s.stats.bytes_pending, timeout=2)
            stats = s.stats
    finally:
        dev.close()
    assert stats.bytes_in + stats.ring_overflow_bytes == len(data)
    return stats, concat_blocks(blocks)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminals")
def test_emulator_sio_consumer_asleep_past_the_counter_range() -> None:
    # 250 frames/s of device time: 330 s is 82,500 frames, ~1.6 MB; all but
    # the ring's 64 KiB and the tail overflow, more than 65536 frames
    data, truth = emulator_run(b"START\n", duration=330.0, channels=1, rate=250)
    sent = truth.records[-1]["frames"]["0"]
    stats, got = _stalled_capture(data, "sio", tail_bytes=20 * 200)
    assert stats.ring_overflows >= 1
    assert stats.lost_frames > 65536
    assert got[0]["frame_seq"].size + stats.lost_frames == sent
    assert stats.lost_frames_exact and stats.restarts == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminals")
def test_emulator_cyton_consumer_asleep_loses_at_least_the_overflow() -> None:
    data, truth = emulator_run(b"b", duration=40.0, format="cyton")
    sent = truth.records[-1]["frames"]["0"]
    stats, got = _stalled_capture(data, "cyton", tail_bytes=33 * 200)
    assert stats.ring_overflows >= 1
    assert stats.lost_frames >= stats.ring_overflow_bytes // 33 > 256
    # the last packet waits in the parser for its successor's start byte
    held = stats.bytes_pending // 33
    assert got[0]["frame_seq"].size + stats.lost_frames + held == sent
    assert stats.gaps_at_least >= 1 and not stats.lost_frames_exact


# -- one Parser, several threads ------------------------------------------------------------

# Run in a child process: on a parser that is not thread-safe this crashes.
THREADS_SCRIPT = textwrap.dedent(
    """
    import sys, threading
    import numpy as np
    sys.path.insert(0, {tests!r})
    from capture_support import make_frames
    from sensorio import Parser, concat_blocks

    N = 4000
    data, samples = make_frames(0, N, n_ch=4, n_samp=8)
    frame_len = len(data) // N  # int24, fixed-size frames here
    assert frame_len * N == len(data)

    def two_feeders():
        # whole frames per call: fed from two threads, every frame must be accepted
        p = Parser("sio", block_rows=512)
        def feed():
            for off in range(0, len(data), 7 * frame_len):
                p.feed(data[off : off + 7 * frame_len])
        ts = [threading.Thread(target=feed) for _ in range(2)]
        for t in ts: t.start()
        for t in ts: t.join()
        rows = sum(len(b) for b in p.read())
        s = p.stats
        assert s.frames_ok == 2 * N and rows == 2 * N * 8, (s.frames_ok, rows)
        assert s.bytes_in == 2 * len(data) and s.crc_errors + s.cobs_errors + s.malformed == 0, s

    def feed_and_read():
        p = Parser("sio", block_rows=256)
        blocks = []
        done = threading.Event()
        def feed():
            rng = np.random.default_rng(1)
            off = 0
            while off < len(data):
                n = int(rng.integers(1, 3000))
                p.feed(data[off : off + n])
                off += n
            done.set()
        t = threading.Thread(target=feed)
        t.start()
        while not done.is_set():
            blocks += p.read()
            p.stats
        t.join()
        blocks += p.read()
        got = concat_blocks(blocks)[0]
        assert np.array_equal(got["samples"], samples), "rows differ"
        assert np.array_equal(got["frame_seq"], np.arange(N)), "frames differ"
        assert p.stats.lost_frames == 0

    for _ in range(3):
        two_feeders()
        feed_and_read()
    print("ok")
    """
)


def test_one_parser_used_from_two_threads() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = THREADS_SCRIPT.format(tests=str(HERE))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", (proc.returncode, proc.stderr[-2000:])


# -- one Ring, one producer -------------------------------------------------------------------


def test_ring_second_producer_is_detected() -> None:
    ring = Ring(1 << 12)
    taken = threading.Event()
    go_on = threading.Event()
    failures: list[BaseException] = []

    def first_producer() -> None:
        view = ring.write_block()
        view[:3] = b"abc"
        taken.set()
        go_on.wait(5)
        try:
            ring.commit(3)
        except SensorioError as exc:
            failures.append(exc)

    t = threading.Thread(target=first_producer)
    t.start()
    assert taken.wait(5)
    # another thread writes while the first holds an uncommitted block
    with pytest.raises(SensorioError, match="one producer"):
        ring.write(b"xyz")
    go_on.set()
    t.join(5)
    assert not failures  # the first producer carries on


def test_ring_one_producer_one_consumer_is_fine() -> None:
    data, _ = make_frames(0, 3000)
    ring = Ring(1 << 12)
    parser = Parser("sio")
    errors: list[BaseException] = []

    def producer() -> None:
        try:
            off = 0
            while off < len(data):
                view = ring.write_block()
                k = min(len(view), len(data) - off, 1000)
                if not k:
                    time.sleep(0.0005)
                    continue
                view[:k] = data[off : off + k]
                ring.commit(k)
                off += k
            ring.note_loss(0)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=producer)
    t.start()
    blocks = []
    deadline = time.monotonic() + 60
    while (t.is_alive() or ring.used()) and time.monotonic() < deadline:
        if not parser.feed_ring(ring):
            time.sleep(0.0005)
        blocks += parser.read()
    t.join()
    blocks += parser.read()
    assert not errors
    assert parser.stats.frames_ok == 3000 and parser.stats.lost_frames == 0
