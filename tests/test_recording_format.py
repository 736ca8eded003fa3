"""Recording files: round trip, crash leftovers, damage, corruption fuzzing."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
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

sys.path.insert(0, str(Path(__file__).parent))
from capture_support import make_frames  # noqa: E402

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


def test_a_damaged_record_keeps_its_bytes_and_a_damaged_head_is_skipped(tmp_path: Path) -> None:
    """A DATA record that fails its CRC but whose head is sane keeps its
    port bytes, marked damaged (the parser's frame checks sort them out);
    one whose head is damaged is skipped to the next record, as before."""
    path = tmp_path / "a.sior"
    w = RecordingWriter(path, {"format": "sio"}, flush_interval=10)
    for i in range(5):
        w.add(bytes([65 + i]) * 100)
        w.event("marker", i=i)  # one DATA record per piece
    w.close()
    good = path.read_bytes()
    second = good.find(b"B" * 100)
    data = bytearray(good)
    data[second + 10] ^= 0xFF
    path.write_bytes(bytes(data))
    items, r = _items(path)
    chunks = [i for i in items if isinstance(i, DataChunk)]
    hit = bytes(data[second : second + 100])
    assert b"".join(i.raw for i in chunks) == b"A" * 100 + hit + b"C" * 100 + b"D" * 100 + b"E" * 100
    assert [c.damaged for c in chunks] == [False, True, False, False, False]
    assert not r.report.damaged and len(r.report.damaged_records) == 1 and r.report.complete
    assert r.report.data_records == 5 and not r.report.missing_records
    assert any(p.startswith("1 damaged record (") for p in r.report.problems())
    # the record's head damaged (its length, its number, its sync): skipped
    head = good.rfind(b"\xa5SR\x5a", 0, second)
    for at in (head + 1, head + 9, head + 12):
        data = bytearray(good)
        data[at] ^= 0x04
        path.write_bytes(bytes(data))
        items, r = _items(path)
        raw = b"".join(i.raw for i in items if isinstance(i, DataChunk))
        assert raw == b"A" * 100 + b"C" * 100 + b"D" * 100 + b"E" * 100, at
        assert len(r.report.damaged) == 1 and not r.report.damaged_records and r.report.complete
        assert any("damaged region" in p for p in r.report.problems())


def _frames_recording(path: Path, records: int = 4, reads: int = 5, per_read: int = 6) -> list[tuple[int, int]]:
    """A recording of SIO-1 frames, several reads per DATA record; returns
    each frame's (start, end) offset in the file."""
    w = RecordingWriter(path, {"format": "sio"}, flush_interval=10)
    frames: list[bytes] = []
    seq = 0
    for r in range(records):
        for _ in range(reads):
            got = [make_frames(seq + j, 1)[0] for j in range(per_read)]
            frames.extend(got)
            seq += per_read
            w.add(b"".join(got), 1_000_000_000 + seq * 1000)
        w.event("marker", i=r)  # one DATA record per group of reads
    w.close({"done": True})
    blob = path.read_bytes()
    spans, pos = [], 0
    for f in frames:
        pos = blob.index(f, pos)
        spans.append((pos, pos + len(f)))
        pos += len(f)
    return spans


def test_a_flipped_bit_in_a_data_record_loses_only_the_frame_it_hit(tmp_path: Path) -> None:
    """One flipped bit in a DATA record's port bytes lost the whole record
    (with a fast source, all of a file's data); now the record's frames
    are read and only the one the bit hit is lost, counted as lost to the
    file's damage, not the link."""
    good = tmp_path / "good.sior"
    spans = _frames_recording(good)
    parser, blocks, _, reader = decode_recording(good)
    full, ok_bytes = parser.stats.frames_ok, parser.stats.bytes_ok
    assert full == len(spans) and parser.stats.lost_frames == 0 and reader.report.file_lost_frames == 0
    want = np.concatenate([b.samples for b in blocks])
    rows = len(want) // full
    blob = good.read_bytes()
    bad = tmp_path / "bad.sior"
    # frames at the start, middle and end of records, hit in their middle
    for k in (0, 3, 29, 30, 31, 57, 89, len(spans) - 1):
        a, b = spans[k]
        data = bytearray(blob)
        data[(a + b) // 2] ^= 0x10
        bad.write_bytes(bytes(data))
        parser, blocks, _, reader = decode_recording(bad)
        st = parser.stats
        assert st.frames_ok == full - 1 and st.bytes_ok == ok_bytes - (b - a), k
        got = np.concatenate([b.samples for b in blocks])
        assert np.array_equal(got, np.delete(want, slice(k * rows, (k + 1) * rows), axis=0)), k
        rep = reader.report
        assert len(rep.damaged_records) == 1 and not rep.damaged and not rep.missing_records, k
        # (the first frame or the last: no frame before or after it tells the gap)
        lost = 1 if 0 < k < len(spans) - 1 else 0
        assert st.lost_frames == lost and rep.file_lost_frames == lost, k
        assert rep.problems()[0].startswith("1 damaged record ("), k


def test_a_flipped_bit_in_a_record_head_still_reads_the_records_after(tmp_path: Path) -> None:
    """A flipped bit in a DATA record's head: that record is skipped to the
    next one; the frames after it are read, those in it counted lost to
    the file's damage."""
    good = tmp_path / "good.sior"
    spans = _frames_recording(good)
    blob = good.read_bytes()
    head = blob.rfind(b"\xa5SR\x5a", 0, spans[30][0])  # the DATA record of the 31st frame
    # the frames it holds (the writer's flushes may have cut a group of reads
    # into two records: the record is found in the file, not assumed)
    end = blob.find(b"\xa5SR\x5a", spans[30][1])
    held = sum(1 for a, b in spans if head < a and b <= end)
    assert held >= 6
    bad = tmp_path / "bad.sior"
    for at in (head, head + 8, head + 12):  # its sync, length and number
        data = bytearray(blob)
        data[at] ^= 0x01
        bad.write_bytes(bytes(data))
        parser, _, _, reader = decode_recording(bad)
        assert parser.stats.frames_ok == len(spans) - held, at
        assert parser.stats.lost_frames == held and reader.report.file_lost_frames == held, at
        assert len(reader.report.damaged) == 1 and not reader.report.damaged_records, at
        assert f"{held} were lost to the file's damage" in reader.report.problems()[0], at


def _sensorio(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SENSORIO_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "sensorio", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_every_command_reports_a_damaged_record_as_damage(tmp_path: Path) -> None:
    """info, decode and replay (which warned nothing) say the damage in the
    same words, apart from the link's losses; decode of a file whose one
    DATA record is damaged decodes instead of blaming the format."""
    good = tmp_path / "good.sior"
    w = RecordingWriter(good, {"format": "sio"}, flush_interval=10)
    w.add(make_frames(0, 100)[0], 1_000_000_000)  # all in one DATA record (a fast source)
    w.close({"done": True})
    blob = bytearray(good.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    bad = tmp_path / "bad.sior"
    bad.write_bytes(bytes(blob))
    said = "1 damaged record ("
    info = _sensorio("info", str(bad))
    assert info.returncode == 0 and "99 frames ok, 1 lost (1 of them to file damage)" in info.stdout, info
    assert f"problem:    {said}" in info.stdout and "frames in it with a bad CRC dropped" in info.stdout
    for cmd, extra in (("decode", []), ("replay", ["--speed", "max"])):
        res = _sensorio(cmd, str(bad), *extra)
        assert res.returncode == 0 and "99 frames" in res.stdout and "--format" not in res.stderr, (cmd, res)
        lines = [line for line in res.stderr.splitlines() if "damag" in line]
        assert len(lines) == 1 and f"sensorio {cmd}: warning: {bad}: {said}" in lines[0], (cmd, res.stderr)
    assert "1 lost (1 of them to file damage)" in _sensorio("decode", str(bad)).stdout


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


def test_a_damaged_record_of_a_format_without_frame_checks_is_skipped_not_decoded(tmp_path: Path) -> None:
    """A Cyton packet carries no checksum: a flipped bit in a kept record
    would be a wrong sample (a review found -271 read as -524559). Such a
    record is skipped as damage, as before; an SIO-1 one is kept (its frames'
    CRCs drop what the bit hit)."""
    from sensorio.emulator.config import EmulatorConfig
    from sensorio.emulator.engine import render

    data, _ = render(EmulatorConfig(format="cyton", seed=4, duration=2.0, autostart=True))
    good = tmp_path / "cyton.sior"
    w = RecordingWriter(good, {"format": "cyton", "port": "test"}, flush_interval=10)
    step = len(data) // 4
    for k in range(4):
        w.add(data[k * step : (k + 1) * step if k < 3 else len(data)], 1_000_000_000 + k * 1_000_000)
        w.event("marker", i=k)  # one DATA record each
    w.close({"done": True})
    _, want_blocks, _, _ = decode_recording(good)
    want = {tuple(r) for b in want_blocks if b.stream == 0 for r in b.samples}
    blob = bytearray(good.read_bytes())
    second = blob.find(b"\xa5SR\x5a", blob.find(b"\xa5SR\x5a", len(MAGIC) + 200) + 1)
    for at in range(second + 200, second + 200 + 66, 7):  # into its packets' sample bytes
        bad = bytearray(blob)
        bad[at] ^= 0x08
        path = tmp_path / "bad.sior"
        path.write_bytes(bytes(bad))
        _, blocks, _, reader = decode_recording(path)
        got = {tuple(r) for b in blocks if b.stream == 0 for r in b.samples}
        assert got <= want, at  # no sample the device did not send
        assert not reader.report.damaged_records and len(reader.report.damaged) == 1, at


def test_a_kept_damaged_records_read_times_are_not_trusted(tmp_path: Path) -> None:
    """A kept record's read times have no CRC vouching for them: a flipped
    high bit in one made replay wait for hours. Its reads all take the last
    time that checked out before it."""
    from sensorio.recording.replay import ReplaySchedule

    good = tmp_path / "good.sior"
    spans = _frames_recording(good)
    blob = bytearray(good.read_bytes())
    head = blob.rfind(b"\xa5SR\x5a", 0, spans[30][0])
    bad = bytearray(blob)
    bad[head + 24 + 4 + 4 + 5] ^= 0x10  # bit 44 of its first read's time
    path = tmp_path / "bad.sior"
    path.write_bytes(bytes(bad))
    items = list(RecordingReader(path).items())
    chunks = [i for i in items if isinstance(i, DataChunk)]
    kept = [c for c in chunks if c.damaged]
    assert len(kept) == 1
    before = chunks[chunks.index(kept[0]) - 1]
    assert {t for _, t in kept[0].reads} == {before.reads[-1][1]}
    times = [t for c in chunks for _, t in c.reads]
    assert max(times) == max(t for c in RecordingReader(good).items() if isinstance(c, DataChunk) for _, t in c.reads)
    plan = list(ReplaySchedule(path, speed=1.0))
    assert max(p.at_s for p in plan) < 1.0


@pytest.mark.parametrize(
    ("reads_s", "said"), [((0.0, 1.0, 3.5), "in about 3.50 s of host time"), ((0.0,), "(no duration")]
)
def test_info_times_a_stream_without_a_rate_by_host_time_or_says_why_not(tmp_path, reads_s, said) -> None:
    """An ASCII recording has no rate: info gave its stream no duration
    without a word. It gives the time between the host reads that brought
    its first and last lines, labelled so, or says why there is none."""
    path = tmp_path / "ascii.sior"
    w = RecordingWriter(path, {"format": "ascii", "port": "test"}, flush_interval=0.05)
    t0 = 1_700_000_000 * 10**9
    for k, t in enumerate(reads_s):
        w.add(f"{k},{k + 1}\n{k},{k + 2}\n".encode(), t0 + int(t * 1e9))
    w.close()
    out = subprocess.run(
        [sys.executable, "-m", "sensorio", "info", str(path)], capture_output=True, text=True, check=True
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("stream 0:"))
    assert said in line, out
