"""An SIO-1 device (PROTOCOL.md): DATA frames per stream, INFO, REPLY to
INFO / START / STOP / RATE / TEST ON|OFF, ERR for anything else."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ... import sio1
from .base import Device, StreamState

#: PROTOCOL.md: a host command line is at most 64 bytes
MAX_COMMAND = 64


class SioDevice(Device):
    """An SIO-1 device (PROTOCOL.md): INFO at power-on, DATA frames per stream,
    and REPLY or ERR to the host's command lines (INFO, START, STOP, RATE,
    TEST ON|OFF)."""

    format = "sio"
    garbage_exclude = b"\x00"

    def __init__(self, *args, autostart: bool = False, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kw)
        self._encoder = sio1.DataEncoder()
        self._line = bytearray()
        self._overlong = False
        self.streaming = autostart

    def descriptor(self) -> dict:
        """The INFO descriptor the device sends now (stream rates as RATE last set them)."""
        d = self.profile.descriptor(self.serial)
        # the EMG streams' rates may have been changed by RATE
        for st, sd in zip(self.streams, d["streams"], strict=True):
            sd["rate_hz"] = st.rate
        return d

    def power_up(self) -> bytes:
        # a 0x00 flushes whatever partial frame the receiver holds
        return b"\x00" + sio1.encode_info(self.descriptor())

    def handle_input(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            if byte == 0x0A:
                if self._overlong:
                    text = "ERR line too long"
                    reply = sio1.encode_reply(text)
                    self.events.append({"type": "command", "text": "", "reply": text})
                else:
                    reply = self._command(self._line.decode("ascii", errors="replace").strip())
                out += reply
                self._line.clear()
                self._overlong = False
            elif byte == 0x0D:
                continue
            elif len(self._line) < MAX_COMMAND:
                self._line.append(byte)
            else:
                self._overlong = True
        return bytes(out)

    def _command(self, line: str) -> bytes:
        words = line.split()
        cmd = words[0].upper() if words else ""
        pre = b""
        if cmd == "INFO" and len(words) == 1:
            pre, text = sio1.encode_info(self.descriptor()), "OK"
        elif cmd == "START" and len(words) == 1:
            # a 0x00 first, as on power-up: the receiver drops any partial frame
            self.streaming, text, pre = True, "OK", b"\x00"
        elif cmd == "STOP" and len(words) == 1:
            self.streaming, text = False, "OK"
        elif cmd == "RATE" and len(words) == 2:
            text = self._rate(words[1])
        elif cmd == "TEST" and len(words) == 2 and words[1].upper() in ("ON", "OFF"):
            on = words[1].upper() == "ON"
            for st in self.streams:
                if st.profile.kind == "emg":
                    st.signal.test_mode = on
                    st.signal.test_uv = self.profile.test_uv
                    st.signal.test_hz = self.profile.test_hz
            text = "OK"
        else:
            text = "ERR unknown command"
        self.events.append({"type": "command", "text": line, "reply": text})
        return pre + sio1.encode_reply(text)

    def _rate(self, arg: str) -> str:
        try:
            hz = float(arg)
        except ValueError:
            return "ERR rate must be a number"
        if hz not in self.profile.rates:
            return "ERR unsupported rate; supported: " + " ".join(f"{r:g}" for r in self.profile.rates)
        if self.streaming:
            return "ERR stop streaming first"
        # stream 0's rate, and that of the EMG streams beside it (a rig of more than 64 channels)
        first = self.streams[0]
        for st in self.streams:
            if st is first or (first.profile.kind == "emg" and st.profile.kind == "emg"):
                st.set_rate(hz, self.frame_samples(replace(st.profile, rate_hz=hz)))
        return f"OK {hz:g}"

    def encode_frames(
        self,
        stream: StreamState,
        codes: np.ndarray,
        leadoff: np.ndarray,
        seq0: int,
        t_us: list[int],
    ) -> list[bytes]:
        p = stream.profile
        n = stream.n_samp
        # lead-off bit of a frame: set if the electrode was off at any of its samples
        masks = np.bitwise_or.reduce(leadoff.reshape(-1, n), axis=1).tolist()
        encode = self._encoder.encode
        return [
            encode(
                codes[i * n : (i + 1) * n],
                stream=p.id,
                enc=p.enc,
                seq=seq0 + i,
                t_us=t_us[i],
                leadoff=masks[i],
            )
            for i in range(len(t_us))
        ]

    def corrupt(self, data: bytes, rng: np.random.Generator) -> tuple[bytes, int, int]:
        """Flip a bit of a data byte (not a COBS code byte, never making 0x00):
        the frame keeps its boundaries and fails its CRC, nothing else is hit."""
        codes = set()
        i = 0
        while i < len(data) - 1:
            codes.add(i)
            i += data[i]
        candidates = [j for j in range(len(data) - 1) if j not in codes]
        offset = candidates[int(rng.integers(len(candidates)))]
        bits = [b for b in range(8) if data[offset] ^ (1 << b)]
        bit = bits[int(rng.integers(len(bits)))]
        out = bytearray(data)
        out[offset] ^= 1 << bit
        return bytes(out), offset, bit
