"""The byte ring from Python, and the two-thread case the capture path uses:
a writer thread fills the ring while the main thread parses it (cffi drops
the GIL during both C calls). Every byte and frame is accounted for."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from sensorio import Parser, Ring, concat_blocks, sio1


def test_capacity_must_be_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        Ring(1000)


def test_write_read_wrap_and_overflow() -> None:
    r = Ring(16)
    assert r.write(b"a" * 16) == 16  # the whole capacity, no lost slot
    assert r.free() == 0
    assert r.read(10) == b"a" * 10
    assert r.write(b"0123456789abcd") == 10  # 10 fit, 4 lost
    assert r.overflow_bytes == 4 and r.overflow_events == 1
    assert r.read(100) == b"a" * 6 + b"0123456789"  # stops at the loss mark
    assert r.pop_mark() == 4
    assert r.used() == 0


def test_zero_copy_write_block() -> None:
    r = Ring(8)
    view = r.write_block()
    assert len(view) == 8
    view[:3] = b"xyz"
    r.commit(3)
    assert r.read(8) == b"xyz"


def test_read_from_a_descriptor() -> None:
    r = Ring(8)
    rd, wr = os.pipe()
    try:
        os.write(wr, b"abcdef")
        view = r.read_from(rd, 4)  # published at once
        assert view is not None and bytes(view) == b"abcd"
        assert r.read(8) == b"abcd"
        os.write(wr, b"ghijklmnop")
        view = r.read_from(rd, 100, commit=False)  # up to the end of the buffer
        assert view is not None and bytes(view) == b"efgh"
        assert r.used() == 0  # not published yet
        r.commit(len(view))
        assert r.read(8) == b"efgh"
        assert r.write(b"12345678") == 8
        assert r.read_from(rd, 100) is None  # the ring is full: nothing read
        assert r.read(8) == b"12345678"
        view = r.read_from(rd, 100)
        assert view is not None and bytes(view) == b"ijklmnop"
        assert r.read(8) == b"ijklmnop"
        os.close(wr)
        wr = -1
        view = r.read_from(rd, 100)
        assert view is not None and len(view) == 0  # end of file
    finally:
        os.close(rd)
        if wr >= 0:
            os.close(wr)


def test_read_from_a_free_block_found_in_advance() -> None:
    r = Ring(16)
    rd, wr = os.pipe()
    try:
        sent = got = b""
        for k in range(12):  # round the ring a few times
            chunk = bytes([65 + k]) * 5
            sent += chunk
            os.write(wr, chunk)
            while len(got) < len(sent):  # a read stops at the end of the buffer
                r.prepare_write(5)
                view = r.read_from(rd, 5)
                assert view is not None and len(view)
                got += r.read(16)
        assert got == sent
        r.prepare_write(16)
        assert r.write(b"xyz") == 3  # another producer call: the block found is stale
        os.write(wr, b"pq")
        while r.used() < 5:  # (in two reads: the buffer ends between p and q)
            assert r.read_from(rd, 16)
        assert r.read(16) == b"xyzpq"
    finally:
        os.close(rd)
        os.close(wr)


def _stream(n_frames: int) -> bytes:
    enc = sio1.DataEncoder()
    rng = np.random.default_rng(1)
    return b"".join(
        enc.encode(rng.integers(-3000, 3000, size=(10, 8)), seq=i % 65536, t_us=i * 5000) for i in range(n_frames)
    )


@pytest.mark.parametrize("writer_waits", [True, False])
def test_two_threads_every_byte_accounted(writer_waits: bool) -> None:
    data = _stream(20000)
    ring = Ring(1 << 14)
    parser = Parser()
    done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            rng = np.random.default_rng(2)
            off = 0
            while off < len(data):
                n = int(rng.integers(1, 5000))
                piece = data[off : off + n]
                # first and last frames always go in: losses sit between
                # accepted frames where seq gaps reveal them
                must = writer_waits or off < 10_000 or off + n > len(data) - 10_000
                if must:
                    stored = 0
                    while stored < len(piece):
                        view = ring.write_block()  # empty while the ring or its mark queue is full
                        k = min(len(view), len(piece) - stored)
                        if not k:
                            done.wait(0.0001)
                            continue
                        view[:k] = piece[stored : stored + k]
                        ring.commit(k)
                        stored += k
                else:
                    ring.write(piece)
                off += len(piece)
        except BaseException as exc:  # reach the test thread
            errors.append(exc)
        finally:
            done.set()

    t = threading.Thread(target=writer)
    t.start()
    blocks = []
    while not (done.is_set() and ring.used() == 0):
        if parser.feed_ring(ring) == 0:
            done.wait(0.0005)
        blocks += parser.read()
    t.join()
    assert not errors
    blocks += parser.read()
    s = parser.stats
    got = concat_blocks(blocks)[0]
    assert s.bytes_in + s.ring_overflow_bytes == len(data)
    assert got["frame_seq"].size + s.lost_frames == 20000
    assert s.crc_errors + s.cobs_errors + s.malformed + s.restarts == 0
    if writer_waits:
        assert s.ring_overflow_bytes == 0 and got["frame_seq"].size == 20000
    else:
        overflow = got["events"][got["events"]["kind"] == 3]
        assert int(overflow["lost_bytes"].sum()) == s.ring_overflow_bytes
