"""SIO-1 building blocks from the C core: CRC, COBS and frame encoders.

Used by the emulator and by tests; the decoding side is Parser.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ._binding import ffi, lib

TYPE_DATA = lib.SIO1_TYPE_DATA
TYPE_INFO = lib.SIO1_TYPE_INFO
TYPE_REPLY = lib.SIO1_TYPE_REPLY
TYPE_LOG = lib.SIO1_TYPE_LOG

ENC_I16 = lib.SIO1_ENC_I16
ENC_I24 = lib.SIO1_ENC_I24
ENC_I32 = lib.SIO1_ENC_I32
ENC_U16 = lib.SIO1_ENC_U16
ENCODINGS = {"i16": ENC_I16, "i24": ENC_I24, "i32": ENC_I32, "u16": ENC_U16}
#: inclusive code range of each encoding
ENC_RANGE = {
    ENC_I16: (-(1 << 15), (1 << 15) - 1),
    ENC_I24: (-(1 << 23), (1 << 23) - 1),
    ENC_I32: (-(1 << 31), (1 << 31) - 1),
    ENC_U16: (0, (1 << 16) - 1),
}
MAX_FRAME = 1024
_WIRE_CAP = MAX_FRAME + MAX_FRAME // 254 + 8


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of data (continue by passing the previous value)."""
    return lib.sio_crc16_ccitt(crc, ffi.from_buffer(data), len(data))


def cobs_encode(data: bytes) -> bytes:
    cap = len(data) + len(data) // 254 + 2
    out = ffi.new("uint8_t[]", cap)
    n = lib.sio_cobs_encode(ffi.from_buffer(data), len(data), out, cap)
    return bytes(ffi.buffer(out, n))


def cobs_decode(data: bytes) -> bytes:
    """Raises ValueError on invalid COBS."""
    out = ffi.new("uint8_t[]", max(1, len(data)))
    n = lib.sio_cobs_decode(ffi.from_buffer(data), len(data), out, len(data))
    if n < 0:
        raise ValueError("invalid COBS data")
    return bytes(ffi.buffer(out, n))


def data_frame_len(enc: int, n_ch: int, n_samp: int) -> int:
    """Decoded length of a DATA frame, 0 if the shape is not allowed."""
    return lib.sio1_data_frame_len(enc, n_ch, n_samp)


def encode_frame(frame_type: int, body: bytes) -> bytes:
    """A complete wire frame (COBS + delimiter) of any type."""
    scratch = ffi.new("uint8_t[]", len(body) + 3)
    out = ffi.new("uint8_t[]", _WIRE_CAP)
    n = lib.sio1_encode_frame(frame_type, ffi.from_buffer(body), len(body), scratch, len(body) + 3, out, _WIRE_CAP)
    if not n:
        raise ValueError(f"frame body of {len(body)} bytes is longer than SIO-1 allows")
    return bytes(ffi.buffer(out, n))


def encode_info(descriptor: dict[str, Any]) -> bytes:
    return encode_frame(TYPE_INFO, json.dumps(descriptor, separators=(",", ":")).encode())


def encode_reply(text: str) -> bytes:
    return encode_frame(TYPE_REPLY, text.encode())


def encode_log(text: str) -> bytes:
    return encode_frame(TYPE_LOG, text.encode())


class DataEncoder:
    """Builds DATA wire frames from int32 sample arrays without per-call allocation."""

    def __init__(self) -> None:
        self._scratch = ffi.new("uint8_t[]", MAX_FRAME)
        self._out = ffi.new("uint8_t[]", _WIRE_CAP)

    def encode(
        self,
        samples: np.ndarray,
        *,
        stream: int = 0,
        enc: int = ENC_I16,
        seq: int = 0,
        t_us: int = 0,
        leadoff: int = 0,
    ) -> bytes:
        """samples: (n_samp, n_ch) integer codes; values are truncated to enc."""
        arr = np.ascontiguousarray(samples, dtype=np.int32)
        if arr.ndim != 2:
            raise ValueError("samples must be 2-D (n_samp, n_ch)")
        n_samp, n_ch = arr.shape
        n = lib.sio1_encode_data(
            stream,
            enc,
            n_ch,
            n_samp,
            seq & 0xFFFF,
            t_us & 0xFFFFFFFF,
            leadoff,
            ffi.cast("int32_t *", ffi.from_buffer(arr)),
            self._scratch,
            MAX_FRAME,
            self._out,
            _WIRE_CAP,
        )
        if not n:
            raise ValueError(f"a DATA frame of {n_samp} x {n_ch} in encoding {enc} is not allowed")
        return bytes(ffi.buffer(self._out, n))


def encode_data(samples: np.ndarray, **kw: Any) -> bytes:
    """One DATA wire frame; see DataEncoder.encode."""
    return DataEncoder().encode(samples, **kw)
