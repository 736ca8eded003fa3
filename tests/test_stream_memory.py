"""File commands in bounded memory (issue 15): decode and analyze run under a
data-segment limit smaller than what the recording decodes to; the reader
hands out blocks as it reads; outputs keep the native dtype."""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sensorio import sio1  # noqa: E402
from sensorio.blocks import Block  # noqa: E402
from sensorio.npystream import NpyAppender, pack_npz  # noqa: E402
from sensorio.parser import concat_blocks  # noqa: E402
from sensorio.recording import BlockStream, decode_any  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_memory", ROOT / "tools" / "bench_memory.py")
assert _spec is not None and _spec.loader is not None
bench_memory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_memory)

#: 120 s of 64 ch x 4 kHz int24: a 94 MB recording that decodes to 117 MiB of int32 samples
LONG_S = 120


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "long.sior"
    bench_memory.make_recording(path, LONG_S)
    return path


def _limited(argv: list[str], data_mb: int, cwd: Path, stdin: Any = None) -> subprocess.CompletedProcess[str]:
    """Run argv with its data segment (heap, anonymous memory) limited to data_mb."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (data_mb << 20, data_mb << 20))

    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MALLOC_ARENA_MAX="1")
    return subprocess.run(
        argv, stdin=stdin, preexec_fn=limit, env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


def test_decode_runs_in_less_memory_than_its_output(long_recording: Path, tmp_path: Path) -> None:
    samples_mb = LONG_S * 4000 * 64 * 4 / 2**20
    limit = 110
    assert samples_mb > limit  # the samples alone would not fit
    out = tmp_path / "d.npz"
    r = _limited([sys.executable, "-m", "sensorio", "decode", str(long_recording), "-o", str(out)], limit, tmp_path)
    assert r.returncode == 0, r.stderr
    with np.load(out, mmap_mode="r") as z:
        assert z["samples"].shape == (LONG_S * 4000, 64)
        assert z["samples"].dtype == np.int32
        assert z["frame_seq"].shape == (LONG_S * 4000 // 5,)
    # the old way (every block in memory, then joined) does not fit in the same limit
    old = (
        "import sys; from sensorio.recording import decode_any; from sensorio.parser import concat_blocks; "
        "concat_blocks(decode_any(sys.argv[1])[1])"
    )
    r = _limited([sys.executable, "-c", old, str(long_recording)], limit, tmp_path)
    assert r.returncode != 0 and "MemoryError" in r.stderr


def test_decode_of_a_piped_recording_runs_in_bounded_memory(long_recording: Path, tmp_path: Path) -> None:
    """A recording through a pipe (decode's help: "a pipe works:
    /dev/stdin") was held in memory whole, then parsed: twice its size. It
    is spooled to a temporary file now and read as a file is: it decodes in
    the limit a file decodes in, though the recording (94 MB) is as big."""
    out = tmp_path / "d.npz"
    argv = [sys.executable, "-m", "sensorio", "decode", "/dev/stdin", "-o", str(out)]
    with subprocess.Popen(["cat", str(long_recording)], stdout=subprocess.PIPE) as cat:
        r = _limited(argv, 110, tmp_path, stdin=cat.stdout)
    assert r.returncode == 0, r.stderr
    with np.load(out, mmap_mode="r") as z:
        assert z["samples"].shape == (LONG_S * 4000, 64)


@pytest.mark.parametrize(("command", "name"), [("export", "x.csv"), ("decode", "x.npz")])
def test_sigterm_mid_write_leaves_no_partial_output(long_recording: Path, tmp_path: Path, command, name) -> None:
    """SIGTERM (kill, timeout) stops a file command as Ctrl-C does: nothing
    of the output left behind (a 190 MB hidden .part.csv, or a .parts
    folder, were), one line, exit 130."""
    import signal
    import time

    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sensorio", command, str(long_recording), "-o", str(out / name)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(out.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "finished before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip() == f"sensorio {command}: stopped by SIGTERM", err
    assert list(out.iterdir()) == []


def test_analyze_with_fault_detection_in_bounded_memory(long_recording: Path, tmp_path: Path) -> None:
    # whole-length float64 arrays (raw, filtered, envelope) alone would be 3 x 245 MB
    events = tmp_path / "e.jsonl"
    r = _limited(
        [sys.executable, "-m", "sensorio", "analyze", str(long_recording), "--events", str(events), "--json"],
        300,
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert '"seconds": 120.0' in r.stdout
    # the flat channel (ch4, 2 s to 4 s) is found
    assert any('"channel": 3' in line for line in events.read_text().splitlines())


def test_blockstream_reads_as_it_goes(tmp_path: Path) -> None:
    rec = tmp_path / "r.sior"
    size = bench_memory.make_recording(rec, 20)
    with BlockStream(rec, chunk=1 << 18) as bs:
        it = iter(bs)
        first = next(it)
        assert bs.position < size // 4  # the first block comes before the file is read
        biggest = max([len(first)] + [len(b) for b in it])
    assert biggest * 64 * 3 <= 2 * (1 << 18)  # no block holds much more than a chunk of bytes
    assert bs.position == size
    # decode_any (all blocks at once, for existing callers) gives the same samples
    _, blocks, _, _ = decode_any(rec)
    assert concat_blocks(blocks)[0]["samples"].shape == (80000, 64)


def test_decode_keeps_int16(tmp_path: Path) -> None:
    rec = tmp_path / "i16.sior"
    bench_memory.make_recording(rec, 2, channels=8, rate_hz=1000, enc=sio1.ENC_I16)
    out = tmp_path / "d.npz"
    r = subprocess.run(
        [sys.executable, "-m", "sensorio", "decode", str(rec), "-o", str(out)],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    with np.load(out) as z:
        assert z["samples"].dtype == np.int16
        _, blocks, _, _ = decode_any(rec)
        assert np.array_equal(z["samples"], concat_blocks(blocks)[0]["samples"])
    folder = tmp_path / "npy"
    r = subprocess.run(
        [sys.executable, "-m", "sensorio", "decode", str(rec), "-o", f"{folder}/"],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert np.load(folder / "samples.npy", mmap_mode="r").dtype == np.int16
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{n}.npy" for n in ("samples", "frame_seq", "frame_t_us", "frame_leadoff", "events", "messages")
    )


def test_npy_appender_grows_and_packs(tmp_path: Path) -> None:
    a = np.arange(30, dtype=np.int32).reshape(10, 3)
    with NpyAppender(tmp_path / "a.npy", np.int16, (3,)) as w:
        w.append(a[:4])
        w.append(a[4:])
    got = np.load(tmp_path / "a.npy")
    assert got.dtype == np.int16 and np.array_equal(got, a)
    with NpyAppender(tmp_path / "e.npy", np.uint64) as w:
        pass  # no rows
    assert np.load(tmp_path / "e.npy").shape == (0,)
    w2 = NpyAppender(tmp_path / "big.npy", np.int16, (3,))
    with pytest.raises(Exception, match="beyond"):
        w2.append(np.array([[1 << 20, 0, 0]]))
    w2.close()
    pack_npz({"a": tmp_path / "a.npy"}, tmp_path / "p.npz", {"m": np.array(["x"])})
    with np.load(tmp_path / "p.npz") as z:
        assert np.array_equal(z["a"], a) and z["m"][0] == "x"


def test_replay_at_max_speed_loses_nothing_in_bounded_memory(long_recording: Path, tmp_path: Path) -> None:
    # before: the ring overflowed (a third of the frames lost) and, once the
    # reader waited for room, the replayed pieces piled up in memory; then
    # each read parsed on while the reader refilled the ring (peak data
    # segment 140-190 MB, a MemoryError under 180 MB on a loaded machine;
    # now about 100 MB)
    r = _limited(
        [sys.executable, "-m", "sensorio", "replay", str(long_recording), "--speed", "max", "--json"], 130, tmp_path
    )
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    assert stats["lost_frames"] == 0 and stats["ring_overflow_bytes"] == 0
    assert stats["samples_ok"] == LONG_S * 4000


def test_a_read_parses_what_had_arrived_not_what_keeps_arriving(tmp_path: Path) -> None:
    """A replay at full speed refills the ring as fast as the parser drains
    it: one read() must hand out what had arrived when it began (at most
    about a ring of bytes), not parse on while more comes."""
    import urllib.parse

    from sensorio.capture.stream import Stream

    path = tmp_path / "r.sior"
    bench_memory.make_recording(path, 6.0)
    ring = 1 << 16
    row_bytes = 64 * 3  # int24 samples
    url = "replay://" + urllib.parse.quote(str(path)) + "?speed=0.0"
    batches = []
    with Stream(url, "sio", request_info=False, reconnect=False, stall_timeout=0, ring_size=ring) as st:
        while not st.ended:
            blocks = st.read(0.1)
            batches.append(sum(len(b) for b in blocks))
    assert sum(batches) == 6 * 4000
    # a ring of bytes is ring / row_bytes rows; the parser may hold back part
    # of a frame and hand it out with the next
    assert max(batches) <= 2 * ring // row_bytes, max(batches)


#: the old export: every block in memory, joined, then converted to physical units as a whole
_OLD_EXPORT = (
    "import sys; from sensorio.recording import decode_any; from sensorio.parser import concat_blocks; "
    "from sensorio.export.units import stream_calibration; p, b, m, r = decode_any(sys.argv[1]); "
    "s = concat_blocks(b)[0]['samples']; v = stream_calibration({'scale': 0.02}, 64).to_physical(s)"
)


def test_export_npz_in_less_memory_than_its_output(long_recording: Path, tmp_path: Path) -> None:
    limit = 110
    assert LONG_S * 4000 * 64 * 4 / 2**20 > limit  # the float32 samples alone would not fit
    out = tmp_path / "x.npz"
    r = _limited([sys.executable, "-m", "sensorio", "export", str(long_recording), "-o", str(out)], limit, tmp_path)
    assert r.returncode == 0, r.stderr
    with np.load(out, mmap_mode="r") as z:
        assert z["samples"].shape == (LONG_S * 4000, 64) and z["samples"].dtype == np.float32
        assert str(z["samples_unit"]) == "uV"
        first = np.asarray(z["samples"][:5])
    _, blocks, _, _ = decode_any(long_recording)
    assert np.array_equal(first, (blocks[0].samples[:5].astype(np.float64) * 0.0223517).astype(np.float32))
    r = _limited([sys.executable, "-c", _OLD_EXPORT, str(long_recording)], limit, tmp_path)
    assert r.returncode != 0 and "MemoryError" in r.stderr


def test_export_csv_in_bounded_memory(tmp_path: Path) -> None:
    rec = tmp_path / "r.sior"
    bench_memory.make_recording(rec, 30)
    limit = 110
    out = tmp_path / "x.csv"
    r = _limited([sys.executable, "-m", "sensorio", "export", str(rec), "-o", str(out)], limit, tmp_path)
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        header = f.readline().split(",")
        assert header[:3] == ["row", "t_us", "ch1_uV"] and len(header) == 2 + 64 + 2
        n = sum(1 for _ in f)
    assert n == 30 * 4000
    r = _limited([sys.executable, "-c", _OLD_EXPORT, str(rec)], limit, tmp_path)
    assert r.returncode != 0 and "MemoryError" in r.stderr


def _whole_array_csv(path: Path, out: Path, raw: bool) -> None:
    """The CSV the whole-array exporter wrote before streaming (kept here as the reference)."""
    from sensorio.blocks import EVENT_NAMES
    from sensorio.export.npz import _stream_desc
    from sensorio.export.units import stream_calibration
    from sensorio.recording import source_descriptor

    parser, blocks, messages, reader = decode_any(path)
    info = source_descriptor(parser, messages, reader.header if reader is not None else None)
    time_us = parser.format.time_scale_us()
    for sid, a in concat_blocks(blocks).items():
        bl = [b for b in blocks if b.stream == sid]
        frame_row = np.concatenate([b.frame_row.astype(np.int64) + b.first_row for b in bl]) - bl[0].first_row
        desc = _stream_desc(info, sid)
        cal = stream_calibration(desc, a["samples"].shape[1])
        values, names, fmt = a["samples"], list(cal.labels), "%d"
        if not raw and cal.calibrated:
            values, names, fmt = cal.to_physical(values), [f"{n}_{cal.unit}" for n in names], "%.9g"
        n = values.shape[0]
        t = a["frame_t_us"].astype(np.int64)
        steps = (np.diff(t) + (1 << 31)) % (1 << 32) - (1 << 31)
        t = (t[0] + np.cumsum(np.concatenate(([0], steps)))).astype(np.float64) * time_us
        period = 1e6 / desc["rate_hz"]
        counts = np.diff(np.append(frame_row, n))
        times = np.repeat(t - frame_row * period, counts) + np.arange(n) * period
        leadoff = np.repeat(a["frame_leadoff"], counts)
        event = [""] * n
        for ev in a["events"]:
            event[ev["row"]] = EVENT_NAMES.get(int(ev["kind"]), str(ev["kind"]))
        target = out if sid == 0 else out.with_suffix(f".s{sid}.csv")
        with open(target, "w") as f:
            f.write(",".join(["row", "t_us", *names, "leadoff", "event"]) + "\n")
            for i in range(n):
                f.write(f"{i},{times[i]:.1f},{','.join(fmt % v for v in values[i])},{int(leadoff[i])},{event[i]}\n")


@pytest.mark.parametrize("raw", [False, True])
def test_streamed_exports_equal_the_whole_array_ones(tmp_path: Path, raw: bool) -> None:
    """Blocks of 4096 bytes (many per stream): the CSV is byte for byte and the
    NPZ array for array what the whole recording in memory gives."""
    from sensorio.cli import cmd_export
    from sensorio.export.npz import npz_arrays

    rec = tmp_path / "r.sior"
    bench_memory.make_recording(rec, 2, channels=8, rate_hz=2000, enc=sio1.ENC_I16)
    extra = ["--raw"] if raw else []
    ref = tmp_path / "ref.csv"
    _whole_array_csv(rec, ref, raw)
    real_stream = cmd_export.BlockStream

    def small_chunks(*a: object, **k: object) -> BlockStream:
        return real_stream(*a, chunk=4096, **k)  # type: ignore[arg-type]

    cmd_export.BlockStream = small_chunks  # type: ignore[misc, assignment]
    try:
        from sensorio.cli import main

        assert main(["export", str(rec), "-o", str(tmp_path / "x.csv"), *extra]) == 0
        assert main(["export", str(rec), "-o", str(tmp_path / "x.npz"), *extra]) == 0
    finally:
        cmd_export.BlockStream = real_stream  # type: ignore[misc]
    assert (tmp_path / "x.csv").read_bytes() == ref.read_bytes()
    parser, blocks, messages, reader = decode_any(rec)
    from sensorio.npystream import native_dtype
    from sensorio.recording import source_descriptor

    info = source_descriptor(parser, messages, reader.header if reader is not None else None)
    want = npz_arrays(concat_blocks(blocks), info, raw=raw, native={b.stream: native_dtype(b) for b in blocks})
    with np.load(tmp_path / "x.npz") as z:
        for name, arr in want.items():
            assert z[name].dtype == arr.dtype and z[name].shape == arr.shape, name
            assert z[name].tobytes() == arr.tobytes(), name
        assert json.loads(str(z["device_info"])) == json.loads(json.dumps(info))


def _whole_array_bdf(rec: Path, out: Path, faults: bool) -> None:
    """The BDF the whole-array exporter wrote before streaming (kept here as
    the reference): every block in memory, joined, gaps filled and the tail
    padded on whole arrays, faults from the analysis on whole arrays."""
    import math

    from sensorio.blocks import EV_GAP
    from sensorio.export import edf
    from sensorio.recording import source_descriptor
    from sensorio.workflows.analyze import analyze_blocks

    parser, blocks, messages, reader = decode_any(rec)
    info = source_descriptor(parser, messages, reader.header if reader is not None else None)
    time_us = parser.format.time_scale_us()
    events = []
    if faults:
        with np.errstate(all="ignore"):
            events = [ev for ev in analyze_blocks(blocks, info).events if ev.kind != "dropout"]
    markers, start = edf.recording_markers(rec)
    streams = {sid: a for sid, a in concat_blocks(blocks).items() if a["samples"].shape[0]}
    plans = edf.plan_signals(streams, info, True)
    rates = {p.stream: p.rate_hz for p in plans}
    offsets = edf.stream_offsets(streams, rates, time_us)
    fills = {p.stream: p.fill_code for p in plans}
    columns: dict[int, np.ndarray] = {}
    annotations: list[edf.Annotation] = []
    for sid, arrays in streams.items():
        samples, ev = arrays["samples"], arrays["events"]
        rows = ev["row"].astype(np.int64)
        lost = np.where(ev["kind"] == EV_GAP, ev["lost_samples"].astype(np.int64), 0)
        pieces, at = [], 0
        for r, n in zip(rows, lost, strict=True):
            pieces.append(samples[at:r])
            pieces.append(np.full((n, samples.shape[1]), fills[sid], dtype=samples.dtype))
            at = r
        pieces.append(samples[at:])
        filled = np.concatenate(pieces)
        lead = int(round(offsets[sid] * rates[sid]))
        filled = np.concatenate([np.full((lead, filled.shape[1]), fills[sid], filled.dtype), filled])
        columns[sid] = filled
        name = str(edf.stream_descriptor(info, sid).get("name", f"stream {sid}"))
        annotations += edf.link_annotations(ev, rows + np.cumsum(lost), rates[sid], offsets[sid], f"s{sid} {name}")
    duration = max(columns[sid].shape[0] / rates[sid] for sid in columns)
    labels = {(p.stream, p.channel): p.label.strip().split(" ", 1)[-1] for p in plans}
    annotations += [edf.fault_annotation(ev, labels, offsets, duration) for ev in events]
    annotations += markers
    annotations.append(edf.Annotation(duration, None, "end of data"))
    record_s = 1.0
    n_records = max(1, math.ceil(duration / record_s - 1e-9))
    per_record = [int(round(p.rate_hz * record_s)) for p in plans]
    padded = []
    for p, spr in zip(plans, per_record, strict=True):
        col = columns[p.stream][:, p.channel].astype(np.int64)
        buf = np.full(n_records * spr, p.fill_code, dtype=np.int64)
        buf[: col.size] = col
        padded.append((np.clip(buf, p.digital[0] - p.shift, p.digital[1] - p.shift) + p.shift).astype(np.int32))
    records = [
        np.concatenate([c[r * s : (r + 1) * s] for s, c in zip(per_record, padded, strict=True)])
        for r in range(n_records)
    ]
    import pyedflib

    edf._write_file(
        pyedflib, out, False, True, plans, records, annotations, n_records, record_s, per_record, info, start
    )


@pytest.mark.parametrize("no_faults", [False, True])
def test_streamed_bdf_equals_the_whole_array_one_with_gaps(tmp_path: Path, no_faults: bool) -> None:
    """Lost frames (gaps filled with physical zero and annotated), small blocks:
    the two-pass export writes the file the whole arrays give, and write_edf
    (arrays in, the same writer) too."""
    pytest.importorskip("pyedflib")
    from capture_support import make_frames

    from sensorio.export.edf import export_edf_stream, recording_markers, write_edf
    from sensorio.recording import RecordingWriter, source_descriptor
    from sensorio.workflows.analyze import analyze_blocks

    rec = tmp_path / "g.sior"
    desc = bench_memory.descriptor(4, 4000.0)
    raw, _ = make_frames(0, 2000, n_ch=4, n_samp=8, skip=frozenset({50, 51, 300, 1999}))
    w = RecordingWriter(rec, {"format": "sio", "device_info": desc}, overwrite=True, fsync=False)
    w.add(b"\x00" + sio1.encode_info(desc), 1_000_000_000)
    for k in range(0, len(raw), 5000):
        w.add(raw[k : k + 5000], 1_000_000_000 + k * 1000)
    w.close()
    parser, blocks, messages, reader = decode_any(rec)
    info = source_descriptor(parser, messages, reader.header if reader is not None else None)
    ref = tmp_path / "ref.bdf"
    _whole_array_bdf(rec, ref, faults=not no_faults)

    def small_blocks() -> Iterator[Block]:
        with BlockStream(rec, chunk=4096) as bs:
            yield from bs

    assert len(list(small_blocks())) > 10
    export_edf_stream(
        rec, tmp_path / "x.bdf", small_blocks, info, faults=not no_faults, time_us=parser.format.time_scale_us()
    )
    assert (tmp_path / "x.bdf").read_bytes() == ref.read_bytes()
    markers, start = recording_markers(rec)
    with np.errstate(all="ignore"):
        found = [] if no_faults else [ev for ev in analyze_blocks(blocks, info).events if ev.kind != "dropout"]
    write_edf(tmp_path / "w.bdf", concat_blocks(blocks), info, faults=found, markers=markers, start=start)
    assert (tmp_path / "w.bdf").read_bytes() == ref.read_bytes()


def test_export_bdf_in_bounded_memory(long_recording: Path, tmp_path: Path) -> None:
    """The two-pass EDF/BDF export under the limits of analyze (with fault
    detection) and of the NPZ export (without). Before: the padding at the end
    was measured against the rows still held, not those written, so the whole
    length was padded in memory at once (379 MB peak on this recording)."""
    pyedflib = pytest.importorskip("pyedflib")
    out = tmp_path / "x.bdf"
    r = _limited([sys.executable, "-m", "sensorio", "export", str(long_recording), "-o", str(out)], 300, tmp_path)
    assert r.returncode == 0, r.stderr
    with pyedflib.EdfReader(str(out)) as f:
        assert f.signals_in_file == 64
        assert list(f.getNSamples()) == [LONG_S * 4000] * 64
        onsets, _, texts = f.readAnnotations()
        assert any(t.startswith("BAD_fault_") and t.endswith("@@ch4") for t in texts)  # the flat channel
        assert f.readSignal(0, 0, 5, digital=True).tolist() == decode_any(long_recording)[1][0].samples[:5, 0].tolist()
    r = _limited(
        [sys.executable, "-m", "sensorio", "export", str(long_recording), "-o", str(out), "--no-faults", "--force"],
        110,
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > LONG_S * 4000 * 64 * 3


def test_export_bdf_holds_no_long_gap_in_memory(tmp_path: Path) -> None:
    """Two minutes lost in a gap are written as physical zero without being
    held in memory (before: 245 MB of fill made at once, then copied)."""
    pyedflib = pytest.importorskip("pyedflib")
    from capture_support import make_frames

    from sensorio.recording import RecordingWriter

    rec = tmp_path / "gap.sior"
    desc = bench_memory.descriptor(64, 4000.0)
    w = RecordingWriter(rec, {"format": "sio", "device_info": desc}, overwrite=True, fsync=False)
    w.add(b"\x00" + sio1.encode_info(desc), 1_000_000_000)
    w.add(make_frames(0, 800, n_ch=64, n_samp=5)[0], 1_000_000_000)
    w.add(make_frames(800 + 96_000, 800, n_ch=64, n_samp=5)[0], 122_000_000_000)  # 96000 frames lost: 120 s
    w.close()
    out = tmp_path / "x.bdf"
    r = _limited([sys.executable, "-m", "sensorio", "export", str(rec), "-o", str(out), "--no-faults"], 110, tmp_path)
    assert r.returncode == 0, r.stderr
    with pyedflib.EdfReader(str(out)) as f:
        assert list(f.getNSamples()) == [122 * 4000] * 64
        onsets, durations, texts = f.readAnnotations()
        gap = list(texts).index("BAD_gap")
        assert (onsets[gap], durations[gap]) == (1.0, 120.0)
        assert not f.readSignal(5, 4000, 120 * 4000, digital=True).any()  # physical zero all through the gap


def test_export_bids_in_bounded_memory(long_recording: Path, tmp_path: Path) -> None:
    """BIDS-EMG export under the limit of analyze: the analysis runs block by
    block with an overview, channel health and the mains are gathered as the
    blocks pass (the mains detector's first 30 s of EMG in a temporary file,
    read back two channels at a time), the BDF is written in two passes.
    Before: the whole recording decoded, analysed to whole-length arrays
    (3 x 245 MB of float64 here) and joined."""
    pytest.importorskip("pyedflib")
    root = tmp_path / "ds"
    argv = [sys.executable, "-m", "sensorio", "export", str(long_recording), "--bids", str(root)]
    r = _limited([*argv, "--subject", "01", "--task", "grip"], 300, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "bad channels: none" in r.stdout
    emg = root / "sub-01" / "emg"
    sidecar = json.loads((emg / "sub-01_task-grip_emg.json").read_text())
    assert sidecar["SamplingFrequency"] == 4000.0 and sidecar["RecordingDuration"] == LONG_S
    events = (emg / "sub-01_task-grip_events.tsv").read_text()
    assert "BAD_fault_" in events and "EMG ch4" in events  # the flat channel, 2 s to 4 s
    assert (emg / "sub-01_task-grip_emg.bdf").stat().st_size > LONG_S * 4000 * 64 * 3


def test_streams_share_one_overview_budget(tmp_path: Path) -> None:
    """A 256-channel rig sends four 64-channel streams (SIO-1 carries at
    most 64): analyze's overview keeps what one 256-channel stream would,
    the streams sharing the values by their channels. Before, each stream
    had the whole budget: four times the memory (analyze and plot peaked at
    341 and 369 MB on a minute of 256 ch x 4 kHz, over issue 15's 300)."""
    from sensorio.workflows.analyze import analyze_file

    rec = tmp_path / "r.sior"
    bench_memory.make_recording(rec, 6, channels=256, rate_hz=2000.0)
    budget = 256 * 4096  # 4096 rows of 256 channels
    a = analyze_file(rec, overview=True, max_values=budget, config={"stage": [{"type": "calibrate"}]})
    assert sorted(a.streams) == [0, 1, 2, 3]
    assert all(s.raw.shape[1] == 64 for s in a.streams.values())
    kept = sum(s.raw.size for s in a.streams.values())
    assert kept <= 2 * budget  # (min, max) row pairs once binned
    assert all(s.raw.shape[0] >= 2 * 1024 - 2 for s in a.streams.values())  # still a picture: 1024 bins


def test_a_rigs_streams_are_counted_per_stream_not_summed(tmp_path: Path) -> None:
    """decode, export and replay of four 64-channel streams say 12000
    samples in each (of 256 channels), not 48000 samples; streams of
    unequal length are counted one by one."""
    from sensorio.cli._describe import samples_by_stream

    rec = tmp_path / "r.sior"
    bench_memory.make_recording(rec, 6, channels=256, rate_hz=2000.0)
    for argv in (
        ["decode", str(rec)],
        ["export", str(rec), "-o", str(tmp_path / "x.npz")],
        ["replay", str(rec), "--speed", "max"],
    ):
        r = subprocess.run([sys.executable, "-m", "sensorio", *argv], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert "12000 samples in each of 4 streams" in r.stdout and "48000" not in r.stdout, r.stdout
    assert samples_by_stream({0: 5}) == "5 samples"
    assert samples_by_stream({2: 9000, 0: 20000}) == "samples per stream 0: 20000, 2: 9000"


def test_a_channel_beyond_a_streams_is_refused_before_the_analysis_naming_the_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """plot --channels 65-67 on a rig of four 64-channel streams: channels
    count within each stream, which the error says, from the recording's
    descriptor before the analysis (it said "there are 64 channels" to a
    user with 256, after analysing the whole file)."""
    import sensorio.workflows.analyze as analyze
    from sensorio.cli import main

    rec = tmp_path / "r.sior"
    bench_memory.make_recording(rec, 1, channels=256, rate_hz=2000.0)

    def no_analysis(*a: Any, **k: Any) -> Any:
        raise AssertionError("the analysis ran")

    monkeypatch.setattr(analyze, "analyze_file", no_analysis)
    out = str(tmp_path / "p.png")
    assert main(["plot", str(rec), "--channels", "65-67", "-o", out]) == 1
    err = capsys.readouterr().err
    assert "channel 67 does not exist" in err and "4 streams have at most 64 channels each" in err
    assert "--stream" in err and err.count("\n") == 1
    assert main(["analyze", str(rec), "--stream", "1", "--channels", "65", "--plot", out]) == 1
    assert "channel 65 does not exist: there are 64 channels" in capsys.readouterr().err
    assert not Path(out).exists()


@pytest.mark.parametrize("channels", [1, 7, 8, 13, 64])
def test_mains_power_in_channel_groups_is_the_whole_array_result(channels: int) -> None:
    """BIDS listens to 30 s of every EMG channel for the mains: the spectrum
    detect_mains reads is made on groups of channels (a few copies of a
    group, not of all 64), equal to all channels at once (to rounding: numpy
    may sum a narrow group's means in another order)."""
    from sensorio.dsp.filters import MAINS_QUANTILE, detect_mains, mains_power
    from sensorio.dsp.stages import forward_fill

    rng = np.random.default_rng(channels)
    n, rate = 12_345, 2000.0
    x = rng.standard_normal((n, channels)) * 10 + 3 * np.sin(2 * np.pi * 60 * np.arange(n) / rate)[:, None]
    x[100:300, channels // 2] = np.nan
    valid = rng.random((n, channels)) > 0.05
    whole = np.nan_to_num((f := forward_fill(x, valid, np.zeros(channels))) - np.nanmean(f, axis=0))
    want = (np.abs(np.fft.rfft(whole * np.hanning(n)[:, None], axis=0)) ** 2).sum(axis=1)
    assert np.allclose(mains_power(x, valid), want, rtol=1e-12, atol=0)
    assert detect_mains(x, rate, valid)[0] == 60.0
    # in segments: per channel the quantile of the segments' spectra, summed
    seg = 2000
    parts = f[: (n // seg) * seg].reshape(n // seg, seg, channels)
    parts = np.nan_to_num(parts - np.nanmean(parts, axis=1, keepdims=True))
    spectra = np.abs(np.fft.rfft(parts * np.hanning(seg)[None, :, None], axis=1)) ** 2
    want = np.quantile(spectra, MAINS_QUANTILE, axis=0).sum(axis=1)
    assert np.allclose(mains_power(x, valid, seg), want, rtol=1e-12, atol=0)
