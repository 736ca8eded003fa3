"""Recording files: round trip, crash leftovers, damage, corruption fuzzing."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensorio.errors import SensorioError
from sensorio.recording import (
    Damage,
    DataChunk,
    End,
    Event,
    RecordingReader,
    RecordingWriter,
    decode_recording,
)
from sensorio.recording.format import MAGIC

ROOT = Path(__file__).resolve().parents[1]


def _write(path: Path, pieces: list[bytes], events_at: dict[int, str] | None = None) -> None:
    w = RecordingWriter(path, {"format": "sio", "port": "test"}, flush_interval=0.05)
    for i, p in enumerate(pieces):
        if events_at and i in events_at:
            w.event(events_at[i])
        w.add(p, 1_000_000_000 + i * 1000)
    w.close({"done": True})


def _items(path: Path) -> tuple[list, RecordingReader]:
    r = RecordingReader(path)
    return list(r.items()), r


def test_round_trip_keeps_bytes_reads_events_in_order(tmp_path: Path) -> None:
    pieces = [bytes([i]) * (i + 1) for i in range(50)]
    path = tmp_path / "a.sior"
    _write(path, pieces, {10: "disconnect", 11: "connect", 30: "marker"})
    items, r = _items(path)
    assert r.header["format"] == "sio" and r.header["port"] == "test"
    raw = b"".join(i.raw for i in items if isinstance(i, DataChunk))
    assert raw == b"".join(pieces)
    reads = [t for i in items if isinstance(i, DataChunk) for _, t in i.reads]
    assert reads == [1_000_000_000 + i * 1000 for i in range(50)]
    # events sit exactly between the bytes added before and after them
    seen = 0
    for item in items:
        if isinstance(item, DataChunk):
            seen += len(item.raw)
        elif isinstance(item, Event):
            at = {"disconnect": 10, "connect": 11, "marker": 30}[item.kind]
            assert seen == sum(len(p) for p in pieces[:at])
    assert isinstance(items[-1], End) and items[-1].summary == {"done": True}
    assert r.report.complete and r.report.problems() == []


def test_never_overwrites_unless_told(tmp_path: Path) -> None:
    path = tmp_path / "a.sior"
    path.write_bytes(b"precious")
    with pytest.raises(SensorioError, match="exists"):
        RecordingWriter(path, {})
    assert path.read_bytes() == b"precious"
    RecordingWriter(path, {}, overwrite=True).close()
    items, r = _items(path)
    assert r.report.complete and r.report.problems() == []


def test_readable_while_being_written(tmp_path: Path) -> None:
    path = tmp_path / "live.sior"
    w = RecordingWriter(path, {"format": "sio"}, flush_interval=0.05)
    w.add(b"abc" * 100)
    w.event("marker", text="x")  # an event forces a flush of what precedes it
    import time

    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        items, r = _items(path)
        if any(isinstance(i, Event) for i in items):
            break
        time.sleep(0.02)
    assert b"".join(i.raw for i in items if isinstance(i, DataChunk)) == b"abc" * 100
    assert not r.report.complete  # still open: no END yet
    w.close()


def test_truncation_at_every_length_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "a.sior"
    pieces = [os.urandom(50) for _ in range(20)]
    _write(path, pieces, {5: "disconnect"})
    data = path.read_bytes()
    cut = tmp_path / "cut.sior"
    for n in range(0, len(data), 7):
        cut.write_bytes(data[:n])
        if n < len(MAGIC) + 28:
            with pytest.raises(SensorioError):
                RecordingReader(cut)
            continue
        try:
            items, r = _items(cut)
        except SensorioError as exc:
            assert "truncated" in str(exc) or "not a sensorio" in str(exc)
            continue
        raw = b"".join(i.raw for i in items if isinstance(i, DataChunk))
        assert b"".join(pieces).startswith(raw)  # a prefix, never garbage
        assert not r.report.complete
        assert not any(isinstance(i, Damage) for i in items)
        if n < len(data):
            assert any("cut" in p or "not closed" in p for p in r.report.problems())


def test_the_intact_part_of_a_cut_data_record_is_read(tmp_path: Path) -> None:
    """A capture that died or filled the disk leaves its last DATA record
    cut: its port bytes up to the cut are intact and are read (with a fast
    source one record is megabytes, all of it was dropped); a cut inside the
    record's table of reads leaves nothing to read."""
    path = tmp_path / "a.sior"
    w = RecordingWriter(path, {"format": "sio"}, flush_interval=10)
    for i in range(3):
        w.add(bytes([65 + i]) * 40, 1000 + i)
        w.add(bytes([97 + i]) * 60, 2000 + i)
        w.event("marker", i=i)  # one DATA record per pair of reads
    w.close()
    data = path.read_bytes()
    last = data.find(b"C" * 40)
    for keep, read in ((25, b"C" * 25), (40 + 17, b"C" * 40 + b"c" * 17), (-3, b"")):
        cut = tmp_path / "cut.sior"
        cut.write_bytes(data[: last + keep])
        items, r = _items(cut)
        raw = b"".join(i.raw for i in items if isinstance(i, DataChunk))
        assert raw == b"A" * 40 + b"a" * 60 + b"B" * 40 + b"b" * 60 + read
        assert r.report.salvaged_bytes == len(read) and r.report.cut_bytes > 0
        assert r.report.data_records == (3 if read else 2)  # (info's duration reads its time too)
        tail = [i for i in items if isinstance(i, DataChunk)][-1]
        if read:
            assert tail.reads[-1][0] == len(read) and tail.reads[0][1] == 1002
            assert any(f"the {len(read)} bytes of port data in it were read" in p for p in r.report.problems())
        else:
            assert any("(an unfinished record) were cut" in p for p in r.report.problems())


def test_damaged_record_is_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "a.sior"
    w = RecordingWriter(path, {"format": "sio"}, flush_interval=10)
    for i in range(5):
        w.add(bytes([65 + i]) * 100)
        w.event("marker", i=i)  # one DATA record per piece
    w.close()
    data = bytearray(path.read_bytes())
    second = data.find(b"B" * 100)
    data[second + 10] ^= 0xFF
    path.write_bytes(bytes(data))
    items, r = _items(path)
    raw = b"".join(i.raw for i in items if isinstance(i, DataChunk))
    assert raw == b"A" * 100 + b"C" * 100 + b"D" * 100 + b"E" * 100
    assert len(r.report.damaged) == 1 and r.report.complete
    assert any("damaged" in p for p in r.report.problems())


def test_not_a_recording(tmp_path: Path) -> None:
    for content in (
        b"",
        b"SIO",
        b"hello world, not a recording at all",
        MAGIC,
        MAGIC + b"\xa5SR\x5a" + bytes(30),
    ):
        p = tmp_path / "x.bin"
        p.write_bytes(content)
        with pytest.raises(SensorioError):
            RecordingReader(p)
    with pytest.raises(SensorioError, match="no such file"):
        RecordingReader(tmp_path / "missing.sior")
    with pytest.raises(SensorioError, match="directory"):
        RecordingReader(tmp_path)


_SEED_CACHE: dict[str, bytes] = {}


def _seed(tmp: Path) -> bytes:
    if "seed" not in _SEED_CACHE:
        p = tmp / "seed.sior"
        _write(p, [os.urandom(40) for _ in range(8)], {3: "disconnect", 4: "connect"})
        _SEED_CACHE["seed"] = p.read_bytes()
    return _SEED_CACHE["seed"]


def _read_all(path: Path) -> None:
    """What a fuzzer checks: either a SensorioError or a clean pass."""
    try:
        r = RecordingReader(path)
    except SensorioError:
        return
    for _ in r.items():
        pass
    r.report.problems()
    r.close()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    st.integers(0, 10_000),
    st.binary(max_size=64),
)
def test_fuzz_mutations_never_crash(
    tmp_path_factory: pytest.TempPathFactory, flips: list[tuple[int, int]], cut: int, tail: bytes
) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    data = bytearray(_seed(tmp))
    for pos, val in flips:
        data[pos % len(data)] = val
    data = data[: max(cut, len(data) // 2)] + tail
    p = tmp / "f.sior"
    p.write_bytes(bytes(data))
    _read_all(p)


def test_fuzz_random_garbage_after_magic(tmp_path: Path) -> None:
    rng = random.Random(5)
    p = tmp_path / "g.sior"
    seed = _seed(tmp_path)
    for _ in range(200):
        body = bytearray(rng.randbytes(rng.randint(0, 400)))
        # plant sync markers and plausible heads so the parser goes deep
        for _ in range(rng.randint(0, 4)):
            at = rng.randint(0, max(0, len(body) - 1)) if body else 0
            body[at:at] = seed[len(MAGIC) : len(MAGIC) + rng.randint(4, 40)]
        p.write_bytes(MAGIC + bytes(body))
        _read_all(p)


def test_decode_recording_marks_disconnect_as_discontinuity(tmp_path: Path) -> None:
    from sensorio import Parser

    sys.path.insert(0, str(Path(__file__).parent))
    from capture_support import make_frames

    a, _ = make_frames(0, 10)
    b, _ = make_frames(10, 10)
    half = len(a) // 2 + 3  # the disconnect cuts a frame in two
    path = tmp_path / "d.sior"
    _write(path, [a + b[:half], b[half:]], {1: "disconnect"})
    parser, blocks, _, reader = decode_recording(path)
    live = Parser("sio")
    live.feed(a + b[:half])
    live.discontinuity(0)
    live.feed(b[half:])
    assert parser.stats == live.stats
    assert parser.stats.bytes_resync > 0  # the half frame was not glued to the next bytes


def test_file_size_limit_stops_recording_with_data_kept(tmp_path: Path) -> None:
    """A writer hitting RLIMIT_FSIZE reports a clear error; what is on disk opens."""
    path = tmp_path / "limited.sior"
    code = textwrap.dedent(f"""
        import resource, signal, sys, time
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
        from sensorio.recording import RecordingWriter
        w = RecordingWriter({str(path)!r}, {{"format": "sio"}}, flush_interval=0.02)
        for i in range(200):
            w.add(bytes([i % 256]) * 1000)
            time.sleep(0.002)
            if w.error:
                break
        w.close()
        print(w.error)
        sys.exit(0 if w.error else 3)
    """)
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert "file size limit" in res.stdout and "kept" in res.stdout
    items, r = _items(path)
    raw = b"".join(i.raw for i in items if isinstance(i, DataChunk))
    assert 0 < len(raw) < 20000
    assert raw == b"".join(bytes([i % 256]) * 1000 for i in range(len(raw) // 1000)) + raw[len(raw) // 1000 * 1000 :]
