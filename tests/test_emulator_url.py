"""sim:// opens with plain serial.serial_for_url once sensorio is imported,
with the emulator's options as query parameters."""

from __future__ import annotations

import json

import numpy as np
import pytest
import serial

import sensorio
from sensorio.emulator import TruthLog
from sensorio.testing import sim_url


def test_sim_url_through_serial_for_url(tmp_path) -> None:
    truth_file = tmp_path / "t.jsonl"
    url = sim_url(
        "prosthesis",
        seed=3,
        fast=True,
        autostart=True,
        duration=0.5,
        fault=["liftoff:channel=2,start=0.1,end=0.2"],
        link=["drop:at=0.2,stream=2"],
        truth=truth_file,
    )
    port = serial.serial_for_url(url, baudrate=921600, timeout=0.5)
    assert port.is_open
    p = sensorio.Parser()
    while chunk := port.read(8192):
        p.feed(chunk)
    port.finish()
    log = TruthLog.load(truth_file)
    assert log.start["profile"] == "prosthesis" and log.start["seed"] == 3
    assert log.touched("drop") == [50] and log.link_faults(kind="drop")[0]["frames"] == [[2, 50]]
    streams = sensorio.concat_blocks(p.read())
    for s in log.streams():
        np.testing.assert_array_equal(streams[s]["frame_seq"], log.frame_seq(s))
    assert p.stats.lost_frames == 1
    info = json.loads(p.read_messages()[0].text)
    assert [s["name"] for s in info["streams"]] == ["emg", "imu", "force", "position"]


def test_bytes_left_unread_when_a_sim_port_closes_are_in_the_truth(tmp_path) -> None:
    """A sim:// port closed with bytes in its buffer that the client never
    read: the truth called them delivered and said nothing else. Now they
    are an ``unread`` link record and in the end record's discarded totals:
    every frame on the wire is either received or unread, and the bytes the
    client got are the bytes put on the wire less the unread ones."""
    truth_file = tmp_path / "t.jsonl"
    port = serial.serial_for_url(sim_url("emg8", seed=1, fast=True, autostart=True, truth=truth_file), timeout=0.5)
    p = sensorio.Parser()
    p.feed(port.read(5000))  # less than the device has put out by then
    port.finish()
    log = TruthLog.load(truth_file)
    got = sensorio.concat_blocks(p.read())[0]["frame_seq"].tolist()
    unread = log.touched("unread")
    assert unread and not set(got) & set(unread)
    assert sorted(got + unread) == log.frame_seq(0).tolist()
    end = log.of("end")[0]
    assert end["discarded"]["unread"] == len(unread)
    assert end["bytes"] - end["discarded_bytes"]["unread"] == p.stats.bytes_in == 5000


def test_bytes_the_host_flushes_from_a_sim_port_are_not_called_delivered(tmp_path) -> None:
    """reset_input_buffer (the host flushing its own input, as pyserial's
    open() does) threw away what the sim:// port held, and the truth counted
    those bytes as delivered. They are a ``flushed`` link record now, and in
    the end record's discarded totals: the bytes the client got are the bytes
    on the wire less the flushed and the unread ones."""
    truth_file = tmp_path / "t.jsonl"
    port = serial.serial_for_url(sim_url("emg8", seed=1, fast=True, autostart=True, truth=truth_file), timeout=0.5)
    p = sensorio.Parser()
    p.feed(port.read(3000))
    assert port.in_waiting > 0  # (fast: the device put more out than was read)
    port.reset_input_buffer()
    p.feed(port.read(2000))
    port.finish()
    log = TruthLog.load(truth_file)
    end = log.of("end")[0]
    flushed = log.touched("flushed")
    assert flushed and end["discarded"]["flushed"] == len(flushed)
    assert end["discarded_bytes"]["flushed"] == sum(r["bytes"] for r in log.link_faults(kind="flushed"))
    handed = end["bytes"] - end["discarded_bytes"]["flushed"] - end["discarded_bytes"].get("unread", 0)
    assert handed == p.stats.bytes_in == 5000


def test_sim_commands_and_in_waiting() -> None:
    port = serial.serial_for_url(sim_url("emg8", seed=1, fast=True), timeout=0.2)
    p = sensorio.Parser()
    p.feed(port.read(port.in_waiting))  # power-up INFO
    assert port.in_waiting == 0  # not streaming before START
    port.write(b"START\n")
    assert port.in_waiting > 0
    p.feed(port.read(20000))
    port.write(b"STOP\n")
    p.feed(port.read(100000))
    assert port.read(100) == b""  # stopped: nothing more, and no hang
    kinds = [m.kind for m in p.read_messages()]
    assert kinds == ["info", "reply", "reply"]
    assert p.stats.frames_ok == port.truth.frame_seq(0).size > 0
    port.finish()


def test_sim_real_time_pacing() -> None:
    import time

    port = serial.serial_for_url(sim_url("emg8", autostart=True), timeout=0.05)
    p = sensorio.Parser()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.5:
        p.feed(port.read(4096))
    port.finish()
    rows = sum(len(b) for b in p.read())
    assert rows == pytest.approx(0.5 * 2000, rel=0.15)


@pytest.mark.parametrize(
    "url,message",
    [
        ("sim://nosuch", "unknown device profile"),
        ("sim://?format=cyton&rate=500", "250 Hz"),
        ("sim://?link=drop:when=1", "link fault option"),
        ("sim://?colour=blue", "unknown emulator option"),
        # accepted, and silently did nothing
        ("sim://?link=drop:at=1,stream=5", "link fault drop names stream 5; the device has streams \\[0\\]"),
        ("sim://?link=drop:at=nan", "times must be finite"),
        ("sim://?fault=liftoff:channel=1,start=nan,end=2", "numbers must be finite"),
        # the last of two values won without a word
        ("sim://emg8?channels=8&channels=4", "option 'channels' given more than once"),
        ("sim://emg8?mains-hz=50&mains_hz=60", "option mains-hz and mains_hz given more than once"),
        ("sim://emg8?fast=1&speed=2", "options fast and speed both set the pace"),
        # never injected, and nothing said so
        ("sim://emg8?duration=1&fault=spikes:channel=1,start=2,end=3", "fault spikes starts at 2 s, when the device"),
        ("sim://emg8?duration=1&link=drop:at=1", "link fault drop comes at 1 s, when the device has stopped"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(serial.SerialException, match=message):
        serial.serial_for_url(url)


def test_a_truth_file_given_twice_is_refused_and_neither_written(tmp_path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    with pytest.raises(serial.SerialException, match="option 'truth' given more than once"):
        serial.serial_for_url(f"sim://emg8?truth={a}&truth={b}")
    assert not a.exists() and not b.exists()


def test_faults_and_link_faults_may_repeat() -> None:
    url = "sim://emg8?fault=spikes:channel=1,start=0.1,end=0.2&fault=spikes:channel=2,start=0.1,end=0.2"
    port = serial.serial_for_url(url + "&link=drop:at=0.1&link=drop:at=0.2")
    try:
        cfg = port._emu.config
        assert [f.channel for f in cfg.faults] == [0, 1] and len(cfg.link) == 2
    finally:
        port.close()


@pytest.mark.parametrize("fast", [True, False])
def test_a_sim_device_unplugged_by_its_link_fault_is_plugged_back_not_started_over(tmp_path, fast: bool) -> None:
    """The capture reconnects with a new port object, and sim:// made a new
    device of it: from 0 s again, to unplug again at 1 s, forever (a 2 s
    device recorded 13.5 MB before a timeout killed it)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from sensorio.cli._describe import describe

    out = tmp_path / "u.sior"
    url = sim_url("emg8", seed=1, fast=fast, duration=2, link=["unplug:at=1,dur=0.5"])
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-m", "sensorio", "record", url, "-o", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(root)),
    )
    assert proc.returncode == 0, proc.stderr
    assert "(the source ended)" in proc.stdout
    found = describe(out)
    st = found["stats"]
    # 2 s at 2000 Hz in frames of 8: every one received or counted lost, the
    # half second unplugged among the lost, the bytes before the unplug kept
    assert st["frames_ok"] + st["lost_frames"] == 500
    assert st["lost_frames"] == 125 and st["restarts"] == 0
    assert found["events"]["disconnect"] == 1 and found["events"]["connect"] == 2


def _reconnect(url: str, first: serial.SerialBase, timeout: float = 20.0) -> serial.SerialBase:
    """What a capture does: read until the unplug, then open new ports of the
    URL until one opens."""
    import time

    with pytest.raises(serial.SerialException):
        while True:
            first.read(4096)
    first.close()
    deadline = time.monotonic() + timeout
    while True:
        try:
            return serial.serial_for_url(url, timeout=0)
        except serial.SerialException:
            assert time.monotonic() < deadline, "the device never came back"
            time.sleep(0.05)


def test_an_unplug_longer_than_the_replug_wait_still_finds_the_same_device(monkeypatch) -> None:
    """The wait was counted from the unplug, less the time left to the replug:
    past half of it a new port made a new device (from 0 s, to unplug again)."""
    from sensorio.urlhandler import protocol_sim

    monkeypatch.setattr(protocol_sim, "REPLUG_WAIT_S", 0.2)
    url = sim_url("emg8", seed=1, autostart=True, duration=3, link=["unplug:at=0.2,dur=1"])
    back = _reconnect(url, serial.serial_for_url(url, timeout=0.05))
    assert back.emulator.clock.now(__import__("time").monotonic()) >= 1.2  # the same device, replugged
    back.finish()


def test_a_second_unplug_while_taking_the_device_over_does_not_hang() -> None:
    """Running a fast device to its replug took the registry's lock a second
    time in the same thread when another unplug came in that span."""
    import threading

    url = sim_url(
        "emg8", seed=1, fast=True, autostart=True, duration=4, link=["unplug:at=0.5,dur=2", "unplug:at=1.5,dur=0.3"]
    )
    first = serial.serial_for_url(url, timeout=0)
    got: list[serial.SerialBase] = []
    worker = threading.Thread(target=lambda: got.append(_reconnect(url, first)), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive() and got
    got[0].finish()
