"""Helpers shared by the tests/test_formats_*.py files: decode bytes in a
given chunking and check the byte invariant of sio_parser.h."""

from __future__ import annotations

import random
from collections.abc import Iterable

import numpy as np

from sensorio.parser import BYTE_REASONS, Parser, concat_blocks


def chunks(data: bytes, sizes: Iterable[int] | int | None) -> list[bytes]:
    """Split data: None = whole, an int = fixed size, else sizes in turn (cycled)."""
    if sizes is None:
        return [data]
    if isinstance(sizes, int):
        return [data[i : i + sizes] for i in range(0, len(data), sizes)]
    sizes = [max(1, s) for s in sizes] or [1]
    out, i, k = [], 0, 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        out.append(data[i : i + n])
        i += n
        k += 1
    return out


def random_sizes(seed: int, n: int = 64, hi: int = 97) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(1, hi) for _ in range(n)]


def decode(
    fmt,
    data: bytes,
    sizes=None,
    block_rows: int = 16384,
    parser: Parser | None = None,
    flush: bool = True,
):
    """Returns (streams as concat_blocks gives them, stats, messages)."""
    p = parser or Parser(fmt, block_rows=block_rows)
    blocks = []
    for c in chunks(data, sizes):
        p.feed(c)
        blocks.extend(p.read())
    if flush:
        p.flush()
        blocks.extend(p.read())
    assert_invariant(p.stats)
    return concat_blocks(blocks), p.stats, p.read_messages()


def assert_invariant(stats) -> None:
    total = sum(getattr(stats, name) for name in BYTE_REASONS)
    assert stats.bytes_in == total, f"byte invariant: in {stats.bytes_in} != accounted {total}: {stats}"


def assert_same_streams(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for sid in a:
        for key in a[sid]:
            x, y = a[sid][key], b[sid][key]
            assert x.dtype == y.dtype, (sid, key, x.dtype, y.dtype)
            assert np.array_equal(x, y), (sid, key)
