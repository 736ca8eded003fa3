"""The bad-input matrix: every way a user's setup can go wrong, through the
real command line in a subprocess. Each row must give exactly one line on
stderr that names the problem and what to do, a non-zero exit, no traceback,
and keep whatever was captured before the problem.

MATRIX below is the table (the README's troubleshooting section is drawn
from it); test_every_row_has_a_test checks that each row names a test that
exists. Rows already covered well by another module point there instead of
repeating it.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial

sys.path.insert(0, str(Path(__file__).parent))
from capture_support import PtyDevice, make_frames  # noqa: E402
from support import require_or_skip  # noqa: E402

from sensorio.recording import DataChunk, RecordingReader, decode_recording  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# problem, what the message says, what it tells the user to do, the test (module::function)
MATRIX = [
    ("missing port", "no such port: PORT", "check the cable; `sensorio ports` lists ports",
     "test_bad_input::test_missing_port"),
    ("permission denied", "permission denied opening PORT", "Linux: join the dialout group and log in again",
     "test_bad_input::test_permission_denied"),
    ("port held by another process", "PORT is held by another process", "close the other program",
     "test_bad_input::test_port_held_by_another_process"),
    ("wrong format (text on an SIO-1 port)", "no SIO-1 frames ... looks like text", "try --format ascii",
     "test_bad_input::test_wrong_format"),
    ("wrong baud rate / line noise", "no frames ... bytes look like noise", "check --baud and the cable",
     "test_capture_cli::test_wrong_format_or_baud_is_diagnosed"),
    ("a replay whose bytes are not frames of the format given",
     "replay://FILE: N bytes in the recording but no sio frames: the format given does not match ...",
     "sensorio info FILE, then --format",
     "test_integrity_capture::test_a_replay_of_bytes_in_another_format_gets_advice_for_a_file"),
    ("device sends nothing", "no bytes arrived from PORT", "is the device streaming? check --start / --baud",
     "test_bad_input::test_device_sends_nothing"),
    ("device floods garbage", "no frames ... noise", "check --baud and the cable",
     "test_bad_input::test_device_floods_garbage"),
    ("truncated recording header", "FILE is truncated", "the file is not usable; re-record",
     "test_bad_input::test_truncated_or_corrupted_recording"),
    ("recording cut or damaged in the body", "(warning) cut / damaged records skipped", "data before and after is kept",
     "test_bad_input::test_truncated_or_corrupted_recording"),
    ("a flipped bit in a recording's DATA record",
     "(warning) 1 damaged record (N bytes): frames in it with a bad CRC dropped", "every intact frame in it is kept",
     "test_recording_format::test_every_command_reports_a_damaged_record_as_damage"),
    ("not a recording", "not a sensorio recording", "pass a .sior file (or a raw dump to decode)",
     "test_bad_input::test_truncated_or_corrupted_recording"),
    ("decode of a file in which nothing decodes", "FILE: no samples decoded as format 'sio': check --format",
     "give the right --format; no archive is written",
     "test_bad_input::test_decode_of_a_file_with_no_frames_writes_nothing"),
    ("disk full / file size limit", "disk full / file size limit ... kept", "free space; the data so far is kept",
     "test_bad_input::test_full_disk"),
    ("unknown or invalid format", "unknown format NAME: use one of ...", "pick a listed format",
     "test_bad_input::test_invalid_format"),
    ("invalid format spec (.toml)", "SPEC: FIELD: problem", "fix that field of the spec",
     "test_bad_input::test_invalid_format_spec_file"),
    ("invalid command-line options", "argument --X: invalid ... (see --help)", "see `sensorio COMMAND --help`",
     "test_bad_input::test_invalid_command_line_options"),
    ("output file exists", "FILE exists: choose another name or pass --force", "never overwritten silently",
     "test_bad_input::test_existing_output_is_never_overwritten"),
    ("output names the input (with --force too)", "OUT is the input IN: give the output another name",
     "the input is left as it was", "test_bad_input::test_an_output_that_is_the_input_is_refused"),
    ("disk full while the device streams on", "... file size limit ... [FILE: N bytes kept, M frames]",
     "stops at once; M counted in the file", "test_integrity_capture::test_full_disk_with_a_device_that_never_pauses"),
    ("another device at the port after a reconnect", "a different device appeared on PORT: B, not A as before",
     "its data stay out of the file", "test_integrity_capture::test_another_device_at_the_same_path_is_never_merged"),
    ("a recording whose stream changes shape", "FILE: stream S changes from X to Y channels at sample N",
     "`sensorio info FILE` lists the devices",
     "test_integrity_capture::test_readers_name_where_a_mixed_file_changes_shape"),
    ("calibrate of a recording that is not there", "no such file: FILE", "check the file's name",
     "test_bad_input::test_calibrate_of_a_missing_recording_says_no_such_file"),
    ("a missing recording given as the port (a .sior name)", "FILE: no such port, nor file; a port is a device, "
     "not a recording", "replay://FILE, `sensorio replay` or `sensorio analyze`",
     "test_bad_input::test_a_missing_recording_given_as_a_port_says_it_is_no_device"),
    ("a missing file given as the port (a name with a folder or a suffix)", "FILE: no such port, nor file "
     "(ports present: ...; see 'sensorio ports')", "check the name; a recording plays back as replay://FILE",
     "test_bad_input::test_a_missing_file_given_as_a_port_says_no_such_port_nor_file"),
    ("a recording given as the port", "FILE is a sensorio recording, not a port", "use `sensorio replay` or replay://",
     "test_integrity_capture::test_a_recording_given_as_a_port_points_to_replay"),
    ("control model made for another device", "the model is for N channels at R Hz; stream 0 has ...",
     "train a model on this device (sensorio train)", "test_control_cli::test_bad_input_is_one_line"),
    ("fit from a recording without prompts", "REC has no gesture markers: record it with `sensorio train`",
     "record with sensorio train", "test_control_cli::test_bad_input_is_one_line"),
    ("bad gesture option for the emulator", "order 'x': use one of cycle, random", "see docs/emulator.md",
     "test_emulator_gestures::test_bad_gesture_options_are_usage_errors"),
    ("option value NaN, infinite, negative or 0", "argument --X: 'nan': give a finite number above 0",
     "give a value in range (every command, every option)", "test_bad_options::test_every_option_of_every_command"),
    ("emulate --link-path names an existing file", "PATH exists: remove it or choose another link path",
     "the file is left untouched", "test_emulate_cli_safety::test_link_path_never_replaces_an_existing_file"),
    ("spec or pipeline file not UTF-8 / nested too deeply", "FILE: not UTF-8 text / nested too deeply",
     "fix the file", "test_emulate_cli_safety::test_pipeline_file_that_is_not_usable"),
    ("analyze --stream of a stream not in the data", "no stream N in the data (streams with samples: ...)",
     "pick a listed stream",
     "test_emulate_cli_safety::test_analyze_of_a_stream_that_is_not_there_names_those_that_are"),
    ("recording header damaged (a flipped bit)", "(warning) its header is damaged; the copy ... was used",
     "nothing: every record of the body is read (old files: give --format)",
     "test_integrity_files::test_every_reader_reads_a_recording_with_a_damaged_header"),
    ("a pipe or FIFO where a file is needed", "FILE is a pipe, not a recording file ...",
     "save the bytes to a file (decode reads pipes)",
     "test_integrity_files::test_a_fifo_gives_one_line_instead_of_hanging"),
    ("disk full while exporting or decoding", "cannot write OUT: the disk is full; nothing was written under that name",
     "free space and run it again", "test_integrity_files::test_a_full_disk_leaves_no_truncated_output"),
    ("impossible replay speed or wait", "speed must be 0 or 'max' ... or between 0.001 and 1e+06",
     "pick a sensible --speed / --wait", "test_integrity_files::test_replay_refuses_impossible_speeds_and_waits"),
    ("image name with an unknown suffix", "cannot write an image to OUT: the name must end in one of ...",
     "use .png, .svg, .pdf ...", "test_integrity_files::test_plot_refuses_an_unknown_image_suffix"),
    ("recording header with an impossible time",
     "the recording's header says it was created at N ns, which is not a time",
     "the header was damaged or forged", "test_integrity_files::test_info_on_a_header_with_an_impossible_time"),
    ("a plot's channels or time range outside the recording", "channel N does not exist: there are M channels",
     "channels count from 1, as the labels emg1..; --time START:END in seconds",
     "test_plots::test_bad_selection_is_one_line"),
]  # fmt: skip


def test_every_row_has_a_test() -> None:
    for problem, _message, _advice, where in MATRIX:
        module, func = where.split("::")
        assert callable(getattr(importlib.import_module(module), func, None)), (problem, where)


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SENSORIO_DEBUG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "sensorio", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _one_line_error(proc: subprocess.Popen, timeout: float = 20) -> str:
    """Wait for proc; it must fail with exactly one line on stderr, no traceback."""
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode not in (0, None), err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _record(port: str, out: Path, *extra: str, **kw) -> subprocess.Popen:
    return _cli("record", port, "-o", str(out), "--no-info", "--no-start", "--quiet", *extra, **kw)


def _wait_for_file(path: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path.exists()


def _recorded(path: Path) -> bytes:
    return b"".join(i.raw for i in RecordingReader(path).items() if isinstance(i, DataChunk))


def test_missing_port(tmp_path: Path) -> None:
    out = tmp_path / "m.sior"
    line = _one_line_error(_record("/dev/ttyNOPE_sensorio", out))
    assert "no such port: /dev/ttyNOPE_sensorio" in line and "sensorio ports" in line
    assert not out.exists()  # nothing captured, no empty file left behind


def test_calibrate_of_a_missing_recording_says_no_such_file(tmp_path: Path) -> None:
    """calibrate takes a port or a file; a recording's name that is not there
    was taken for a port ("no such port: x.sior (ports present: ...)")."""
    for name in (tmp_path / "missing.sior", tmp_path / "gone" / "RUN.SIOR"):
        line = _one_line_error(_cli("calibrate", str(name), "--yes"))
        assert line == f"sensorio calibrate: error: no such file: {name}"
        assert line.split(": ", 1)[1] == _one_line_error(_cli("info", str(name))).split(": ", 1)[1]
    # a name no file has stays a port, said as record says it
    assert "no such port: /dev/ttyNOPE_sensorio" in _one_line_error(_cli("calibrate", "/dev/ttyNOPE_sensorio"))


@pytest.mark.parametrize("command", ["record", "view", "train"])
def test_a_missing_recording_given_as_a_port_says_it_is_no_device(tmp_path: Path, command: str) -> None:
    """A live command given a recording's name that is not there said "no
    such port: x.sior (ports present: ...)", as for a device unplugged: the
    mistake is a file given for a device (names_a_file's rule, calibrate's)."""
    name = tmp_path / "missing.sior"
    out = {"record": ["-o", str(tmp_path / "o.sior")], "view": [], "train": ["-o", str(tmp_path / "m.npz")]}
    line = _one_line_error(_cli(command, str(name), *out[command]))
    assert line == (
        f"sensorio {command}: error: {name}: no such port, nor file; a port is a device, not a recording "
        f"(a recording plays back as replay://{name}, or through `sensorio replay` or `sensorio analyze`)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # a device path that is not there is still a missing port
    assert "no such port: /dev/ttyNOPE_sensorio (ports present:" in _one_line_error(
        _cli(command, "/dev/ttyNOPE_sensorio", *out[command])
    )


def test_train_on_a_missing_port_says_only_the_error(tmp_path: Path) -> None:
    """train printed its prompt plan ("40 prompts over ... s (follow the
    prompts); recording to ...") before the port failed to open: now the
    port is opened first, and a missing one is the one error line alone."""
    proc = _cli("train", "/dev/ttyNOPE_sensorio", "-o", str(tmp_path / "m.npz"))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode not in (0, None) and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and "no such port: /dev/ttyNOPE_sensorio" in err, err
    assert out == ""


@pytest.mark.parametrize("command", ["record", "view", "train", "calibrate"])
def test_a_missing_file_given_as_a_port_says_no_such_port_nor_file(tmp_path: Path, command: str) -> None:
    """A dump's or a folder's name that is not there (x.bin, data/run1) read
    as a device unplugged: "no such port: x.bin (ports present: ...)". A
    name shaped like a file's path says it is neither (ports.may_name_a_file);
    a device path or a bare port name stays a missing port."""
    out = {"record": ["-o", str(tmp_path / "o.sior")], "train": ["-o", str(tmp_path / "m.npz")]}.get(command, [])
    for name in ("nope-sensorio-dump.bin", str(tmp_path / "data" / "run1")):
        line = _one_line_error(_cli(command, name, *out))
        assert line.startswith(f"sensorio {command}: error: {name}: no such port, nor file (ports present: "), line
        assert line.endswith("; see 'sensorio ports')"), line
    for port in ("/dev/ttyNOPE_sensorio", "ttyNOPE_sensorio"):
        assert f"error: no such port: {port} (ports present:" in _one_line_error(_cli(command, port, *out))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _without_dac_override() -> None:
    """Root, minus the capabilities that bypass file permissions (the Python
    interpreter lives under /root here, so setuid(nobody) could not even run it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux capabilities")
def test_permission_denied(tmp_path: Path) -> None:
    dev = PtyDevice()
    os.chmod(dev.tty, 0)  # what a tty of group dialout looks like to a user outside that group
    preexec = _without_dac_override if os.geteuid() == 0 else None
    try:
        try:
            proc = _record(dev.path, tmp_path / "p.sior", preexec_fn=preexec)
        except subprocess.SubprocessError as exc:  # a container without CAP_SETPCAP
            require_or_skip(False, f"cannot drop CAP_DAC_OVERRIDE in a child here: {exc}")
        line = _one_line_error(proc)
    finally:
        dev.close()
    assert f"permission denied opening {dev.path}" in line
    assert "dialout" in line
    assert not (tmp_path / "p.sior").exists()


def test_port_held_by_another_process(tmp_path: Path) -> None:
    dev = PtyDevice()
    holder = serial.Serial(dev.path, exclusive=True)  # an flock, as another program would hold it
    try:
        line = _one_line_error(_record(dev.path, tmp_path / "h.sior"))
    finally:
        holder.close()
        dev.close()
    assert "held by another process" in line


def test_wrong_format(tmp_path: Path) -> None:
    # noise at the wrong baud rate: test_capture_cli::test_wrong_format_or_baud_is_diagnosed
    dev = PtyDevice()
    out = tmp_path / "w.sior"
    payload = b"12,34,56\r\n" * 200
    proc = _record(dev.path, out, "--check-seconds", "0.6")
    try:
        _wait_for_file(out)
        dev.write(payload)
        line = _one_line_error(proc)
    finally:
        dev.close()
    assert "--format ascii" in line
    assert _recorded(out) == payload


def test_device_sends_nothing(tmp_path: Path) -> None:
    dev = PtyDevice()
    out = tmp_path / "s.sior"
    try:
        line = _one_line_error(_record(dev.path, out, "--check-seconds", "0.5"))
    finally:
        dev.close()
    assert "no bytes arrived" in line
    assert RecordingReader(out).header["port"] == dev.path  # the (empty) recording is kept


def test_a_silent_cyton_is_pointed_to_its_format_and_sim_cyton_speaks_it(tmp_path: Path) -> None:
    """sim://cyton refused --format cyton ("use it with format='cyton'", which
    no option could do), and a Cyton waiting for 'b' got only START advice."""
    out = tmp_path / "c.sior"
    line = _one_line_error(
        _cli("record", "sim://cyton?fast=1&duration=1", "-o", str(out), "--check-seconds", "0.5", "--quiet"),
        timeout=60,
    )
    assert "no bytes arrived" in line and "--format cyton" in line
    proc = _cli("record", "sim://cyton?fast=1&duration=1", "--format", "cyton", "-o", str(out), "--force")
    got, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "250 frames, samples per stream 0: 250, 1: 25, 0 frames lost" in got  # accelerometer at 25 Hz


class _Flood(threading.Thread):
    """Writes random bytes into the pty as fast as the reader takes them."""

    def __init__(self, dev: PtyDevice) -> None:
        super().__init__(daemon=True)
        self.dev = dev
        self.sent = bytearray()
        self.stop = threading.Event()

    def run(self) -> None:
        rng = random.Random(7)
        os.set_blocking(self.dev.master, False)
        while not self.stop.is_set():
            chunk = rng.randbytes(4096)
            try:
                n = os.write(self.dev.master, chunk)
            except BlockingIOError:
                time.sleep(0.002)
                continue
            except OSError:
                return
            self.sent += chunk[:n]


def test_device_floods_garbage(tmp_path: Path) -> None:
    dev = PtyDevice()
    out = tmp_path / "g.sior"
    proc = _record(dev.path, out, "--check-seconds", "0.8")
    flood = _Flood(dev)
    try:
        _wait_for_file(out)
        flood.start()
        line = _one_line_error(proc)
    finally:
        flood.stop.set()
        flood.join(5)
        dev.close()
    assert "baud" in line
    kept = _recorded(out)
    assert len(kept) > 10_000 and bytes(flood.sent).startswith(kept)


def _sim_recording(path: Path) -> None:
    """A second of the emulated emg8 device, recorded (fast) to path."""
    assert _cli("record", "sim://emg8?fast=1&duration=1", "-o", str(path)).wait(timeout=60) == 0


def _good_recording(tmp_path: Path) -> tuple[Path, bytes]:
    good = tmp_path / "good.sior"
    dev = PtyDevice()
    proc = _record(dev.path, good, "--duration", "1.5", "--flush-interval", "0.05")
    _wait_for_file(good)
    data = b""
    for k in range(10):  # in pieces, so the file holds many records
        piece = make_frames(k * 20, 20)[0]
        dev.write(piece)
        data += piece
        time.sleep(0.08)
    proc.communicate(timeout=20)
    dev.close()
    assert proc.returncode == 0
    assert _recorded(good) == data
    return good, data


def test_truncated_or_corrupted_recording(tmp_path: Path) -> None:
    # every cut length and mutation at the library level: test_recording_format.py
    good, _ = _good_recording(tmp_path)
    blob = good.read_bytes()
    short = tmp_path / "short.sior"
    short.write_bytes(blob[:20])
    notrec = tmp_path / "not.sior"
    notrec.write_bytes(b"just some text\n")
    for cmd in ("info", "replay", "decode"):
        extra = ["--speed", "max"] if cmd == "replay" else []
        assert "truncated" in _one_line_error(_cli(cmd, str(short), *extra))
        assert "no such file" in _one_line_error(_cli(cmd, str(tmp_path / "missing.sior"), *extra))
    assert "not a sensorio recording" in _one_line_error(_cli("info", str(notrec)))

    # a cut or damaged body is not fatal: decode keeps every intact record and says what was lost
    full = decode_recording(good)[0].stats.frames_ok
    cut = tmp_path / "cut.sior"
    cut.write_bytes(blob[: len(blob) - 3000])
    damaged = tmp_path / "damaged.sior"
    mid = bytearray(blob)
    for k in range(len(mid) // 2, len(mid) // 2 + 40):
        mid[k] ^= 0x5A
    damaged.write_bytes(bytes(mid))
    for path, word in ((cut, "cut"), (damaged, "damag")):
        proc = _cli("decode", str(path), "--json")
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "Traceback" not in err
        assert word in err.lower()
        kept = decode_recording(path)[0].stats.frames_ok
        assert full * 0.5 < kept < full
        # and the other readers of the file say so too (an export of 40 % of
        # a file said nothing), once each however often they read it
        for cmd, extra in (("export", ["-o", str(tmp_path / f"{path.stem}.csv")]), ("analyze", [])):
            proc = _cli(cmd, str(path), *extra)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0 and "Traceback" not in err, (cmd, err)
            lines = [line for line in err.splitlines() if word in line.split(str(path))[-1].lower()]
            assert len(lines) == 1 and f"sensorio {cmd}: warning: {path}" in lines[0], (cmd, err)


def test_full_disk(tmp_path: Path) -> None:
    # the same through the in-process writer: test_recording_format::test_file_size_limit_stops_recording_with_data_kept
    dev = PtyDevice()
    out = tmp_path / "f.sior"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    proc = _record(dev.path, out, "--flush-interval", "0.05", preexec_fn=limit)
    sent = b""
    try:
        _wait_for_file(out)
        for k in range(40):
            data = make_frames(k * 20, 20)[0]
            dev.write(data)
            sent += data
            time.sleep(0.02)
            if proc.poll() is not None:
                break
        line = _one_line_error(proc)
    finally:
        dev.close()
    assert "file size limit" in line and "kept" in line
    kept = _recorded(out)
    assert len(kept) > 30_000 and sent.startswith(kept)
    assert decode_recording(out)[0].stats.lost_frames == 0


def test_invalid_format(tmp_path: Path) -> None:
    line = _one_line_error(_record("/dev/ttyNOPE_sensorio", tmp_path / "x.sior", "--format", "nonsense"))
    assert "unknown format 'nonsense'" in line and "sio" in line
    assert not (tmp_path / "x.sior").exists()


def test_invalid_format_spec_file(tmp_path: Path) -> None:
    spec = tmp_path / "board.toml"
    spec.write_text(
        'name = "board"\nrate_hz = 500\n\n[frame]\nsync = "AA 55"\nsize = 8\n\n'
        '[[streams]]\nid = 0\nstart = 2\nchannels = 3\ntype = "i12"\n'
    )
    dump = tmp_path / "dump.bin"
    dump.write_bytes(b"\xaa\x55" + bytes(6))
    out = tmp_path / "dump.npz"
    line = _one_line_error(_cli("decode", str(dump), "--format", str(spec), "-o", str(out)))
    assert "board.toml" in line and "streams[0].type" in line and "i12" in line
    assert not out.exists()
    # the same spec given to record is refused before the port is touched
    line = _one_line_error(_record("/dev/ttyNOPE_sensorio", tmp_path / "r.sior", "--format", str(spec)))
    assert "streams[0].type" in line
    assert not (tmp_path / "r.sior").exists()


@pytest.mark.parametrize(
    "args, expect",
    [
        (["record", "/dev/null"], "required: -o/--output"),
        (["record", "/dev/null", "-o", "x.sior", "--baud", "fast"], "--baud: 'fast': give a baud rate"),
        (["record", "/dev/null", "-o", "x.sior", "--duration", "-1"], "--duration"),
        (["frobnicate"], "invalid choice"),
        (["decode"], "required: file"),
    ],
    ids=["no-output", "bad-baud", "negative-duration", "no-such-command", "no-file"],
)
def test_invalid_command_line_options(args: list[str], expect: str) -> None:
    line = _one_line_error(_cli(*args))
    assert expect in line and "--help" in line


@pytest.mark.parametrize(
    "command",
    [
        ["export", "{rec}", "-o", "{same}", "--force"],
        ["export", "{rec}", "-o", "{link}", "--force"],
        ["decode", "{rec}", "-o", "{same}", "--force"],
        ["analyze", "{rec}", "--events", "{same}", "--force"],
        ["plot", "{rec}", "-o", "{same}", "--force"],
        ["analyze", "{rec}", "--pipeline", "{same}", "--events", "{same}", "--force"],
        ["record", "replay://{same}", "-o", "{same}", "--force"],
    ],
)
def test_an_output_that_is_the_input_is_refused(tmp_path: Path, command: list[str]) -> None:
    """With --force every command wrote its output over the file it was
    reading (a recording under a name ending in .npz or .png, a pipeline
    file, the recording a replay:// port plays): it was gone, and the
    command said nothing. A link to the input is refused too."""
    rec = tmp_path / "rec.sior"
    _sim_recording(rec)
    same = tmp_path / ("rec.png" if command[0] == "plot" else "rec.sior" if command[0] == "record" else "rec.npz")
    rec.rename(same)
    link = tmp_path / "link.csv"
    link.symlink_to(same)
    before = same.read_bytes()
    args = [a.format(rec=same, same=same, link=link) for a in command]
    line = _one_line_error(_cli(*args))
    assert "is the input" in line, line
    assert same.read_bytes() == before


@pytest.fixture(scope="module")
def several_streams(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A recording of a device with four streams (the prosthesis profile)."""
    rec = tmp_path_factory.mktemp("streams") / "rec.sior"
    assert _cli("record", "sim://prosthesis?fast=1&duration=1", "-o", str(rec)).wait(timeout=60) == 0
    return rec.read_bytes()


@pytest.mark.parametrize(
    "command, input_name",
    [
        (["export", "{input}", "-o", "{tmp}/out.csv", "--force"], "out.s1.csv"),
        (["export", "{tmp}/link.sior", "-o", "{tmp}/out.csv", "--force"], "out.s3.csv"),
        (["decode", "{input}", "-o", "{tmp}/", "--force"], "s1_samples.npy"),
        (["decode", "{input}", "-o", "{tmp}", "--force"], "s9_events.npy"),  # (removed as an earlier decode's)
        (["plot", "{input}", "--force"], "rec.png"),
        (["train", "replay://{input}", "-o", "{tmp}/rec.npz", "--force", "--quiet"], "rec.sior"),
    ],
)
def test_an_output_named_for_the_command_that_is_the_input_is_refused(
    tmp_path: Path, several_streams: bytes, command: list[str], input_name: str
) -> None:
    """The names a command makes itself (export's OUT.s<k>.csv per stream,
    decode's arrays in a folder, plot's FILE.png, train's MODEL.sior) were
    written over the input with --force, where -o naming it was refused."""
    src = tmp_path / input_name
    src.write_bytes(several_streams)
    (tmp_path / "link.sior").symlink_to(src)
    args = [a.format(input=src, tmp=tmp_path) for a in command]
    line = _one_line_error(_cli(*args))
    assert "is the input" in line and input_name in line, line
    assert src.read_bytes() == several_streams
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([input_name, "link.sior"])


@pytest.mark.parametrize("content", [b"", b"root:x:0:0:root:/root:/bin/bash\n" * 40])
def test_decode_of_a_file_with_no_frames_writes_nothing(tmp_path: Path, content: bytes) -> None:
    """It exited 0 and wrote an .npz holding no samples array at all."""
    src = tmp_path / "passwd"
    src.write_bytes(content)
    out = tmp_path / "out.npz"
    line = _one_line_error(_cli("decode", str(src), "-o", str(out)))
    assert "no samples decoded as format 'sio'" in line and "--format" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]


def test_a_recording_with_no_data_says_so_not_check_the_format(tmp_path: Path) -> None:
    from sensorio.recording import RecordingWriter

    rec = tmp_path / "empty.sior"
    RecordingWriter(rec, {"format": "sio"}).close()
    for cmd in ("decode", "analyze"):
        line = _one_line_error(_cli(cmd, str(rec)))
        assert "holds no data" in line and "--format" not in line, line


def test_one_file_named_for_two_outputs_is_refused(tmp_path: Path) -> None:
    rec = tmp_path / "rec.sior"
    _sim_recording(rec)
    out = tmp_path / "out.jsonl"
    line = _one_line_error(_cli("analyze", str(rec), "--events", str(out), "--plot", str(out)))
    assert "named for two outputs" in line, line
    assert not out.exists()


def test_a_sim_ports_truth_file_is_checked_as_an_output(tmp_path: Path) -> None:
    """A sim:// port's truth= file was written over whatever was there when
    the port opened: an existing recording, without a word; with -o naming
    the same file and --force, truth JSON was left under the recording's
    name; without --force the truth file was made, then "exists" refused the
    recording. Now it is checked with the outputs before anything is written."""
    rec = tmp_path / "rec.sior"
    _sim_recording(rec)
    before = rec.read_bytes()
    out = tmp_path / "out.sior"
    link = tmp_path / "link.jsonl"
    link.symlink_to(out)  # (to nothing yet)

    def url(truth: Path | str) -> str:
        return f"sim://emg8?fast=1&duration=1&truth={truth}"

    line = _one_line_error(_cli("record", url(rec), "-o", str(out)))
    assert f"{rec} exists" in line and "--force" in line, line
    for truth, output in ((out, out), (link, out), (os.path.relpath(out, ROOT), out), (rec, rec)):
        line = _one_line_error(_cli("record", url(truth), "-o", str(output), "--force"))
        assert "named for two outputs" in line and "truth=" in line, line
    assert rec.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.jsonl", "rec.sior"]
    # --force overwrites a truth file as it does -o
    truth = tmp_path / "t.jsonl"
    truth.write_text("old\n")
    assert _cli("record", url(truth), "-o", str(out), "--force").wait(timeout=60) == 0
    assert truth.read_text().startswith('{"type":"start"') and out.stat().st_size > 1000
    # calibrate names its port "source" and has no --force: an existing truth file is kept
    keep = tmp_path / "keep.txt"
    keep.write_text("keep\n")
    line = _one_line_error(_cli("calibrate", f"sim://emg8?fast=1&truth={keep}", "--yes", "--dry-run"))
    assert f"{keep} exists: give the port's truth= another name" in line, line
    assert keep.read_text() == "keep\n"


def test_existing_output_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "exists.sior"
    out.write_bytes(b"precious")
    line = _one_line_error(_record("/dev/ttyNOPE_sensorio", out))
    assert "exists" in line and "--force" in line
    assert out.read_bytes() == b"precious"


@pytest.mark.parametrize("content", ["", '{"a": 1}\n'])
def test_a_truth_file_that_is_no_truth_is_refused(tmp_path: Path, content: str) -> None:
    """analyze --truth (and plot's) drew an overlay of nothing from an empty
    file or other JSON lines, and said nothing."""
    rec = tmp_path / "rec.sior"
    _sim_recording(rec)
    truth = tmp_path / "t.jsonl"
    truth.write_text(content)
    for cmd in (["analyze", str(rec), "--plot", str(tmp_path / "p.png")], ["plot", str(rec)]):
        line = _one_line_error(_cli(*cmd, "--truth", str(truth)))
        assert "is not an emulator truth file: it has no start record" in line, line
    assert not (tmp_path / "p.png").exists() and not (tmp_path / "rec.png").exists()
