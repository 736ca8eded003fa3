"""Port discovery without hardware: USB identity, FTDI latency timer, reconnect lookup."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from sensorio.capture import ports
from sensorio.capture.reconnect import Reconnector
from sensorio.errors import SensorioError


def _fake(device: str, serial_number: str = "A1", vid: int = 0x0403, pid: int = 0x6001):
    return SimpleNamespace(device=device, vid=vid, pid=pid, serial_number=serial_number, description="FT232R USB UART")


def test_latency_timer_is_read_and_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not ports.sys.platform.startswith("linux"):
        pytest.skip("the latency timer is a Linux sysfs file")
    (tmp_path / "ttyUSB7").mkdir()
    (tmp_path / "ttyUSB7" / "latency_timer").write_text("16\n")
    monkeypatch.setattr(ports, "_SYSFS_USB_SERIAL", tmp_path)
    assert ports.latency_timer("/dev/ttyUSB7") == 16
    assert ports.set_latency_timer("/dev/ttyUSB7", 1)
    assert ports.latency_timer("/dev/ttyUSB7") == 1
    assert ports.latency_timer("/dev/ttyS0") is None  # not an FTDI: nothing to report
    assert not ports.set_latency_timer("/dev/ttyS0", 1)


def test_ports_list_vid_pid_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        ports.serial.tools.list_ports,
        "comports",
        lambda: [_fake("/dev/ttyUSB1", "XYZ"), _fake("/dev/ttyACM0", None, 0x2341, 0x0043)],
    )
    listed = ports.list_ports()
    assert [(p.device, p.vid_pid, p.serial_number) for p in listed] == [
        ("/dev/ttyACM0", "2341:0043", None),
        ("/dev/ttyUSB1", "0403:6001", "XYZ"),
    ]


def test_reconnect_finds_the_device_under_a_new_path(monkeypatch: pytest.MonkeyPatch) -> None:
    present = [_fake("/dev/ttyUSB0", "SER1")]
    monkeypatch.setattr(ports.serial.tools.list_ports, "comports", lambda: list(present))
    opened: list[str] = []

    def open_port(path: str):
        opened.append(path)
        return SimpleNamespace(port=path)

    rc = Reconnector("/dev/ttyUSB0", open_port, first_delay=0.01, max_delay=0.02)
    assert rc.identity == (0x0403, 0x6001, "SER1")
    present[:] = [_fake("/dev/ttyUSB3", "OTHER")]  # unplugged; another adapter is there
    assert rc.locate() is None
    present[:] = [
        _fake("/dev/ttyUSB3", "OTHER"),
        _fake("/dev/ttyUSB4", "SER1"),
    ]  # replugged elsewhere
    assert rc.wait(threading.Event()).port == "/dev/ttyUSB4"
    assert opened == ["/dev/ttyUSB4"]


def test_reconnect_waits_without_spinning_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports.serial.tools.list_ports, "comports", lambda: [])
    calls = []

    def open_port(path: str):
        calls.append(path)
        raise SensorioError("not there")

    rc = Reconnector("/dev/does-not-exist", open_port, first_delay=0.01, max_delay=0.05)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    assert rc.wait(stop) is None
    assert calls == []  # nothing to open while the path is absent
