"""An OpenBCI Cyton as its clients (BrainFlow, the OpenBCI GUI) see it:
33-byte packets at 250 Hz (0xA0, sample number, 8 x int24 big-endian,
6 aux bytes, 0xC0), and the single-character command set of firmware v3."""

from __future__ import annotations

import numpy as np

from ..profiles import ADS1299_UV_PER_COUNT_G24
from .base import Device, StreamState

START = 0xA0
STOP = 0xC0
GAINS = (1, 2, 4, 6, 8, 12, 24)
_OFF_KEYS = b"12345678"
_ON_KEYS = b"!@#$%^&*"
_VERSION = "OpenBCI V3 8-16 channel\nOn Board ADS1299 Device ID: 0x3E\nLIS3DH Device ID: 0x33\nFirmware: v3.1.2\n$$$"
#: accelerometer: 1 g = 1 / (0.002 / 16) counts; the board lies flat
_ACCEL = np.array([0, 0, 8000], dtype=">i2").tobytes()
#: packets per accelerometer reading (250 Hz / 25 Hz)
ACCEL_EVERY = 10


class CytonDevice(Device):
    """An OpenBCI Cyton: 33-byte packets of 8 int24 channels at 250 Hz and
    firmware v3's single-character commands (``b``/``s`` start and stop,
    ``1``-``8`` and ``!``-``*`` switch channels 1-8 off and on, ``x...X``
    channel settings, ``v`` version, ``?`` registers)."""

    format = "cyton"
    garbage_exclude = bytes([START])

    def __init__(self, *args, autostart: bool = False, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kw)
        self.streaming = autostart
        self.channel_on = [True] * 8
        self.gain = [24] * 8
        self.input_type = [0] * 8
        self._pending = bytearray()  # an unfinished x...X or z...Z command

    def frame_samples(self, stream) -> int:  # type: ignore[no-untyped-def]
        """1: a Cyton packet carries one sample per channel."""
        return 1

    def handle_input(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            ch = bytes([byte])
            if self._pending[:1] == b"~":
                # '~' takes one argument character: only 250 Hz is emulated
                self._pending.clear()
                reply = (
                    "Success: Sample rate is 250Hz$$$" if ch in (b"6", b"~") else "Failure: only 250Hz is emulated$$$"
                )
                self._note(b"~" + ch, reply)
                out += reply.encode()
                continue
            if self._pending:
                self._pending += ch
                if ch in (b"X", b"Z"):
                    out += self._channel_setting(bytes(self._pending))
                    self._pending.clear()
                elif len(self._pending) > 9:
                    self._note(bytes(self._pending), "Failure: too many chars$$$")
                    out += b"Failure: too many chars$$$"
                    self._pending.clear()
                continue
            reply = ""
            if ch in (b"x", b"z"):
                self._pending += ch
                continue
            if ch == b"v":
                reply = _VERSION
            elif ch == b"b":
                self.streaming = True
            elif ch == b"s":
                self.streaming = False
            elif ch == b"d":
                self.channel_on = [True] * 8
                self.gain = [24] * 8
                self.input_type = [0] * 8
                reply = "updating channel settings to default$$$"
            elif ch == b"D":
                reply = "060110$$$"
            elif ch == b"?":
                reply = self._registers()
            elif byte in _OFF_KEYS:
                self.channel_on[_OFF_KEYS.index(byte)] = False
            elif byte in _ON_KEYS:
                self.channel_on[_ON_KEYS.index(byte)] = True
            elif ch == b"~":
                self._pending += ch
                continue
            elif ch in (b"\r", b"\n"):
                continue
            if reply or ch in b"bs12345678!@#$%^&*":
                self._note(ch, reply)
            out += reply.encode()
        return bytes(out)

    def _note(self, cmd: bytes, reply: str) -> None:
        self.events.append({"type": "command", "text": cmd.decode("latin-1"), "reply": reply})

    def _channel_setting(self, cmd: bytes) -> bytes:
        """x N POWER GAIN INPUT BIAS SRB2 SRB1 X (z...Z lead-off: accepted, no effect)."""
        text = cmd.decode("latin-1")
        if cmd[:1] == b"z":
            reply = f"Success: Lead off set for {text[1:2]}$$$" if len(cmd) == 5 else "Failure: too few chars$$$"
        elif len(cmd) != 9:
            reply = "Failure: too few chars$$$"
        else:
            n = "12345678".find(text[1])
            try:
                power, gain, inp = int(text[2]), int(text[3]), int(text[4])
            except ValueError:
                n = -1
            if n < 0 or gain >= len(GAINS):
                reply = "Failure: invalid channel setting$$$"
            else:
                self.channel_on[n] = power == 0
                self.gain[n] = GAINS[gain]
                self.input_type[n] = inp
                reply = f"Success: Channel set for {n + 1}$$$"
        self._note(cmd, reply)
        return reply.encode()

    def _registers(self) -> str:
        lines = ["Board ADS Registers", "ADS_ID, 00, 3E"]
        for i in range(8):
            gain_bits = GAINS.index(self.gain[i])
            lines.append(f"CH{i + 1}SET, {5 + i:02X}, {(0 if self.channel_on[i] else 0x80) | gain_bits << 4:02X}")
        return "\n".join(lines) + "\n$$$"

    def encode_frames(
        self,
        stream: StreamState,
        codes: np.ndarray,
        leadoff: np.ndarray,
        seq0: int,
        t_us: list[int],
    ) -> list[bytes]:
        return [row.tobytes() for row in self._packets(stream, codes, seq0)]

    def encode_batch(
        self,
        stream: StreamState,
        codes: np.ndarray,
        leadoff: np.ndarray,
        seq0: int,
        t_us: list[int],
    ) -> tuple[bytes, list[int]]:
        """encode_frames' packets as one bytes object (one tobytes, not one per packet)."""
        packets = self._packets(stream, codes, seq0)
        return packets.tobytes(), [33] * len(packets)

    def _packets(self, stream: StreamState, codes: np.ndarray, seq0: int) -> np.ndarray:
        """One 33-byte packet per row of codes, (rows, 33) uint8."""
        n = codes.shape[0]
        # the emulated signal is at gain 24; other gains scale the codes
        factor = np.array(self.gain, dtype=float) / 24.0
        adc = codes * factor
        for i in range(8):
            if not self.channel_on[i]:
                adc[:, i] = 0  # a powered-down ADS1299 channel reads 0
            elif self.input_type[i] == 1:  # input shorted
                adc[:, i] = 0
        lo, hi = stream.profile.code_range
        codes_int = np.clip(np.rint(adc), lo, hi).astype(np.int64)
        codes[:] = codes_int  # what goes on the wire is what the truth records
        packet = np.zeros((n, 33), dtype=np.uint8)
        packet[:, 0] = START
        packet[:, 1] = (seq0 + np.arange(n)) & 0xFF
        be = (codes_int & 0xFFFFFF).astype(">u4").view(np.uint8).reshape(n, 8, 4)[:, :, 1:]
        packet[:, 2:26] = be.reshape(n, 24)
        # the accelerometer at 25 Hz: in every tenth packet, the aux bytes of the
        # others zero, as firmware v3 sends it (every packet made 250 Hz of a
        # stream its descriptor says is 25 Hz: a 3 s recording read as 30 s)
        packet[(seq0 + np.arange(n)) % ACCEL_EVERY == 0, 26:32] = np.frombuffer(_ACCEL, dtype=np.uint8)
        packet[:, 32] = STOP
        return packet

    def corrupt(self, data: bytes, rng: np.random.Generator) -> tuple[bytes, int, int]:
        """Flip a bit in a sample value: Cyton has no CRC, so the packet
        still looks valid and only its value is wrong (as on a real link)."""
        offset = int(rng.integers(2, 26))
        bit = int(rng.integers(8))
        out = bytearray(data)
        out[offset] ^= 1 << bit
        return bytes(out), offset, bit


UV_PER_COUNT = ADS1299_UV_PER_COUNT_G24
