"""Writes seed corpora for the fuzz targets of the formats beyond SIO-1:
tests/fuzz/corpus/{cyton,ascii,spec}/. Deterministic; run from the repo root."""

from __future__ import annotations

import random
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_formats_cyton import make_stream  # noqa: E402
from test_formats_spec import imu_stream, loadcell_frame  # noqa: E402


def write(target: str, name: str, data: bytes) -> None:
    d = ROOT / "tests" / "fuzz" / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def main() -> None:
    rng = random.Random(1)
    pk, _, _ = make_stream(40, seed=2, accel_every=3)
    clean = b"".join(pk)
    write("cyton", "clean", bytes([32, 255]) + clean)
    write("cyton", "bytewise_cut", bytes([0, 20]) + clean)
    bad = bytearray(clean)
    bad[5 * 33 + 32] = 0xD1  # bad stop byte
    del bad[12 * 33 + 4 : 12 * 33 + 9]  # truncated packet
    bad[20 * 33 : 20 * 33] = b"\xa0\x01garbage\xc0"
    write("cyton", "corrupt", bytes([7, 255]) + bytes(bad))
    write("cyton", "midjoin", bytes([33, 255]) + clean[17:])

    lines = b"".join(
        b"%d,%d,%d\r\n" % (rng.randint(0, 1023), rng.randint(0, 1023), rng.randint(-5, 5)) for _ in range(30)
    )
    write("ascii", "ints", bytes([5, 255, 0, 255]) + lines)
    write("ascii", "plotter", bytes([1, 3, 3, 255]) + b"a:1.5 b:2 c:-3e2\nnan,inf,-inf\n" * 5)
    write("ascii", "mixed", bytes([9, 2, 0, 2]) + b"hello\n1\t2\n" + b"9" * 200 + b"\n3;4\n\r\r5,6")

    # spec bytes as fuzz_spec.c reads them, with frames that fit each spec
    cyton_like = bytes(
        [
            0,
            0xA0,
            0,
            0,
            1,
            29,
            0,
            0,
            0,
            0,
            1,
            0,
            0,
            1,
            0xFF,
            1,
            1,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            1,
            7,
            5,
            8,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ]
    )
    write("spec", "cyton_like", cyton_like + bytes([33, 255]) + clean)
    frames, *_ = imu_stream(10, seed=3)
    imu = bytes(
        [
            1,
            0xAA,
            0x55,
            0,
            0,
            0,
            2,
            5,
            19,
            232,
            0,
            0,
            0,
            0,
            0,
            1,
            3,
            1,
            0,
            1,
            5,
            0,
            5,
            0xFE,
            0,
            0,
            2,
            6,
            3,
            0x44,
            0x0A,
            3,
            0x4C,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ]
    )
    write("spec", "imu_like", imu + bytes([17, 255]) + b"".join(frames))
    lc = b"".join(loadcell_frame(i, (1.0, -2.5, 3e3, 0.0)) for i in range(20))
    f32 = bytes(
        [
            1,
            0x4C,
            0x43,
            0,
            1,
            20,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            1,
            2,
            0,
            0,
            0,
            0,
            0,
            6,
            0xFC,
            0,
            0,
            0,
            3,
            7,
            12,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ]
    )
    write("spec", "f32_crc32", f32 + bytes([5, 3]) + lc)
    write("spec", "random", bytes(rng.randrange(256) for _ in range(600)))
    write("spec", "struct", bytes(40) + bytes([3, 1]) + struct.pack("<20H", *range(20)) * 10)


if __name__ == "__main__":
    main()
