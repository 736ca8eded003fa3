"""Shared helpers of the emulator tests."""

from __future__ import annotations

from typing import Any

import numpy as np

import sensorio
from sensorio.emulator import TruthLog, config_from_options, render


def options(**kw: Any) -> dict[str, list[str]]:
    out = {}
    for key, value in kw.items():
        values = value if isinstance(value, list) else [value]
        out[key] = [str(int(v)) if isinstance(v, bool) else str(v) for v in values]
    return out


def run(commands: bytes = b"", **kw: Any) -> tuple[bytes, TruthLog]:
    """Bytes and truth of a device run as fast as possible."""
    kw.setdefault("duration", 1.0)
    data, truth = render(config_from_options(options(**kw)), commands)
    return data, TruthLog(truth.records)


def decode(data: bytes, fmt: str = "sio") -> tuple[Any, dict]:
    p = sensorio.Parser(fmt)
    p.feed(data)
    return p, sensorio.concat_blocks(p.read())


def cyton_packets(data: bytes) -> np.ndarray:
    """Test-side Cyton decoding: (n, 33) packets, demanding perfect alignment."""
    arr = np.frombuffer(data, dtype=np.uint8)
    assert arr.size % 33 == 0
    pk = arr.reshape(-1, 33)
    assert (pk[:, 0] == 0xA0).all() and (pk[:, 32] == 0xC0).all()
    return pk


def cyton_codes(packets: np.ndarray) -> np.ndarray:
    b = packets[:, 2:26].reshape(-1, 8, 3).astype(np.int64)
    v = (b[:, :, 0] << 16) | (b[:, :, 1] << 8) | b[:, :, 2]
    return np.where(v >= 1 << 23, v - (1 << 24), v)
