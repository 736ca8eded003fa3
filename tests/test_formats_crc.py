"""Checksums of declarative formats against their published check values
(the CRC of b"123456789") and independent Python implementations."""

from __future__ import annotations

import zlib
from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from sensorio._binding import ffi, lib

CHECK = b"123456789"


def c(fn, data: bytes) -> int:
    return fn(ffi.from_buffer(data), len(data))


def test_check_values() -> None:
    assert c(lib.sio_crc8, CHECK) == 0xF4  # CRC-8/SMBUS
    assert c(lib.sio_crc16_modbus, CHECK) == 0x4B37
    assert c(lib.sio_crc32, CHECK) == 0xCBF43926
    assert lib.sio_crc16_ccitt(0xFFFF, ffi.from_buffer(CHECK), 9) == 0x29B1
    assert c(lib.sio_xor8, CHECK) == reduce(lambda a, b: a ^ b, CHECK)
    assert c(lib.sio_sum8, CHECK) == sum(CHECK) % 256


def crc8_ref(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def modbus_ref(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@given(st.binary(max_size=300))
def test_against_reference(data: bytes) -> None:
    assert c(lib.sio_crc32, data) == zlib.crc32(data)
    assert c(lib.sio_crc8, data) == crc8_ref(data)
    assert c(lib.sio_crc16_modbus, data) == modbus_ref(data)
    assert c(lib.sio_sum8, data) == sum(data) % 256
    assert c(lib.sio_xor8, data) == reduce(lambda a, b: a ^ b, data, 0)
