"""Exports in physical units by default: NPZ samples are float32 values (float64
for codes wider than 24 bits) with the unit, labels and calibration as plain
arrays; ``--raw`` gives the native codes with the same calibration; CSV and
EDF/BDF follow the same switch."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from support import narrow_and_wide_device

import sensorio
from sensorio.cli import main
from sensorio.parser import concat_blocks
from sensorio.recording import decode_any, source_descriptor


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """A prosthesis recording: EMG int24 in uV, IMU int16 in g, force and position uint16 with an offset."""
    rec = tmp_path_factory.mktemp("units") / "p.sior"
    with sensorio.open("sim://prosthesis?seed=3&fast=1&autostart=1&duration=1.5", record=rec) as s:
        rows, end = 0, time.monotonic() + 60  # a bound against hanging
        while rows < 2900 and time.monotonic() < end:
            rows += sum(len(b) for b in s.read(0.2) if b.stream == 0)
    return rec


def _codes_and_info(rec: Path) -> tuple[dict[int, np.ndarray], dict]:
    parser, blocks, messages, reader = decode_any(rec, None)
    info = source_descriptor(parser, messages, reader.header if reader else None)
    return {sid: a["samples"] for sid, a in concat_blocks(blocks).items()}, info


def test_npz_holds_physical_float32_with_plain_calibration_arrays(tmp_path: Path, recording: Path) -> None:
    codes, info = _codes_and_info(recording)
    out = tmp_path / "x.npz"
    assert main(["export", str(recording), "-o", str(out)]) == 0
    with np.load(out) as z:  # no pickle needed: every array is plain
        for desc in info["streams"]:
            p = "" if desc["id"] == 0 else f"s{desc['id']}_"
            values = z[p + "samples"]
            assert values.dtype == np.float32
            assert str(z[p + "unit"]) == desc["unit"] and str(z[p + "samples_unit"]) == desc["unit"]
            assert list(z[p + "labels"]) == desc["labels"]
            n = len(desc["labels"])
            assert z[p + "scale"].shape == (n,) and z[p + "zero"].shape == (n,)
            assert np.all(z[p + "scale"] == desc["scale"]) and np.all(z[p + "zero"] == desc["zero"])
            want = (codes[desc["id"]].astype(np.float64) - desc["zero"]) * desc["scale"]
            np.testing.assert_allclose(values, want, rtol=1e-6, atol=1e-6 * desc["scale"])
            # the documented way back to the codes
            back = np.rint(values / z[p + "scale"] + z[p + "zero"])
            assert np.array_equal(back, codes[desc["id"]])
        assert str(z["unit"]) == "uV"
        assert "device_info" in z.files and "frame_seq" in z.files  # earlier keys stay


def test_npz_raw_keeps_native_codes_and_the_calibration(tmp_path: Path, recording: Path) -> None:
    codes, info = _codes_and_info(recording)
    out = tmp_path / "r.npz"
    assert main(["export", str(recording), "-o", str(out), "--raw"]) == 0
    with np.load(out) as z:
        assert z["samples"].dtype == np.int32  # 24-bit EMG codes
        assert z["s1_samples"].dtype == np.int16  # the IMU's int16 codes stay int16
        assert z["s2_samples"].dtype == np.uint16
        for desc in info["streams"]:
            p = "" if desc["id"] == 0 else f"s{desc['id']}_"
            assert np.array_equal(z[p + "samples"], codes[desc["id"]])
            assert str(z[p + "samples_unit"]) == "code" and str(z[p + "unit"]) == desc["unit"]
            physical = (z[p + "samples"] - z[p + "zero"]) * z[p + "scale"]
            np.testing.assert_allclose(physical, (codes[desc["id"]] - desc["zero"]) * desc["scale"])


def test_csv_physical_by_default_and_raw_codes(tmp_path: Path, recording: Path) -> None:
    codes, info = _codes_and_info(recording)
    emg = info["streams"][0]
    assert main(["export", str(recording), "-o", str(tmp_path / "x.csv")]) == 0
    assert main(["export", str(recording), "-o", str(tmp_path / "r.csv"), "--raw"]) == 0
    head = (tmp_path / "x.csv").read_text().splitlines()[0].split(",")
    assert head[2:10] == [f"{label}_uV" for label in emg["labels"]]
    table = np.loadtxt(tmp_path / "x.csv", delimiter=",", skiprows=1, usecols=range(2, 10))
    np.testing.assert_allclose(table, codes[0] * emg["scale"], rtol=1e-5, atol=1e-3)
    # every float32 value to its last bit, so the codes come back (6 digits lost them)
    assert np.array_equal(table.astype(np.float32), (codes[0] * np.float64(emg["scale"])).astype(np.float32))
    assert np.array_equal(np.round(table.astype(np.float32) / np.float64(emg["scale"])), codes[0])
    raw = np.loadtxt(tmp_path / "r.csv", delimiter=",", skiprows=1, usecols=range(2, 10))
    assert np.array_equal(raw, codes[0])


def test_csv_export_names_every_file_it_wrote(tmp_path: Path, recording: Path, capsys) -> None:
    """One CSV per stream, but the message named only the first."""
    out = tmp_path / "x.csv"
    assert main(["export", str(recording), "-o", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    more = [tmp_path / f"x.s{k}.csv" for k in (1, 2, 3)]
    assert line.startswith(f"{out} (and 3 more: {', '.join(map(str, more))}): samples per stream 0: "), line
    assert sorted(tmp_path.iterdir()) == sorted([out, *more])


def test_bdf_raw_has_physical_equal_to_code(tmp_path: Path, recording: Path) -> None:
    pyedflib = pytest.importorskip("pyedflib")
    codes, info = _codes_and_info(recording)
    for name, extra in (("x.bdf", []), ("r.bdf", ["--raw"])):
        assert main(["export", str(recording), "-o", str(tmp_path / name), "--no-faults", *extra]) == 0
    got = {}
    for name in ("x.bdf", "r.bdf"):
        reader = pyedflib.EdfReader(str(tmp_path / name))
        try:
            got[name] = (reader.getPhysicalDimension(0), reader.readSignal(0)[: len(codes[0])])
        finally:
            reader.close()
    scale = info["streams"][0]["scale"]
    assert got["x.bdf"][0] == "uV"
    np.testing.assert_allclose(got["x.bdf"][1], codes[0][:, 0] * scale, atol=scale)
    assert got["r.bdf"][0] == "code"
    np.testing.assert_allclose(got["r.bdf"][1], codes[0][:, 0], atol=1e-3)


@pytest.mark.parametrize("piece", [3, 2048])
def test_csv_rows_formatted_in_pieces_are_the_row_by_row_text(monkeypatch: pytest.MonkeyPatch, piece: int) -> None:
    """CsvStream formats many rows with one %-format; its text is the one a
    row-by-row writer gives: row, time, values, lead-off bits and the event
    on its own row, also across the pieces and blocks."""
    import io

    from sensorio.blocks import EV_GAP, EV_RESYNC, EVENT_DTYPE, EVENT_NAMES, Block
    from sensorio.cli import cmd_export

    monkeypatch.setattr(cmd_export, "CSV_PIECE_ROWS", piece)
    rng = np.random.default_rng(4)
    blocks, expected, first = [], [], 0
    for n in (7, 1, 10):
        samples = rng.integers(-(2**23), 2**23, (n, 3)).astype(np.int32)
        frame_row = np.arange(0, n, 2, dtype=np.uint32)
        t_us = (1000 + 250 * (first + frame_row)).astype(np.uint64)
        leadoff = rng.integers(0, 8, len(frame_row)).astype(np.uint64)
        events = np.zeros(2, dtype=EVENT_DTYPE)
        events["row"] = [0, n - 1]
        events["kind"] = [EV_GAP, EV_RESYNC]
        seq = np.arange(len(frame_row), dtype=np.uint32)
        blocks.append(Block(0, samples, seq, t_us, leadoff, frame_row, events, first))
        lo_rows = np.repeat(leadoff, np.diff(np.append(frame_row, n)))
        for j in range(n):
            ev = ";".join(EVENT_NAMES[k] for r, k in ((0, EV_GAP), (n - 1, EV_RESYNC)) if r == j)
            vals = ",".join(str(int(v)) for v in samples[j])
            expected.append(f"{first + j},{1000 + 250 * (first + j):.1f},{vals},{int(lo_rows[j])},{ev}")
        first += n
    out = io.StringIO()
    csv = cmd_export.CsvStream(out, {"channels": 3, "rate_hz": 4000.0}, raw=True, time_us=1.0)
    for b in blocks:
        csv.add(b)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("row,t_us,")
    assert lines[1:] == expected
    assert csv.rows == 18


def test_codes_wider_than_24_bits_stay_apart_in_float64(tmp_path: Path) -> None:
    """int32 codes around 2^30 that differ by 1 keep apart in NPZ and CSV
    (float32 holds 24 bits: it merged them); the 24-bit stream beside them
    stays float32."""
    from sensorio import sio1
    from sensorio.recording import RecordingWriter

    desc, wide, want = narrow_and_wide_device("W1")
    rng = np.random.default_rng(2)
    narrow = rng.integers(-(2**23), 2**23, (200, 2)).astype(np.int32)
    rec = tmp_path / "w.sior"
    with RecordingWriter(rec, {"format": "sio", "device_info": desc, "port": "test"}, fsync=False) as w:
        w.add(b"\x00" + sio1.encode_info(desc), 0)
        for i in range(0, 200, 10):
            for sid, (codes, enc) in enumerate(((narrow, sio1.ENC_I24), (wide, sio1.ENC_I32))):
                w.add(sio1.encode_data(codes[i : i + 10], stream=sid, enc=enc, seq=i // 10, t_us=i * 1000), i)
    assert main(["export", str(rec), "-o", str(tmp_path / "x.npz")]) == 0
    with np.load(tmp_path / "x.npz") as z:
        assert z["s1_samples"].dtype == np.float64
        assert np.array_equal(z["s1_samples"], want) and len(np.unique(z["s1_samples"])) == want.size
        assert z["samples"].dtype == np.float32  # 24-bit codes: float32 as before
        assert np.array_equal(z["samples"], (narrow * 0.02235).astype(np.float32))
    assert main(["export", str(rec), "-o", str(tmp_path / "x.csv")]) == 0
    table = np.loadtxt(tmp_path / "x.s1.csv", delimiter=",", skiprows=1, usecols=(2, 3))
    assert np.array_equal(table, want)


#: frame times (µs) of a device clock: across its wrap; then one that
#: jumps more than half its range forward near the stream's start (a device
#: paused or unplugged for 50 minutes), read as a step back before 0:
#: decode failed ("the stream's encoding changed") and the CSV went negative
CLOCK_RUNS = {
    "wrap": 2**32 - 25_000 + 10_000 * np.arange(6, dtype=np.int64),
    "jump": np.array([10**9, 10**9 + 10_000, 4 * 10**9, 4 * 10**9 + 10_000, 5 * 10**9, 5 * 10**9 + 10_000]),
}


@pytest.mark.parametrize("run", sorted(CLOCK_RUNS))
def test_frame_times_unwrap_across_the_device_clock_wrap_in_every_output(tmp_path: Path, run: str) -> None:
    """A 32-bit µs clock wraps every 71.6 minutes: NPZ, decode (.npz and a
    folder) and CSV all give frame times that go on past 2^32, the same
    times, unwrapped block by block (the wrap falls between records)."""
    from sensorio import sio1
    from sensorio.blocks import ClockUnwrap
    from sensorio.recording import RecordingWriter

    desc = {
        "device": "test", "serial": "C1", "fw": "0",
        "streams": [{"id": 0, "name": "emg", "channels": 1, "rate_hz": 1000, "enc": sio1.ENC_I16, "unit": "uV",
                     "scale": 1.0, "zero": 0, "min_code": -(2**15), "max_code": 2**15 - 1}],
    }  # fmt: skip
    want = CLOCK_RUNS[run]  # frames of 10 rows
    rec = tmp_path / "wrap.sior"
    with RecordingWriter(rec, {"format": "sio", "device_info": desc, "port": "test"}, fsync=False) as w:
        w.add(b"\x00" + sio1.encode_info(desc), 0)
        for i, t in enumerate(want):
            codes = np.full((10, 1), i, dtype=np.int16)
            w.add(sio1.encode_data(codes, stream=0, enc=sio1.ENC_I16, seq=i, t_us=int(t) % 2**32), i)
    assert main(["export", str(rec), "-o", str(tmp_path / "x.npz")]) == 0
    assert main(["decode", str(rec), "-o", str(tmp_path / "d.npz")]) == 0
    assert main(["decode", str(rec), "-o", f"{tmp_path / 'd'}/"]) == 0
    assert main(["export", str(rec), "-o", str(tmp_path / "x.csv")]) == 0
    for npz in ("x.npz", "d.npz"):
        with np.load(tmp_path / npz) as z:
            assert z["frame_t_us"].dtype == np.uint64
            assert z["frame_t_us"].astype(np.int64).tolist() == want.tolist(), npz
    assert np.load(tmp_path / "d" / "frame_t_us.npy").astype(np.int64).tolist() == want.tolist()
    csv_t = np.loadtxt(tmp_path / "x.csv", delimiter=",", skiprows=1, usecols=1)
    assert csv_t[::10].tolist() == want.astype(float).tolist()
    raw = want % 2**32
    for cut in range(len(raw) + 1):  # the state carried across blocks, wherever they split
        clock = ClockUnwrap()
        assert np.concatenate([clock(raw[:cut]), clock(raw[cut:])]).tolist() == want.tolist()


def test_csv_keeps_every_event_of_a_row() -> None:
    """A reconnect in a recording gives a resync and the gap of the frames
    lost meanwhile at the same row (the parser's pending event, then its
    verdict); the CSV's event column held one per row and showed only the gap."""
    import io

    from sensorio.blocks import EV_GAP, EV_RESYNC, EVENT_DTYPE, Block
    from sensorio.cli import cmd_export

    n = 4
    events = np.zeros(2, dtype=EVENT_DTYPE)
    events["row"] = [2, 2]
    events["kind"] = [EV_RESYNC, EV_GAP]
    events["lost_frames"] = [0, 3]
    frame_row = np.arange(n, dtype=np.uint32)
    block = Block(
        0, np.zeros((n, 2), np.int32), frame_row.copy(), frame_row.astype(np.uint64), np.zeros(n, np.uint64),
        frame_row, events, 0,
    )  # fmt: skip
    out = io.StringIO()
    cmd_export.CsvStream(out, {"channels": 2, "rate_hz": 1000.0}, raw=True, time_us=1.0).add(block)
    assert [line.rsplit(",", 1)[1] for line in out.getvalue().splitlines()[1:]] == ["", "", "resync;gap", ""]


def test_csv_header_quotes_labels_with_commas_and_quotes() -> None:
    """A label holding a comma or a quote is one quoted header field: the
    header has as many columns as the rows and csv readers get the labels back
    (unquoted, "flexor, left" made two columns and shifted every name after it)."""
    import csv
    import io

    from sensorio.blocks import EVENT_DTYPE, Block
    from sensorio.cli import cmd_export

    n = 3
    frame_row = np.arange(n, dtype=np.uint32)
    block = Block(
        0, np.zeros((n, 3), np.int32), frame_row.copy(), frame_row.astype(np.uint64), np.zeros(n, np.uint64),
        frame_row, np.zeros(0, dtype=EVENT_DTYPE), 0,
    )  # fmt: skip
    labels = ["flexor, left", 'say "hi"', "plain"]
    out = io.StringIO()
    desc = {"channels": 3, "rate_hz": 1000.0, "labels": labels}
    cmd_export.CsvStream(out, desc, raw=True, time_us=1.0).add(block)
    text = out.getvalue()
    assert text.splitlines()[0] == 'row,t_us,"flexor, left","say ""hi""",plain,leadoff,event'
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["row", "t_us", *labels, "leadoff", "event"]
    assert {len(r) for r in rows} == {7}
