"""Data integrity on the capture and recording side: a background failure
stops `record` at once, a hang-up keeps the file whole, a source that ends
ends the recording, a different device on the same path is never merged into
a file, and a recording given as a port is pointed to replay."""

from __future__ import annotations

import array
import fcntl
import json
import os
import resource
import signal
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from capture_support import PtyDevice, make_frames, stop_in_the_handshake  # noqa: E402

from sensorio.recording import DataChunk, Event, RecordingReader, decode_recording  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")

ROOT = Path(__file__).resolve().parents[1]


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


def _record(port: str, out: Path, *extra: str, **kw) -> subprocess.Popen:
    return _cli("record", port, "-o", str(out), "--no-info", "--no-start", "--quiet", *extra, **kw)


def _one_line_error(proc: subprocess.Popen, timeout: float = 60) -> str:
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode in (1, 2), err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _recorded(path: Path) -> bytes:
    return b"".join(i.raw for i in RecordingReader(path).items() if isinstance(i, DataChunk))


def _complete(path: Path) -> bool:
    """The file was closed cleanly (it ends with its END record)."""
    with RecordingReader(path) as reader:
        for _ in reader.items():
            pass
        return reader.report.complete


def _wait_for(cond, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class _Streamer(threading.Thread):
    """Plays a device that streams without pause until told to stop (or a
    generous budget is used up), like a real rig: never a quiet moment."""

    def __init__(self, dev: PtyDevice, budget_s: float = 40.0) -> None:
        super().__init__(daemon=True)
        self.dev = dev
        self.budget_s = budget_s
        self.stop = threading.Event()
        self.sent = bytearray()
        self.gave_up = False  # streamed for the whole budget without being stopped

    def run(self) -> None:
        os.set_blocking(self.dev.master, False)
        k = 0
        pending = b""
        end = time.monotonic() + self.budget_s
        while not self.stop.is_set():
            if time.monotonic() > end:
                self.gave_up = True
                return
            if not pending:
                pending = make_frames(k * 10, 10)[0]
                k += 1
            try:
                n = os.write(self.dev.master, pending)
            except BlockingIOError:
                n = 0
            except OSError:
                return
            self.sent += pending[:n]
            pending = pending[n:]
            time.sleep(0.002)


# -- 2: a background failure must not hide behind a device that streams on ---------


def test_full_disk_with_a_device_that_never_pauses(tmp_path: Path) -> None:
    dev = PtyDevice()
    out = tmp_path / "full.sior"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    proc = _record(dev.path, out, "--flush-interval", "0.05", preexec_fn=limit)
    streamer = _Streamer(dev)
    try:
        assert _wait_for(out.exists)
        streamer.start()
        try:
            line = _one_line_error(proc, timeout=90)
        finally:
            stopped_while_streaming = not streamer.gave_up
            streamer.stop.set()
            streamer.join()
    finally:
        if proc.poll() is None:
            proc.kill()
        dev.close()
    # it stopped on its own while the device still streamed
    assert stopped_while_streaming, "record went on while the disk was full"
    assert "file size limit" in line and "kept" in line
    kept = _recorded(out)
    assert len(kept) > 30_000 and bytes(streamer.sent).startswith(kept)
    parser = decode_recording(out)[0]
    assert parser.stats.lost_frames == 0 and parser.stats.frames_ok > 0
    # the count in the message is what the file holds, not what was parsed live
    assert f"{len(kept)} bytes kept, {parser.stats.frames_ok} frames" in line, line


def _stream_with_recorder(tmp_path: Path):
    import sensorio.capture as capture

    dev = PtyDevice()
    out = tmp_path / "s.sior"
    st = capture.open(dev.path, request_info=False, record=out, flush_interval=0.05)
    return dev, st


def _break_the_recorder(st) -> None:
    from sensorio.errors import SensorioError

    st.recorder.error = SensorioError("recording stopped: the disk is full (simulated)")


@pytest.mark.parametrize("path", ["read", "iterator", "async", "callbacks"])
def test_background_error_comes_before_pending_blocks(tmp_path: Path, path: str) -> None:
    """With blocks always pending, every consumer path still raises the
    recorder's failure at its next call, not after the data it hid."""
    from sensorio.errors import SensorioError

    dev, st = _stream_with_recorder(tmp_path)
    streamer = _Streamer(dev)
    streamer.start()
    try:
        assert _wait_for(lambda: st.stats.frames_ok > 0 or st._reader.arrivals)
        if path == "read":
            st.read(1.0)
            _break_the_recorder(st)
            assert _wait_for(lambda: bool(st._reader.arrivals), 10)
            with pytest.raises(SensorioError, match="disk is full"):
                st.read(1.0)
        elif path == "iterator":
            it = iter(st)
            next(it)
            _break_the_recorder(st)
            assert _wait_for(lambda: bool(st._reader.arrivals), 10)
            assert _wait_for(lambda: bool(st._reader.arrivals), 10)
            with pytest.raises(SensorioError, match="disk is full"):
                next(it)  # the very next item, though blocks wait to be read
        elif path == "async":
            import asyncio

            async def consume() -> None:
                ait = st.__aiter__()
                await ait.__anext__()
                _break_the_recorder(st)
                assert _wait_for(lambda: bool(st._reader.arrivals), 10)
                await ait.__anext__()  # the very next item, though blocks wait to be read

            with pytest.raises(SensorioError, match="disk is full"):
                asyncio.run(asyncio.wait_for(consume(), 60))
        else:
            got: list = []
            errors: list = []
            st.add_event_callback(lambda ev: errors.append(ev) if ev.kind == "error" else None)
            st.add_callback(got.append)
            assert _wait_for(lambda: bool(got))
            _break_the_recorder(st)
            # the dispatcher stops and says so through the events, and wait() raises
            assert _wait_for(lambda: bool(errors), 30), "no error event"
            assert "disk is full" in errors[0].detail["text"]
            with pytest.raises(SensorioError, match="disk is full"):
                st.wait(1.0)
        assert not streamer.gave_up
    finally:
        streamer.stop.set()
        streamer.join()
        st.recorder.error = None  # let close() finish the file
        st.close()
        dev.close()


# -- 7: SIGHUP ---------------------------------------------------------------------


def _unread(tty_path: str) -> int:
    """Bytes waiting in the pseudo-terminal that the recorder has not read."""
    fd = os.open(tty_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        buf = array.array("i", [0])
        fcntl.ioctl(fd, termios.FIONREAD, buf, True)
        return buf[0]
    finally:
        os.close(fd)


def test_sighup_keeps_the_end_record_and_all_data(tmp_path: Path) -> None:
    dev = PtyDevice()
    out = tmp_path / "hup.sior"
    # a long flush interval: the data is still in memory when the hang-up comes
    proc = _record(dev.path, out, "--flush-interval", "30")
    sent = b""
    try:
        assert _wait_for(out.exists)
        for k in range(10):
            data = make_frames(k * 20, 20)[0]
            dev.write(data)
            sent += data
        assert _wait_for(lambda: _unread(dev.tty) == 0)
        time.sleep(0.2)  # the reader hands each read to the recorder as it reads it
        proc.send_signal(signal.SIGHUP)
        stdout, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        dev.close()
    assert proc.returncode == 0, err
    assert "SIGHUP" in stdout
    assert _recorded(out) == sent
    assert _complete(out)


@pytest.mark.parametrize(
    ("command", "sig"),
    [("view", signal.SIGTERM), ("view", signal.SIGHUP), ("stream", signal.SIGTERM)],
    ids=["view-SIGTERM", "view-SIGHUP", "stream-SIGTERM"],
)
def test_view_and_stream_close_their_recording_on_sigterm_and_sighup(
    tmp_path: Path, command: str, sig: signal.Signals
) -> None:
    """`view -o` and `stream -o` stop on SIGTERM and SIGHUP as on Ctrl-C, as
    `record` does: the recording gets its END record (it was left unclosed,
    its last flush interval lost)."""
    extra = ["--lsl", "--quiet"] if command == "stream" else ["--interval", "0.2"]
    if command == "stream":
        from support import require_or_skip

        try:
            import pylsl  # noqa: F401
        except (ImportError, RuntimeError):
            require_or_skip(False, "pylsl/liblsl is not installed (pip install 'sensorio[lsl]')")
    out = tmp_path / f"{command}.sior"
    proc = _cli(command, "sim://emg8?seed=3", "-o", str(out), *extra)
    try:
        assert _wait_for(lambda: out.exists() and out.stat().st_size > 20_000, 60)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert _complete(out)


def _handshake_stop_line(proc: subprocess.Popen, dev: PtyDevice) -> str:
    """Stop proc (a live command on dev) while the device has not answered:
    exit 0 and its one line, "stopped by the user during the handshake with
    PORT: ..." (returned)."""
    try:
        err = stop_in_the_handshake(proc, dev)
    finally:
        dev.close()
    assert proc.returncode == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"stopped by the user during the handshake with {dev.path}: "), err
    return lines[0]


@pytest.mark.parametrize("command", ["record", "view", "stream"])
def test_a_stop_during_the_handshake_says_what_was_kept(tmp_path: Path, command: str) -> None:
    """Ctrl-C while the device has not answered INFO yet: exit 130 with only
    "interrupted", though the file was kept and closed cleanly (record's first;
    view and stream, which open the device through the live commands' shared
    path, said it still); now exit 0 and what was kept, as a later stop."""
    extra = {"record": ["--quiet"], "view": [], "stream": ["--lsl", "--quiet"]}[command]
    if command == "stream":
        from support import require_or_skip

        try:
            import pylsl  # noqa: F401
        except (ImportError, RuntimeError):
            require_or_skip(False, "pylsl/liblsl is not installed (pip install 'sensorio[lsl]')")
    dev = PtyDevice()
    out = tmp_path / "hs.sior"
    line = _handshake_stop_line(_cli(command, dev.path, "-o", str(out), *extra), dev)
    assert ("kept" in line) == out.exists()
    if out.exists():
        assert _complete(out)


@pytest.mark.parametrize("command", ["record", "view", "train"])
def test_a_stop_during_the_handshake_never_calls_an_older_file_kept(tmp_path: Path, command: str) -> None:
    """With --force over an older file of the output's name, a stop before
    the device sent anything left that file as it was, and the line said
    "FILE kept (N bytes)" of it: the older file's size, as if this run had
    recorded it. Now only what this run wrote is said to be kept."""
    dev = PtyDevice()
    out = tmp_path / "hs.sior"
    old = b"an older file of this name" * 100
    out.write_bytes(old)
    argv = {
        "record": ["record", dev.path, "-o", str(out), "--quiet"],
        "view": ["view", dev.path, "-o", str(out)],
        "train": ["train", dev.path, "-o", str(out.with_suffix(".npz")), "--quiet"],
    }[command]
    line = _handshake_stop_line(_cli(*argv, "--force"), dev)
    if out.read_bytes() == old:  # nothing came before the stop (the usual case: the device never answers)
        assert line.endswith(f": nothing recorded ({out} left as it was)"), line
    else:  # what came was recorded over it: that is this run's
        assert line.endswith(f": {out} kept ({out.stat().st_size} bytes)") and _complete(out), line


# -- 12: a source that ends ends the recording ---------------------------------------


def _sim_recording(tmp_path: Path) -> Path:
    src = tmp_path / "src.sior"
    proc = _cli("record", "sim://?duration=1&speed=0", "-o", str(src), "--quiet")
    stdout, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return src


def test_a_replay_with_only_an_info_gives_its_descriptor_every_time(tmp_path: Path) -> None:
    """A recording with the device's INFO and no data frame, replayed at full
    speed, can end before the capture asks for INFO: the bytes it had sent
    were left unparsed, and whether the descriptor was known when the open
    returned depended on which thread won (stream said "sent no device
    descriptor (INFO)" or "answers ... but sends no data frames" from one run
    to the next). Now what arrived is parsed before the open returns."""
    from support import narrow_and_wide_device

    import sensorio
    from sensorio import sio1
    from sensorio.recording import RecordingWriter

    desc, _, _ = narrow_and_wide_device("I1")
    rec = tmp_path / "info-only.sior"
    with RecordingWriter(rec, {"format": "sio", "device_info": desc, "port": "test"}, fsync=False) as w:
        w.add(b"\x00" + sio1.encode_info(desc), 0)
    for _ in range(12):  # the race went either way: every run must see the INFO
        with sensorio.open(f"replay://{rec}?speed=0") as cap:
            assert cap.info is not None and cap.info.get("serial") == desc.get("serial")


@pytest.mark.parametrize("speed", ["", "?speed=0"])
def test_a_replay_with_no_data_frames_is_one_error_in_every_live_command(tmp_path: Path, speed: str) -> None:
    """A recording with the device's INFO and no data frame, replayed: view
    ended with "stopped", exit 0, while record and stream called it an error,
    with advice for a device ("It may need a START command (--start START)")
    that no replay can take. Now the three say the same one line, of the
    recording."""
    from support import narrow_and_wide_device

    from sensorio import sio1
    from sensorio.recording import RecordingWriter

    desc, _, _ = narrow_and_wide_device("I1")
    rec = tmp_path / "info-only.sior"
    with RecordingWriter(rec, {"format": "sio", "device_info": desc, "port": "test"}, fsync=False) as w:
        w.add(b"\x00" + sio1.encode_info(desc), 0)
    port = f"replay://{rec}{speed}"
    commands = [["record", port, "-o", str(tmp_path / "o.sior"), "--quiet"], ["view", port]]
    try:
        import pylsl  # noqa: F401

        commands.append(["stream", port, "--lsl", "--quiet"])
    except (ImportError, RuntimeError):  # (the other two still agree)
        pass
    why = (
        f"{port}: the recording holds the device's answers (1 sio messages) but no data frames: "
        "it ends before the device streamed"
    )
    for argv in commands:
        line = _one_line_error(_cli(*argv))  # (stream --quiet: no "LSL: ..." outlet line before it)
        assert line.startswith(f"sensorio {argv[0]}: error: {why}"), line
        assert "START" not in line, line


def test_a_replay_of_bytes_in_another_format_gets_advice_for_a_file(tmp_path: Path) -> None:
    """A replayed recording whose bytes are not frames of the format given got
    a device's advice: "the baud rate is probably wrong (now 115200; try
    230400, ...)", which no replay can act on. Now it says the format given
    does not match the recorded bytes, and how to see what they are."""
    import random

    from sensorio.capture.diagnose import diagnose
    from sensorio.parser import Parser
    from sensorio.recording import RecordingWriter

    noise = random.Random(3).randbytes(3000)
    rec = tmp_path / "noise.sior"
    with RecordingWriter(rec, {"format": "sio", "port": "test"}, fsync=False) as w:
        w.add(noise, 0)
    port = f"replay://{rec}"
    line = _one_line_error(_cli("record", port, "-o", str(tmp_path / "o.sior"), "--no-info", "--quiet"))
    assert line.startswith(f"sensorio record: error: {port}: 3000 bytes in the recording but no sio frames ("), line
    assert (
        "the format given does not match the recorded bytes; "
        f"see what it holds with `sensorio info {rec}`, or give the right --format"
    ) in line, line
    assert "baud" not in line, line
    # the same for each kind of bytes a device's advice put down to the baud rate
    for sample in (noise, noise.replace(b"\x00", b"\x01")):
        parser = Parser("sio")
        parser.feed(sample)
        for replay in (True, str(rec)):
            advice = str(diagnose(sample, parser.stats, "sio", 115200, replay=replay))
            assert "does not match the recorded bytes" in advice and "baud" not in advice, advice
        assert "baud" in str(diagnose(sample, parser.stats, "sio", 115200))  # (a device's stays)


def test_record_from_a_fast_replay_exits_0_and_says_the_source_ended(tmp_path: Path) -> None:
    src = _sim_recording(tmp_path)
    want = decode_recording(src)[0].stats.frames_ok
    assert want > 100
    out = tmp_path / "copy.sior"
    proc = _cli("record", f"replay://{src}?speed=0", "-o", str(out), "--quiet")
    stdout, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err == ""
    assert "source ended" in stdout and f"{want} frames" in stdout
    assert decode_recording(out)[0].stats.frames_ok == want
    assert _complete(out)


@pytest.mark.parametrize("overwrite", [False, True])
def test_the_library_never_records_over_the_recording_it_replays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overwrite: bool
) -> None:
    import sensorio
    from sensorio.errors import SensorioError

    src = _sim_recording(tmp_path)
    before = src.read_bytes()
    (tmp_path / "link.sior").symlink_to(src)
    os.link(src, tmp_path / "hard.sior")
    monkeypatch.chdir(tmp_path)
    for name in (str(src), "src.sior", "./src.sior", "link.sior", "hard.sior"):
        with pytest.raises(SensorioError, match=r"is the port.s recording .*give the recording another name"):
            sensorio.open(f"replay://{src}?speed=max", record=name, overwrite=overwrite)
        assert src.read_bytes() == before, name


def test_the_library_never_records_over_a_sim_ports_truth_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sensorio
    from sensorio.errors import SensorioError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SensorioError, match="truth= file"):
        sensorio.open(f"sim://?speed=0&duration=1&truth={tmp_path / 't.jsonl'}", record="./t.jsonl", overwrite=True)
    assert not (tmp_path / "t.jsonl").exists()  # refused before the port wrote anything


def _marks(path: Path) -> list[tuple[int, str, object]]:
    """A recording's markers and gaps, each with the port bytes before it."""
    out: list[tuple[int, str, object]] = []
    n = 0
    with RecordingReader(path) as reader:
        for item in reader:
            if isinstance(item, DataChunk):
                n += len(item.raw)
            elif isinstance(item, Event) and item.kind == "marker":
                out.append((n, "marker", item.detail.get("text")))
            elif isinstance(item, Event) and item.kind in ("disconnect", "gap"):
                out.append((n, "gap", item.detail.get("lost_bytes")))
    return out


def test_a_copy_made_through_replay_keeps_the_markers_at_their_place(tmp_path: Path) -> None:
    import sensorio
    from sensorio.recording import RecordingWriter

    raw, _ = make_frames(0, 300)
    src, copy = tmp_path / "src.sior", tmp_path / "copy.sior"
    w = RecordingWriter(src, {"format": "sio"}, fsync=False)
    w.event("marker", text="before anything", gesture=None, row=0)
    w.add(raw[:1000], 1_000_000_000)
    w.event("marker", text="gesture open", gesture="open", stream=0, row=12)
    w.add(raw[1000:3000], 1_001_000_000)
    w.marker("one")
    w.marker("two")  # two at one place
    w.event("disconnect", lost_bytes=77)
    w.marker("after the gap")
    w.add(raw[3000:], 1_002_000_000)
    w.marker("at the end")
    w.close()
    st = sensorio.open(f"replay://{src}?speed=max", record=copy, request_info=False)
    with st:
        blocks = list(st)
    assert blocks
    want = _marks(src)
    assert [m[1] for m in want].count("marker") == 6
    assert _marks(copy) == want
    seen = [e.detail["text"] for e in st.events if e.kind == "marker"]
    assert seen == [m[2] for m in want if m[1] == "marker"]
    # every field of a marker comes along (train's gesture, stream and row)
    with RecordingReader(copy) as reader:
        details = [i.detail for i in reader if isinstance(i, Event) and i.kind == "marker"]
    assert details[1]["gesture"] == "open" and details[1]["row"] == 12 and details[1]["stream"] == 0


def test_record_stops_when_a_sim_device_with_a_duration_stops(tmp_path: Path) -> None:
    out = tmp_path / "sim.sior"
    # --duration far beyond the device's own: the device's end must end the recording
    proc = _cli("record", "sim://?duration=1", "-o", str(out), "--quiet", "--duration", "600")
    stdout, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "source ended" in stdout
    assert decode_recording(out)[0].stats.frames_ok > 0


# -- a recording given as a port ---------------------------------------------------------


@pytest.mark.parametrize("command", ["record", "stream", "view"])
def test_a_recording_given_as_a_port_points_to_replay(tmp_path: Path, command: str) -> None:
    if command == "stream":
        pytest.importorskip("pylsl")
    src = _sim_recording(tmp_path)
    args = {
        "record": ["record", str(src), "-o", str(tmp_path / "x.sior")],
        "stream": ["stream", str(src), "--lsl"],
        "view": ["view", str(src)],
    }[command]
    line = _one_line_error(_cli(*args))
    assert "is a sensorio recording, not a port" in line
    assert f"replay://{src}" in line and "Inappropriate ioctl" not in line


# -- 4: another device at the same path ----------------------------------------------


def _emulated(link: Path, serial: str, channels: int, seed: int):
    from sensorio.emulator import Emulator, Truth, config_from_options
    from sensorio.emulator.pty import PtyServer

    opts = {"format": "sio", "seed": seed, "channels": channels, "serial": serial}
    cfg = config_from_options({k: [str(v)] for k, v in opts.items()})
    return PtyServer(Emulator(cfg, Truth(None)), link=link).start()


def _record_across_a_replug(tmp_path: Path, second: tuple[str, int]) -> tuple[subprocess.Popen, Path]:
    """Record from one emulated device at a stable path, unplug it, and let
    another (serial, channels) take the same path. Returns the finished
    process (stopped with Ctrl-C if it did not stop by itself)."""
    link = tmp_path / "dev.tty"
    out = tmp_path / "two.sior"
    first = _emulated(link, "UNIT-A", 8, 1)
    proc = _cli("record", str(link), "-o", str(out), "--quiet")
    try:
        assert _wait_for(lambda: out.exists() and out.stat().st_size > 40_000, 60)
        first.stop()
        other = _emulated(link, second[0], second[1], 2)
        try:
            # give the recorder time to reconnect and record the second device (or stop)
            grown = out.stat().st_size
            _wait_for(lambda: proc.poll() is not None or out.stat().st_size > grown + 40_000, 30)
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        finally:
            other.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
        first.stop()
    return proc, out


def test_another_device_at_the_same_path_is_never_merged(tmp_path: Path) -> None:
    proc, out = _record_across_a_replug(tmp_path, ("UNIT-B", 4))
    line = _one_line_error(proc)
    assert "a different device appeared" in line and "UNIT-B" in line and "UNIT-A" in line
    assert "kept" in line
    # the file holds the first device only, and every reader takes it
    parser, blocks, _, _ = decode_recording(out)
    assert blocks and {b.n_channels for b in blocks} == {8}
    assert parser.stats.frames_ok > 100 and parser.stats.lost_frames == 0
    assert _complete(out)
    events = [i for i in RecordingReader(out).items() if getattr(i, "kind", None) == "foreign_device"]
    assert len(events) == 1 and events[0].detail["info"]["serial"] == "UNIT-B"
    info = _cli("info", str(out), "--json")
    stdout, err = info.communicate(timeout=60)
    assert info.returncode == 0, err
    described = json.loads(stdout)
    assert [d["serial"] for d in described["devices"]] == ["UNIT-A"]
    assert described["streams"]["0"]["changes"] == []


def test_the_same_device_back_at_the_same_path_goes_on_in_the_file(tmp_path: Path) -> None:
    proc, out = _record_across_a_replug(tmp_path, ("UNIT-A", 8))
    stdout, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    parser, blocks, _, _ = decode_recording(out)
    connects = [i for i in RecordingReader(out).items() if getattr(i, "kind", None) == "connect"]
    assert len(connects) == 2 and parser.stats.restarts == 1  # data from both sessions
    assert {b.n_channels for b in blocks} == {8}


def test_a_device_without_info_is_told_by_its_data(tmp_path: Path) -> None:
    """No INFO to go by (--no-info, other formats): a change of channel count
    at a reconnect stops the capture instead of merging."""
    import sensorio.capture as capture
    from sensorio.errors import SensorioError

    link = tmp_path / "dev.tty"
    dev = PtyDevice(link)
    st = capture.open(str(link), request_info=False, record=tmp_path / "n.sior", flush_interval=0.05)
    try:
        dev.write(make_frames(0, 50, n_ch=8)[0])
        assert _wait_for(lambda: sum(len(b) for b in st.read(0.2)) > 0 or st.stats.frames_ok >= 50)
        dev.unplug()
        assert _wait_for(lambda: not st.connected)
        dev.replug()
        assert _wait_for(lambda: st.connected)
        with pytest.raises(SensorioError, match="a different device appeared.*8 to 4 channels"):
            for _ in range(200):
                dev.write(make_frames(0, 5, n_ch=4)[0])
                st.read(0.05)
    finally:
        st.close()
        dev.close()


def _mixed_recording(tmp_path: Path) -> Path:
    """A recording as the recorder wrote it before the fix: device A's INFO
    in the header and 8-channel frames, then a reconnect and 4-channel
    frames of device B in the same stream."""
    from sensorio.recording import RecordingWriter

    def info(serial: str, ch: int) -> dict:
        return {
            "device": "rig",
            "serial": serial,
            "streams": [{"id": 0, "name": "emg", "channels": ch, "rate_hz": 4000.0, "enc": 2, "unit": "uV",
                         "scale": 0.1, "zero": 0, "min_code": -8388608, "max_code": 8388607}],
        }  # fmt: skip

    path = tmp_path / "mixed.sior"
    header = {"format": "sio", "port": "/dev/ttyX", "device_info": info("UNIT-A", 8)}
    with RecordingWriter(path, header) as w:
        w.add(make_frames(0, 200, n_ch=8)[0])
        w.event("disconnect", reason="hang-up")
        w.event("connect", port="/dev/ttyX")
        w.event("info", info=info("UNIT-B", 4))
        w.add(make_frames(0, 200, n_ch=4)[0])
    return path


@pytest.mark.parametrize("command", ["analyze", "plot", "export.csv", "export.npz", "decode"])
def test_readers_name_where_a_mixed_file_changes_shape(tmp_path: Path, command: str) -> None:
    path = _mixed_recording(tmp_path)
    name, _, suffix = command.partition(".")
    args = [name, str(path)]
    if name in ("plot", "export", "decode"):
        args += ["-o", str(tmp_path / f"out.{suffix or ('png' if name == 'plot' else 'npz')}")]
    line = _one_line_error(_cli(*args))
    assert "stream 0 changes from 8 to 4 channels at sample 1600" in line, line


def test_info_shows_both_devices_of_a_mixed_file(tmp_path: Path) -> None:
    path = _mixed_recording(tmp_path)
    proc = _cli("info", str(path))
    stdout, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "serial UNIT-A" in stdout and "then:" in stdout and "serial UNIT-B" in stdout
    assert "8 channels, 3200 samples, 400 frames, then 4 channels from sample 1600" in stdout
    assert "holds data of 2 devices" in stdout
