"""Serial ports: list them, open one with clear errors, tune FTDI latency,
and find a device again after it was unplugged."""

from __future__ import annotations

import errno
import os
import stat
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import serial
import serial.tools.list_ports

from ..errors import SensorioError

#: the FTDI default; it makes the adapter deliver in 16 ms bursts
FTDI_DEFAULT_LATENCY_MS = 16
_SYSFS_USB_SERIAL = Path("/sys/bus/usb-serial/devices")


@dataclass(frozen=True)
class PortInfo:
    """A serial port found on this computer: device path, USB vendor and product
    ids and serial number (None when not USB), description, and the FTDI
    latency timer in ms where the system has one."""

    device: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    description: str
    latency_timer_ms: int | None = None

    @property
    def vid_pid(self) -> str:
        """The USB ids as ``vvvv:pppp`` in hex, or ``-`` when the port has none."""
        if self.vid is None or self.pid is None:
            return "-"
        return f"{self.vid:04x}:{self.pid:04x}"


def list_ports() -> list[PortInfo]:
    """The serial ports of this computer (pyserial's list), sorted by device path."""
    out = []
    for p in sorted(serial.tools.list_ports.comports(), key=lambda p: p.device):
        out.append(
            PortInfo(
                p.device,
                p.vid,
                p.pid,
                p.serial_number,
                p.description or "",
                latency_timer(p.device),
            )
        )
    return out


def port_info(device: str) -> PortInfo | None:
    real = os.path.realpath(device)
    for p in list_ports():
        if p.device in (device, real):
            return p
    return None


def _latency_path(device: str) -> Path:
    return _SYSFS_USB_SERIAL / os.path.basename(os.path.realpath(device)) / "latency_timer"


def latency_timer(device: str) -> int | None:
    """The FTDI latency timer in ms (Linux), None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return int(_latency_path(device).read_text().strip())
    except (OSError, ValueError):
        return None


def change_latency_timer(device: str, ms: int = 1) -> None:
    """Set a port's FTDI latency timer (Linux sysfs) to ``ms``, or raise
    SensorioError saying why it cannot be: the port has none, the file is not
    writable (root or a udev rule can), or the driver kept another value."""
    if latency_timer(device) is None:
        raise SensorioError(f"{device}: no latency timer to set (not an FTDI adapter on Linux)")
    path = _latency_path(device)
    try:
        path.write_text(f"{ms}\n")
    except PermissionError:
        raise SensorioError(
            f"{device}: cannot set its latency timer to {ms} ms: permission denied on {path} "
            "(run as root, or let your user write it with a udev rule)"
        ) from None
    except OSError as exc:
        raise SensorioError(f"{device}: cannot set its latency timer to {ms} ms: {exc.strerror or exc}") from None
    now = latency_timer(device)
    if now != ms:
        raise SensorioError(f"{device}: cannot set its latency timer to {ms} ms: the driver kept {now} ms")


def set_latency_timer(device: str, ms: int = 1) -> bool:
    """Set the FTDI latency timer where the sysfs file is writable: True when it
    is now ``ms``; :func:`change_latency_timer` says why it failed, and
    :func:`tune_latency_timer` (what opening a port does) warns of it."""
    try:
        change_latency_timer(device, ms)
    except SensorioError:
        return False
    return True


def tune_latency_timer(device: str, asked: bool | None = None) -> int | None:
    """What opening a port does to its FTDI latency timer: set it to 1 ms
    (change_latency_timer) and return the timer it has now, None for a port
    without one (a pty, a URL, not an FTDI adapter on Linux). When it cannot
    be set, one warning says why, if low latency was ``asked`` for (True) or
    the timer stays slow (FTDI_DEFAULT_LATENCY_MS or more; a slow timer costs
    latency, not data); ``asked`` False leaves the timer as it is."""
    ms = None if is_url(device) else latency_timer(device)
    if ms is None or ms == 1 or asked is False:
        return ms
    try:
        change_latency_timer(device, 1)
    except SensorioError as exc:
        if asked or ms >= FTDI_DEFAULT_LATENCY_MS:
            warnings.warn(f"{exc}; at {ms} ms the data arrive in bursts up to {ms} ms apart", stacklevel=3)
        return ms
    return 1


def find_device(vid: int, pid: int, serial_number: str | None) -> str | None:
    """The path of the port with this USB identity now (it may have changed)."""
    for p in list_ports():
        if p.vid == vid and p.pid == pid and (serial_number is None or p.serial_number == serial_number):
            return p.device
    return None


def is_pseudo_terminal(port: str) -> bool:
    """A pty slave: its writer blocks when we do not read, so waiting loses nothing."""
    if is_url(port):
        return False
    try:
        rdev = os.stat(port).st_rdev
    except OSError:
        return False
    real = os.path.realpath(port)
    # Linux Unix98 pty slaves have majors 136..143; elsewhere go by the name
    return real.startswith("/dev/pts/") or real.startswith("/dev/ttys") or 136 <= os.major(rdev) <= 143


def is_url(port: str) -> bool:
    return "://" in port


def names_a_file(source: str) -> bool:
    """Whether an argument that may be a port or a file (``sensorio calibrate
    SOURCE``) names a file: one that is there and is not a character device
    (a serial port, a pty), or one that is not there but has a recording's
    suffix (.sior), which no port has. A URL, or any other name that is not
    there, is a port; opening it says it is missing with the ports present
    (as neither port nor file when may_name_a_file)."""
    from ..recording.format import SUFFIX

    if is_url(source):
        return False
    try:
        return not stat.S_ISCHR(os.stat(source).st_mode)
    except FileNotFoundError:
        return Path(source).suffix.lower() == SUFFIX
    except OSError:
        return True  # there, but not to be looked at (a folder without rights): reading it says why


def may_name_a_file(name: str) -> bool:
    """Whether a port that is not there may have been meant for a file as
    well: a name shaped like a file's path (a folder part, ``data/run1``, or
    a suffix, ``dump.bin``) that is no URL and not under /dev. A bare name
    (``ttyUSB0``, ``COM3``) or a device path is a port's only."""
    if is_url(name) or name.startswith(("/dev/", "\\\\.\\", "//./")):
        return False
    return bool(os.path.dirname(name)) or bool(Path(name).suffix)


#: per URL scheme, the files a port of it reads or writes (a replay's
#: recording, a sim:// device's truth= file), registered by the URL handlers
#: (sensorio.urlhandler, a layer above): a recording must never be written
#: over one of them
PORT_FILES: dict[str, Callable[[str], list[tuple[str, str]]]] = {}


def port_files(port: str) -> list[tuple[str, str]]:
    """(file, what it is to the port) for each file a URL port reads or
    writes (PORT_FILES); none for a device path or another URL."""
    scheme = port.split("://", 1)[0].lower() if is_url(port) else ""
    files = PORT_FILES.get(scheme)
    return files(port) if files is not None else []


def open_serial(
    port: str, *, baudrate: int = 115200, exclusive: bool = True, timeout: float | None = 0
) -> serial.SerialBase:
    """Open a path or URL; every failure becomes a one-line SensorioError."""
    if not is_url(port) and os.path.isfile(port):
        raise _file_not_port(port)
    try:
        if is_url(port):
            ser = serial.serial_for_url(port, baudrate=baudrate, timeout=timeout)
        else:
            ser = serial.Serial(port, baudrate=baudrate, timeout=timeout, exclusive=exclusive)
    except serial.SerialException as exc:
        raise _open_error(port, exc) from None
    except (OSError, ValueError) as exc:
        raise _open_error(port, exc) from None
    return ser


def _file_not_port(path: str) -> SensorioError:
    """A regular file named as a port; a recording is pointed to replay."""
    from ..recording.reader import RecordingReader

    if RecordingReader.is_recording(path):
        return SensorioError(
            f"{path} is a sensorio recording, not a port: "
            f"play it back with `sensorio replay {path}` or open replay://{path}"
        )
    return SensorioError(f"{path} is a regular file, not a serial port")


def _open_error(port: str, exc: Exception) -> SensorioError:
    code = getattr(exc, "errno", None)
    text = str(exc)
    low = text.lower()
    if code in (errno.EACCES, errno.EPERM) or "permission denied" in low:
        hint = ""
        if sys.platform.startswith("linux"):
            hint = " (on Linux add yourself to the 'dialout' group: sudo usermod -aG dialout $USER, then log in again)"
        return SensorioError(f"permission denied opening {port}{hint}")
    if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "lock" in low or "busy" in low:
        return SensorioError(f"{port} is held by another process: close the other program and retry")
    if code == errno.ENOENT or (not is_url(port) and not os.path.exists(port)):
        if names_a_file(port):
            # a recording's name (names_a_file's rule, as calibrate's): the
            # mistake is a file given for a device, not a device unplugged
            return SensorioError(
                f"{port}: no such port, nor file; a port is a device, not a recording (a recording "
                f"plays back as replay://{port}, or through `sensorio replay` or `sensorio analyze`)"
            )
        names = ", ".join(p.device for p in list_ports()) or "none found"
        if may_name_a_file(port):
            # a dump's or a folder's name (x.bin, data/run1): no device, and
            # no file either; "no such port" alone read as a device unplugged
            return SensorioError(f"{port}: no such port, nor file (ports present: {names}; see 'sensorio ports')")
        return SensorioError(f"no such port: {port} (ports present: {names}; see 'sensorio ports')")
    if not is_url(port) and os.path.isdir(port):
        return SensorioError(f"{port} is a folder, not a serial port (see 'sensorio ports')")
    if code is not None and os.strerror(code):
        # pyserial's text repeats the errno and the port: "[Errno 21] could not open port X: [Errno 21] ..."
        return SensorioError(f"cannot open {port}: {os.strerror(code)}")
    # a URL handler's text may start with the URL already (sim://: "URL: why")
    return SensorioError(f"cannot open {port}: {text.removeprefix(f'{port}: ')}")
