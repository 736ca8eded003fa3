"""A pyserial port that speaks SIO-1 for a source that delivers samples, not
bytes (Lab Streaming Layer, BrainFlow).

Such a source enters sensorio where a serial device does: the port turns its
samples into SIO-1 frames (an INFO frame from the source's own metadata, then
one DATA frame per sample row, int32 codes at a stated scale), so the C
parser, the recorder (which keeps these bytes), replay, fault detection and
everything after work on it unchanged, and a recording of it replays
bit for bit. Why one row per frame: a gap in the source then counts exactly
in samples, as SIO-1's per-frame seq counts lost frames, and no row waits for
others to fill a frame (no added latency).

The source is an adapter (``SampleSource``): ``open()`` returns the INFO
descriptor, ``pull(timeout)`` returns new rows with their source timestamps
and how many rows were lost before them, ``close()``. The port answers the
SIO-1 host commands (INFO, START, STOP) as a device does; it streams from
the moment it opens, as a free-running device does.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from .. import sio1

#: int32 codes: the widest SIO-1 encoding
CODE_MIN, CODE_MAX = -(2**31), 2**31 - 1
#: the most channels one int32 row fits into a SIO-1 frame (11-byte header,
#: lead-off bytes, 2-byte CRC)
MAX_CHANNELS = max(n for n in range(1, 256) if sio1.data_frame_len(sio1.ENC_I32, n, 1) <= sio1.MAX_FRAME)


@dataclass
class Pulled:
    """Rows a source delivered: values (rows, ch) in the source's unit,
    timestamps (rows,) in seconds, and lost_before[i] rows the source says
    were lost just before row i (gaps in its counter or its timestamps)."""

    values: np.ndarray
    timestamps: np.ndarray
    lost_before: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


class SampleSource(Protocol):
    def open(self) -> dict[str, Any]:
        """Connects; returns the SIO-1 INFO descriptor (one stream, id 0)."""
        ...

    def pull(self, timeout: float) -> Pulled | None:
        """New rows, waiting up to timeout; None when the source has ended."""
        ...

    def close(self) -> None: ...


def descriptor(
    *,
    device: str,
    serial: str,
    manufacturer: str,
    name: str,
    channels: int,
    rate_hz: float,
    unit: str,
    scale: float,
    labels: list[str] | None,
    source: str,
) -> dict[str, Any]:
    """The INFO descriptor of a sample source's one stream (int32 codes of
    `scale` units each; the code rails mean saturation)."""
    if not 1 <= channels <= MAX_CHANNELS:
        raise SerialException(f"{source}: {channels} channels; this source takes 1 to {MAX_CHANNELS}")
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise SerialException(f"{source}: the stream has no regular sampling rate ({rate_hz!r})")
    stream: dict[str, Any] = {
        "id": 0,
        "name": name,
        "channels": channels,
        "rate_hz": rate_hz,
        "enc": "i32",
        "unit": unit,
        "scale": scale,
        "zero": 0,
        "min_code": CODE_MIN,
        "max_code": CODE_MAX,
    }
    if labels:
        stream["labels"] = list(labels)
    return {
        "device": device,
        "serial": serial,
        "manufacturer": manufacturer,
        "fw": "",
        "source": source,
        "streams": [stream],
    }


def gaps_from_timestamps(timestamps: np.ndarray, last: float | None, rate_hz: float, tolerance: float) -> np.ndarray:
    """Rows missing before each row, judged from source timestamps: a step
    longer than `tolerance` sample periods counts the periods it spans less
    one. (A source without counters can only be judged by its clock.)"""
    if not len(timestamps):
        return np.zeros(0, np.int64)
    prev = np.concatenate([[timestamps[0] if last is None else last], timestamps[:-1]])
    steps = (timestamps - prev) * rate_hz
    return np.where(steps > tolerance, np.rint(steps) - 1, 0).astype(np.int64)


class SampleSourcePort(SerialBase):
    """The pyserial side: subclasses set up ``self._make_source(url)``."""

    scheme = ""
    is_open: bool  # SerialBase's (pyserial has no type information)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._source: SampleSource | None = None
        self._info: dict[str, Any] = {}
        self._buf = bytearray()
        self._streaming = True
        self._ended = False
        self._seq = 0
        self._scale = 1.0
        self._encoder = sio1.DataEncoder()
        super().__init__(*args, **kwargs)

    def _make_source(self, url: str) -> SampleSource:
        raise NotImplementedError

    # -- pyserial contract ------------------------------------------------------
    def open(self) -> None:
        if self.is_open:
            raise SerialException("port already open")
        if self._port is None:
            raise SerialException("port must be configured before it can be used")
        self._source = self._make_source(self.portstr)
        self._info = self._source.open()
        self._scale = float(self._info["streams"][0]["scale"])
        self._buf = bytearray(sio1.encode_info(self._info))
        self._streaming = True
        self._ended = False
        self.is_open = True

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
        self.is_open = False

    def _reconfigure_port(self) -> None:
        pass  # baud, parity ... mean nothing here

    def reset_input_buffer(self) -> None:
        pass  # dropping samples would break the accounting

    def reset_output_buffer(self) -> None:
        pass

    def write(self, data: bytes) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        for line in bytes(data).replace(b"\r", b"").split(b"\n"):
            command = line.strip().upper()
            if not command:
                continue
            if command == b"INFO":
                self._buf += sio1.encode_info(self._info) + sio1.encode_reply("OK")
            elif command == b"START":
                self._streaming = True
                self._buf += sio1.encode_reply("OK")
            elif command == b"STOP":
                self._streaming = False
                self._buf += sio1.encode_reply("OK")
            else:
                self._buf += sio1.encode_reply("ERR unknown command")
        return len(data)

    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        self._fill(0.0)
        return len(self._buf)

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while len(self._buf) < size and not self._ended:
            left = 0.1 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                break
            self._fill(min(left, 0.1))
            if self._buf and deadline is None:
                break
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out

    # -- sensorio hooks (as replay:// has) ----------------------------------------
    @property
    def sensorio_finished(self) -> bool:
        """The source has ended and everything it sent has been read."""
        return self._ended and not self._buf

    # -- frames -----------------------------------------------------------------
    def _fill(self, timeout: float) -> None:
        if self._source is None or self._ended:
            return
        got = self._source.pull(timeout)
        if got is None:
            self._ended = True
            return
        if not self._streaming or not len(got.values):
            return
        values = np.asarray(got.values, np.float64)
        # a value that is not a number (a source's way to say "no data") goes
        # out as a lead-off flag on that channel, so it is masked, never a 0
        missing = ~np.isfinite(values)
        # (the encoder's lead-off mask holds 64 channels: past them, the rail)
        codes = np.clip(np.rint(np.where(missing, 0.0, values) / self._scale), CODE_MIN, CODE_MAX)
        codes[:, 64:][missing[:, 64:]] = CODE_MIN
        codes = codes.astype(np.int32)
        bits = np.left_shift(np.uint64(1), np.arange(min(64, values.shape[1]), dtype=np.uint64))
        flags = np.bitwise_or.reduce(np.where(missing[:, :64], bits, np.uint64(0)), axis=1)
        lost = got.lost_before if len(got.lost_before) else np.zeros(len(codes), np.int64)
        t_us = np.rint(np.asarray(got.timestamps, np.float64) * 1e6).astype(np.int64)
        out = self._buf
        for i in range(len(codes)):
            self._seq = (self._seq + int(lost[i])) & 0xFFFF
            out += self._encoder.encode(
                codes[i : i + 1], enc=sio1.ENC_I32, seq=self._seq, t_us=int(t_us[i]), leadoff=int(flags[i])
            )
            self._seq = (self._seq + 1) & 0xFFFF
