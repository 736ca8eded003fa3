"""Port discovery without hardware: USB identity, FTDI latency timer, reconnect lookup."""

from __future__ import annotations

import os
import threading
import warnings
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


def _fake_sysfs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write, ttys: tuple[str, ...] = ("ttyUSB0", "ttyUSB1")
) -> None:
    """Two FTDI ports at 16 ms (ttys) whose latency_timer writes go through ``write``
    (a real sysfs refuses a user without rights, which root here is not)."""
    if not ports.sys.platform.startswith("linux"):
        pytest.skip("the latency timer is a Linux sysfs file")
    for tty in ttys:
        (tmp_path / tty).mkdir()
        (tmp_path / tty / "latency_timer").write_text("16\n")
    monkeypatch.setattr(ports, "_SYSFS_USB_SERIAL", tmp_path)
    monkeypatch.setattr(
        ports.serial.tools.list_ports, "comports", lambda: [_fake("/dev/ttyUSB0", "A0"), _fake("/dev/ttyUSB1", "A1")]
    )

    class Sysfs(type(tmp_path)):  # type: ignore[misc]
        def write_text(self, data: str, *args: object, **kw: object) -> int:
            return write(self, data)

    real = ports._latency_path
    monkeypatch.setattr(ports, "_latency_path", lambda device: Sysfs(real(device)))


def test_low_latency_says_which_port_it_cannot_set_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ports --low-latency was silent when a timer could not be set (and the
    listing went on advising --low-latency)."""
    from sensorio.cli import main

    def write(path: Path, data: str) -> int:
        if path.parent.name == "ttyUSB0":
            raise PermissionError(13, "Permission denied", str(path))
        return Path(path).write_text(data)

    _fake_sysfs(tmp_path, monkeypatch, write)
    assert main(["ports", "--low-latency"]) == 0  # a listing still, as without the option
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "sensorio ports: warning: /dev/ttyUSB0: cannot set its latency timer to 1 ms: permission denied on "
        f"{tmp_path}/ttyUSB0/latency_timer (run as root, or let your user write it with a udev rule)"
    ]
    assert "latency timer 16 ms (slow)" in out and "latency timer 1 ms" in out


def test_a_latency_timer_the_driver_did_not_take_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_sysfs(tmp_path, monkeypatch, lambda path, data: len(data))  # accepted, kept at 16
    with pytest.raises(SensorioError, match=r"^/dev/ttyUSB1: cannot set .* 1 ms: the driver kept 16 ms$"):
        ports.change_latency_timer("/dev/ttyUSB1", 1)
    assert not ports.set_latency_timer("/dev/ttyUSB1", 1)


def _refused(path: Path, data: str) -> int:
    raise PermissionError(13, "Permission denied", str(path))


def test_opening_a_port_warns_once_of_a_latency_timer_it_cannot_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a port set the FTDI timer quietly, and said nothing when it
    could not (the data then come in 16 ms bursts): one warning now, with
    why, when the timer stays slow or low latency was asked for."""
    _fake_sysfs(tmp_path, monkeypatch, _refused)
    with pytest.warns(UserWarning) as said:
        assert ports.tune_latency_timer("/dev/ttyUSB0") == 16
    assert [str(w.message) for w in said] == [
        "/dev/ttyUSB0: cannot set its latency timer to 1 ms: permission denied on "
        f"{tmp_path}/ttyUSB0/latency_timer (run as root, or let your user write it with a udev rule); "
        "at 16 ms the data arrive in bursts up to 16 ms apart"
    ]
    (tmp_path / "ttyUSB1" / "latency_timer").write_text("4\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ports.tune_latency_timer("/dev/ttyUSB1") == 4  # not slow, not asked for: no word
        assert ports.tune_latency_timer("/dev/ttyUSB0", asked=False) == 16  # left as it is
        assert ports.tune_latency_timer("/dev/ttyS0", asked=True) is None  # no timer (not an FTDI)
        assert ports.tune_latency_timer("sim://emg8", asked=True) is None
    with pytest.warns(UserWarning, match="ttyUSB1: cannot set .* at 4 ms"):
        assert ports.tune_latency_timer("/dev/ttyUSB1", asked=True) == 4


def test_a_latency_timer_that_can_be_set_is_set_without_a_word(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_sysfs(tmp_path, monkeypatch, lambda path, data: Path(path).write_text(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ports.tune_latency_timer("/dev/ttyUSB0") == 1
    assert ports.latency_timer("/dev/ttyUSB0") == 1


def test_record_on_a_port_whose_latency_timer_stays_slow_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same through the command line and the capture (Stream), on a pty
    given a fake sysfs timer; a pty without one (the next run) gets no word."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from capture_support import PtyDevice

    from sensorio.cli import main

    dev = PtyDevice()
    try:
        sysfs = tmp_path / "sysfs"
        (sysfs / os.path.basename(dev.tty)).mkdir(parents=True)
        (sysfs / os.path.basename(dev.tty) / "latency_timer").write_text("16\n")
        _fake_sysfs(sysfs, monkeypatch, _refused, ttys=())
        argv = ["record", dev.path, "--no-info", "--no-start", "--duration", "0.2", "--check-seconds", "0", "--quiet"]
        assert main([*argv, "-o", str(tmp_path / "a.sior")]) == 0
        _, err = capsys.readouterr()
        assert err.splitlines() == [
            f"sensorio record: warning: {dev.tty}: cannot set its latency timer to 1 ms: permission denied on "
            f"{sysfs}/{os.path.basename(dev.tty)}/latency_timer (run as root, or let your user write it with a "
            "udev rule); at 16 ms the data arrive in bursts up to 16 ms apart"
        ]
        (sysfs / os.path.basename(dev.tty) / "latency_timer").unlink()
        assert main([*argv, "-o", str(tmp_path / "b.sior")]) == 0
        assert capsys.readouterr().err == ""
    finally:
        dev.close()


def test_a_port_or_file_argument_names_a_file_when_it_is_one_or_has_a_recordings_suffix(tmp_path: Path) -> None:
    dump = tmp_path / "dump.bin"
    dump.write_bytes(b"\x00")
    assert ports.names_a_file(str(dump)) and ports.names_a_file(str(tmp_path))
    assert ports.names_a_file(str(tmp_path / "not-yet.sior")) and ports.names_a_file("x.SIOR")
    assert not ports.names_a_file(str(tmp_path / "ttyNOPE"))  # not there, no recording's name: a port
    assert not ports.names_a_file("replay://x.sior") and not ports.names_a_file("sim://emg8")
    if os.path.exists("/dev/null"):
        assert not ports.names_a_file("/dev/null")  # a character device, as a serial port is


def test_a_missing_port_may_name_a_file_when_it_has_a_folder_or_a_suffix() -> None:
    for name in ("dump.bin", "data/run1", "./x", "/tmp/ttyV0", "C:/data/x.bin"):
        assert ports.may_name_a_file(name), name
    for name in ("ttyUSB0", "COM3", "/dev/ttyUSB9", "/dev/cu.usbserial-A1", "replay://x.bin", "sim://emg8"):
        assert not ports.may_name_a_file(name), name


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


def test_a_reconnect_sets_the_latency_timer_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-plugged FTDI adapter comes back with its latency timer at 16 ms:
    the reconnect's reopen set it to 1 ms only on the first open, so the data
    came in 16 ms bursts for the rest of the session. Now the reopen sets it
    through tune_latency_timer, as opening does, warning as it does."""
    from sensorio.capture import stream
    from sensorio.capture.stream import Stream

    _fake_sysfs(tmp_path, monkeypatch, lambda path, data: Path.write_text(Path(path), data))
    opened: list[str] = []
    monkeypatch.setattr(stream, "open_serial", lambda path, **kw: opened.append(path) or SimpleNamespace(port=path))
    cap = SimpleNamespace(baudrate=115200, _exclusive=True, _set_low_latency=None, latency_timer_ms=1)
    assert Stream._reopen(cap, "/dev/ttyUSB0").port == "/dev/ttyUSB0"  # type: ignore[arg-type]
    assert opened == ["/dev/ttyUSB0"]
    assert (tmp_path / "ttyUSB0" / "latency_timer").read_text().strip() == "1" and cap.latency_timer_ms == 1
    # asked not to (set_low_latency=False): left as it is, as on open
    cap._set_low_latency = False
    Stream._reopen(cap, "/dev/ttyUSB1")  # type: ignore[arg-type]
    assert (tmp_path / "ttyUSB1" / "latency_timer").read_text().strip() == "16" and cap.latency_timer_ms == 16
    # one that cannot be set is warned of, as on open
    monkeypatch.setattr(ports, "_latency_path", lambda device: _Refusing(tmp_path / "ttyUSB1" / "latency_timer"))
    cap._set_low_latency = None
    with pytest.warns(UserWarning, match=r"/dev/ttyUSB1: cannot set its latency timer to 1 ms: permission denied"):
        Stream._reopen(cap, "/dev/ttyUSB1")  # type: ignore[arg-type]
    assert cap.latency_timer_ms == 16


class _Refusing(type(Path())):  # type: ignore[misc]
    def write_text(self, data: str, *args: object, **kw: object) -> int:
        return _refused(self, data)
