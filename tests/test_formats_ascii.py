"""ASCII lines: text is built here with plain string formatting and must
decode exactly, in any chunking; malformed, over-long and partial lines are
counted and skipped without costing good lines."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from _formats_util import assert_invariant, decode, random_sizes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensorio.formats import ENC_F32, AsciiFormat
from sensorio.parser import Parser

RNG = np.random.default_rng(0)
INTS = RNG.integers(0, 1024, size=(300, 4))


def text(rows, sep: str = ",", eol: str = "\n", labels=None) -> bytes:
    lines = []
    for r in rows:
        if labels:
            lines.append(sep.join(f"{lab}:{v}" for lab, v in zip(labels, r, strict=True)))
        else:
            lines.append(sep.join(str(v) for v in r))
    return ("".join(line + eol for line in lines)).encode()


@pytest.mark.parametrize("sep", [",", "\t", " ", ", ", "  "])
@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_separators_and_line_ends(sep: str, eol: str) -> None:
    streams, stats, _ = decode("ascii", text(INTS, sep, eol), random_sizes(1))
    assert np.array_equal(streams[0]["samples"], INTS)
    assert streams[0]["samples"].dtype == np.float32
    assert stats.frames_ok == 300 and stats.malformed == 0
    assert stats.bytes_idle == (300 if eol == "\r\n" else 0)


@pytest.mark.parametrize("sizes", [None, 1, 5, random_sizes(2)])
def test_serial_plotter_labels(sizes) -> None:
    data = text(INTS, ",", "\r\n", labels=["emg1", "emg2", "Force_N", "x"])
    data += text(INTS[:5], " ", "\n", labels=["a", "b", "c", "d"])
    streams, stats, _ = decode("ascii", data, sizes)
    assert np.array_equal(streams[0]["samples"], np.concatenate([INTS, INTS[:5]]))


def test_floats_are_float32_exact() -> None:
    vals = RNG.normal(0, 1000, size=(200, 3))
    lines = "".join(",".join(f"{v:.6g}" for v in row) + "\n" for row in vals).encode()
    streams, stats, _ = decode("ascii", lines, 3)
    want = np.array([[np.float32(float(f"{v:.6g}")) for v in row] for row in vals], dtype=np.float32)
    got = streams[0]["samples"]
    assert got.dtype == np.float32
    assert np.array_equal(got, want)


def test_special_numbers() -> None:
    data = b"1,2\n3,4\n-5,+6\n1.5e3,-2.25\nnan,inf\n-inf,1e-7\n2147483648,-2147483648\n.5,7.\n"
    streams, stats, _ = decode("ascii", data)
    got = streams[0]["samples"]
    assert got.dtype == np.float32
    assert got[:3].tolist() == [[1, 2], [3, 4], [-5, 6]]
    assert got[3].tolist() == [1500.0, -2.25]
    assert np.isnan(got[4, 0]) and got[4, 1] == np.inf
    assert got[5, 0] == -np.inf and got[5, 1] == np.float32(1e-7)
    assert got[6].tolist() == [np.float32(2147483648.0), -2147483648.0]
    assert got[7].tolist() == [0.5, 7.0]
    assert stats.frames_ok == 8


def test_integers_and_decimals_are_one_float32_signal() -> None:
    # a device that prints integers, then a decimal (or %g, which drops ".0"),
    # is one signal: a change of type split it, stopping a capture
    p = Parser("ascii")
    p.feed(b"1,2\n3,4\n1.5,2\n5,6\n16777216,-16777216\n")
    p.flush()
    blocks = p.read()
    assert [b.samples.dtype for b in blocks] == [np.float32]
    assert blocks[0].encoding == ENC_F32
    assert blocks[0].samples.tolist() == [[1, 2], [3, 4], [1.5, 2], [5, 6], [16777216, -16777216]]


@pytest.mark.parametrize("order", ["ints first", "decimals first"])
def test_a_file_of_integers_and_decimals_decodes_whole(tmp_path, order: str) -> None:
    ints = [f"{i},{i + 1},{i + 2}" for i in range(200)]
    decimals = [f"{i}.5,{i + 1},{i + 2}" for i in range(200)]
    lines = ints + ["1.5,2,3"] + ints if order == "ints first" else decimals + ints
    raw = tmp_path / "a.txt"
    raw.write_text("\n".join(lines) + "\n")
    out = tmp_path / "a.npz"
    r = subprocess.run(
        [sys.executable, "-m", "sensorio", "decode", str(raw), "--format", "ascii", "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    with np.load(out) as z:
        samples = z["samples"]
    assert samples.dtype == np.float32 and len(samples) == len(lines)
    assert samples[:, 0].tolist() == [float(line.split(",")[0]) for line in lines]


def test_learns_channels_and_skips_bad_lines() -> None:
    data = (
        b"9,503\n"  # partial first line: another count, dropped as resync
        b"Sensor ready\r\n"  # text: malformed
        b"1,2,3\n4,5,6\n"
        b"7,8\n"  # wrong count: malformed
        b"1,,2\n"  # empty field: malformed
        b"7,8,9,\n"  # trailing separator is fine
        b"x:1,y:2,z:oops\n"  # malformed value
        b"\n\n"  # idle
        b"10,11,12\n"
    )
    streams, stats, _ = decode("ascii", data, 1)
    assert streams[0]["samples"].tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]
    assert stats.malformed == 4
    assert stats.bytes_resync == len(b"9,503\n")
    assert stats.bytes_idle == 3  # the LF of CRLF, two empty lines
    assert stats.bytes_malformed == len(b"Sensor ready\r\n7,8\n1,,2\nx:1,y:2,z:oops\n") - 1
    assert stats.bytes_idle + stats.bytes_malformed + stats.bytes_resync + stats.bytes_ok == len(data)


def test_given_channel_count_and_overlong_lines() -> None:
    fmt = AsciiFormat(channels=2, max_line=20)
    data = b"1,2\n" + b"3," * 30 + b"4\n" + b"5,6\n" + b"1,2,3\n"
    streams, stats, _ = decode(fmt, data, 7)
    assert streams[0]["samples"].tolist() == [[1, 2], [5, 6]]
    assert stats.oversized == 1 and stats.bytes_oversized == 62
    assert stats.malformed == 1


def test_last_line_without_newline_and_lone_line() -> None:
    streams, stats, _ = decode("ascii", b"1,2\n3,4")
    assert streams[0]["samples"].tolist() == [[1, 2], [3, 4]]
    streams, stats, _ = decode("ascii", b"7,8,9\n")
    assert streams[0]["samples"].tolist() == [[7, 8, 9]]
    streams, stats, _ = decode("ascii", b"3,4", flush=False)
    assert not streams and stats.bytes_pending == 3


def test_discontinuity_skips_partial_line() -> None:
    p = Parser("ascii")
    p.feed(b"1,2\n3,4\n5,")
    p.discontinuity()
    p.feed(b"6\n7,8\n")
    streams, stats, _ = decode("ascii", b"", parser=p)
    assert streams[0]["samples"].tolist() == [[1, 2], [3, 4], [7, 8]]
    assert stats.bytes_resync == len(b"5,6\n")


def test_descriptor() -> None:
    info = AsciiFormat(channels=3, rate_hz=500, unit="counts", min_code=0, max_code=1023).descriptor()
    s = info["streams"][0]
    assert (s["channels"], s["rate_hz"], s["max_code"]) == (3, 500, 1023)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=3, max_size=3), min_size=2, max_size=40),
    st.lists(st.integers(1, 30), min_size=1, max_size=6),
    st.sampled_from([",", "\t", " "]),
    st.sampled_from(["\n", "\r\n"]),
)
def test_any_chunking(rows, sizes, sep, eol) -> None:
    streams, stats, _ = decode("ascii", text(rows, sep, eol), sizes)
    assert np.array_equal(streams[0]["samples"], np.array(rows, dtype=np.float32))


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.binary(max_size=300),
    st.integers(0, 20),
    st.lists(st.integers(1, 30), min_size=1, max_size=6),
)
def test_garbage_costs_only_its_lines(junk: bytes, where: int, sizes) -> None:
    rows = INTS[:20].tolist()
    good = text(rows)
    lines = good.split(b"\n")
    # garbage between two lines, terminated so that it is a line of its own
    junk = junk.replace(b"\r", b"\n") + b"\n"
    data = b"\n".join(lines[:where]) + (b"\n" if where else b"") + junk + b"\n".join(lines[where:])
    streams, stats, _ = decode("ascii", data, sizes)
    assert_invariant(stats)
    got = streams[0]["samples"].tolist() if streams else []
    # every good line comes through; garbage lines may parse as 4 numbers
    it = iter(got)
    assert all(any(r == g for g in it) for r in rows[1:])
