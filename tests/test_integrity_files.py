"""Data integrity of the file-reading commands: pipes and FIFOs, a damaged
recording header, outputs cut by a full disk, exports and replays in the
recording's own format, and bad values in files and options."""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from capture_support import make_frames  # noqa: E402

from sensorio.cli import main  # noqa: E402
from sensorio.formats import CYTON, resolve  # noqa: E402
from sensorio.parser import concat_blocks  # noqa: E402
from sensorio.recording import RecordingWriter, decode_any  # noqa: E402
from sensorio.recording.format import (  # noqa: E402
    MAGIC,
    RECORD_CRC,
    RECORD_HEAD,
    SYNC,
)
from sensorio.recording.writer import encode_record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, timeout: float = 60, input: bytes | None = None, limit_bytes: int | None = None):
    """The command line in a subprocess (bounded in time)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SENSORIO_DEBUG", None)

    def limit() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, "-m", "sensorio", *args],
        cwd=ROOT,
        env=env,
        input=input,
        capture_output=True,
        timeout=timeout,
        preexec_fn=limit,
    )


def _run(*args: str) -> subprocess.CompletedProcess:
    """The command line in this process (fast)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def _one_line(stderr: str | bytes, warnings: bool = True) -> str:
    """The one line on stderr (warnings=False: besides the DSP's warnings
    about a low sample rate)."""
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    lines = [ln for ln in text.strip().splitlines() if warnings or ": warning: " not in ln]
    assert len(lines) == 1, text
    assert "Traceback" not in text and "internal error" not in text, text
    return lines[0]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[str, Path]:
    """Recordings of one emulated Cyton board, decoded as "cyton" and as the
    shipped board spec "openbci-cyton"."""
    d = tmp_path_factory.mktemp("rec")
    out = {}
    for fmt in ("cyton", "openbci-cyton"):
        path = d / f"{fmt}.sior"
        res = _cli(
            "record", "sim://?format=cyton&fast=1&duration=2&seed=3", "--format", fmt,
            "-o", str(path), "--duration", "3", "--quiet", "--start", "b", timeout=120,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        out[fmt] = path
    return out


# the emulated board sends the samples taken at 0, 4 ms, ... 1.996 s: 500 packets,
# each a frame on the wire, carrying a sample of the EEG stream and one of the
# auxiliary stream
SAMPLES = 500
FRAMES = SAMPLES


def _samples(path: Path, format: str | None = None) -> dict[int, np.ndarray]:
    _, blocks, _, _ = decode_any(path, format)
    return {sid: a["samples"] for sid, a in concat_blocks(blocks).items()}


# -- 5: pipes and FIFOs --------------------------------------------------------------------


def test_decode_reads_a_pipe_once_with_every_byte(tmp_path: Path, recordings) -> None:
    raw, truth = make_frames(0, 200, n_ch=4, n_samp=8)
    assert len(raw) > 3 * 4096
    out = tmp_path / "x.npz"
    res = _cli("decode", "/dev/stdin", "-o", str(out), "--json", input=raw)  # through a pipe
    assert res.returncode == 0, res.stderr
    stats = json.loads(res.stdout)
    assert stats["bytes_in"] == len(raw) and stats["frames_ok"] == 200
    assert np.array_equal(np.load(out)["samples"], truth)
    # a recording through a pipe: found by its magic, decoded in its format
    res = _cli("decode", "/dev/stdin", "--json", input=recordings["cyton"].read_bytes())
    assert res.returncode == 0, res.stderr
    piped = json.loads(res.stdout)
    assert piped["frames_ok"] == FRAMES and piped["crc_errors"] == 0


@pytest.mark.parametrize("fmt", ["sio", "cyton", "ascii"])
def test_decode_of_an_endless_stream_without_a_frame_gives_up_with_one_line(tmp_path: Path, fmt: str) -> None:
    # /dev/zero decoded nothing forever; a pipe that found its frames goes on
    out = tmp_path / "z.npz"
    res = _cli("decode", "/dev/zero", "--format", fmt, "-o", str(out), timeout=120)
    assert res.returncode == 1
    line = _one_line(res.stderr)
    assert "no frame in its first 64 MB" in line and f"'{fmt}'" in line and "--format" in line
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["info", "export", "analyze", "plot", "replay"])
def test_a_fifo_gives_one_line_instead_of_hanging(tmp_path: Path, command: str) -> None:
    fifo = tmp_path / "in.sior"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)  # a writer that never writes nor closes
    try:
        extra = {"export": ["-o", str(tmp_path / "x.csv")], "plot": ["-o", str(tmp_path / "x.png")]}
        res = _cli(command, str(fifo), *extra.get(command, []), timeout=60)
    finally:
        os.close(writer)
    assert res.returncode in (1, 2)
    assert "pipe" in _one_line(res.stderr)
    assert not list(tmp_path.glob("x*"))


# -- 6: a damaged header ----------------------------------------------------------------------


def _records(data: bytes, start: int) -> list[tuple[int, int, int, bytes]]:
    """(kind, number, t_ns, payload) of every record from start."""
    out, pos = [], start
    while pos < len(data):
        _, kind, length, number, t_ns = RECORD_HEAD.unpack_from(data, pos)
        payload = data[pos + RECORD_HEAD.size : pos + RECORD_HEAD.size + length]
        out.append((kind, number, t_ns, payload))
        pos += RECORD_HEAD.size + length + RECORD_CRC.size
    return out


def _header_span(data: bytes) -> int:
    """Bytes of the magic, the header record and its copy."""
    first = data.index(SYNC, len(MAGIC) + 1)
    return data.index(SYNC, first + 1)


def test_every_damaged_byte_of_the_header_keeps_the_body(tmp_path: Path, recordings) -> None:
    src = recordings["cyton"]
    data = src.read_bytes()
    want = _samples(src)
    assert want[0].shape == (SAMPLES, 8)
    header_end = data.index(SYNC, len(MAGIC) + 1)  # the copy follows
    damaged = tmp_path / "d.sior"
    for i in range(_header_span(data)):
        for bit in (i % 8, 7 - i % 8):
            d = bytearray(data)
            d[i] ^= 1 << bit
            damaged.write_bytes(d)
            # damage in the header itself is said; in the copy it is body damage
            with pytest.warns(UserWarning) if i < header_end else contextlib.nullcontext():
                got = _samples(damaged)
            assert got.keys() == want.keys(), i
            assert all(np.array_equal(got[k], want[k]) for k in want), i
    # damage that puts the sync bytes inside the header (here its CRC) hides no record
    d = bytearray(data)
    d[header_end - RECORD_CRC.size : header_end] = SYNC
    damaged.write_bytes(d)
    with pytest.warns(UserWarning, match="copy"):
        _, blocks, _, reader = decode_any(damaged)
    assert reader.header["format"] == "cyton" and not reader.report.damaged
    got = {sid: a["samples"] for sid, a in concat_blocks(blocks).items()}
    assert all(np.array_equal(got[k], want[k]) for k in want)


@pytest.mark.parametrize("where", ["magic", "sync", "kind", "length", "time", "payload", "crc"])
def test_every_reader_reads_a_recording_with_a_damaged_header(tmp_path: Path, recordings, where: str) -> None:
    src = recordings["cyton"]
    data = bytearray(src.read_bytes())
    at = {"magic": 3, "sync": 9, "kind": 12, "length": 17, "time": 30, "payload": 60}
    header_end = data.index(SYNC, len(MAGIC) + 1)
    data[at.get(where, header_end - 2)] ^= 0x10
    rec = tmp_path / "d.sior"
    rec.write_bytes(bytes(data))
    _check_every_reader(tmp_path, rec, _samples(src), [], "copy" if where != "magic" else "magic")


def _check_every_reader(
    tmp_path: Path, rec: Path, want: dict[int, np.ndarray], options: list[str], warning: str
) -> None:
    """decode, info, export, analyze and replay all get the body's data,
    with one warning line saying what was assumed."""
    res = _run("decode", str(rec), "-o", str(tmp_path / "x.npz"), *options)
    assert res.returncode == 0, res.stderr
    assert warning in _one_line(res.stderr)
    assert np.array_equal(np.load(tmp_path / "x.npz")["samples"], want[0])
    res = _run("info", str(rec), "--json", *options)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["streams"]["0"]["samples"] == SAMPLES
    assert warning in _one_line(res.stderr)
    res = _run("export", str(rec), "-o", str(tmp_path / "x.csv"), "--force", *options)
    assert res.returncode == 0, res.stderr
    assert warning in res.stderr.splitlines()[0]
    rows = np.loadtxt(tmp_path / "x.csv", delimiter=",", skiprows=1, usecols=range(2, 10))
    assert np.allclose(rows, want[0] * CYTON.scale_uv, rtol=1e-5)
    res = _run("analyze", str(rec), "--json", *options)
    assert res.returncode == 0, res.stderr
    assert warning in res.stderr.splitlines()[0]
    assert json.loads(res.stdout)["streams"]["0"]["seconds"] == pytest.approx(SAMPLES / 250)
    res = _run("replay", str(rec), "--speed", "max", "--json", *options)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["frames_ok"] == FRAMES
    assert warning in _one_line(res.stderr)  # once (it came twice, with two spellings of the path)


def test_an_old_recording_without_a_copy_keeps_its_body(tmp_path: Path, recordings) -> None:
    """Recordings made before the header copy: the body is still read, in
    the format given (or sio, with a warning saying so)."""
    data = recordings["cyton"].read_bytes()
    records = _records(data, len(MAGIC))
    assert json.loads(records[1][3])["kind"] == "header_copy"
    old = [records[0]] + [(k, n - 1, t, p) for k, n, t, p in records[2:]]
    blob = bytearray(MAGIC + b"".join(encode_record(*r) for r in old))
    rec = tmp_path / "old.sior"
    rec.write_bytes(bytes(blob))
    assert _run("info", str(rec)).stdout.count("problem") == 0  # an intact old file is fine
    blob[len(MAGIC) + RECORD_HEAD.size + 5] ^= 0x01  # one bit of the header's JSON
    rec.write_bytes(bytes(blob))
    res = _run("decode", str(rec), "--json")
    # decoded as sio, nothing decodes: said so, not an archive of no samples
    assert res.returncode == 1
    assert "header" in res.stderr and "no samples decoded as format 'sio': check --format" in res.stderr
    _check_every_reader(tmp_path, rec, _samples(recordings["cyton"]), ["--format", "cyton"], "'cyton'")


# -- 9: outputs cut by a full disk -------------------------------------------------------------


@pytest.mark.parametrize(
    "command,name",
    [("export", "x.csv"), ("export", "x.npz"), ("export", "x.bdf"), ("decode", "x.npz"),
     ("plot", "x.png")],
)  # fmt: skip
def test_a_full_disk_leaves_no_truncated_output(tmp_path: Path, recordings, command, name) -> None:
    if name.endswith(".bdf"):
        pytest.importorskip("pyedflib")
    if name.endswith(".png"):
        pytest.importorskip("matplotlib")
    src = tmp_path / "in.sior"
    shutil.copy(recordings["cyton"], src)
    out = tmp_path / name
    extra = ["--no-faults"] if name.endswith(".bdf") else []
    res = _cli(command, str(src), "-o", str(out), *extra, limit_bytes=8000)
    assert res.returncode == 1
    line = _one_line(res.stderr, warnings=False)
    assert str(out) in line and "limit" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.sior"]  # no output, no temporary
    res = _cli(command, str(src), "-o", str(out), *extra)  # and with room it works
    assert res.returncode == 0 and out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# -- 10: exports in the format's own units, rate and labels ----------------------------------


@pytest.mark.parametrize("fmt", ["cyton", "openbci-cyton"])
def test_export_of_a_board_without_info_uses_its_descriptor(tmp_path: Path, recordings, fmt) -> None:
    rec = recordings[fmt]
    codes = _samples(rec)[0]
    assert codes.shape == (SAMPLES, 8)
    desc = resolve(fmt).descriptor()["streams"][0]
    res = _run("export", str(rec), "-o", str(tmp_path / "x.csv"))
    assert res.returncode == 0, res.stderr
    with open(tmp_path / "x.csv") as f:
        head = f.readline().strip().split(",")
    assert head[:10] == ["row", "t_us", *(f"ch{i}_uV" for i in range(1, 9))]
    table = np.loadtxt(tmp_path / "x.csv", delimiter=",", skiprows=1, usecols=range(10))
    assert np.allclose(table[:, 2:], codes * desc["scale"], rtol=1e-5)
    assert np.allclose(np.diff(table[:, 1]), 1e6 / 250)  # µs at the board's 250 Hz

    pyedflib = pytest.importorskip("pyedflib")
    res = _run("export", str(rec), "-o", str(tmp_path / "x.bdf"), "--no-faults")
    assert res.returncode == 0, res.stderr
    reader = pyedflib.EdfReader(str(tmp_path / "x.bdf"))
    try:
        assert reader.getSignalLabels()[:8] == [f"EMG ch{i}" for i in range(1, 9)]  # MNE infers EMG
        assert list(reader.getSampleFrequencies()[:8]) == [250] * 8
        assert reader.getPhysicalDimension(0) == "uV"
        eeg = np.stack([reader.readSignal(c)[:SAMPLES] for c in range(8)], axis=1)
    finally:
        reader.close()
    assert np.allclose(eeg, codes * desc["scale"], atol=desc["scale"] + 1e-6)


# -- 11: replay in the recording's format ---------------------------------------------------


def test_replay_decodes_in_the_recordings_format(recordings) -> None:
    res = _run("replay", str(recordings["cyton"]), "--speed", "max", "--json")
    assert res.returncode == 0, res.stderr
    stats = json.loads(res.stdout)
    assert stats["frames_ok"] == FRAMES and stats["crc_errors"] == 0
    # --format still decides when given; nothing decoded is a failure, as in decode
    # (it threw every byte away and exited 0)
    res = _run("replay", str(recordings["cyton"]), "--speed", "max", "--json", "--format", "sio")
    assert res.returncode == 1 and res.stdout == ""
    assert "no samples decoded as format 'sio': check --format" in _one_line(res.stderr)


def test_info_says_the_format_it_decoded_in(recordings) -> None:
    """info --format sio of a Cyton recording printed "format: cyton" over
    the counts of a decode as sio (0 frames)."""
    res = _run("info", str(recordings["cyton"]), "--format", "sio")
    assert res.returncode == 0, res.stderr
    assert "format:     cyton (decoded as sio, as given)" in res.stdout
    assert "format:     cyton\n" in _run("info", str(recordings["cyton"])).stdout


# -- bad values in files and options ------------------------------------------------------------


@pytest.mark.parametrize("created", [10**30, 1e30, -5, "yesterday"])
def test_info_on_a_header_with_an_impossible_time(tmp_path: Path, created) -> None:
    rec = tmp_path / "t.sior"
    with RecordingWriter(rec, {"format": "sio", "created_ns": created}) as w:
        w.add(make_frames(0, 4)[0])
    for args in (["info", str(rec)], ["info", str(rec), "--json"]):
        res = _run(*args)
        assert res.returncode == 1
        assert "created" in _one_line(res.stderr)


@pytest.mark.parametrize(
    "args,words",
    [(["--wait", "-5", "--pty"], "--wait"), (["--wait", "1e12", "--pty"], "--wait"),
     (["--wait", "nan", "--pty"], "--wait"), (["--speed", "1e308"], "1e308"),
     (["--speed", "1e-300"], "1e-300"), (["--speed", "-1"], "speed")],
)  # fmt: skip
def test_replay_refuses_impossible_speeds_and_waits(recordings, args, words) -> None:
    res = _cli("replay", str(recordings["cyton"]), *args, timeout=60)
    assert res.returncode in (1, 2)
    assert words in _one_line(res.stderr)


def test_plot_refuses_an_unknown_image_suffix(tmp_path: Path, recordings) -> None:
    pytest.importorskip("matplotlib")
    res = _run("plot", str(recordings["cyton"]), "-o", str(tmp_path / "x.jpg2"))
    assert res.returncode in (1, 2)
    assert ".png" in _one_line(res.stderr)
    assert not list(tmp_path.iterdir())


def test_an_output_never_replaces_a_file_that_appeared_meanwhile(tmp_path: Path) -> None:
    from sensorio.errors import SensorioError
    from sensorio.export.output import atomic_output

    out = tmp_path / "x.csv"
    with pytest.raises(SensorioError, match="exists"):
        with atomic_output(out) as tmp:
            tmp.write_text("new")
            out.write_text("someone else's")
    assert out.read_text() == "someone else's"
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]


def test_an_overwritten_link_keeps_its_target_and_a_device_is_refused(tmp_path: Path, recordings) -> None:
    """--force renamed the output over a link (it became a plain file) and
    over a device node or pipe (as root, /dev/stdout's node itself): a link
    is now written through, and an existing file that is not a regular one
    is refused, before any work."""
    target = tmp_path / "target.jsonl"
    target.write_text("old\n")
    link = tmp_path / "events.jsonl"
    link.symlink_to(target)
    res = _cli("analyze", str(recordings["cyton"]), "--events", str(link), "--force")
    assert res.returncode == 0, res.stderr
    assert link.is_symlink() and target.read_text() != "old\n"
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    res = _cli("analyze", str(recordings["cyton"]), "--events", str(fifo), "--force")
    assert res.returncode == 1 and "not a regular file" in _one_line(res.stderr), res.stderr
    assert fifo.exists() and not fifo.is_file()


def test_an_output_in_a_missing_folder_is_refused_before_the_work(tmp_path: Path, recordings) -> None:
    """A missing folder was found only when the output was written, after
    minutes of analysis on a long recording: it is said before the command
    runs now (the check that main makes before it calls the command)."""
    from sensorio.cli import _check_file_outputs, build_parser
    from sensorio.errors import SensorioError

    out = tmp_path / "nodir" / "x.csv"
    args = build_parser().parse_args(["export", str(recordings["cyton"]), "-o", str(out)])
    with pytest.raises(SensorioError, match=f"cannot create .*: its folder {out.parent} does not exist"):
        _check_file_outputs(args)
    res = _cli("export", str(recordings["cyton"]), "-o", str(out))
    assert res.returncode == 1 and f"its folder {out.parent} does not exist" in _one_line(res.stderr), res.stderr


@pytest.mark.parametrize("command", ["export", "decode", "record"])
def test_an_output_under_a_file_or_a_folder_that_takes_no_files_is_said_so(
    tmp_path: Path, recordings, command: str
) -> None:
    """An output under a file (rec.sior/x.csv) or in a folder that takes no
    new files (/proc) was said to be in a folder that does not exist: each
    is said as it is, one line, exit 1 or 2, before any work."""
    rec = str(recordings["cyton"])
    src = {"export": [rec], "decode": [rec], "record": ["sim://emg8?fast=1&duration=0.2"]}[command]
    name = {"export": "x.csv", "decode": "x.npz", "record": "x.sior"}[command]
    for out, said in (
        (f"{rec}/{name}", f"cannot create {rec}/{name}: {rec} is a file, not a folder"),
        (f"{rec}/deeper/{name}", f"cannot create {rec}/deeper/{name}: {rec} is a file, not a folder"),
        (f"/proc/{name}", f"cannot create /proc/{name}: /proc takes no new files"),
    ):
        res = _cli(command, *src, "-o", out)
        assert res.returncode in (1, 2) and said in _one_line(res.stderr), res.stderr


def test_decode_into_a_folder_again_leaves_nothing_of_the_earlier_one(tmp_path: Path, recordings) -> None:
    """decode -o DIR/ --force over an earlier decode of a recording with
    more streams left its s1_*.npy beside the new arrays: two recordings
    mixed. They go now; a file decode does not name stays; without --force
    any of them is refused."""
    out = tmp_path / "arrays"
    assert _cli("decode", str(recordings["cyton"]), "-o", f"{out}/").returncode == 0
    assert (out / "s1_samples.npy").exists()
    (out / "mine.npy").write_bytes(b"kept")
    dump = tmp_path / "one-stream.bin"
    dump.write_bytes(make_frames(0, 20, n_ch=4, n_samp=8)[0])
    res = _cli("decode", str(dump), "-o", f"{out}/")
    assert res.returncode == 1 and "exists" in _one_line(res.stderr), res.stderr
    assert _cli("decode", str(dump), "-o", f"{out}/", "--force").returncode == 0
    assert not list(out.glob("s1_*")) and (out / "mine.npy").read_bytes() == b"kept"
    assert np.load(out / "samples.npy").shape == (160, 4)


@pytest.mark.parametrize("option", [["--channels", "1"], ["--time", "0:1"]])
def test_analyze_plot_options_without_a_plot_are_refused(recordings, option) -> None:
    """analyze --channels / --time were taken and ignored without --plot:
    the user saw a summary of every channel and thought it was theirs."""
    res = _run("analyze", str(recordings["cyton"]), *option)
    assert res.returncode == 2 and "choose what --plot draws" in res.stderr, res.stderr


def test_a_sighup_ignored_by_nohup_stays_ignored() -> None:
    """Every command stops on SIGTERM and SIGHUP as on Ctrl-C, but one
    started under nohup (SIGHUP ignored) went on stopping on it."""
    import signal

    from sensorio.cli._realtime import stop_signals

    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_signals():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert callable(signal.getsignal(signal.SIGTERM))
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


def test_a_pipe_that_cannot_be_spooled_names_the_temporary_folder(recordings, monkeypatch) -> None:
    """A recording through a pipe is kept in a temporary file; when that
    folder is full the error said "cannot write OUT: the disk is full" of
    the output, whose disk had room."""
    import errno
    import threading

    from sensorio.errors import SensorioError
    from sensorio.recording import BlockStream

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("sensorio.recording.shutil.copyfileobj", full)
    r, w = os.pipe()
    data = recordings["cyton"].read_bytes()
    writer = threading.Thread(target=lambda: (os.write(w, data[:65536]), os.close(w)))
    writer.start()
    try:
        with pytest.raises(SensorioError, match="in a temporary file in .*No space left on device.*TMPDIR"):
            BlockStream(f"/dev/fd/{r}", stream_ok=True)
    finally:
        writer.join()
        os.close(r)


def test_an_existing_output_is_a_usage_error_and_stdout_on_a_pipe_is_named(tmp_path: Path, recordings) -> None:
    """The early check kept exit 2 for an existing output (as the commands'
    own check), and /dev/stdout on a pipe with --force is refused by its
    name, not as "/proc/PID/fd/pipe:[...]: its folder does not exist"."""
    out = tmp_path / "e.jsonl"
    out.write_text("mine")
    res = _cli("analyze", str(recordings["cyton"]), "--events", str(out))
    assert res.returncode == 2 and "exists" in _one_line(res.stderr), res.stderr
    res = _cli("analyze", str(recordings["cyton"]), "--events", "/dev/stdout", "--force")  # stdout: a pipe here
    assert res.returncode == 1 and "/dev/stdout is not a regular file" in _one_line(res.stderr), res.stderr


def test_an_output_that_is_no_file_is_refused_before_any_word_of_force(tmp_path: Path) -> None:
    """/dev/null or a FIFO as -o said "exists: pass --force", and --force then
    said it is not a regular file; a file as the demo's folder, the same."""
    fifo = tmp_path / "ff"
    os.mkfifo(fifo)
    for out in ("/dev/null", str(fifo)):
        res = _cli("record", "sim://emg8?fast=1&duration=1", "-o", out, "--quiet")
        line = _one_line(res.stderr)
        assert res.returncode == 1 and f"{out} is not a regular file" in line and "--force" not in line
    afile = tmp_path / "a.sior"
    afile.write_bytes(b"mine")
    res = _cli("demo", "-o", str(afile), "--no-plot")
    line = _one_line(res.stderr)
    assert res.returncode == 1 and "is not a folder" in line and "--force" not in line
    assert afile.read_bytes() == b"mine"


def test_a_second_ctrl_c_during_the_cleanup_still_removes_the_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """decode -o x.npz writes its arrays in a hidden parts folder beside the
    output; three Ctrl-C 30 ms apart left it there in 2 runs of 5 (the second
    interrupted the first one's cleanup). The cleanup now runs to the end and
    the interrupt is raised after it."""
    import shutil

    from sensorio.export import output

    real = shutil.rmtree
    calls: list[object] = []

    def interrupted_once(path: object, ignore_errors: bool = False) -> None:
        calls.append(path)
        if len(calls) == 1:
            raise KeyboardInterrupt
        real(path, ignore_errors=ignore_errors)  # type: ignore[arg-type]

    monkeypatch.setattr(output.shutil, "rmtree", interrupted_once)
    parts = tmp_path / ".x.abc.parts"
    parts.mkdir()
    (parts / "samples.npy").write_bytes(b"\x93NUMPY")
    with pytest.raises(KeyboardInterrupt):
        output.remove_tree(parts)
    assert not parts.exists() and len(calls) == 2
