"""Live capture over real pseudo-terminals: the test plays the device."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from capture_support import PtyDevice, make_frames  # noqa: E402

from sensorio import Parser, concat_blocks  # noqa: E402
from sensorio.blocks import EV_GAP, EV_RESYNC  # noqa: E402
from sensorio.capture import open as capture_open  # noqa: E402
from sensorio.errors import SensorioError  # noqa: E402
from sensorio.parser import BYTE_REASONS  # noqa: E402
from sensorio.recording import Event, RecordingReader, decode_recording  # noqa: E402
from sensorio.sio1 import encode_info, encode_reply  # noqa: E402


def _collect(stream, rows: int, timeout: float = 5.0) -> list:
    blocks: list = []
    deadline = time.monotonic() + timeout
    while sum(len(b) for b in blocks) < rows and time.monotonic() < deadline:
        blocks += stream.read(0.1)
    return blocks


def _collect_bytes(stream, nbytes: int, timeout: float = 5.0) -> list:
    """Blocks until the parser has seen nbytes (and nothing is pending)."""
    blocks: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        blocks += stream.read(0.05)
        st = stream.stats
        if st.bytes_in >= nbytes and not st.bytes_pending:
            break
    return blocks + stream.read(0)


@pytest.fixture
def device():
    dev = PtyDevice()
    yield dev
    dev.close()


def test_exact_accounting(device: PtyDevice) -> None:
    skip = frozenset({7, 8, 9, 300, 301, 777})  # "lost on the link"
    data, expected = make_frames(0, 1000, skip=skip)
    garbage = b"\x05\x11\x22noise\x00"
    cut = data.index(b"\x00", 5000) + 1  # between two frames
    damaged = data.index(b"\x00", 20000) + 5  # inside a frame: it is destroyed
    wire = b"\x00" + data[:cut] + garbage + data[cut:damaged] + b"\xff\x00" + data[damaged:]
    with capture_open(device.path, request_info=False) as s:
        for i in range(0, len(wire), 1000):
            device.write(wire[i : i + 1000])
        blocks = _collect(s, len(expected) - 8)
        stats = s.stats
    got = concat_blocks(blocks)[0]
    # received + reported lost == sent, every byte has a reason
    assert stats.frames_ok == 1000 - len(skip) - 1
    assert stats.frames_ok + stats.lost_frames == 1000
    # the garbage, and the two halves of the frame split by the injected 0x00
    assert stats.cobs_errors + stats.crc_errors + stats.malformed == 3
    assert stats.bytes_in == len(wire)
    assert sum(getattr(stats, r) for r in BYTE_REASONS) == len(wire)
    assert got["samples"].shape[0] == expected.shape[0] - 8
    reference = Parser("sio")
    reference.feed(wire)
    assert stats == reference.stats
    assert np.array_equal(got["samples"], concat_blocks(reference.read())[0]["samples"])


def test_clean_stream_is_received_whole(device: PtyDevice) -> None:
    data, expected = make_frames(0, 2000, n_ch=16, n_samp=4, skip=frozenset({100, 1500}))
    with capture_open(device.path, request_info=False) as s:
        for i in range(0, len(data), 4096):
            device.write(data[i : i + 4096])
        blocks = _collect(s, len(expected))
        stats = s.stats
    got = concat_blocks(blocks)[0]
    assert np.array_equal(got["samples"], expected)
    assert stats.frames_ok == 1998 and stats.lost_frames == 2
    gaps = got["events"][got["events"]["kind"] == EV_GAP]
    assert gaps["lost_frames"].tolist() == [1, 1]


def _blocks_equal(a: list, b: list) -> None:
    ca, cb = concat_blocks(a), concat_blocks(b)
    assert ca.keys() == cb.keys()
    for sid in ca:
        for name in ca[sid]:
            assert np.array_equal(ca[sid][name], cb[sid][name]), name


def test_replay_is_bit_identical(device: PtyDevice, tmp_path: Path) -> None:
    rec = tmp_path / "r.sior"
    data, expected = make_frames(0, 600, skip=frozenset({50}))
    with capture_open(device.path, request_info=False, record=rec, flush_interval=0.05) as s:
        for i in range(0, len(data), 3000):
            device.write(data[i : i + 3000] + (b"\x01\x99\x00" if i == 6000 else b""))
            time.sleep(0.003)
        live = _collect_bytes(s, len(data) + 3)
        live_stats = s.stats
    with capture_open(f"replay://{rec}?speed=max", request_info=False, reconnect=False) as r:
        replayed = list(r)
        replay_stats = r.stats
    assert replay_stats == live_stats
    _blocks_equal(live, replayed)
    parser, decoded, _, _ = decode_recording(rec)
    assert parser.stats == live_stats
    _blocks_equal(live, decoded)


def test_replay_real_speed_keeps_timing(device: PtyDevice, tmp_path: Path) -> None:
    rec = tmp_path / "t.sior"
    with capture_open(device.path, request_info=False, record=rec, flush_interval=0.05) as s:
        for k in range(5):
            device.write(make_frames(k * 10, 10)[0])
            time.sleep(0.1)
        _collect(s, 400)
    t0 = time.monotonic()
    with capture_open(f"replay://{rec}?speed=2", request_info=False, reconnect=False) as r:
        rows = sum(len(b) for b in r)
    elapsed = time.monotonic() - t0
    assert rows == 400
    # ~0.4 s recorded, at twice the speed: paced, so never much faster (a
    # loaded machine can only make it slower, which is no failure of pacing)
    assert elapsed > 0.15


def test_unplug_replug_resumes_and_marks_the_gap(tmp_path: Path) -> None:
    dev = PtyDevice(link=tmp_path / "ttyFAKE")
    rec = tmp_path / "u.sior"
    events = []
    first, _ = make_frames(0, 100)
    second, _ = make_frames(150, 100)
    with capture_open(dev.path, request_info=False, record=rec, flush_interval=0.05, on_event=events.append) as s:
        dev.write(first[: len(first) - 20])  # the cable goes mid-frame
        blocks = _collect(s, 99 * 8)
        dev.unplug()
        deadline = time.monotonic() + 2
        while s.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not s.connected
        cpu0 = os.times()
        time.sleep(0.8)
        cpu1 = os.times()
        away_cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        dev.replug()
        back = time.monotonic()
        resumed = False
        while time.monotonic() - back < 30:  # a bound against hanging, not a speed target
            if s.connected:
                dev.write(second)
                got = _collect(s, 800, timeout=2)
                resumed = True
                blocks += got
                break
            time.sleep(0.005)
        stats = s.stats
    dev.close()
    assert away_cpu < 0.1, f"{away_cpu:.3f} s CPU while the device was away"
    assert resumed
    kinds = [e.kind for e in events]
    assert "disconnect" in kinds and "connect" in kinds
    got = concat_blocks(blocks)[0]
    assert got["samples"].shape[0] == 99 * 8 + 100 * 8
    ev = got["events"]
    assert EV_RESYNC in ev["kind"].tolist() or EV_GAP in ev["kind"].tolist()
    assert ev["row"][0] == 99 * 8  # marked where the stream resumed
    assert stats.lost_frames == 51  # seq 99 was cut by the unplug, 100..149 never sent
    # the recording holds the same gap at the same place
    reader = RecordingReader(rec)
    kinds_in_file = [i.kind for i in reader.items() if isinstance(i, Event)]
    assert kinds_in_file.count("disconnect") == 1 and kinds_in_file.count("connect") == 2
    parser, decoded, _, _ = decode_recording(rec)
    assert parser.stats == stats
    _blocks_equal(blocks, decoded)
    rec2 = tmp_path / "u2.sior"  # a replay recorded again keeps the gap too
    with capture_open(f"replay://{rec}?speed=max", request_info=False, reconnect=False, record=rec2) as r:
        replayed = list(r)
        assert r.stats == stats
    _blocks_equal(blocks, replayed)
    assert decode_recording(rec2)[0].stats == stats


def test_stall_and_resume_events(device: PtyDevice) -> None:
    events = []
    with capture_open(device.path, request_info=False, stall_timeout=0.2, on_event=events.append) as s:
        device.write(make_frames(0, 5)[0])
        _collect(s, 40)
        time.sleep(0.5)
        device.write(make_frames(5, 5)[0])
        _collect(s, 40)
    kinds = [e.kind for e in events]
    assert kinds.count("stall") == 1 and kinds.count("resume") == 1
    assert kinds.index("stall") < kinds.index("resume")


def test_callbacks_and_a_failing_callback_reaches_the_user(device: PtyDevice) -> None:
    got = []
    done = threading.Event()

    def on_block(b) -> None:
        got.append(len(b))
        if sum(got) >= 80:
            done.set()

    s = capture_open(device.path, request_info=False, on_block=on_block)
    device.write(make_frames(0, 10)[0])
    assert done.wait(3)
    s.close()
    assert sum(got) == 80

    def broken(b) -> None:
        raise ValueError("bug in user code")

    s = capture_open(device.path, request_info=False, on_block=broken)
    device.write(make_frames(10, 10)[0])
    time.sleep(0.3)
    with pytest.raises(SensorioError, match="bug in user code"):
        s.wait(0.5)
    s.close()


def _seqs(blocks: list) -> list[int]:
    return [int(s) for b in blocks for s in b.frame_seq]


def test_callbacks_run_in_the_reader_thread_without_a_dispatcher(device: PtyDevice) -> None:
    """No hand-off per packet: the reader thread parses and calls back itself."""
    threads: set[str] = set()
    got: list = []
    done = threading.Event()

    def on_block(b) -> None:
        threads.add(threading.current_thread().name)
        got.append(b)
        if len(_seqs(got)) >= 30:
            done.set()

    with capture_open(device.path, request_info=False, on_block=on_block) as s:
        for i in range(30):  # one frame per write: one block per read, as a slow device gives
            device.write(make_frames(i, 1)[0])
            time.sleep(0.002)
        assert done.wait(5)
        assert s._dispatcher is None
        with pytest.raises(SensorioError, match="delivers to callbacks"):
            s.read(0)
    assert threads == {"sensorio-reader"}
    assert _seqs(got) == list(range(30))


def test_a_callback_sees_its_block_in_the_clock_and_the_history(device: PtyDevice) -> None:
    """The reader thread calls back before it books a block in the clock and
    the history (less latency), but whatever reads them books it first."""
    seen: list[tuple[int, int, bool, int]] = []
    done = threading.Event()
    holder: list = []

    def on_block(b) -> None:
        s = holder[0]
        rows = s.latest(10.0)[0].shape[0]  # the history holds this block already
        fit = s.clock.fit(0)  # and the clock has observed it
        times = s.host_times(b)
        seen.append((rows, len(b), times is not None and len(times[0]) == len(b), fit.points if fit else 0))
        # the last frame's block (a loaded machine may read two frames at
        # once: counting 20 callbacks then waited for one that never came)
        if int(b.frame_seq[-1]) == 19:
            done.set()

    with capture_open(device.path, request_info=False, on_block=on_block, callback_thread=False) as s:
        holder.append(s)
        s.clock.set_rate(0, 4000.0)  # (make_frames' rate) blocks of one frame are placed at once
        for i in range(20):  # one frame per write: one block per read
            device.write(make_frames(i, 1)[0])
            time.sleep(0.005)
        assert done.wait(5)
    total = 0
    for k, (rows, n, timed, points) in enumerate(seen):
        total += n
        assert rows == total  # every row so far, this block's included
        assert timed
        if k < 15:  # (refitted at every block while it has fewer than 16 points)
            assert points == k + 1  # one observation per block, this one's included


def test_a_slow_callback_moves_the_callbacks_to_a_dispatcher_losing_nothing(device: PtyDevice) -> None:
    calls: list[tuple[str, list[int]]] = []
    done = threading.Event()

    def on_block(b) -> None:
        if not calls:
            time.sleep(0.1)  # the first call is slow: reading must not wait for the next ones
        calls.append((threading.current_thread().name, [int(s) for s in b.frame_seq]))
        if sum(len(c[1]) for c in calls) >= 40:
            done.set()

    with capture_open(device.path, request_info=False, on_block=on_block) as s:
        for i in range(40):
            device.write(make_frames(i, 1)[0])
            time.sleep(0.002)
        assert done.wait(5)
        assert s._dispatcher is not None
    names = [c[0] for c in calls]
    assert names[0] == "sensorio-reader" and names[-1] == "sensorio-dispatch"
    assert set(names[names.index("sensorio-dispatch") :]) == {"sensorio-dispatch"}  # no way back
    assert [seq for c in calls for seq in c[1]] == list(range(40))  # all, in order


@pytest.mark.parametrize("callback_thread", [None, True, False])
def test_callback_thread_option_and_a_failure_ends_wait(device: PtyDevice, callback_thread) -> None:
    threads: set[str] = set()
    events: list = []

    def broken(b) -> None:
        threads.add(threading.current_thread().name)
        raise ValueError("bug in user code")

    s = capture_open(
        device.path, request_info=False, on_block=broken, on_event=events.append, callback_thread=callback_thread
    )
    try:
        device.write(make_frames(0, 5)[0])
        with pytest.raises(SensorioError, match="bug in user code"):
            s.wait()  # no timeout: the failure ends the wait, the source has not ended
        assert [e.kind for e in events].count("error") == 1
        assert threads == {"sensorio-dispatch" if callback_thread else "sensorio-reader"}
    finally:
        s.close()


class _Responder(threading.Thread):
    """Answers SIO-1 commands on the device side of the pty."""

    def __init__(self, dev: PtyDevice, info: dict) -> None:
        super().__init__(daemon=True)
        self.dev, self.info, self.lines = dev, info, []
        self.stop = threading.Event()

    def run(self) -> None:
        import select

        buf = b""
        while not self.stop.is_set():
            r, _, _ = select.select([self.dev.master], [], [], 0.05)
            if not r:
                continue
            try:
                buf += os.read(self.dev.master, 1024)
            except OSError:  # EIO until the capture opens the slave side
                time.sleep(0.01)
                continue
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode().strip()
                self.lines.append(text)
                if text == "INFO":
                    self.dev.write(encode_info(self.info) + encode_reply("OK"))
                elif text == "START":
                    self.dev.write(encode_reply("OK") + make_frames(0, 20)[0])
                else:
                    self.dev.write(encode_reply("ERR unknown command"))


def test_info_is_requested_and_commands_get_replies(device: PtyDevice, tmp_path: Path) -> None:
    info = {
        "device": "test",
        "serial": "X1",
        "fw": "1",
        "streams": [
            {
                "id": 0,
                "name": "emg",
                "channels": 4,
                "rate_hz": 4000,
                "enc": 2,
                "unit": "uV",
                "scale": 0.1,
                "zero": 0,
                "min_code": -8388608,
                "max_code": 8388607,
            }
        ],
    }
    responder = _Responder(device, info)
    responder.start()
    try:
        with capture_open(device.path, start_command="START", info_timeout=2, record=tmp_path / "i.sior") as s:
            assert s.info == info
            assert _collect(s, 160)
            with pytest.raises(SensorioError, match="refused"):
                s.command("FROB")
            responder.stop.set()
            responder.join()
            with pytest.raises(SensorioError, match="no reply"):
                s.command("INFO", timeout=0.2)
    finally:
        responder.stop.set()
    assert responder.lines[:2] == ["INFO", "START"]
    reader = RecordingReader(tmp_path / "i.sior")
    assert reader.header["device_info"] == info  # the header carries the device INFO
    parser, blocks, messages, _ = decode_recording(tmp_path / "i.sior")
    assert parser.stats.frames_ok == 20 and [m.kind for m in messages][:2] == ["info", "reply"]


def test_a_callback_may_send_a_command_and_get_its_reply(device: PtyDevice) -> None:
    """Callbacks run in the reader thread: a command sent from one is answered
    all the same (the thread reads the reply itself while it waits)."""
    info = {"device": "test", "serial": "X2", "fw": "1", "streams": []}
    responder = _Responder(device, info)
    responder.start()
    replies: list[str] = []
    rows: list[int] = []
    done = threading.Event()

    def on_block(b) -> None:
        if not replies:
            try:
                s.command("FROB", timeout=5)
            except SensorioError as exc:
                replies.append(str(exc))
        rows.append(len(b))
        if sum(rows) >= 160:
            done.set()

    try:
        s = capture_open(device.path, request_info=False, start_command="START", info_timeout=5, on_block=on_block)
        try:
            assert done.wait(10)
        finally:
            s.close()
    finally:
        responder.stop.set()
    assert len(replies) == 1 and "refused" in replies[0]  # the device's answer, not a timeout
    assert sum(rows) == 160


def test_latest_and_host_times(device: PtyDevice) -> None:
    with capture_open(device.path, request_info=False, history_seconds=1.0) as s:
        t_start = time.time()
        for k in range(20):  # 8 samples per frame at 4 kHz = 2 ms per frame, 10 frames per write
            device.write(make_frames(k * 10, 10)[0])
            time.sleep(0.02)
        blocks = _collect(s, 1600)
        t_end = time.time()
        recent = s.latest(0.01)
        times = s.host_times(blocks[-1])
    assert recent[0].shape == (40, 4)
    assert times is not None
    t, uncertainty = times
    assert t.shape == (len(blocks[-1]),)
    assert np.all(np.diff(t) > 0)
    assert t_start - 0.5 < t[-1] < t_end + 0.5
    assert 0 < uncertainty < 0.5


def test_asyncio_iteration(tmp_path: Path, device: PtyDevice) -> None:
    rec = tmp_path / "a.sior"
    with capture_open(device.path, request_info=False, record=rec) as s:
        device.write(make_frames(0, 30)[0])
        _collect(s, 240)

    async def main() -> int:
        rows = 0
        with capture_open(f"replay://{rec}?speed=max", request_info=False, reconnect=False) as r:
            async for block in r:
                rows += len(block)
        return rows

    assert asyncio.run(main()) == 240


def test_ring_overflow_is_counted_live_and_the_recording_keeps_everything(device: PtyDevice, tmp_path: Path) -> None:
    rec = tmp_path / "o.sior"
    data, expected = make_frames(0, 400)
    # backpressure off: behave as with a real serial port, which cannot wait
    with capture_open(device.path, request_info=False, record=rec, ring_size=4096, backpressure=False) as s:
        device.write(data)  # nobody parses meanwhile: the 4 KB ring fills up
        deadline = time.monotonic() + 3
        while s.bytes_received < len(data) and time.monotonic() < deadline:
            time.sleep(0.01)
        blocks = _collect_bytes(s, len(data) - s.bytes_overflowed)
        more, _ = make_frames(400, 10)  # the next frames reveal the seq gap
        device.write(more)
        blocks += _collect_bytes(s, len(data) + len(more) - s.bytes_overflowed)
        stats = s.stats
    assert stats.ring_overflow_bytes > 0 and stats.ring_overflows == 1
    assert stats.bytes_in + stats.ring_overflow_bytes == len(data) + len(more)
    assert stats.frames_ok + stats.lost_frames == 410  # overflow losses are reported, not silent
    got = concat_blocks(blocks)[0]
    assert (got["events"]["kind"] == 3).any()  # EV_OVERFLOW where it happened
    parser, decoded, _, _ = decode_recording(rec)
    assert parser.stats.frames_ok == 410 and parser.stats.lost_frames == 0
    assert np.array_equal(concat_blocks(decoded)[0]["samples"][: len(expected)], expected)


def test_a_pty_waits_for_a_slow_consumer_and_loses_nothing(device: PtyDevice) -> None:
    data, expected = make_frames(0, 400)
    with capture_open(device.path, request_info=False, ring_size=4096) as s:
        writer = threading.Thread(target=device.write, args=(data,))
        writer.start()  # blocks while the ring is full: a pty has flow control
        time.sleep(0.3)  # nobody parses meanwhile
        blocks = _collect_bytes(s, len(data))
        writer.join(5)
        stats = s.stats
    assert stats.ring_overflow_bytes == 0 and stats.frames_ok == 400
    assert np.array_equal(concat_blocks(blocks)[0]["samples"], expected)


def _pty_recording(tmp_path: Path, device: PtyDevice) -> tuple[Path, np.ndarray]:
    """A recording of 300 frames made through the pty device, and their samples."""
    rec = tmp_path / "p.sior"
    data, expected = make_frames(0, 300)
    with capture_open(device.path, request_info=False, record=rec) as s:
        device.write(data)
        _collect(s, len(expected))
    return rec, expected


def _replay_to_pty(rec: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sensorio", "replay", str(rec), "--pty", *extra],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_replay(
    proc: subprocess.Popen, n: int, before: Callable[[str], object] = lambda path: None
) -> tuple[list, str]:
    """The blocks a reader of the replay's pty gets (until n samples) after
    before(the pty's path) has run, and the replay's stderr once it has
    ended (waited for whatever fails)."""
    try:
        path = proc.stdout.readline().strip()
        before(path)
        with capture_open(path, request_info=False, reconnect=False) as r:
            got = _collect(r, n)
    finally:
        _, err = proc.communicate(timeout=20)
    return got, err


def test_replay_out_through_a_pty(tmp_path: Path, device: PtyDevice) -> None:
    rec, expected = _pty_recording(tmp_path, device)
    proc = _replay_to_pty(rec, "--speed", "max", "--wait", "0.5")
    got, _ = _read_replay(proc, len(expected))
    assert np.array_equal(concat_blocks(got)[0]["samples"], expected)
    assert proc.returncode == 0


def test_replay_out_through_a_pty_says_the_markers_it_could_not_send(tmp_path: Path) -> None:
    """A pseudo-terminal carries bytes only: the recording's markers are
    left out, and the summary says how many (it said nothing of them)."""
    from sensorio.recording import RecordingWriter

    raw, expected = make_frames(0, 300)
    rec = tmp_path / "m.sior"
    with RecordingWriter(rec, {"format": "sio"}, fsync=False) as w:
        w.add(raw[:2000], 1_000_000_000)
        w.marker("one")
        w.marker("two")
        w.add(raw[2000:], 1_001_000_000)
    proc = _replay_to_pty(rec, "--speed", "max", "--wait", "0.5")
    got, err = _read_replay(proc, len(expected))
    assert np.array_equal(concat_blocks(got)[0]["samples"], expected)
    assert proc.returncode == 0, err
    assert "2 recorded markers not sent" in err


def test_replay_to_a_pty_waits_for_its_reader(tmp_path: Path, device: PtyDevice) -> None:
    """A reader that opens the pty later than --wait gets every byte: the
    replay sent from --wait after printing the path, into a pty whose
    reader flushes on open (the first 17 KB of a recording were lost, and
    with no reader at all the replay hung once the pty was full)."""
    rec, expected = _pty_recording(tmp_path, device)
    proc = _replay_to_pty(rec, "--speed", "max", "--wait", "0.2")
    got, err = _read_replay(proc, len(expected), lambda path: time.sleep(1.5))  # the user starts the reader later
    assert np.array_equal(concat_blocks(got)[0]["samples"], expected)
    assert proc.returncode == 0, err


def test_replay_to_a_pty_waits_past_a_program_that_only_probes_it(tmp_path: Path, device: PtyDevice) -> None:
    """A program that opens the pty and closes it again (probing the port)
    is no reader: the replay stopped with "the reader closed ... 0 bytes
    sent". It now waits for a reader that keeps the port open for --wait."""
    rec, expected = _pty_recording(tmp_path, device)
    proc = _replay_to_pty(rec, "--speed", "max", "--wait", "0.5")

    def probe(path: str) -> None:  # a probe: open, look, close; then a while
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        time.sleep(0.2)
        os.close(fd)
        time.sleep(1.0)

    got, err = _read_replay(proc, len(expected), probe)
    assert np.array_equal(concat_blocks(got)[0]["samples"], expected)
    assert proc.returncode == 0, err


def test_replay_to_a_pty_stops_on_sigterm_and_on_its_reader_leaving(tmp_path: Path, device: PtyDevice) -> None:
    """SIGTERM with no reader yet: stopped, its --link removed (it was left
    behind, and the next replay refused the path). A reader that closes the
    pty before the end: one line that says how much was sent, exit 1."""
    import signal

    rec, expected = _pty_recording(tmp_path, device)
    link = tmp_path / "replay.tty"
    proc = _replay_to_pty(rec, "--link", str(link))
    try:
        proc.stdout.readline()
        assert link.is_symlink()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert not link.is_symlink() and "sent 0 bytes" in err
    proc = _replay_to_pty(rec, "--wait", "0")  # real speed: 300 frames take a while
    try:
        path = proc.stdout.readline().strip()
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY)
        os.read(fd, 100)
        os.close(fd)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "the reader closed" in lines[0] and "bytes sent" in lines[0], err


def test_reading_by_time_waits_longer_at_a_low_byte_rate() -> None:
    from sensorio import Ring
    from sensorio.capture.reader import BATCH_BELOW, PortReader

    def reader(read_interval: float, max_read_interval: float) -> PortReader:
        return PortReader(
            None,  # type: ignore[arg-type]  (never started)
            Ring(1 << 12),
            tee=None,
            emit=lambda ev: None,
            reconnector=None,
            stall_timeout=0,
            read_interval=read_interval,
            max_read_interval=max_read_interval,
        )

    r = reader(0.01, 0.05)
    assert r._gather_time(33) == 0.01  # no rate measured yet
    r._rate_since -= 2.0
    r.committed = 16_500  # about 8 kB/s over the last two seconds: a 250 Hz Cyton
    assert r._gather_time(33) == 0.05  # 2 kB would take 0.25 s: waits the most it may
    r._rate_since -= 1.0
    r.committed += 3 * 400_000  # 400 kB/s: 2 kB gather well within read_interval
    assert r._gather_time(33) == 0.01
    r = reader(0.01, 0.0)  # no max_read_interval: always read_interval
    r._rate_since -= 2.0
    r.committed = 16_500
    assert r._gather_time(BATCH_BELOW - 1) == 0.01


def test_bytes_that_gathered_before_close_are_read(device: PtyDevice) -> None:
    """Reading by time: close() during the wait still reads what arrived."""
    first, _ = make_frames(0, 1)
    second, _ = make_frames(1, 1)
    s = capture_open(device.path, request_info=False, read_interval=30.0)
    try:
        device.write(first + b"\x00")  # (the delimiter ends the frame now, not with the next one)
        assert sum(len(b) for b in _collect(s, 8)) == 8
        device.write(second + b"\x00")  # the reader waits 30 s before it reads again
        time.sleep(0.1)
    finally:
        s.close()
    assert s.stats.frames_ok == 2
