"""A device that prints one line of comma-separated codes per sample, like
an Arduino sketch (``Serial.println``); optionally with Serial Plotter labels
(``ch1:512,ch2:498``) and/or a leading sample counter so that lost lines can
be counted."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ...descriptor import channel_labels
from .base import Device, StreamState


class AsciiDevice(Device):
    """An Arduino-style sketch: one text line of comma-separated codes per
    sample, streaming from power-on (``s`` pauses, ``b`` resumes); optionally
    Serial Plotter labels and a leading sample counter."""

    format = "ascii"
    garbage_exclude = b"\n\r"

    def __init__(
        self,
        *args: Any,
        labels: bool = False,
        counter: bool = False,
        autostart: bool = True,
        **kw: Any,
    ) -> None:
        super().__init__(*args, **kw)
        self.labels = labels
        self.counter = counter
        # a sketch streams from reset on; 's' / 'b' pause and resume it
        self.streaming = autostart

    def frame_samples(self, stream) -> int:  # type: ignore[no-untyped-def]
        """1: every line carries one sample per channel."""
        return 1

    def handle_input(self, data: bytes) -> bytes:
        for byte in data:
            if byte in b"bs":
                self.streaming = byte == ord("b")
                self.events.append({"type": "command", "text": chr(byte), "reply": ""})
        return b""

    def encode_frames(
        self,
        stream: StreamState,
        codes: np.ndarray,
        leadoff: np.ndarray,
        seq0: int,
        t_us: list[int],
    ) -> list[bytes]:
        names = stream.profile.labels or channel_labels(None, codes.shape[1])
        out = []
        for i, row in enumerate(codes.tolist()):
            if self.labels:
                fields = [f"{name}:{v}" for name, v in zip(names, row, strict=True)]
            else:
                fields = [str(v) for v in row]
            if self.counter:
                fields.insert(0, f"n:{seq0 + i}" if self.labels else str(seq0 + i))
            out.append((",".join(fields) + "\r\n").encode())
        return out

    def encode_batch(
        self,
        stream: StreamState,
        codes: np.ndarray,
        leadoff: np.ndarray,
        seq0: int,
        t_us: list[int],
    ) -> tuple[bytes, list[int]]:
        """encode_frames' lines in bulk: one %-format of all the numbers
        instead of a join per line (the same text: %d is str() of an int)."""
        n, n_ch = codes.shape
        if not n:
            return b"", []
        names = stream.profile.labels or channel_labels(None, n_ch)
        if self.labels:
            fields = [name.replace("%", "%%") + ":%d" for name in names]
        else:
            fields = ["%d"] * n_ch
        values = codes
        if self.counter:
            fields.insert(0, "n:%d" if self.labels else "%d")
            values = np.column_stack([np.arange(seq0, seq0 + n, dtype=np.int64), codes])
        line = ",".join(fields) + "\r\n"
        data = ((line * n) % tuple(values.ravel().tolist())).encode()
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A) + 1
        return data, np.diff(ends, prepend=0).tolist()

    def corrupt(self, data: bytes, rng: np.random.Generator) -> tuple[bytes, int, int]:
        """Flip the lowest bit of a digit: it stays a digit, the value is wrong
        (ASCII lines have no check), the line structure survives."""
        digits = [i for m in re.finditer(rb"-?(\d+)(?=[,\r])", data) for i in range(*m.span(1))]
        offset = digits[int(rng.integers(len(digits)))]
        out = bytearray(data)
        out[offset] ^= 1
        return bytes(out), offset, 0
