"""The recording command line under bad conditions: kill -9, Ctrl-C, missing,
busy or silent ports, wrong formats, broken recordings, a full disk."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

sys.path.insert(0, str(Path(__file__).parent))
from capture_support import PtyDevice, make_frames  # noqa: E402

from sensorio.capture.ports import _open_error  # noqa: E402
from sensorio.cli import main  # noqa: E402
from sensorio.recording import DataChunk, RecordingReader, decode_recording  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _sensorio(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sensorio", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _run(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """The command line in this process (fast); exit code and output as from a subprocess."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def _wait_for_file(path: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path.exists()


def _one_line_error(res) -> str:
    lines = res.stderr.strip().splitlines()
    assert res.returncode != 0
    assert lines and "Traceback" not in res.stderr
    return lines[-1]


def test_kill_9_leaves_everything_up_to_the_last_flush(tmp_path: Path) -> None:
    dev = PtyDevice()
    out = tmp_path / "k.sior"
    proc = _sensorio(
        "record",
        dev.path,
        "-o",
        str(out),
        "--no-info",
        "--no-start",
        "--quiet",
        "--flush-interval",
        "0.2",
    )
    try:
        _wait_for_file(out)
        early = b""
        for k in range(10):
            data, _ = make_frames(k * 20, 20)
            dev.write(data)
            early += data
            time.sleep(0.05)
        time.sleep(0.8)  # well past the flush interval: all of `early` must survive
        late, _ = make_frames(200, 20)
        dev.write(late)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        dev.close()
    reader = RecordingReader(out)
    raw = b"".join(i.raw for i in reader.items() if isinstance(i, DataChunk))
    assert raw.startswith(early)
    assert (early + late).startswith(raw)
    assert any("not closed cleanly" in p for p in reader.report.problems())
    parser, blocks, _, _ = decode_recording(out)
    assert parser.stats.frames_ok >= 200 and parser.stats.lost_frames == 0
    info = _run("info", str(out))
    assert info.returncode == 0 and "NOT closed cleanly" in info.stdout


def test_ctrl_c_stops_cleanly_and_keeps_everything(tmp_path: Path) -> None:
    dev = PtyDevice()
    out = tmp_path / "c.sior"
    proc = _sensorio("record", dev.path, "-o", str(out), "--no-info", "--no-start", "--quiet")
    try:
        _wait_for_file(out)
        data, _ = make_frames(0, 300)
        dev.write(data)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        dev.close()
    assert proc.returncode == 0, err
    reader = RecordingReader(out)
    raw = b"".join(i.raw for i in reader.items() if isinstance(i, DataChunk))
    assert raw == data and reader.report.complete


# missing port, busy port, a silent device: tests/test_bad_input.py (the bad-input matrix)


def test_permission_denied_message_has_the_group_hint() -> None:
    exc = serial.SerialException(errno.EACCES, "could not open port /dev/ttyUSB0: [Errno 13] Permission denied")
    msg = str(_open_error("/dev/ttyUSB0", exc))
    assert "permission denied opening /dev/ttyUSB0" in msg
    if sys.platform.startswith("linux"):
        assert "dialout" in msg


_NOISE = bytes(b or 1 for b in random.Random(1).randbytes(3000))


@pytest.mark.parametrize(
    "payload, advice",
    [
        (b"12,34,56\r\n" * 200, "--format ascii"),
        (_NOISE, "baud rate"),
        (bytes([0xF0, 0x00, 0x80, 0xFE, 0x00, 0x11]) * 300, "baud rate"),
    ],
    ids=["text", "no-delimiters", "baud-noise"],
)
def test_wrong_format_or_baud_is_diagnosed(tmp_path: Path, payload: bytes, advice: str) -> None:
    dev = PtyDevice()
    out = tmp_path / "w.sior"
    proc = _sensorio(
        "record",
        dev.path,
        "-o",
        str(out),
        "--no-info",
        "--no-start",
        "--quiet",
        "--check-seconds",
        "0.6",
    )
    try:
        _wait_for_file(out)
        dev.write(payload)
        _, err = proc.communicate(timeout=10)
    finally:
        dev.close()
    assert proc.returncode == 1
    assert advice in err.strip().splitlines()[-1]
    raw = b"".join(i.raw for i in RecordingReader(out).items() if isinstance(i, DataChunk))
    assert raw == payload  # what arrived is kept


def test_full_disk_during_recording(tmp_path: Path) -> None:
    dev = PtyDevice()
    out = tmp_path / "f.sior"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    proc = _sensorio(
        "record",
        dev.path,
        "-o",
        str(out),
        "--no-info",
        "--quiet",
        "--flush-interval",
        "0.05",
        preexec_fn=limit,
    )
    try:
        _wait_for_file(out)
        for k in range(30):
            dev.write(make_frames(k * 20, 20)[0])
            time.sleep(0.02)
            if proc.poll() is not None:
                break
        _, err = proc.communicate(timeout=10)
    finally:
        dev.close()
    assert proc.returncode == 1
    line = err.strip().splitlines()[-1]
    assert "file size limit" in line and "kept" in line
    parser, _, _, reader = decode_recording(out)
    assert parser.stats.frames_ok > 100 and parser.stats.lost_frames == 0


def test_broken_recordings_give_one_line_errors(tmp_path: Path) -> None:
    good = tmp_path / "g.sior"
    dev = PtyDevice()
    proc = _sensorio("record", dev.path, "-o", str(good), "--no-info", "--no-start", "--quiet", "--duration", "1")
    _wait_for_file(good)
    dev.write(make_frames(0, 50)[0])
    proc.communicate(timeout=10)
    dev.close()
    assert proc.returncode == 0
    data = good.read_bytes()
    short = tmp_path / "short.sior"
    short.write_bytes(data[:20])
    notrec = tmp_path / "not.sior"
    notrec.write_bytes(b"just some text\n")
    for cmd in ("info", "replay", "export"):
        extra = ["-o", str(tmp_path / "o.npz")] if cmd == "export" else []
        assert "truncated" in _one_line_error(_run(cmd, str(short), *extra))
        # export also takes raw byte dumps: text is one without frames
        expect = "no samples decoded" if cmd == "export" else "not a sensorio recording"
        assert expect in _one_line_error(_run(cmd, str(notrec), *extra))
        assert "no such file" in _one_line_error(_run(cmd, str(tmp_path / "missing.sior"), *extra))
    # cut in the body: decode still works and says what was cut
    cut = tmp_path / "cut.sior"
    cut.write_bytes(data[: len(data) - 30])
    res = _run("decode", str(cut), "--json")
    assert res.returncode == 0 and "cut" in res.stderr
    # frames without an INFO descriptor have no rate: EDF cannot place them in time
    assert "no rate_hz" in _one_line_error(_run("export", str(good), "-o", str(tmp_path / "x.edf")))
    res = _run("export", str(good), "-o", str(tmp_path / "x.csv"))
    assert res.returncode == 0
    assert (tmp_path / "x.csv").read_text().count("\n") == 50 * 8 + 1
    assert _run("record", dev.path, "-o", str(good)).returncode != 0  # never overwrites
    assert good.read_bytes() == data


def test_ports_lists_something_or_says_none() -> None:
    res = _run("ports")
    assert res.returncode == 0 and res.stdout.strip()
    res = _run("ports", "--json")
    assert res.returncode == 0 and res.stdout.startswith("[")


def test_the_diagnosis_counts_what_arrived_and_quotes_text_once() -> None:
    """The advice counted the 4 KB sample it looks at, not what arrived, and
    showed a line end as \\\\r\\\\n (escaped, then quoted with its escapes)."""
    from sensorio.capture.diagnose import diagnose
    from sensorio.parser import Stats

    sample = (b"12,34,56\r\n" * 500)[:4096]
    advice = str(diagnose(sample, Stats(), "sio", 115200, arrived=35156))
    assert advice.startswith("35156 bytes arrived"), advice
    assert "('12,34,56\\r\\n12,34" in advice, advice


def test_the_diagnosis_names_sio_frames_and_no_baud_rate_already_in_use() -> None:
    """SIO-1 bytes read as another format got "the baud rate is probably
    wrong (now 115200; try 115200, ...)", with no word of --format sio."""
    from sensorio.capture.diagnose import diagnose
    from sensorio.parser import Stats

    raw, _ = make_frames(0, 40, n_ch=4, n_samp=8)
    advice = str(diagnose(raw[:4096], Stats(malformed=3), "cyton", 115200, arrived=9000))
    assert "they are SIO-1 frames: try format='sio'" in advice, advice
    rng = random.Random(3)
    noise = bytes(rng.randrange(128) for _ in range(4096))  # (no Cyton start byte)
    advice = str(diagnose(noise, Stats(malformed=3), "sio", 115200))
    assert "now 115200; try 230400, 460800, 921600)" in advice, advice


def test_the_diagnosis_of_a_replay_is_of_the_recording_not_a_device() -> None:
    """A replay that sends no data frame got a device's advice (power it on,
    send it START), which no recording can take."""
    from sensorio.capture.diagnose import diagnose
    from sensorio.parser import Stats

    advice = str(diagnose(b"\x00\x01", Stats(messages_ok=1), "sio", 115200, replay=True))
    assert advice == "the recording holds the device's answers (1 sio messages) but no data frames: " + (
        "it ends before the device streamed"
    )
    assert str(diagnose(b"", Stats(), "sio", 115200, replay=True)) == "the recording holds no bytes from the device"
    assert "START" in str(diagnose(b"", Stats(), "sio", 115200))  # a device's is as it was


def test_a_recording_that_ends_before_the_check_with_no_frames_is_diagnosed(tmp_path: Path) -> None:
    """--duration shorter than --check-seconds (or a source that ends
    first): 0 frames ended with exit 0 and no word of why."""
    out = tmp_path / "a.sior"
    proc = _sensorio("record", "sim://arduino?format=ascii&fast=1", "-o", str(out), "--duration", "1", "--quiet")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--format ascii" in lines[0] and "bytes kept" in lines[0], err
    assert out.stat().st_size > 1000  # what arrived is kept


@pytest.mark.parametrize(
    "extra, words",
    [
        (["-o", ""], "needs a file name"),  # was ". exists: ... pass --force"
        (["-o", "{tmp}"], "needs a file name"),
        (["-o", "{tmp}/x.sior", "--no-start", "--start", "GO"], "--no-start and --start"),  # was silently --no-start
    ],
    ids=["empty-output", "a-folder", "start-and-no-start"],
)
def test_record_options_that_cannot_be_meant(tmp_path: Path, extra: list[str], words: str) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    proc = _sensorio("record", "sim://emg8?fast=1&duration=1", *args)
    _, err = proc.communicate(timeout=60)
    lines = err.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and words in lines[0], err
    assert not (tmp_path / "x.sior").exists()


def test_a_folder_given_as_the_port_is_said_once(tmp_path: Path) -> None:
    """pyserial's text doubled the errno and the port ("[Errno 21] could not
    open port X: [Errno 21] Is a directory: 'X'")."""
    res = _run("record", str(tmp_path), "-o", str(tmp_path / "r.sior"))
    assert res.returncode == 1
    expected = f"sensorio record: error: {tmp_path} is a folder, not a serial port (see 'sensorio ports')"
    assert res.stderr.strip() == expected


def test_the_closing_line_says_what_the_live_decoder_skipped() -> None:
    """A consumer that fell behind a fast source (the ring overflowed): the
    closing line said "352667 frames ... 0 frames lost" for ASCII lines (no
    counter) while the file held 894134 frames, and said nothing of the 26.7
    MB the live decoder never saw."""
    from sensorio.cli._describe import link_summary
    from sensorio.parser import Stats

    behind = Stats(frames_ok=352667, samples_ok=352667, ring_overflow_bytes=26727273, ring_overflows=36)
    recorded = link_summary(behind, "352667 samples", None, False, recorded=True)
    assert "352667 frames decoded live" in recorded and "26727273 bytes left undecoded live" in recorded
    assert "the file holds them" in recorded
    published = link_summary(behind, "352667 samples published", None, False)
    assert "an unknown number of frames lost" in published and "26727273 bytes left undecoded" in published
    assert "file" not in published
    counted = Stats(frames_ok=10, lost_frames=4, gaps_at_least=1, ring_overflow_bytes=330)
    assert "at least 4 frames lost" in link_summary(counted, "10 samples", None, False)
    clean = link_summary(Stats(frames_ok=10, samples_ok=10), "10 samples", None, True)
    assert clean == "10 frames, 10 samples, 0 frames lost, 0 CRC errors (the source ended)"


def test_a_format_without_a_frame_counter_says_its_losses_are_not_counted(tmp_path: Path) -> None:
    """ASCII lines have no frame counter: 3 lines dropped on the link, and
    record, info, decode and replay all said "0 lost". Now each says, in the
    same words, that losses are not counted, and the JSON says
    lost_frames_counted false beside lost_frames; a SIO-1 recording keeps its
    count and its words."""
    from sensorio.cli._describe import LOST_NOT_COUNTED

    rec = tmp_path / "a.sior"
    port = "sim://arduino?fast=1&duration=1&link=drop:at=0.5,count=3"
    res = _run("record", port, "--format", "ascii", "-o", str(rec), "--quiet")
    assert res.returncode == 0, res.stderr
    assert LOST_NOT_COUNTED in res.stdout and "0 frames lost" not in res.stdout, res.stdout
    for cmd in (["info"], ["decode"], ["replay", "--speed", "max"]):
        out = _run(*cmd, str(rec)).stdout
        assert LOST_NOT_COUNTED in out and "0 lost" not in out and "0 frames lost" not in out, (cmd, out)
    info = json.loads(_run("info", str(rec), "--json").stdout)
    assert info["stats"]["lost_frames_counted"] is False
    for cmd in (["decode"], ["replay", "--speed", "max"]):
        assert json.loads(_run(*cmd, str(rec), "--json").stdout)["lost_frames_counted"] is False, cmd

    sio = tmp_path / "s.sior"
    res = _run("record", "sim://emg8?fast=1&duration=1&link=drop:at=0.5,count=3", "-o", str(sio), "--quiet")
    assert "3 frames lost" in res.stdout, res.stdout
    assert "frames ok, 3 lost," in _run("info", str(sio)).stdout
    assert ", 3 lost," in _run("decode", str(sio)).stdout
    assert json.loads(_run("info", str(sio), "--json").stdout)["stats"]["lost_frames_counted"] is True
    assert json.loads(_run("decode", str(sio), "--json").stdout)["lost_frames_counted"] is True


def test_info_times_the_streams_of_a_device_that_sends_no_info(tmp_path: Path) -> None:
    """info read rates from the device's INFO only: a Cyton's streams had no
    duration (analyze, export and every other command take the format's
    description, 250 and 25 Hz). It now takes the same, and names the
    device as its format describes it."""
    rec = tmp_path / "c.sior"
    res = _run("record", "sim://cyton?seed=3&fast=1&duration=3", "--format", "cyton", "-o", str(rec), "--quiet")
    assert res.returncode == 0, res.stderr
    out = _run("info", str(rec)).stdout
    assert "stream 0:   8 channels, 750 samples in 3.00 s at 250 Hz, 750 frames" in out, out
    assert "stream 1:   3 channels, 75 samples in 3.00 s at 25 Hz, 75 frames" in out, out
    assert "device:     OpenBCI Cyton (as its format describes it: it sends no INFO)" in out, out
    assert "None" not in out
