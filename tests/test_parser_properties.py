"""The C parser against the plain-Python reference decoder (hypothesis):
round trips, any chunking, garbage before/between frames, corrupted frames
never yield samples, and no input crashes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensorio import Parser, concat_blocks, sio1
from sensorio.parser import BYTE_REASONS
from sensorio.reference import ReferenceDecoder
from sensorio.reference import cobs_decode as ref_cobs_decode
from sensorio.reference import cobs_encode as ref_cobs_encode
from sensorio.reference import crc16_ccitt as ref_crc16

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def data_frames(draw, stream: int | None = None):
    enc = draw(st.sampled_from([1, 2, 3, 4]))
    n_ch = draw(st.integers(1, 16))
    width = {1: 2, 2: 3, 3: 4, 4: 2}[enc]
    max_samp = max(1, min(20, (1024 - 13 - (n_ch + 7) // 8) // (n_ch * width)))
    n_samp = draw(st.integers(1, max_samp))
    lo, hi = sio1.ENC_RANGE[enc]
    values = draw(st.lists(st.integers(lo, hi), min_size=n_ch * n_samp, max_size=n_ch * n_samp))
    sid = draw(st.integers(0, 3)) if stream is None else stream
    return dict(
        samples=np.array(values, dtype=np.int64).reshape(n_samp, n_ch),
        stream=sid,
        enc=enc,
        t_us=draw(st.integers(0, 2**32 - 1)),
        leadoff=draw(st.integers(0, 2**n_ch - 1)),
    )


@st.composite
def streams(draw):
    """A device stream: frames with per-stream seq counters (some skipped),
    messages, garbage, corrupted frames, idle delimiters."""
    pieces: list[tuple[str, bytes]] = []
    seqs: dict[int, int] = {}
    layout: dict[int, tuple[int, int]] = {}
    encoder = sio1.DataEncoder()
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(["data", "data", "data", "msg", "garbage", "corrupt", "idle", "skip"]))
        if kind in ("data", "corrupt", "skip"):
            f = draw(data_frames())
            sid = f["stream"]
            # one layout per stream keeps Blocks comparable
            enc, n_ch = layout.setdefault(sid, (f["enc"], f["samples"].shape[1]))
            if (enc, n_ch) != (f["enc"], f["samples"].shape[1]):
                continue
            seq = seqs.get(sid, draw(st.integers(0, 65535)))
            seqs[sid] = (seq + 1) % 65536
            frame = encoder.encode(f["samples"], stream=sid, enc=enc, seq=seq, t_us=f["t_us"], leadoff=f["leadoff"])
            if kind == "skip":
                continue
            if kind == "corrupt":
                i = draw(st.integers(0, len(frame) - 2))
                bit = draw(st.integers(0, 7))
                flipped = frame[i] ^ (1 << bit)
                frame = frame[:i] + bytes([flipped or 1]) + frame[i + 1 :]
            pieces.append((kind, frame))
        elif kind == "msg":
            text = draw(st.text(max_size=40))
            pieces.append((kind, sio1.encode_frame(draw(st.sampled_from([2, 3, 4])), text.encode())))
        elif kind == "garbage":
            pieces.append((kind, draw(st.binary(min_size=1, max_size=60))))
        else:
            pieces.append((kind, b"\x00"))
    return pieces


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for p in points + [len(data)]:
        out.append(data[prev:p])
        prev = p
    return out


def run_c(data: bytes, cuts: list[int]) -> tuple[Parser, dict]:
    parser = Parser(block_rows=7, max_events=2)
    blocks = []
    for piece in chunked(data, cuts):
        parser.feed(piece)
        blocks += parser.read()
    return parser, concat_blocks(blocks)


def assert_same(parser: Parser, got: dict, ref: ReferenceDecoder) -> None:
    expect = ref.arrays()
    assert set(got) == set(expect)
    for sid in expect:
        for name in ("samples", "frame_seq", "frame_t_us", "frame_leadoff"):
            np.testing.assert_array_equal(got[sid][name], expect[sid][name], err_msg=f"{sid}/{name}")
    stats = parser.stats.as_dict()
    for key, value in ref.stats.items():
        assert stats[key] == value, key
    assert stats["bytes_pending"] == ref.bytes_pending
    assert sum(stats[r] for r in BYTE_REASONS) == stats["bytes_in"]


@SETTINGS
@given(streams(), st.lists(st.integers(0, 10**6), max_size=12))
def test_c_matches_reference_any_chunking(pieces, cuts) -> None:
    data = b"".join(p for _, p in pieces)
    parser, got = run_c(data, cuts)
    ref = ReferenceDecoder()
    ref.feed(data)
    assert_same(parser, got, ref)
    assert [(m.type, m.payload) for m in parser.read_messages()] == ref.messages


@SETTINGS
@given(
    st.lists(data_frames(stream=0), min_size=1, max_size=8),
    st.binary(max_size=50),
    st.lists(st.integers(0, 10**5), max_size=6),
)
def test_round_trip_with_leading_garbage(frames, garbage, cuts) -> None:
    """Frames after any garbage come out exactly as encoded (the first
    delimiter resynchronises), whatever the chunking."""
    enc, n_ch = frames[0]["enc"], frames[0]["samples"].shape[1]
    frames = [f for f in frames if (f["enc"], f["samples"].shape[1]) == (enc, n_ch)]
    encoder = sio1.DataEncoder()
    wire = (
        garbage
        + b"\x00"
        + b"".join(
            encoder.encode(f["samples"], enc=enc, seq=i, t_us=f["t_us"], leadoff=f["leadoff"])
            for i, f in enumerate(frames)
        )
    )
    parser, got = run_c(wire, cuts)
    np.testing.assert_array_equal(got[0]["samples"], np.concatenate([f["samples"] for f in frames]))
    np.testing.assert_array_equal(got[0]["frame_seq"], np.arange(len(frames)))
    assert parser.stats.frames_ok == len(frames)
    assert parser.stats.lost_frames == 0


@SETTINGS
@given(st.lists(data_frames(stream=0), min_size=3, max_size=6), st.data())
def test_corrupted_frames_never_yield_samples(frames, data) -> None:
    enc, n_ch = frames[0]["enc"], frames[0]["samples"].shape[1]
    frames = [f for f in frames if (f["enc"], f["samples"].shape[1]) == (enc, n_ch)]
    encoder = sio1.DataEncoder()
    wires = [encoder.encode(f["samples"], enc=enc, seq=i) for i, f in enumerate(frames)]
    victim = data.draw(st.integers(0, len(wires) - 1))
    w = bytearray(wires[victim])
    pos = data.draw(st.integers(0, len(w) - 2))
    # any other nonzero value: a corruption, never a new delimiter
    w[pos] = data.draw(st.integers(1, 255).filter(lambda v: v != w[pos]))
    wires[victim] = bytes(w)
    parser, got = run_c(b"".join(wires), [])
    seqs = list(got[0]["frame_seq"]) if got else []
    assert victim not in seqs
    kept = [f["samples"] for i, f in enumerate(frames) if i != victim]
    if kept:
        np.testing.assert_array_equal(got[0]["samples"], np.concatenate(kept))
    else:
        assert got == {}
    # the corrupted frame is counted, and lost when between accepted frames
    s = parser.stats
    assert s.crc_errors + s.cobs_errors + s.malformed + s.unknown_type + s.bytes_resync // max(1, len(w)) >= 1
    if 0 < victim < len(frames) - 1:
        assert s.lost_frames == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(0, 4000), max_size=10))
def test_no_input_crashes_and_all_bytes_accounted(data, cuts) -> None:
    parser, _ = run_c(data, cuts)
    ref = ReferenceDecoder()
    ref.feed(data)
    stats = parser.stats.as_dict()
    assert sum(stats[r] for r in BYTE_REASONS) == len(data)
    for key, value in ref.stats.items():
        assert stats[key] == value, key


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_crc_and_cobs_match_reference(data) -> None:
    assert sio1.crc16(data) == ref_crc16(data)
    enc = sio1.cobs_encode(data)
    assert enc == ref_cobs_encode(data)
    assert sio1.cobs_decode(enc) == data == ref_cobs_decode(enc)


def _fields(b) -> tuple:
    return (
        b.stream,
        b.samples.dtype.str,
        b.samples.tolist(),
        b.frame_seq.tolist(),
        b.frame_t_us.tolist(),
        b.frame_leadoff.tolist(),
        b.frame_row.tolist(),
        b.events.tolist(),
        b.first_row,
        b.encoding,
    )


def _per_piece(pieces: list[bytes], fmt: str, block_rows: int, prepare: bool) -> list[tuple]:
    parser = Parser(fmt, block_rows=block_rows)
    out = []
    for piece in pieces:
        parser.feed(piece)
        out += [_fields(b) for b in parser.read()]
        if prepare:
            parser.prepare()
    parser.flush()
    return out + [_fields(b) for b in parser.read()]


@SETTINGS
@given(streams(), st.sampled_from([1, 3, 16384]))
def test_blocks_made_ahead_are_the_blocks_read(pieces, block_rows) -> None:
    """Parser.prepare (a capture calls it between reads) changes no block."""
    data = [p for _, p in pieces]
    assert _per_piece(data, "sio", block_rows, True) == _per_piece(data, "sio", block_rows, False)


@pytest.mark.parametrize("block_rows", [5, 16384])
def test_blocks_made_ahead_for_a_cyton_read_packet_by_packet(block_rows: int) -> None:
    """One packet per read, as a live Cyton: lost packets (gaps), a damaged
    one, accelerometer rows now and then, buffers used up."""
    packets = []
    for n in range(300):
        if n in (40, 41, 200):
            continue  # lost
        aux = bytes([0, n & 0xFF, 0, 2, 0, 3]) if n % 10 == 0 else bytes(6)
        body = b"".join(((n * 31 + c) & 0x7FFFFF).to_bytes(3, "big") for c in range(8))
        pk = bytes([0xA0, n & 0xFF]) + body + aux + bytes([0xC0])
        if n == 120:
            pk = pk[:20]  # cut short
        packets.append(pk)
    with_ahead = _per_piece(packets, "cyton", block_rows, True)
    assert with_ahead == _per_piece(packets, "cyton", block_rows, False)
    assert sum(len(b[2]) for b in with_ahead if b[0] == 0) > 250
