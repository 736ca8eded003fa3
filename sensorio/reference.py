"""A plain-Python SIO-1 decoder, written from PROTOCOL.md alone.

It exists to cross-check the C parser in tests and benchmarks: it is slow on
purpose-free simplicity, shares no code with the C core (its own CRC and COBS)
and produces the same arrays and counters. Not for production use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_FRAME = 1024
MAX_ENCODED = MAX_FRAME + MAX_FRAME // 254 + 1
WIDTH = {1: 2, 2: 3, 3: 4, 4: 2}
SIGNED = {1: True, 2: True, 3: True, 4: False}


def crc16_ccitt(data: bytes, crc: int = 0xFFFF) -> int:
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def cobs_decode(enc: bytes) -> bytes | None:
    out = bytearray()
    i = 0
    while i < len(enc):
        code = enc[i]
        if code == 0 or i + code > len(enc):
            return None
        out += enc[i + 1 : i + code]
        i += code
        if code != 0xFF and i < len(enc):
            out.append(0)
    return bytes(out)


def cobs_encode(data: bytes) -> bytes:
    out = bytearray([0])
    code_pos, code = 0, 1
    for byte in data:
        if byte == 0:
            out[code_pos] = code
            code_pos, code = len(out), 1
            out.append(0)
        else:
            out.append(byte)
            code += 1
            if code == 0xFF:
                out[code_pos] = code
                code_pos, code = len(out), 1
                out.append(0)
    out[code_pos] = code
    return bytes(out)


@dataclass
class _Stream:
    samples: list[list[int]] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)
    t_us: list[int] = field(default_factory=list)
    leadoff: list[int] = field(default_factory=list)
    last_seq: int | None = None


class ReferenceDecoder:
    """Feed bytes; read per-stream arrays, messages and counters."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.discarding = False
        self.fresh = True
        self.streams: dict[int, _Stream] = {}
        self.messages: list[tuple[int, bytes]] = []
        self.stats = {
            k: 0
            for k in (
                "bytes_in",
                "bytes_ok",
                "frames_ok",
                "messages_ok",
                "samples_ok",
                "crc_errors",
                "bytes_crc",
                "cobs_errors",
                "bytes_cobs",
                "oversized",
                "bytes_oversized",
                "malformed",
                "bytes_malformed",
                "unknown_type",
                "bytes_unknown",
                "bytes_resync",
                "bytes_idle",
                "lost_frames",
                "lost_samples",
                "restarts",
            )
        }

    def feed(self, data: bytes) -> None:
        st = self.stats
        for byte in data:
            st["bytes_in"] += 1
            if byte != 0:
                if self.discarding:
                    st["bytes_oversized"] += 1
                    continue
                self.buf.append(byte)
                if len(self.buf) > MAX_ENCODED:
                    st["bytes_oversized"] += len(self.buf)
                    self.buf.clear()
                    self.discarding = True
                continue
            if self.discarding:
                self.discarding = False
                self.fresh = False
                st["oversized"] += 1
                st["bytes_oversized"] += 1
                continue
            enc = bytes(self.buf)
            self.buf.clear()
            fresh, self.fresh = self.fresh, False
            if not enc:
                st["bytes_idle"] += 1
                continue
            self._frame(enc, len(enc) + 1, fresh)

    def _bad(self, what: str, wire: int, fresh: bool) -> None:
        if fresh:
            self.stats["bytes_resync"] += wire
            return
        counter = {
            "crc": "crc_errors",
            "cobs": "cobs_errors",
            "oversized": "oversized",
            "malformed": "malformed",
            "unknown": "unknown_type",
        }[what]
        self.stats[counter] += 1
        self.stats["bytes_" + what] += wire

    def _frame(self, enc: bytes, wire: int, fresh: bool) -> None:
        if len(enc) > MAX_ENCODED:
            return self._bad("oversized", wire, fresh)
        frame = cobs_decode(enc)
        if frame is None:
            return self._bad("cobs", wire, fresh)
        if len(frame) > MAX_FRAME:
            return self._bad("oversized", wire, fresh)
        if len(frame) < 3:
            return self._bad("malformed", wire, fresh)
        if crc16_ccitt(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
            return self._bad("crc", wire, fresh)
        ftype = frame[0]
        if ftype in (2, 3, 4):
            self.stats["messages_ok"] += 1
            self.stats["bytes_ok"] += wire
            self.messages.append((ftype, frame[1:-2]))
            return None
        if ftype != 1:
            return self._bad("unknown", wire, fresh)
        if len(frame) < 13:
            return self._bad("malformed", wire, fresh)
        stream, enc_id, n_ch, n_samp = frame[1], frame[2], frame[3], frame[4]
        width = WIDTH.get(enc_id)
        mask_len = (n_ch + 7) // 8
        if (
            width is None
            or not 1 <= n_ch <= 64
            or n_samp < 1
            or len(frame) != 11 + mask_len + n_samp * n_ch * width + 2
        ):
            return self._bad("malformed", wire, fresh)
        seq = int.from_bytes(frame[5:7], "little")
        t_us = int.from_bytes(frame[7:11], "little")
        leadoff = int.from_bytes(frame[11 : 11 + mask_len], "little")
        s = self.streams.setdefault(stream, _Stream())
        if s.last_seq is not None:
            d = (seq - s.last_seq - 1) % 65536
            if 0 < d < 32768:
                self.stats["lost_frames"] += d
                self.stats["lost_samples"] += d * n_samp
            elif d:
                self.stats["restarts"] += 1
        s.last_seq = seq
        body = frame[11 + mask_len : -2]
        signed = SIGNED[enc_id]
        for i in range(n_samp):
            row = []
            for c in range(n_ch):
                off = (i * n_ch + c) * width
                row.append(int.from_bytes(body[off : off + width], "little", signed=signed))
            s.samples.append(row)
        s.seq.append(seq)
        s.t_us.append(t_us)
        s.leadoff.append(leadoff)
        self.stats["frames_ok"] += 1
        self.stats["samples_ok"] += n_samp
        self.stats["bytes_ok"] += wire
        return None

    @property
    def bytes_pending(self) -> int:
        return 0 if self.discarding else len(self.buf)

    def arrays(self) -> dict[int, dict[str, np.ndarray]]:
        out = {}
        for sid, s in sorted(self.streams.items()):
            n_ch = len(s.samples[0]) if s.samples else 0
            out[sid] = {
                "samples": np.array(s.samples, dtype=np.int64).reshape(-1, n_ch),
                "frame_seq": np.array(s.seq, dtype=np.int64),
                "frame_t_us": np.array(s.t_us, dtype=np.int64),
                "frame_leadoff": np.array(s.leadoff, dtype=np.uint64),
            }
        return out
