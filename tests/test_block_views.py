"""Blocks are views of the parser's slot buffers (no copy per block): a Block
the user keeps must never change under them, whatever is read after it. Every
Block read here is kept, with a copy of its contents taken when it was read,
and all of them are compared with those copies at the end: across many reads,
buffers used up (few rows, few events per buffer), layout and encoding
changes, discontinuities, blocks made ahead (Parser.prepare) and flushes."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from capture_support import PtyDevice, make_frames  # noqa: E402

from sensorio import Parser, sio1  # noqa: E402
from sensorio._binding import lib  # noqa: E402
from sensorio.blocks import Block  # noqa: E402
from sensorio.capture import open as capture_open  # noqa: E402


def _snapshot(b: Block) -> tuple:
    return (
        b.stream,
        b.first_row,
        b.encoding,
        b.samples.dtype.str,
        b.samples.shape,
        b.samples.tobytes(),
        b.frame_seq.tobytes(),
        b.frame_t_us.tobytes(),
        b.frame_leadoff.tobytes(),
        b.frame_row.tobytes(),
        b.events.tobytes(),
    )


class _Keeper:
    """Keeps every Block with a copy of it as read."""

    def __init__(self) -> None:
        self.kept: list[tuple[Block, tuple]] = []

    def add(self, blocks: list[Block]) -> None:
        self.kept += [(b, _snapshot(b)) for b in blocks]

    def check(self) -> None:
        changed = [i for i, (b, snap) in enumerate(self.kept) if _snapshot(b) != snap]
        assert not changed, f"{len(changed)} of {len(self.kept)} kept blocks changed, first {changed[:5]}"


def _sio_frames(draw) -> list[bytes]:
    """SIO-1 frames of up to 3 streams whose layouts (channels, encoding)
    change now and then, with skipped seqs (gap events)."""
    encoder = sio1.DataEncoder()
    out = []
    seqs = {0: 0, 1: 100, 2: 65530}
    layout = {0: (4, 2), 1: (2, 1), 2: (8, 3)}
    for _ in range(draw(st.integers(1, 120))):
        sid = draw(st.sampled_from([0, 0, 0, 1, 2]))
        if draw(st.integers(0, 15)) == 0:
            layout[sid] = (draw(st.integers(1, 9)), draw(st.sampled_from([1, 2, 3])))
        n_ch, enc = layout[sid]
        n_samp = draw(st.integers(1, 6))
        if draw(st.integers(0, 6)) == 0:
            seqs[sid] += draw(st.integers(1, 3))  # lost frames: a GAP event
        lo, hi = sio1.ENC_RANGE[enc]
        base = (seqs[sid] * 7919 + sid * 104729) % (hi - lo - 1000) + lo
        samples = base + np.arange(n_samp * n_ch, dtype=np.int64).reshape(n_samp, n_ch)
        out.append(encoder.encode(samples, stream=sid, enc=enc, seq=seqs[sid] & 0xFFFF, t_us=seqs[sid] * 1000))
        seqs[sid] += 1
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from([1, 3, 8, 16384]), st.sampled_from([2, 3, 256]))
def test_kept_sio_blocks_never_change(data, block_rows: int, max_events: int) -> None:
    frames = _sio_frames(data.draw)
    parser = Parser("sio", block_rows=block_rows, max_events=max_events)
    keep = _Keeper()
    parser.feed(b"\x00")
    i = 0
    while i < len(frames):
        n = data.draw(st.integers(1, 6))
        wire = b"".join(frames[i : i + n])
        i += n
        cut = data.draw(st.integers(0, len(wire)))
        parser.feed(wire[:cut])  # a frame may straddle two reads
        keep.add(parser.read())
        parser.feed(wire[cut:])
        action = data.draw(st.sampled_from(["read", "read", "prepare", "discontinuity", "parse"]))
        if action == "prepare":
            parser.prepare()
        elif action == "discontinuity":
            parser.discontinuity(7)
            parser.feed(b"\x00")
        keep.add(parser.read())
        if action == "parse":
            keep.add(parser.parse(b""))
    parser.flush()
    keep.add(parser.read())
    keep.check()
    assert sum(len(b) for b, _ in keep.kept) == parser.stats.samples_ok


def _cyton_packets(count: int, lost: frozenset[int] = frozenset()) -> list[bytes]:
    packets = []
    for n in range(count):
        if n in lost:
            continue
        aux = bytes([0, n & 0xFF, 0, 2, 0, 3]) if n % 10 == 0 else bytes(6)
        body = b"".join(((n * 31 + c) & 0x7FFFFF).to_bytes(3, "big") for c in range(8))
        packets.append(bytes([0xA0, n & 0xFF]) + body + aux + bytes([0xC0]))
    return packets


@pytest.mark.parametrize("block_rows, max_events", [(5, 2), (64, 256), (16384, 2), (16384, 256)])
def test_kept_cyton_blocks_never_change_read_packet_by_packet(block_rows: int, max_events: int) -> None:
    """A Cyton read as it comes (one packet per read, a block made ahead
    between reads, as a capture with callbacks does): lost packets (gap
    events, so few events per buffer use it up), accelerometer rows."""
    lost = frozenset(range(3, 2000, 7))
    parser = Parser("cyton", block_rows=block_rows, max_events=max_events)
    keep = _Keeper()
    for k, packet in enumerate(_cyton_packets(2000, lost)):
        parser.feed(packet)
        keep.add(parser.take()[1])
        if k % 3:
            parser.prepare()
    parser.flush()
    keep.add(parser.read())
    keep.check()
    assert sum(len(b) for b, _ in keep.kept if b.stream == 0) == 2000 - len(lost)


def test_kept_ascii_blocks_never_change_across_integers_and_decimals() -> None:
    """ASCII lines switch between integers and decimals (one float32 signal);
    lines of another channel count are malformed between them."""
    parser = Parser("ascii", block_rows=16, max_events=2)
    keep = _Keeper()
    for k in range(600):
        n_ch = 3 if (k // 50) % 2 else 2
        if (k // 70) % 2:
            line = ",".join(f"{k + c}.5" for c in range(n_ch))
        else:
            line = ",".join(str(k * 10 + c) for c in range(n_ch))
        parser.feed((line + "\n").encode())
        keep.add(parser.read())
        if k % 2:
            parser.prepare()
    parser.flush()
    keep.add(parser.read())
    keep.check()
    assert sum(len(b) for b, _ in keep.kept) == parser.stats.samples_ok == 300
    assert {b.encoding for b, _ in keep.kept} == {lib.SIO_ENC_F32}


def test_kept_blocks_of_a_capture_never_change() -> None:
    """A live capture with callbacks in the reader thread (blocks made ahead
    between reads) keeping every block over many reads, one-row frames read
    one by one and then more rows than a slot buffer holds."""
    dev = PtyDevice()
    keep = _Keeper()
    lock = threading.Lock()

    def on_block(b: Block) -> None:
        with lock:
            keep.add([b])

    small, small_rows = make_frames(0, 300, n_ch=4, n_samp=1)
    big, big_rows = make_frames(300, 300, n_ch=4, n_samp=60)  # 18000 rows: more than a 16384-row buffer
    expected = np.concatenate([small_rows, big_rows])
    frames = [f + b"\x00" for f in (small + big).split(b"\x00")[:-1]]
    assert len(frames) == 600
    try:
        with capture_open(dev.path, request_info=False, on_block=on_block, callback_thread=False):
            dev.write(b"\x00")
            for k, frame in enumerate(frames):
                dev.write(frame)
                if k < 300 or k % 8 == 0:
                    time.sleep(0.002)  # a read per frame, or per few
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with lock:
                    if sum(len(b) for b, _ in keep.kept) >= len(expected):
                        break
                time.sleep(0.02)
    finally:
        dev.close()
    with lock:
        keep.check()
        got = np.concatenate([b.samples for b, _ in keep.kept])
    assert np.array_equal(got, expected)
    assert sum(len(b) == 1 for b, _ in keep.kept) > 100  # one-row blocks, most made ahead


def _owner(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _gappy_frames(count: int, n_ch: int = 4, n_samp: int = 5) -> list[bytes]:
    """SIO-1 frames, every other one lost: each kept frame starts with a GAP."""
    encoder = sio1.DataEncoder()
    return [
        encoder.encode(np.full((n_samp, n_ch), seq, dtype=np.int64), enc=sio1.ENC_I24, seq=seq, t_us=seq * 1000)
        for seq in range(0, 2 * count, 2)
    ]


def test_blocks_of_a_lossy_link_share_their_buffers() -> None:
    """One gap event per block: when the events run out before the rows,
    only the events are renewed. Before, each run of max_events blocks got
    fresh buffers of block_rows rows (and the held block was copied there),
    so kept blocks with a gap each held on to a buffer per max_events
    blocks: with 64 channels, 4.4 MB per 256 blocks."""
    parser = Parser("sio", max_events=4)
    keep = _Keeper()
    parser.feed(b"\x00")
    for frame in _gappy_frames(200):
        parser.feed(frame)
        keep.add(parser.read())
    keep.check()
    blocks = [b for b, _ in keep.kept]
    assert sum(len(b.events) for b in blocks) == 199  # (the first frame has nothing before it)
    assert len({id(_owner(b.samples)) for b in blocks}) == 1
    assert len({id(_owner(b.frame_seq)) for b in blocks}) == 1
    assert len({id(_owner(b.events)) for b in blocks if len(b.events)}) == 50  # 4 events each
    assert [int(b.frame_seq[0]) for b in blocks] == list(range(0, 400, 2))


def test_events_renewed_with_a_block_held_keep_its_events() -> None:
    """The events run out while a block holds some (several frames in one
    read): they move to the fresh array with it."""
    parser = Parser("sio", max_events=3)
    keep = _Keeper()
    parser.feed(b"\x00")
    frames = _gappy_frames(30)
    for k in range(0, 30, 5):
        parser.feed(b"".join(frames[k : k + 5]))  # 5 gaps in a read, 3 events per array
        keep.add(parser.read())
    keep.check()
    seqs = np.concatenate([b.frame_seq for b, _ in keep.kept])
    assert seqs.tolist() == list(range(0, 60, 2))
    gaps = [(b.first_row + int(e["row"]), int(e["lost_frames"])) for b, _ in keep.kept for e in b.events]
    assert gaps == [(5 * k, 1) for k in range(1, 30)]


def test_a_frame_larger_than_the_buffers_left_gets_buffers_once() -> None:
    """An empty block whose buffers are used up behind blocks handed out gets
    buffers sized for the frame that asked, once (before: first buffers like
    the old ones, and when the frame did not fit those either, its own)."""
    import sensorio.parser as parser_module

    made: list[int] = []
    real = parser_module._SlotBuffers

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, rows: int, n_ch: int, events: int) -> None:
            made.append(rows)
            super().__init__(rows, n_ch, events)

    encoder = sio1.DataEncoder()
    parser_module._SlotBuffers = Counting  # type: ignore[misc]
    try:
        parser = Parser("sio", block_rows=8)
        parser.feed(b"\x00" + encoder.encode(np.zeros((2, 3), dtype=np.int64), enc=sio1.ENC_I16, seq=0))
        first = parser.read()
        parser.feed(encoder.encode(np.ones((20, 3), dtype=np.int64), enc=sio1.ENC_I16, seq=1))
        second = parser.read()
    finally:
        parser_module._SlotBuffers = real  # type: ignore[misc]
    assert made == [8, 20]
    assert [len(b) for b in first + second] == [2, 20]
    assert not first[0].samples.any() and (second[0].samples == 1).all()


def test_a_refused_advance_is_not_handed_out() -> None:
    """The C advance refuses counts that do not fit the buffers (csrc
    checks them): the Parser raises rather than hand out the rows twice."""
    from sensorio.errors import SensorioError

    parser = Parser("cyton")
    parser.feed(b"".join(_cyton_packets(3)))
    assert parser.read()
    parser.feed(b"".join(_cyton_packets(5)[3:]))
    slot = next(iter(parser._slots.values()))
    slot.block.n_rows = slot.block.samples_cap + 1
    with pytest.raises(SensorioError, match="does not fit"):
        parser.read()
