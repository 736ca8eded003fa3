"""An electrode grid in the device's descriptor: read in one place, given by
the emulator, and read by the fault detector, which compares each electrode
with its neighbours (a loose one picks up noise they do not: scd's, in the
real corpus, which no single-channel test finds)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from emulator_util import run
from scipy import signal

from sensorio.blocks import SignalBlock
from sensorio.cli import main
from sensorio.descriptor import ElectrodeGrid, electrode_grid
from sensorio.dsp import FaultDetector
from sensorio.dsp.calibrate import StreamInfo
from sensorio.emulator import config_from_options
from sensorio.errors import SensorioError, UsageError

FS = 2000.0
STREAM = {"id": 0, "channels": 4, "rate_hz": FS, "scale": 0.5, "min_code": -(2**23), "max_code": 2**23 - 1}


def test_a_grid_is_rows_and_columns_or_the_cell_of_each_channel() -> None:
    g = electrode_grid({"grid": [2, 3]}, 5)
    assert g == ElectrodeGrid(2, 3, (0, 1, 2, 3, 4))
    assert g.neighbours() == [[1, 3, 4], [0, 2, 3, 4], [1, 4], [0, 1, 4], [0, 1, 2, 3]]
    g = electrode_grid({"grid": {"rows": 2, "cols": 2, "cells": [3, None, 0]}}, 3)
    assert g == ElectrodeGrid(2, 2, (3, None, 0))
    assert g.neighbours() == [[2], [], [0]]  # off the grid: no neighbours
    assert electrode_grid({}, 4) is None


@pytest.mark.parametrize(
    ("grid", "words"),
    [
        ([2], "give [rows, cols]"),
        ("8x8", "give [rows, cols]"),
        ([2.5, 2], "give [rows, cols]"),
        ([True, 4], "give [rows, cols]"),
        ([0, 4], "has no cells"),
        ([float("inf"), 4], "give [rows, cols]"),
        ([100000, 100000], "more than the 65536 a grid may have"),
        ([1, 3], "fewer than its 4 channels"),
        ({"rows": 2, "cols": 2, "cells": [0, 1]}, "one cell (or null) for each of its 4"),
        ({"rows": 2, "cols": 2, "cells": [0, 1, 2, 4]}, "channel 4's cell 4 is not one of 0 to 3"),
        ({"rows": 2, "cols": 2, "cells": [0, 1, 1, 2]}, "cell 1 is given to channels 2 and 3"),
    ],
)
def test_a_grid_that_cannot_be_read_is_an_error_naming_why(grid: object, words: str) -> None:
    with pytest.raises(SensorioError, match=words.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        electrode_grid({"id": 0, "grid": grid}, 4)


def test_calibration_goes_on_without_a_grid_it_cannot_read_and_says_so() -> None:
    info = {"streams": [{**STREAM, "grid": [1, 2]}]}
    with pytest.warns(UserWarning, match=r"stream 0's electrode grid: 1 x 2 cells hold fewer .* left out"):
        si = StreamInfo.from_descriptor(info)
    assert si.grid is None and si.channels == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert StreamInfo.from_descriptor({"streams": [{**STREAM, "grid": [2, 2]}]}).grid == ElectrodeGrid(
            2, 2, (0, 1, 2, 3)
        )


def _emg(n: int, ch: int, seed: int) -> np.ndarray:
    """ch electrodes over one muscle: a shared 20-450 Hz EMG of 40 uV RMS,
    and 10 uV of each one's own."""
    rng = np.random.default_rng(seed)
    sos = signal.butter(2, [20, 450], "bandpass", fs=FS, output="sos")
    common = signal.sosfilt(sos, rng.standard_normal(n))
    own = signal.sosfilt(sos, rng.standard_normal((n, ch)), axis=0)
    return 40 * common[:, None] / common.std() + 10 * own / own.std(axis=0)


def _loose(n: int, seed: int, uv: float) -> np.ndarray:
    """What a loose electrode picks up: broadband, but mostly 20-500 Hz
    (as scd's: not white, so the white-noise test reads little of it)."""
    rng = np.random.default_rng(seed)
    x = signal.sosfilt(signal.butter(2, [20, 500], "bandpass", fs=FS, output="sos"), rng.standard_normal(n))
    return uv * x / x.std()


def _events(x: np.ndarray, grid: ElectrodeGrid | None, **settings: float) -> list[tuple[str, int, float, float]]:
    codes = np.rint(x / 0.5).astype(np.int32)
    x = codes * 0.5
    det = FaultDetector(**settings)
    out = []
    rows = 20
    for a in range(0, len(x), rows):
        det.process(
            SignalBlock(
                0,
                np.ascontiguousarray(x[a : a + rows]),
                np.ones((len(x[a : a + rows]), x.shape[1]), bool),
                FS,
                start=a,
                grid=grid,
                codes=codes[a : a + rows],
                code_range=(-(2**23), 2**23 - 1),
            )
        )
        out += det.take_events()
    det.finish(len(x) / FS)
    out += det.take_events()
    # (an event comes when it opens and again when it closes: the last word)
    last = {(e.kind, e.channel, e.start_s): e.end_s for e in out if e.severity == "fault"}
    return sorted((k, c, s, e) for (k, c, s), e in last.items())


def test_an_electrode_out_of_line_with_its_grid_is_noise_from_the_start() -> None:
    n = int(8 * FS)
    x = _emg(n, 16, seed=1)
    x[:, 5] = _loose(n, seed=2, uv=500.0)
    grid = ElectrodeGrid(4, 4, tuple(range(16)))
    got = _events(x, grid)
    assert [(k, c) for k, c, _, _ in got] == [("noise", 5)], got
    (_, _, start, end) = got[0]
    assert start <= 0.2 and end == pytest.approx(8.0)
    # without the grid the detector cannot tell: the channel's own tests
    # learn its level from its first hops
    assert [e for e in _events(x, None) if e[1] == 5 and e[3] - e[2] > 4.0] == []
    # nor with the test off
    assert _events(x, grid, grid_ratio=0.0) == _events(x, None)


def test_a_grid_of_alike_electrodes_gives_nothing_whatever_their_level() -> None:
    n = int(6 * FS)
    x = _emg(n, 16, seed=3)
    # a contraction on the whole grid: 10 x louder for 2 s
    x[int(2 * FS) : int(4 * FS)] *= 10
    # one electrode twice the others (nearer the muscle), another a fifth
    x[:, 6] *= 2.0
    x[:, 9] *= 0.2
    assert _events(x, ElectrodeGrid(4, 4, tuple(range(16)))) == []


def test_a_neighbour_off_or_humming_does_not_make_an_electrode_out_of_line() -> None:
    """A corner electrode has 3 neighbours: with one of them flat (lifted)
    the median is of the other two; a hum on one electrode is mains, not
    noise."""
    n = int(6 * FS)
    t = np.arange(n) / FS
    x = _emg(n, 16, seed=4)
    x[int(1 * FS) :, 1] = 0.0  # a neighbour of corner 0 goes flat
    x[:, 10] += 600 * np.sin(2 * np.pi * 50 * t)
    got = _events(x, ElectrodeGrid(4, 4, tuple(range(16))))
    assert {(k, c) for k, c, _, _ in got} == {("flat", 1), ("mains", 10)}, got


def _band(n: int, seed: int, uv: float) -> np.ndarray:
    """20-450 Hz noise of uv RMS: one electrode's EMG, or what it picks up."""
    rng = np.random.default_rng(seed)
    x = signal.sosfilt(signal.butter(2, [20, 450], "bandpass", fs=FS, output="sos"), rng.standard_normal(n))
    return uv * x / x.std()


def test_a_channel_with_one_usable_neighbour_is_not_compared() -> None:
    """A 2 x 2 grid, two electrodes flat (lifted): the loud one has one
    usable neighbour left, too few to call it out of line (and the flat ones
    do not count as quiet neighbours)."""
    n = int(5 * FS)
    x = np.zeros((n, 4))
    x[:, 0], x[:, 1] = _band(n, 1, 500.0), _band(n, 2, 40.0)
    got = _events(x, ElectrodeGrid(2, 2, (0, 1, 2, 3)))
    assert {(k, c) for k, c, _, _ in got} == {("flat", 2), ("flat", 3)}, got


def test_the_median_of_two_neighbours_is_their_mean() -> None:
    """Two usable neighbours at 40 and 400 uV: their median power is the
    mean of theirs (a bar of 8 x 285 uV), not the lower one's (8 x 40)."""
    n = int(5 * FS)
    x = np.zeros((n, 4))
    x[:, 0], x[:, 1], x[:, 2] = _band(n, 1, 700.0), _band(n, 2, 40.0), _band(n, 3, 400.0)
    got = _events(x, ElectrodeGrid(2, 2, (0, 1, 2, 3)))
    assert {(k, c) for k, c, _, _ in got} == {("flat", 3)}, got


def test_neighbours_with_a_hum_are_left_out_of_the_median() -> None:
    """A loose electrode in the middle of a 3 x 3 grid, four of its
    neighbours humming (each the mains test's): the four quiet ones set
    its bar, and it is found."""
    n = int(5 * FS)
    t = np.arange(n) / FS
    x = _emg(n, 9, seed=7)
    x[:, 4] = _loose(n, seed=8, uv=500.0)
    for c in (0, 1, 2, 3):
        x[:, c] += 2000 * np.sin(2 * np.pi * 50 * t)
    got = _events(x, ElectrodeGrid(3, 3, tuple(range(9))))
    assert {(k, c) for k, c, _, _ in got} == {("noise", 4), ("mains", 0), ("mains", 1), ("mains", 2), ("mains", 3)}


def test_an_electrode_out_of_line_below_noise_uv_is_left_alone() -> None:
    """A grid at rest, 3 uV, one electrode at 30 uV (10 x): under noise_uv
    (50 uV RMS) the test does not call it noise; with noise_uv at 20 it does."""
    n = int(5 * FS)
    x = _emg(n, 9, seed=9) * 3 / 41
    x[:, 4] = _loose(n, seed=10, uv=30.0)
    grid = ElectrodeGrid(3, 3, tuple(range(9)))
    assert _events(x, grid) == []
    assert [(k, c) for k, c, _, _ in _events(x, grid, noise_uv=20.0)] == [("noise", 4)]


def test_the_c_front_end_and_numpy_agree_with_a_grid() -> None:
    """The grid test runs after both of the detector's paths: events and
    masks are the same from the C front end and from numpy, whatever the
    blocks' sizes, with a loose electrode, a burst, a flat channel and
    spikes on the grid."""
    from sensorio.dsp.faults import _native_available

    if not _native_available():
        pytest.fail("the C core is not built: python setup.py build_ext --inplace")
    n = int(6 * FS)
    x = _emg(n, 16, seed=11)
    x[:, 5] = _loose(n, seed=12, uv=500.0)
    x[int(2 * FS) : int(3 * FS), 6] *= 30
    x[int(1 * FS) :, 9] = 0.0
    x[np.random.default_rng(13).choice(n, 10), 10] += 3000
    codes = np.rint(x / 0.5).astype(np.int32)
    x = codes * 0.5
    grid = ElectrodeGrid(4, 4, tuple(range(16)))
    runs = []
    for native in (True, False):
        det = FaultDetector()
        det.native = native
        sizes = np.random.default_rng(14).integers(1, 150, n)
        events, valid, a = [], [], 0
        for size in sizes:
            b = min(n, a + int(size))
            out = det.process(
                SignalBlock(
                    0,
                    np.ascontiguousarray(x[a:b]),
                    np.ones((b - a, 16), bool),
                    FS,
                    start=a,
                    grid=grid,
                    codes=codes[a:b],
                    code_range=(-(2**23), 2**23 - 1),
                )
            )
            valid.append(out.valid)
            events += det.take_events()
            a = b
            if a >= n:
                break
        det.finish(n / FS)
        events += det.take_events()
        runs.append(([(e.kind, e.channel, e.start_s, e.end_s) for e in events], np.concatenate(valid)))
    assert ("noise", 5) in {(k, c) for k, c, _, _ in runs[0][0]}
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_a_grid_for_another_channel_count_is_said_and_left_out() -> None:
    det = FaultDetector()
    x = _emg(400, 4, seed=1)
    block = SignalBlock(0, x, np.ones(x.shape, bool), FS, grid=ElectrodeGrid(3, 3, tuple(range(9))))
    with pytest.warns(UserWarning, match="the electrode grid places 9 channels, the stream has 4"):
        det.process(block)


def test_the_emulator_puts_its_grid_in_the_info() -> None:
    def info(**opts: str) -> list[object]:
        profile = config_from_options({k: [v] for k, v in opts.items()}).device_profile()
        return [s.descriptor().get("grid") for s in profile.streams]

    assert info(grid="2x4") == [[2, 4]]
    assert info(grid="16x16", channels="256") == [[4, 16]] * 4  # each stream of 64 its own rows
    assert info() == [None]
    for opts, words in (
        ({"grid": "2x3"}, "6 cells hold fewer than the 8 EMG channels"),
        ({"grid": "12x12", "channels": "144"}, "give columns that divide 64"),
        ({"grid": "2x4", "format": "ascii"}, "the ascii format has no INFO"),
        ({"grid": "8"}, "ROWSxCOLS"),
        ({"grid": "1000x1000"}, "more than the 65536 cells"),
    ):
        with pytest.raises(UsageError, match=words):
            info(**opts)


def test_analyze_finds_a_loose_electrode_on_a_device_that_gives_its_grid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end: the emulated device's INFO gives the grid, calibration
    reads it, the detector compares neighbours; the same signal from a
    device that does not give it raises nothing on that electrode."""
    n = int(6 * FS)
    x = _emg(n, 8, seed=5)
    x[:, 2] = _loose(n, seed=6, uv=400.0)
    src = tmp_path / "grid.npy"
    np.save(src, x)
    found = {}
    for grid in ("2x4", None):
        opts = {"grid": grid} if grid else {}
        data, _ = run(autostart=True, profile="emg8", rate=FS, duration=6.0, source=str(src), **opts)
        dump = tmp_path / f"run-{grid}.bin"
        dump.write_bytes(data)
        events = tmp_path / f"run-{grid}.jsonl"
        assert main(["analyze", str(dump), "--events", str(events)]) == 0
        capsys.readouterr()
        lines = [json.loads(line) for line in events.read_text().splitlines()]
        found[grid] = {(e["kind"], e["channel"]) for e in lines if e["severity"] == "fault"}
    assert found["2x4"] == {("noise", 2)}, found
    assert found[None] == set(), found
