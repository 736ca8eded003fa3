"""Declarative binary formats: the shipped board specs decode streams built
here with struct/zlib, in any chunking; the Cyton spec decodes exactly as the
built-in Cyton parser; wrong specs raise FormatError naming the field."""

from __future__ import annotations

import dataclasses
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from _formats_util import assert_same_streams, decode, random_sizes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_formats_cyton import DATA as CYTON_DATA
from test_formats_cyton import EEG as CYTON_EEG
from test_formats_cyton import PACKETS as CYTON_PACKETS

from sensorio.errors import FormatError
from sensorio.formats import BOARDS_DIR, ENC_F32, board_names, resolve
from sensorio.formats.spec import compile_spec, tomllib

ROOT = Path(__file__).resolve().parent.parent


def modbus(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def imu_frame(seq: int, t_us: int, rows: np.ndarray) -> bytes:
    payload = struct.pack("<HI", seq & 0xFFFF, t_us & 0xFFFFFFFF) + rows.astype("<i2").tobytes()
    body = b"\xaa\x55" + bytes([len(payload)]) + payload
    return body + struct.pack("<H", modbus(body))


def imu_stream(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    frames, truth, times, counts = [], [], [], []
    for i in range(n):
        k = int(rng.integers(1, 21))
        rows = rng.integers(-(2**15), 2**15, size=(k, 6))
        frames.append(imu_frame(i, 1000 * i, rows))
        truth.append(rows)
        times.append(1000 * i)
        counts.append(k)
    return frames, np.concatenate(truth), times, counts


def test_boards_shipped() -> None:
    assert {"openbci-cyton", "openeeg-p2", "example-imu-modbus", "example-loadcell-f32"} <= set(board_names())
    for name in board_names():
        info = resolve(name).descriptor()
        for s in info["streams"]:
            assert {
                "id",
                "name",
                "channels",
                "rate_hz",
                "unit",
                "scale",
                "zero",
                "min_code",
                "max_code",
                "labels",
            } <= set(s)


@pytest.mark.parametrize("sizes", [None, 1, 33, random_sizes(5)])
def test_cyton_spec_equals_builtin_clean(sizes) -> None:
    a, sa, _ = decode("cyton", CYTON_DATA, sizes)
    b, sb, _ = decode(BOARDS_DIR / "openbci-cyton.toml", CYTON_DATA, sizes)
    assert np.array_equal(b[0]["samples"], CYTON_EEG)
    assert_same_streams(a, b)
    assert sa == sb


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 40 * 33), st.integers(0, 2), st.binary(min_size=1, max_size=40)),
        max_size=4,
    ),
    skip=st.integers(0, 40),
    sizes=st.lists(st.integers(1, 90), min_size=1, max_size=6),
)
def test_cyton_spec_equals_builtin_corrupted(edits, skip, sizes) -> None:
    data = bytearray(b"".join(CYTON_PACKETS[:40]))
    for pos, kind, junk in edits:
        if kind == 0:
            data[pos : pos + len(junk)] = junk
        elif kind == 1:
            data[pos:pos] = junk
        else:
            del data[pos : pos + len(junk)]
    data = bytes(data[skip:])
    a, sa, _ = decode("cyton", data, sizes)
    b, sb, _ = decode("openbci-cyton", data, sizes)
    assert_same_streams(a, b)
    # the number of separate bad runs may differ by one: the built-in Cyton
    # works its carry one candidate at a time, which can end a run where the
    # spec's does not (sio_framer_ops.carry_one_candidate); every byte and
    # frame count is the same
    assert dataclasses.replace(sa, malformed=0) == dataclasses.replace(sb, malformed=0)
    assert abs(sa.malformed - sb.malformed) <= 1


@pytest.mark.parametrize("sizes", [None, 1, 7, random_sizes(11, hi=300)])
def test_imu_length_frames_exact(sizes) -> None:
    frames, truth, times, counts = imu_stream(200, seed=3)
    streams, stats, _ = decode("example-imu-modbus", b"".join(frames), sizes, block_rows=50)
    assert np.array_equal(streams[0]["samples"], truth[:, :3])
    assert np.array_equal(streams[1]["samples"], truth[:, 3:])
    assert streams[0]["frame_t_us"].tolist() == times
    assert streams[0]["frame_seq"].tolist() == list(range(200))
    # one frame of two streams counts once, as it is lost once
    assert stats.frames_ok == 200 and stats.bytes_ok == sum(map(len, frames))
    assert stats.crc_errors == 0 and stats.bytes_pending == 0


def test_imu_crc_error_costs_one_frame() -> None:
    frames, truth, _, counts = imu_stream(30, seed=4)
    bad = bytearray(frames[12])
    bad[10] ^= 0x40
    frames[12] = bytes(bad)
    streams, stats, _ = decode("example-imu-modbus", b"".join(frames), 5)
    starts = np.cumsum([0] + counts)
    keep = np.concatenate([truth[starts[i] : starts[i + 1]] for i in range(30) if i != 12])
    assert np.array_equal(streams[0]["samples"], keep[:, :3])
    assert stats.crc_errors == 1 and stats.bytes_crc == len(frames[12])
    assert stats.lost_frames == 1
    assert [len(e) for e in (streams[0]["events"], streams[1]["events"])] == [1, 1]  # a gap in each stream


def test_imu_garbage_and_bad_length() -> None:
    frames, truth, _, counts = imu_stream(20, seed=5)
    junk = b"\xaa\x55\xff" + b"\xaa\x55\x01\x02" + bytes(range(50))
    data = b"".join(frames[:10]) + junk + b"".join(frames[10:])
    streams, stats, _ = decode("example-imu-modbus", data, 3)
    assert np.array_equal(streams[0]["samples"], truth[:, :3])
    assert stats.malformed == 1 and stats.bytes_malformed == len(junk)


def loadcell_frame(seq: int, values) -> bytes:
    body = b"LC" + bytes([seq & 0xFF]) + struct.pack("<4f", *values) + b"\x01"
    return body + struct.pack("<I", zlib.crc32(body))


def test_loadcell_f32_exact() -> None:
    rng = np.random.default_rng(6)
    values = rng.normal(0, 100, size=(300, 4)).astype(np.float32)
    data = b"".join(loadcell_frame(i, v) for i, v in enumerate(values))
    for sizes in (None, 1, 13):
        streams, stats, _ = decode("example-loadcell-f32", data, sizes)
        got = streams[0]["samples"]
        assert got.dtype == np.float32
        assert np.array_equal(got, values)
        assert stats.frames_ok == 300
    assert resolve("example-loadcell-f32").descriptor()["streams"][0]["enc"] == ENC_F32


def test_openeeg_p2() -> None:
    rng = np.random.default_rng(7)
    vals = rng.integers(0, 1024, size=(500, 6))
    data = b"".join(b"\xa5\x5a\x02" + bytes([i & 0xFF]) + struct.pack(">6H", *v) + b"\x00" for i, v in enumerate(vals))
    streams, stats, _ = decode("openeeg-p2", data[5:], random_sizes(8))
    assert np.array_equal(streams[0]["samples"], vals[1:])
    info = resolve("openeeg-p2").descriptor()["streams"][0]
    assert info["zero"] == 512 and info["max_code"] == 1023


def test_dict_spec_equals_toml() -> None:
    path = BOARDS_DIR / "example-imu-modbus.toml"
    as_dict = tomllib.loads(path.read_text())
    frames, truth, _, _ = imu_stream(20, seed=8)
    a, sa, _ = decode(path, b"".join(frames))
    b, sb, _ = decode(as_dict, b"".join(frames))
    assert_same_streams(a, b)
    assert resolve(as_dict).descriptor() == resolve(path).descriptor()


BASE = {
    "name": "t",
    "frame": {"sync": [0xAA], "size": 8},
    "counter": {"offset": 1},
    "checksum": {"kind": "xor8"},
    "streams": [{"start": 2, "channels": 2, "type": "i16"}],
}


def with_(path: str, value, base=BASE):
    spec = json.loads(json.dumps(base))
    node = spec
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node[k]
    last = keys[-1]
    if value is KeyError:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return spec


@pytest.mark.parametrize(
    "path, value, where, words",
    [
        ("streams.0.type", "i12", "streams[0].type", "unknown type"),
        ("checksum.kind", "md5", "checksum.kind", "use one of"),
        ("frame.size", 1, "frame.size", "out of range"),
        ("frame.sync", KeyError, "frame.sync", "missing"),
        ("counter.offset", 9, "counter.offset", "beyond the end"),
        ("streams.0.start", 6, "streams[0].start", "overrun"),
        ("streams.0.channels", 0, "streams[0].channels", "out of range"),
        ("frame.colour", "red", "frame.colour", "unknown key"),
        ("byte_order", "middle", "byte_order", "little"),
        ("streams", [], "streams", "at least one"),
        ("frame.sync", "zz", "frame.sync", "hex"),
        ("name", KeyError, "name", "missing"),
    ],
)
def test_errors_name_the_field(path, value, where, words) -> None:
    with pytest.raises(FormatError) as err:
        compile_spec(with_(path, value), source="board.toml")
    msg = str(err.value)
    assert msg.startswith(f"board.toml: {where}:"), msg
    assert words in msg


def test_error_on_mixed_float_and_duplicate_ids() -> None:
    spec = with_("streams", [{"start": 2, "channels": [{"type": "f32"}, {"type": "i16"}]}])
    spec["frame"]["size"] = 12
    with pytest.raises(FormatError, match=r"streams\[0\].channels: mixes f32"):
        compile_spec(spec)
    spec = with_(
        "streams",
        [
            {"id": 3, "start": 2, "channels": 1, "type": "u8"},
            {"id": 3, "start": 3, "channels": 1, "type": "u8"},
        ],
    )
    with pytest.raises(FormatError, match=r"streams\[1\].id: stream id 3 is used twice"):
        compile_spec(spec)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(FormatError, match="not valid TOML"):
        resolve(bad)
    with pytest.raises(FormatError, match="no such format spec"):
        resolve(str(tmp_path / "nope.toml"))
    with pytest.raises(FormatError, match="unknown format"):
        resolve("morse")


def test_cli_decode_with_spec_and_cyton(tmp_path: Path) -> None:
    dump = tmp_path / "cyton.bin"
    dump.write_bytes(CYTON_DATA)
    for fmt in ("cyton", str(BOARDS_DIR / "openbci-cyton.toml")):
        out = subprocess.run(
            [sys.executable, "-m", "sensorio", "decode", str(dump), "--format", fmt, "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        summary = json.loads(out.stdout)
        assert summary["streams"]["0"]["samples"] == len(CYTON_EEG)
        assert summary["bytes_ok"] == len(CYTON_DATA)
    out = subprocess.run(
        [sys.executable, "-m", "sensorio", "decode", str(dump), "--format", "nope.toml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode != 0 and "Traceback" not in out.stderr and "nope.toml" in out.stderr


def test_a_spec_names_the_command_that_starts_its_device() -> None:
    """The shipped openbci-cyton spec got no 'b' (the start command went by
    format name), so view, stream and control waited on a silent board."""
    from sensorio.formats import default_start_command

    assert default_start_command("openbci-cyton") == "b" == default_start_command("cyton")
    assert default_start_command("sio") == "START" and default_start_command("example-imu-modbus") is None
    spec = tomllib.loads((BOARDS_DIR / "example-imu-modbus.toml").read_text())
    assert compile_spec({**spec, "start_command": "GO"}).start_command == "GO"
    with pytest.raises(FormatError, match="start_command"):
        compile_spec({**spec, "start_command": 7})


def test_a_frame_count_of_frames_of_several_rows_is_no_sample_clock() -> None:
    """Its tick was taken for one sample period: host times and LSL stamps
    of a 4-row frame came out 4 times too close."""
    spec = tomllib.loads((BOARDS_DIR / "example-loadcell-f32.toml").read_text())
    assert compile_spec(spec).time_scale_us() == pytest.approx(1e6 / spec["rate_hz"])
    st = spec["streams"][0]
    four = {**spec, "frame": {**spec["frame"], "size": spec["frame"]["size"] + 48}, "streams": [{**st, "rows": 4}]}
    assert compile_spec(four).time_unit == "frames" and compile_spec(four).time_scale_us() is None


def test_a_restart_seen_by_two_streams_of_one_frame_is_one_restart() -> None:
    """restarts counted once per stream while frames_ok and lost_frames count
    wire frames: a device restart read as 2 in a frame of two streams."""
    rng = np.random.default_rng(9)
    rows = [rng.integers(-100, 100, size=(4, 6)) for _ in range(40)]
    # 30 frames, then the device starts over: its counter and clock from 0
    data = b"".join(imu_frame(i, 1000 * i + 5_000_000, rows[i]) for i in range(30))
    data += b"".join(imu_frame(i, 1000 * i, rows[30 + i]) for i in range(10))
    streams, stats, _ = decode("example-imu-modbus", data, None)
    assert stats.frames_ok == 40 and stats.lost_frames == 0
    assert stats.restarts == 1
    assert [int((s["events"]["kind"] != 0).sum()) for s in (streams[0], streams[1])] == [1, 1]


def test_analyze_of_a_spec_without_a_counter_says_losses_are_not_counted(tmp_path: Path) -> None:
    """The load cell board without its [counter]: 10 frames dropped, and
    analyze said "0 lost frame(s)"; now it says they are not counted (its
    JSON lost_frames_counted false), as info and decode do. With the counter
    the 10 are counted, in the words as before."""
    from sensorio.cli._describe import LOST_NOT_COUNTED

    text = (BOARDS_DIR / "example-loadcell-f32.toml").read_text()
    with_counter = tmp_path / "lc.toml"
    with_counter.write_text(text + "min_code = -100\nmax_code = 100\n")
    no_counter = tmp_path / "lc-nocounter.toml"
    no_counter.write_text(with_counter.read_text().replace('[counter]\noffset = 2\ntype = "u8"\n', ""))
    assert "[counter]" not in no_counter.read_text()
    dump = tmp_path / "lc.bin"
    dump.write_bytes(b"".join(loadcell_frame(i, np.sin([i / 10] * 4)) for i in range(600) if not 300 <= i < 310))

    def analyze(spec: Path, *extra: str) -> str:
        r = subprocess.run(
            [sys.executable, "-m", "sensorio", "analyze", str(dump), "--format", str(spec), *extra],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert LOST_NOT_COUNTED in analyze(no_counter).splitlines()[0]
    summary = json.loads(analyze(no_counter, "--json"))
    assert summary["lost_frames"] == 0 and summary["lost_frames_counted"] is False
    assert "10 lost frame(s)" in analyze(with_counter).splitlines()[0]
    assert json.loads(analyze(with_counter, "--json"))["lost_frames_counted"] is True


#: a frame counter and a u16 timestamp of ms (it turns every 65.5 s) at
#: bytes 2-4, after the sync bytes: the clock of the two boards below
U16_MS_CLOCK = """
[counter]
offset = 2
type = "u8"

[timestamp]
offset = 3
type = "u16"
unit = "ms"
"""

WRAPPING_CLOCK = (
    """
name = "tsboard"
byte_order = "little"
rate_hz = 100

[frame]
sync = "AA 55"
size = 9
"""
    + U16_MS_CLOCK
    + """
[[streams]]
id = 0
name = "emg"
start = 5
rows = 1
channels = 2
type = "i16"
unit = "uV"
"""
)


def test_a_16_bit_timestamp_unwraps_at_its_own_width_in_every_output(tmp_path: Path) -> None:
    """A spec's u16 timestamp of ms turns every 65.5 s; the files unwrapped
    every clock at 2^32, so decode's and the NPZ's frame_t_us and the CSV's
    t_us stepped back 65.5 s at each turn."""
    from sensorio.cli import main

    spec = tmp_path / "ts.toml"
    spec.write_text(WRAPPING_CLOCK)
    assert resolve(str(spec)).clock_modulus == 1 << 16
    start = (1 << 16) - 5_000  # 5 s before the turn; 1000 frames 10 ms apart
    want = start + 10 * np.arange(1000)
    raw = tmp_path / "raw.bin"
    raw.write_bytes(
        b"".join(
            bytes([0xAA, 0x55, i % 256]) + struct.pack("<Hhh", int(t) % (1 << 16), i, -i) for i, t in enumerate(want)
        )
    )
    for out in (str(tmp_path / "d.npz"), f"{tmp_path / 'd'}/"):
        assert main(["decode", str(raw), "--format", str(spec), "-o", out]) == 0
    assert main(["export", str(raw), "--format", str(spec), "-o", str(tmp_path / "x.npz")]) == 0
    assert main(["export", str(raw), "--format", str(spec), "-o", str(tmp_path / "x.csv")]) == 0
    for npz in ("d.npz", "x.npz"):
        with np.load(tmp_path / npz) as z:
            assert z["frame_t_us"].astype(np.int64).tolist() == want.tolist(), npz
    assert np.load(tmp_path / "d" / "frame_t_us.npy").astype(np.int64).tolist() == want.tolist()
    t_us = np.loadtxt(tmp_path / "x.csv", delimiter=",", skiprows=1, usecols=1)
    assert np.allclose(t_us, want * 1000.0)


TWO_STREAMS_ONE_CLOCK = (
    """
name = "ts2board"
byte_order = "little"
rate_hz = 100

[frame]
sync = "AA 55"
size = 12
"""
    + U16_MS_CLOCK
    + """
[[streams]]
id = 0
name = "emg"
start = 6
rows = 1
channels = 2
type = "i16"
unit = "uV"
scale = 1.0

[[streams]]
id = 1
name = "aux"
start = 10
rows = 1
channels = 1
type = "i16"
unit = "g"
scale = 1.0
when = { offset = 5, equals = 1 }
"""
)


def test_a_stream_that_first_comes_after_the_clock_turned_is_on_the_others_clock(tmp_path: Path) -> None:
    """Stream 1 is first sent 0.6 s in, after the u16 ms clock's turn. Each
    stream was unwrapped from its own first time, so its frame times were a
    turn (65.5 s) behind stream 0's in decode, NPZ and CSV; and the BDF
    lined the streams up at 2^32, took the 65 s for two clocks and put
    stream 1 0.6 s early (its BAD_no_data at the file's end, not its start)."""
    from sensorio.cli import main

    spec = tmp_path / "ts2.toml"
    spec.write_text(TWO_STREAMS_ONE_CLOCK)
    start = (1 << 16) - 500  # the clock turns 0.5 s in; stream 1 comes at 0.6 s
    raw = tmp_path / "wrap.bin"
    raw.write_bytes(
        b"".join(
            bytes([0xAA, 0x55, i % 256])
            + struct.pack("<HBhhh", (start + 10 * i) % (1 << 16), int(i >= 60), 100 * ((i % 7) - 3), -i % 300, 50)
            for i in range(600)
        )
    )
    fmt = ["--format", str(spec)]
    assert main(["decode", str(raw), *fmt, "-o", str(tmp_path / "d.npz")]) == 0
    assert main(["export", str(raw), *fmt, "-o", str(tmp_path / "x.npz")]) == 0
    assert main(["export", str(raw), *fmt, "-o", str(tmp_path / "x.csv")]) == 0
    want0 = start + 10 * np.arange(600)
    for npz in ("d.npz", "x.npz"):
        with np.load(tmp_path / npz) as z:
            assert z["frame_t_us"].astype(np.int64).tolist() == want0.tolist(), npz
            assert z["s1_frame_t_us"].astype(np.int64).tolist() == want0[60:].tolist(), npz
    t0 = np.loadtxt(tmp_path / "x.csv", delimiter=",", skiprows=1, usecols=1)
    t1 = np.loadtxt(tmp_path / "x.s1.csv", delimiter=",", skiprows=1, usecols=1)
    assert t1[0] == t0[60] == want0[60] * 1000.0
    from support import require_or_skip

    try:
        import pyedflib
    except ImportError:  # pragma: no cover
        pyedflib = None
    require_or_skip(pyedflib is not None, "pyedflib is not installed (pip install 'sensorio[edf]')")
    assert main(["export", str(raw), *fmt, "-o", str(tmp_path / "x.bdf"), "--no-faults"]) == 0
    reader = pyedflib.EdfReader(str(tmp_path / "x.bdf"))
    try:
        notes = {str(t): (float(o), float(d)) for o, d, t in zip(*reader.readAnnotations(), strict=True)}
        aux = reader.readSignal(2, digital=True)
    finally:
        reader.close()
    assert notes["BAD_no_data s1 aux"] == pytest.approx((0.0, 0.6), abs=0.011)
    assert not aux[:59].any() and (aux[60:600] == 50).all()
