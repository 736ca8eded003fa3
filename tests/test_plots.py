"""Plots looked at as a person would: 1 to 256 channels, the image stays readable, every colour
drawn is named in the legend, faults are drawn where the events say, traces stay inside their
panel, and --channels / --time / --truth work on plot and analyze --plot."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from emulator_util import run
from support import require_or_skip

from sensorio.cli import main


@pytest.fixture(autouse=True)
def _need_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        require_or_skip(False, "matplotlib is not installed (pip install 'sensorio[plot]')")


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures saved while the test runs (the objects, to read their artists)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.figure

    saved: list[Any] = []
    real = matplotlib.figure.Figure.savefig

    def keep(fig: Any, *a: Any, **kw: Any) -> Any:
        saved.append(fig)
        return real(fig, *a, **kw)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    return saved


def synthetic(channels: int, seconds: float = 4.0, rate: float = 500.0, grid: Any = None) -> Any:
    """An Analysis of `channels` channels (more than one SIO-1 stream can carry), with
    overlapping saturation (railed) and motion on channel index 2 (or the only one) and a
    lift-off on the last channel."""
    from sensorio.dsp.analyze import Analysis, StreamAnalysis
    from sensorio.dsp.stages import DspEvent

    rng = np.random.default_rng(3)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    raw = 1000.0 + 40 * rng.standard_normal((n, channels)) + 150 * np.sin(2 * np.pi * 0.7 * t)[:, None]
    filtered = 40 * rng.standard_normal((n, channels))
    envelope = np.abs(filtered) * 0.8 + 5
    valid = np.ones((n, channels), bool)
    c = min(2, channels - 1)
    events = [
        DspEvent(0, c, "saturation", 1.0, 2.0),
        DspEvent(0, c, "motion", 1.5, 3.0),
        DspEvent(0, channels - 1, "leadoff", 2.5, 3.5),
    ]
    for ev in events:
        rows = slice(int(ev.start_s * rate), int(ev.end_s * rate))
        valid[rows, ev.channel] = False
    raw[int(1.0 * rate) : int(2.0 * rate), c] = 8e6  # pinned at the rail
    info = {"streams": [{"id": 0, **({"grid": grid} if grid else {})}]}
    st = StreamAnalysis(
        0, rate, "uV", tuple(f"emg{c + 1}" for c in range(channels)), raw, filtered, envelope, valid, [(3.2, 3.21)], 0.0
    )
    return Analysis({0: st}, events, {"frames_ok": n, "lost_frames": 1}, info)


def test_streams_of_different_lengths_share_one_time_axis(tmp_path: Path, figures: list[Any]) -> None:
    """Only the last panel's time axis is labelled, so every panel must span
    the same time: a stream that stopped early filled the same width with
    half the time, and the other stream's last 2 s were drawn as if they
    were the first stream's whole length."""
    from dataclasses import replace

    from sensorio.dsp.analyze import Analysis
    from sensorio.plotting import plot_analysis

    whole = synthetic(2, seconds=4.0)
    st0 = whole.streams[0]
    half = len(st0.raw) // 2
    st1 = replace(
        st0,
        stream=1,
        raw=st0.raw[:half],
        filtered=st0.filtered[:half],
        envelope=st0.envelope[:half],
        valid=st0.valid[:half],
        gaps_s=[],
    )
    info = {"streams": [{"id": 0}, {"id": 1}]}
    plot_analysis(tmp_path / "two.png", Analysis({0: st0, 1: st1}, [], {}, info))
    spans = [ax.get_xlim() for ax in figures[-1].axes if "\n[" in ax.get_ylabel()]  # the trace panels
    assert len(spans) == 4
    assert all(lo == pytest.approx(0.0, abs=0.01) and hi == pytest.approx(4.0, abs=0.01) for lo, hi in spans), spans


def legend_texts(fig: Any) -> set[str]:
    return {t.get_text() for leg in fig.legends for t in leg.get_texts()}


def trace_axes(fig: Any) -> dict[str, Any]:
    """label (emg6) -> the axes of its trace panel."""
    return {ax.get_ylabel().split("\n")[0]: ax for ax in fig.axes if "\n[" in ax.get_ylabel()}


def overview_axes(fig: Any) -> Any:
    found = [ax for ax in fig.axes if ax.get_ylabel() == "channel"]
    return found[0] if found else None


@pytest.mark.parametrize("channels", [1, 8, 64, 256])
def test_png_stays_readable_whatever_the_channel_count(tmp_path: Path, figures: list[Any], channels: int) -> None:
    from PIL import Image

    from sensorio.plotting import plot_analysis

    out = plot_analysis(tmp_path / f"c{channels}.png", synthetic(channels))
    width, height = Image.open(out).size
    assert width <= 2000 and 300 <= height <= 2000, (width, height)
    fig = figures[-1]
    traces = trace_axes(fig)
    over = overview_axes(fig)
    if channels <= 16:
        assert over is None and len(traces) == channels
    else:
        # the heat map holds every channel; traces for those with faults (channel 3 and the last one)
        assert over is not None and over.images[0].get_array().shape[0] == channels
        assert set(traces) == {"emg3", f"emg{channels}"}
        # each trace panel keeps a readable height (at least 60 px)
        for ax in traces.values():
            assert ax.get_window_extent().height >= 60


def test_every_colour_drawn_is_named_in_the_legend_and_none_is_blended(figures: list[Any], tmp_path: Path) -> None:
    from sensorio.plotting import plot_analysis

    truth = [
        {"stream": 0, "channel": 2, "kind": "saturation", "start_s": 1.0, "end_s": 2.0},
        {"stream": 0, "channel": 2, "kind": "motion", "start_s": 1.4, "end_s": 3.0},
    ]
    plot_analysis(tmp_path / "x.png", synthetic(8), truth=truth)
    fig = figures[-1]
    texts = legend_texts(fig)
    assert {"raw", "filtered", "envelope", "gap (lost frames)"} <= texts
    drawn = {p.get_gid().replace(":", ": ") for ax in fig.axes for p in ax.patches if p.get_gid()}
    assert drawn == {"found: saturation", "found: motion", "found: leadoff", "injected: saturation", "injected: motion"}
    assert drawn <= texts
    # where saturation and motion overlap in time they sit in separate lanes, opaque: no mixed colour
    ax = trace_axes(fig)["emg3"]
    spans = [p for p in ax.patches if p.get_gid()]
    for i, a in enumerate(spans):
        assert a.get_alpha() in (None, 1.0)
        for b in spans[i + 1 :]:
            ba, bb = a.get_bbox(), b.get_bbox()
            overlap_x = min(ba.x1, bb.x1) > max(ba.x0, bb.x0)
            overlap_y = min(ba.y1, bb.y1) > max(ba.y0, bb.y0)
            assert not (overlap_x and overlap_y), (a.get_gid(), b.get_gid())


def test_faults_are_drawn_where_the_events_say(figures: list[Any], tmp_path: Path) -> None:
    from sensorio.plotting import plot_analysis

    analysis = synthetic(64)
    plot_analysis(tmp_path / "x.png", analysis)
    fig = figures[-1]
    traces = trace_axes(fig)
    over = overview_axes(fig)
    for ev in analysis.events:
        ax = traces[f"emg{ev.channel + 1}"]
        xs = [(p.get_bbox().x0, p.get_bbox().x1) for p in ax.patches if p.get_gid() == f"found:{ev.kind}"]
        assert xs == [pytest.approx((ev.start_s, ev.end_s), abs=1e-6)]
        # on the heat map: a mark of that kind in the channel's row (rows are 1-based, c + 0.5 to c + 1.5)
        marks = [p for p in over.patches if p.get_gid() == f"found:{ev.kind}"]
        rows = {
            (round(p.get_x(), 6), round(p.get_x() + p.get_width(), 6), int(np.floor(p.get_y() + 0.5))) for p in marks
        }
        assert (ev.start_s, ev.end_s, ev.channel + 1) in rows
    # a clean channel gets nothing on the heat map
    assert not [p for p in over.patches if 10.5 <= p.get_y() < 11.5]


def test_traces_stay_inside_limits_that_fit_raw_and_filtered(figures: list[Any], tmp_path: Path) -> None:
    """The raw trace (offset removed, with a slow swing bigger than the EMG) is drawn whole, not
    clipped to the filtered signal's range into a square wave; a railed stretch is pinned."""
    from sensorio.plotting import plot_analysis

    analysis = synthetic(4)
    plot_analysis(tmp_path / "x.png", analysis)
    fig = figures[-1]
    for label, ax in trace_axes(fig).items():
        lo, hi = ax.get_ylim()
        raw_line = ax.lines[0]
        y = np.asarray(raw_line.get_ydata(), float)
        y = y[np.isfinite(y)]
        for line in ax.lines[:3]:
            yy = np.asarray(line.get_ydata(), float)
            yy = yy[np.isfinite(yy)]
            assert lo <= yy.min() and yy.max() <= hi, label
        at_edge = np.isclose(np.abs(y), np.abs(y).max())
        if label != "emg3":  # emg3 rails from 1 s to 2 s: pinned to the edge there, as it should be
            assert at_edge.mean() < 0.01, (label, at_edge.mean())
        else:
            assert 0.2 < at_edge.mean() < 0.3


def test_grid_layout_when_info_gives_one(figures: list[Any], tmp_path: Path) -> None:
    from sensorio.plotting import plot_analysis

    plot_analysis(tmp_path / "x.png", synthetic(64, grid=[8, 8]))
    fig = figures[-1]
    grid = [ax for ax in fig.axes if ax.get_title() == "electrode grid 8 x 8"]
    assert grid and grid[0].images[0].get_array().shape == (8, 8)
    # the faulty electrodes are outlined: channel 3 (row 0, col 2) and 64 (row 7, col 7)
    cells = sorted((round(p.get_x() + 0.5), round(p.get_y() + 0.5)) for p in grid[0].patches)
    assert cells == [(2, 0), (7, 7)]
    plot_analysis(tmp_path / "y.png", synthetic(64, grid=[4, 4]))  # too small for 64: no grid panel
    assert not [ax for ax in figures[-1].axes if ax.get_title().startswith("electrode grid")]


def test_grid_layout_puts_each_channel_in_its_cell(figures: list[Any], tmp_path: Path) -> None:
    """A grid whose channel map is not row by row (the INFO gives each
    channel's cell): the channels are drawn where they sit, a channel off
    the grid nowhere."""
    from sensorio.plotting import plot_analysis

    # 18 channels on a 3 x 6 grid, column by column (the grid is drawn beside
    # the overview, above 16 channels); channel 18 off the grid
    cells = [(c % 3) * 6 + c // 3 for c in range(17)] + [None]
    a = synthetic(18, grid={"rows": 3, "cols": 6, "cells": cells})
    a.streams[0].envelope[:] = np.arange(1.0, 19.0)[None, :]  # channel c's mean envelope: c + 1
    plot_analysis(tmp_path / "x.png", a)
    [ax] = [ax for ax in figures[-1].axes if ax.get_title() == "electrode grid 3 x 6"]
    img = np.asarray(ax.images[0].get_array())
    for c, cell in enumerate(cells[:17]):
        assert img[cell // 6, cell % 6] == c + 1
    assert np.isnan(img[2, 5])  # channel 18's would-be cell
    # channel 3 (cell 12: row 2, col 0) and channel 18 (off the grid) have faults: 3 is outlined
    outlined = sorted((round(p.get_x() + 0.5), round(p.get_y() + 0.5)) for p in ax.patches)
    assert outlined == [(0, 2)]


@pytest.fixture(scope="module")
def hd_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    data, truth = run(
        autostart=True,
        profile="emg8",
        channels=64,
        duration=3.0,
        seed=2,
        fault=["saturation:channel=6,start=0.5,end=1.5", "liftoff:channel=41,start=1,end=2"],
    )
    d = tmp_path_factory.mktemp("hd")
    (d / "run.bin").write_bytes(data)
    with open(d / "truth.jsonl", "w") as f:
        for r in truth.records:
            f.write(json.dumps(r) + "\n")
    return d / "run.bin", d / "truth.jsonl"


@pytest.mark.parametrize("command", ["plot", "analyze"])
def test_channels_time_and_truth_on_plot_and_analyze(
    hd_run: tuple[Path, Path], tmp_path: Path, figures: list[Any], command: str, capsys
) -> None:
    dump, truth = hd_run
    out = tmp_path / "x.png"
    args = ["-o", str(out)] if command == "plot" else ["--plot", str(out)]
    assert main([command, str(dump), *args, "--channels", "1-2,6", "--time", "0.25:2", "--truth", str(truth)]) == 0
    capsys.readouterr()
    fig = figures[-1]
    traces = trace_axes(fig)
    assert set(traces) == {"emg1", "emg2", "emg6"}
    for ax in traces.values():
        lo, hi = ax.get_xlim()
        assert lo == pytest.approx(0.25, abs=0.01) and hi == pytest.approx(2.0, abs=0.01)
    # the injected saturation (channel index 5 = emg6) is drawn hatched from 0.5 s to 1.5 s
    bars = [p for p in traces["emg6"].patches if p.get_gid() == "injected:saturation"]
    assert [(b.get_bbox().x0, b.get_bbox().x1) for b in bars] == [pytest.approx((0.5, 1.5), abs=1e-6)]
    assert "injected: saturation" in legend_texts(fig)
    assert overview_axes(fig) is not None  # 64 channels: the heat map comes first


@pytest.mark.parametrize(
    ("extra", "code", "words"),
    [
        (["--channels", "0-3"], 2, "channels count from 1"),
        (["--channels", "a"], 2, "bad channel list"),
        (["--time", "5:4"], 2, "bad time range"),
        (["--channels", "65"], 1, "channel 65 does not exist: there are 64 channels"),
        (["--time", "10:"], 1, "outside the recording"),
        (["--channels", "1-40"], 1, "at most 32 traces"),
        (["--truth", "MISSING"], 1, "cannot read"),
        (["--truth", "DUMP"], 1, "not an emulator truth file"),
    ],
)
def test_bad_selection_is_one_line(
    hd_run: tuple[Path, Path], tmp_path: Path, extra: list[str], code: int, words: str
) -> None:
    dump, _ = hd_run
    extra = [str(dump) if e == "DUMP" else str(tmp_path / "nope.jsonl") if e == "MISSING" else e for e in extra]
    proc = subprocess.run(
        [sys.executable, "-m", "sensorio", "plot", str(dump), "-o", str(tmp_path / "x.png"), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == code, proc.stderr
    assert words in proc.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "x.png").exists()


def test_a_second_streams_heading_clears_the_traces_above_it(tmp_path: Path, figures: list[Any]) -> None:
    """A rig of 128 channels is two SIO-1 streams: each gets its overview and
    traces, and the second overview's heading sat on the first's last trace."""
    from sensorio.dsp.analyze import Analysis
    from sensorio.plotting import plot_analysis

    one = synthetic(64)
    s0 = one.streams[0]
    s1 = dataclasses.replace(s0, stream=1)
    both = Analysis({0: s0, 1: s1}, list(one.events), dict(one.link), {"streams": [{"id": 0}, {"id": 1}]})
    plot_analysis(tmp_path / "two.png", both, channels=range(8))  # (as plot draws 8 of each by default)
    fig = figures[-1]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)  # (the titles take their place as the figure is drawn)
    overviews = [ax for ax in fig.axes if ax.get_ylabel() == "channel"]
    assert len(overviews) == 2
    second = min(overviews, key=lambda ax: ax.get_window_extent().y0)  # the lower one
    heading = second.title.get_window_extent(renderer)
    assert second.get_title().startswith("s1 all 64 channels")
    above = [ax for ax in fig.axes if ax is not second and ax.get_window_extent().y0 > second.get_window_extent().y0]
    assert above
    for ax in above:
        assert not heading.overlaps(ax.get_window_extent(renderer)), ax.get_ylabel()
