"""The pseudo-terminal server: raw mode, exact accounting over a real port,
unplug/replug at a stable path, and the ``sensorio emulate`` command."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import serial

import sensorio
from sensorio.emulator import Emulator, Truth, TruthLog, config_from_options
from sensorio.emulator.pty import PtyServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


def _server(tmp_path, **opts) -> tuple[PtyServer, Truth]:
    truth = Truth(tmp_path / "truth.jsonl", keep=True)
    cfg = config_from_options({k: v if isinstance(v, list) else [str(v)] for k, v in opts.items()})
    return PtyServer(Emulator(cfg, truth), link=tmp_path / "dev.tty").start(), truth


def _read_for(port: serial.Serial, parser: sensorio.Parser, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        parser.feed(port.read(max(1, port.in_waiting)))


def test_pty_is_raw_and_counts_are_exact(tmp_path) -> None:
    # bitflips hit bytes like 0x0D, 0x0A, 0x03, 0x11 too: a cooked tty would mangle them
    server, truth = _server(tmp_path, format="sio", seed=5, link=["bitflip:rate=0.05", "drop:rate=0.03"])
    assert os.path.islink(server.port) and os.readlink(server.port) == server.path
    port = serial.Serial(server.port, timeout=0.05)
    p = sensorio.Parser()
    port.write(b"START\n")
    _read_for(port, p, 0.6)
    port.write(b"STOP\n")
    _read_for(port, p, 0.2)
    port.close()
    server.stop()
    log = TruthLog(truth.records)
    sent = log.frame_seq(0)
    flipped = log.touched("bitflip")
    assert flipped and log.touched("drop")
    st = p.stats
    assert st.crc_errors == len(flipped)
    assert st.cobs_errors == st.malformed == st.oversized == 0
    assert st.frames_ok == sent.size - len(flipped)
    got = sensorio.concat_blocks(p.read())[0]["frame_seq"] if st.frames_ok else np.zeros(0)
    assert st.frames_ok + st.lost_frames == int(got[-1] - got[0]) + 1
    # every byte the device delivered was received, but perhaps the power-up INFO,
    # which may land before pyserial's open() flushes its input
    missing = log.of("end")[0]["bytes"] - st.bytes_in
    assert missing == 0 or (missing < 1000 and st.messages_ok == 2)


def test_unplug_replug_keeps_the_path(tmp_path) -> None:
    server, truth = _server(tmp_path, format="sio", seed=1, autostart=1, link=["unplug:at=0.3,dur=0.4"])
    port = serial.Serial(server.port, timeout=0.05)
    p = sensorio.Parser()
    with pytest.raises(serial.SerialException):
        _read_for(port, p, 2.0)  # the same error a USB unplug gives
    port.close()
    assert not os.path.exists(server.port)  # the device is gone...
    t0 = time.monotonic()
    while not os.path.exists(server.port):
        assert time.monotonic() - t0 < 30  # bounds a hang; not a speed target
        time.sleep(0.01)
    port = serial.Serial(server.port, timeout=0.05)  # ...and back at the same path
    p.discontinuity()
    _read_for(port, p, 0.3)
    port.write(b"STOP\n")
    _read_for(port, p, 0.1)
    port.close()
    server.stop()
    assert server.replugs == 1
    log = TruthLog(truth.records)
    # the unplug window, and perhaps what was queued for the port when it vanished
    [unplug] = [r for r in log.link_faults(kind="unplug") if "end_s" in r]
    assert unplug["at_s"] == 0.3 and unplug["end_s"] == pytest.approx(0.7)
    sent = set(log.frame_seq(0).tolist())
    lost = set(log.touched("unplug")) | set(log.touched("port_closed"))
    assert not sent & lost
    assert sorted(sent | lost) == list(range(max(sent | lost) + 1))
    # frames still in the pty when it went away (or when the port closed) were never read
    unread = set(log.touched("unread"))
    assert unread <= sent
    assert p.stats.frames_ok == len(sent - unread) and p.stats.crc_errors == 0


def test_stopping_with_a_client_that_has_not_read_everything_says_what_it_lost(tmp_path) -> None:
    """Stopped (Ctrl-C, SIGTERM, --timeout) while the client still has the
    port open and bytes unread in the pty: closing the pty drops them, and
    the truth says so (it called every frame written delivered)."""
    server, truth = _server(tmp_path, format="sio", seed=2, autostart=1)
    port = serial.Serial(server.port, timeout=0.05)
    p = sensorio.Parser()
    _read_for(port, p, 0.3)
    time.sleep(0.3)  # the client stops reading a while: frames wait in the pty
    server.stop()
    try:
        _read_for(port, p, 0.2)  # whatever the client can still get
    except (serial.SerialException, OSError):
        pass  # the device is gone, as after an unplug
    port.close()
    log = TruthLog(truth.records)
    sent = set(log.frame_seq(0).tolist())
    unread = set(log.touched("unread"))
    assert unread and unread <= sent
    assert p.stats.frames_ok == len(sent - unread) and p.stats.crc_errors == 0
    # the end totals count them as discarded too: what the host got is the
    # bytes put on the wire less the unread ones (but perhaps the power-up
    # INFO, which may land before pyserial's open() flushes its input)
    end = log.of("end")[0]
    assert end["discarded"]["unread"] == len(unread)
    assert end["discarded_bytes"]["unread"] == sum(r["bytes"] for r in log.link_faults(kind="unread"))
    missing = end["bytes"] - end["discarded_bytes"]["unread"] - p.stats.bytes_in
    assert missing == 0 or (0 < missing < 1000 and p.stats.messages_ok == 0), (end, p.stats.bytes_in)


def test_the_end_totals_count_the_unread_bytes_as_discarded(monkeypatch) -> None:
    """Bytes still in the pty when the emulator stops never reach the host:
    the end record's discarded totals left them out, and so called every
    frame written delivered. Now the unread frames and bytes are counted
    there (they stay in the totals put on the wire, as their frames records do)."""
    from sensorio.emulator.link import Frame, Outgoing

    truth = Truth(keep=True)
    server = PtyServer(Emulator(config_from_options({"format": ["cyton"], "seed": ["1"]}), truth))
    try:
        written = [Outgoing(0.0, bytes(33), Frame(0, seq, seq, 1, seq, 0.0, bytes(33))) for seq in range(3)]
        server.emulator.delivered(written)
        server._recent.extend((it, 33) for it in written)
        server._recent_bytes = 99
        monkeypatch.setattr(server, "_take_unread", lambda fd: 45)  # the last frame and 12 bytes of the one before
        server._note_unread(-1, "unread")
    finally:
        server._close_pty()
    server.emulator.close()
    log = TruthLog(truth.records)
    assert log.touched("unread") == [1, 2]
    end = log.of("end")[0]
    assert end["frames"] == {"0": 3} and end["bytes"] == 99  # put on the wire
    assert end["discarded"] == {"unread": 2} and end["discarded_bytes"] == {"unread": 45}


def test_output_is_discarded_while_no_one_has_the_port_open(tmp_path) -> None:
    server, truth = _server(tmp_path, format="ascii", counter=1, seed=1)
    time.sleep(0.3)
    port = serial.Serial(server.port, timeout=0.05)
    time.sleep(0.2)
    data = port.read(100000)
    port.close()
    server.stop()
    log = TruthLog(truth.records)
    closed = log.touched("port_closed")
    first = int(data.split(b"\r\n")[0].split(b",")[0])  # the counter of the first line read
    # everything before it went nowhere (no stale data from before the open), and
    # the first line read is the first one delivered after the open
    assert first > 100
    assert [s for s in closed if s < first] == list(range(first))
    assert log.frame_seq(0)[0] == first


def test_emulate_command_prints_the_path_and_serves(tmp_path) -> None:
    truth = tmp_path / "t.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sensorio",
            "emulate",
            "--format",
            "sio",
            "--profile",
            "prosthesis",
            "--seed",
            "3",
            "--fault",
            "liftoff:channel=2,start=0.1,end=0.2",
            "--link",
            "drop:at=0.2",
            "--truth",
            str(truth),
            "--duration",
            "0.5",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )
    try:
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/")
        port = serial.Serial(path, timeout=0.05)
        p = sensorio.Parser()
        port.write(b"START\n")
        # until the device goes away after its duration: pyserial reports the
        # hang-up from read() as SerialException, from in_waiting as OSError
        with pytest.raises((serial.SerialException, OSError)):
            _read_for(port, p, 5.0)
        port.close()
        assert proc.wait(5) == 0
    finally:
        proc.kill()
    log = TruthLog.load(truth)
    assert log.faults()[0]["kind"] == "liftoff"
    # (the power-up INFO went nowhere: no one had the port open yet)
    assert [r["kind"] for r in log.link_faults() if r["kind"] != "port_closed"] == ["drop"]
    assert p.stats.lost_frames == 1 and p.stats.frames_ok == sum(log.frame_seq(s).size for s in log.streams())
    assert "lag_count" in log.of("end")[0]


def test_falling_behind_is_reported() -> None:
    lags = []
    cfg = config_from_options({"format": ["sio"], "autostart": ["1"]})
    truth = Truth(keep=True)
    emu = Emulator(cfg, truth, on_lag=lambda t, lag: lags.append(lag))
    t0 = time.monotonic()
    emu.step(t0 + 0.01)
    assert not lags
    emu.step(t0 + 0.5)  # as if the process had been descheduled for half a second
    assert lags and lags[0] == pytest.approx(0.49, abs=0.01)
    emu.close()
    assert truth.records[-1]["lag_count"] == 1 and TruthLog(truth.records).of("lag")


def test_late_frames_that_go_nowhere_are_not_falling_behind() -> None:
    cfg = config_from_options({"format": ["sio"], "autostart": ["1"]})
    emu = Emulator(cfg, Truth(keep=False))
    t0 = time.monotonic()
    emu.step(t0 + 0.01)
    emu.output_wanted = False  # unplugged, or no one has the port open
    emu.step(t0 + 0.5)
    emu.output_wanted = True
    emu.step(t0 + 0.51)
    assert emu.lag_count == 0
    emu.step(t0 + 1.0)
    assert emu.lag_count == 1


def test_emulate_command_errors_are_one_line(capsys) -> None:
    from sensorio.cli import main

    assert main(["emulate", "--fault", "melt:channel=2"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown sensor fault 'melt'" in err


def test_emulate_timeout_ends_a_device_nobody_starts(tmp_path) -> None:
    """--duration counts device time, which stands still until START;
    --timeout bounds wall time whatever the host does (without it, this
    device would never end and the subprocess timeout would fail the test)."""
    done = subprocess.run(
        [sys.executable, "-m", "sensorio", "emulate", "--duration", "5", "--timeout", "1", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("/dev/")
    bad = subprocess.run(
        [sys.executable, "-m", "sensorio", "emulate", "--timeout", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "--timeout" in bad.stderr and "Traceback" not in bad.stderr


def test_unread_bytes_of_a_part_written_frame_are_not_pinned_on_the_frame_before(monkeypatch) -> None:
    """The written part of the frame still pending is the newest in the pty:
    it belongs to that frame (discarded with the pending ones), not to the
    frame before, which the client read whole."""
    from sensorio.emulator.link import Frame, Outgoing

    truth = Truth(keep=True)
    server = PtyServer(Emulator(config_from_options({"format": ["cyton"], "seed": ["1"]}), truth))
    try:
        for seq in (0, 1):  # written whole, and read
            server._recent.append((Outgoing(0.0, bytes(33), Frame(0, seq, seq, 1, seq, 0.0, bytes(33))), 33))
        server._recent_bytes = 66
        head = Outgoing(0.0, bytes(33), Frame(0, 2, 2, 1, 2, 0.0, bytes(33)))
        server._pending, server._pending_bytes, server._head_sent = [head], 33, 10
        monkeypatch.setattr(server, "_take_unread", lambda fd: 10)  # the head's 10 bytes wait in the pty
        server._note_unread(-1, "unread")
        server.emulator.discard(server._pending, "port_closed")
    finally:
        server._close_pty()
    log = TruthLog(truth.records)
    assert log.touched("unread") == []
    assert log.touched("port_closed") == [2]
    # every byte in one record: the head's 33 with its frame, none twice
    assert [r["bytes"] for r in log.link_faults() if r["kind"] in ("unread", "port_closed")] == [33]


def test_fast_mode_waits_for_room_instead_of_spinning(monkeypatch) -> None:
    """A host that does not read: once the pty is full, the fast server waits
    for room (poll with POLLOUT) instead of polling with no timeout in a loop."""
    import tty

    cfg = config_from_options({"format": ["cyton"], "autostart": ["1"], "speed": ["0"], "seed": ["1"]})
    monkeypatch.setattr(PtyServer, "OPEN_GRACE_S", 0.0)
    server = PtyServer(Emulator(cfg, Truth(keep=False)))
    fd = os.open(server.path, os.O_RDWR | os.O_NOCTTY)  # opened, never read
    tty.setraw(fd)
    waits = 0
    wait = server._wait

    def counting(mono: float, fast: bool) -> None:
        nonlocal waits
        waits += 1
        wait(mono, fast)

    monkeypatch.setattr(server, "_wait", counting)
    stop_at = time.monotonic() + 0.5
    try:
        server.serve(until=lambda: time.monotonic() > stop_at)
        assert server._pending  # the pty is full: there was something to wait for
    finally:
        os.close(fd)
        server._close_pty()
    assert waits < 100  # a 0.1 s wait at a time; the spin made thousands


def test_fast_mode_with_no_client_polls_for_one_instead_of_spinning(monkeypatch) -> None:
    """With nobody on the port, the fast server waits IDLE_POLL_S at a time
    for a client: the device clock's "due" lies in the past in fast mode,
    and waiting for it was no wait at all (a core spun until --timeout)."""
    cfg = config_from_options({"format": ["sio"], "autostart": ["1"], "speed": ["0"], "seed": ["1"]})
    server = PtyServer(Emulator(cfg, Truth(keep=False)))
    waits: list[float] = []

    def wait(timeout: float | None = None) -> bool:
        waits.append(0.0 if timeout is None else timeout)
        return False

    monkeypatch.setattr(server._stop, "wait", wait)
    try:
        server.serve(until=lambda: len(waits) >= 5)
    finally:
        server._close_pty()
    assert waits == [server.IDLE_POLL_S] * 5


def test_a_batch_is_split_at_whole_frames_and_named_frame_by_frame(monkeypatch) -> None:
    """Fast mode hands frames on in batches: what the pty took of one counts
    frame by frame (whole frames delivered, the rest pending), and unread
    bytes name the frames of a batch they belong to."""
    import numpy as np

    from sensorio.emulator.link import FrameBatch, Outgoing

    codes = np.arange(12).reshape(4, 3)
    item = Outgoing(0.5, bytes(range(40)), batch=FrameBatch(0, 7, 70, 1, [1, 2, 3, 4], [10, 10, 10, 10], codes))
    part, rest = item.split(25)  # two whole frames and half the third
    assert part is not None and part.data == bytes(range(20)) and rest.data == bytes(range(20, 40))
    assert part.frame_keys() == [[0, 7], [0, 8]] and rest.frame_keys() == [[0, 9], [0, 10]]
    assert rest.batch is not None and rest.batch.sample0 == 72 and rest.batch.t_us == [3, 4]
    assert rest.batch.codes is not None and rest.batch.codes.tolist() == codes[2:].tolist()
    assert item.split(9) == (None, item)

    truth = Truth(keep=True)
    server = PtyServer(Emulator(config_from_options({"format": ["cyton"], "seed": ["1"]}), truth))
    try:
        server._recent.append((item, 40))
        server._recent_bytes = 40
        monkeypatch.setattr(server, "_take_unread", lambda fd: 15)  # the last frame and a half
        server._note_unread(-1, "unread")
    finally:
        server._close_pty()
    assert TruthLog(truth.records).touched("unread") == [9, 10]
