"""Where control decisions go: JSON lines, UDP datagrams, an LSL stream, a
serial actuator.

- ``JsonLines(file)``: one JSON object per decision (``Decision.as_dict``).
- ``UdpSender("host:port")``: the same JSON object, one datagram per decision.
- ``LslDecisions(classes, name)``: an LSL stream of type ``Control``,
  irregular rate, float32 channels ``class`` (the class index), ``speed``
  (0..1) and one ``p_<label>`` per class (the decoder's posteriors); the class
  names are in the stream's description (``classes``).
- ``Actuator(port)``: a motor controller on a serial port; one ASCII line per
  decision::

      MOVE <label> <speed>\\n

  ``<label>`` is the class name (``rest`` for the safe output), ``<speed>``
  the proportional speed 0.000..1.000 with three decimals. A controller that
  takes one line at a time and stops on ``MOVE rest 0.000`` is all it needs.
  ``actuator_line`` gives the bytes.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from typing import IO, Any

from ..errors import SensorioError, UsageError


def actuator_line(label: str, speed: float) -> bytes:
    """The actuator command for one decision (see the module text)."""
    speed = min(max(float(speed), 0.0), 1.0)
    return f"MOVE {label} {speed:.3f}\n".encode("ascii", "replace")


def decision_record(decision: Any) -> dict[str, Any]:
    """A decision as a JSON-able dict."""
    return dict(decision.as_dict())


class JsonLines:
    """One JSON line per decision on a text file (stdout by default)."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def send(self, decision: Any) -> None:
        """Write the decision as one compact JSON line and flush."""
        self.out.write(json.dumps(decision_record(decision), separators=(",", ":")) + "\n")
        self.out.flush()

    def close(self) -> None:
        """Nothing to release: the file belongs to the caller, who closes it."""
        pass


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6addr]:PORT`` for IPv6) -> (host, port)."""
    host, colon, port = text.rpartition(":")
    if not colon or not host:
        raise UsageError(f"{text!r}: give HOST:PORT")
    try:
        number = int(port)
    except ValueError:
        raise UsageError(f"{text!r}: the port must be a number") from None
    if not 0 < number < 65536:
        raise UsageError(f"{text!r}: the port must be 1..65535")
    return host.strip("[]"), number


class UdpSender:
    """One datagram (the decision's JSON) per decision to HOST:PORT."""

    def __init__(self, address: str) -> None:
        host, port = parse_host_port(address)
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except socket.gaierror as exc:
            raise SensorioError(f"UDP destination {address}: {exc.strerror}") from None
        self.sock = socket.socket(info[0], socket.SOCK_DGRAM)
        if info[0] == socket.AF_INET:
            # a broadcast address (255.255.255.255, a subnet's .255) is refused without it
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self.address = info[4]
        self.text = address

    def send(self, decision: Any) -> None:
        """Send the decision's JSON as one datagram. Nobody listening (the
        port refused) is ignored: not a reason to stop controlling.

        Raises:
            SensorioError: the send fails otherwise (no route, not permitted)."""
        data = json.dumps(decision_record(decision), separators=(",", ":")).encode()
        try:
            self.sock.sendto(data, self.address)
        except ConnectionRefusedError:
            pass
        except OSError as exc:
            raise SensorioError(f"UDP to {self.text} failed: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


class Actuator:
    """A serial actuator: ``MOVE <label> <speed>`` per decision (see the module text)."""

    def __init__(self, port: str, baudrate: int = 115200) -> None:
        from ..capture.ports import open_serial

        self.port = port
        self.ser = open_serial(port, baudrate=baudrate, timeout=0)
        self.ser.write_timeout = 1.0

    def send(self, decision: Any) -> None:
        """Write the decision's ``MOVE <label> <speed>`` line to the actuator.

        Raises:
            SensorioError: the port fails, or does not take the line within 1 s."""
        import serial

        try:
            self.ser.write(actuator_line(decision.label, decision.speed))
        except serial.SerialTimeoutException:
            raise SensorioError(f"the actuator on {self.port} stopped taking commands") from None
        except (serial.SerialException, OSError) as exc:
            raise SensorioError(f"the actuator on {self.port} failed: {exc}") from None

    def close(self) -> None:
        """Send ``MOVE rest 0.000`` (the motor left stopped, errors ignored), then close the port."""
        try:
            self.ser.write(actuator_line("rest", 0.0))  # leave the motor stopped
            self.ser.flush()
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        self.ser.close()


class LslDecisions:
    """Decisions as an LSL stream (type Control; see the module text)."""

    def __init__(self, classes: Sequence[str], name: str = "sensorio control", source_id: str = "") -> None:
        from .lsl import import_pylsl

        pylsl = import_pylsl()
        self.classes = list(classes)
        n = 2 + len(self.classes)
        info = pylsl.StreamInfo(
            name, "Control", n, pylsl.IRREGULAR_RATE, "float32", source_id or f"sensorio-control:{name}"
        )
        chans = info.desc().append_child("channels")
        for label in ["class", "speed", *(f"p_{c}" for c in self.classes)]:
            chans.append_child("channel").append_child_value("label", label)
        info.desc().append_child_value("classes", ",".join(self.classes))
        self.outlet = pylsl.StreamOutlet(info)

    def send(self, decision: Any) -> None:
        """Push one sample: class index, speed, then the class posteriors (zeros when the decoder gives none)."""
        probs = list(decision.probabilities) if len(decision.probabilities) else [0.0] * len(self.classes)
        self.outlet.push_sample([float(decision.cls), float(decision.speed), *map(float, probs)])

    def close(self) -> None:
        """Drop the outlet, which ends the LSL stream."""
        self.outlet = None


__all__ = [
    "Actuator",
    "JsonLines",
    "LslDecisions",
    "UdpSender",
    "actuator_line",
    "decision_record",
    "parse_host_port",
]
