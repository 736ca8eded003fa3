"""sensorio plot FILE: a PNG for 1 to 16 channels, faults and gaps drawn; clear errors."""

from __future__ import annotations

from pathlib import Path

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


@pytest.mark.parametrize("channels", [1, 16])
def test_plot_writes_a_png_per_channel_count(tmp_path: Path, channels: int, capsys) -> None:
    data, _ = run(
        autostart=True,
        profile="emg8",
        channels=channels,
        duration=2.0,
        seed=2,
        fault=["saturation:channel=1,start=0.5,end=1"],
        link=["drop:at=1.5,count=2"],
    )
    dump = tmp_path / "run.bin"
    dump.write_bytes(data)
    assert main(["plot", str(dump)]) == 0
    png = tmp_path / "run.png"
    assert capsys.readouterr().out.strip() == str(png)
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 10_000
    assert main(["plot", str(dump)]) != 0  # never overwrites
    assert "exists" in capsys.readouterr().err


def test_plot_draws_faults_gaps_and_link_statistics(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.patches import Polygon, Rectangle

    from sensorio.dsp.analyze import analyze_file
    from sensorio.plotting import plot_analysis

    data, truth = run(
        autostart=True,
        profile="emg8",
        duration=2.0,
        seed=4,
        fault=["liftoff:channel=4,start=0.5,end=1.2"],
        link=["drop:at=1.5,count=2"],
    )
    dump = tmp_path / "run.bin"
    dump.write_bytes(data)
    result = analyze_file(dump)
    captured = {}
    import matplotlib.figure

    real_savefig = matplotlib.figure.Figure.savefig

    def keep(fig, *a, **kw):
        captured["fig"] = fig
        return real_savefig(fig, *a, **kw)

    matplotlib.figure.Figure.savefig = keep
    try:
        plot_analysis(tmp_path / "x.png", result, truth=truth.faults())
    finally:
        matplotlib.figure.Figure.savefig = real_savefig
    fig = captured["fig"]
    axes = fig.axes
    assert len(axes) == 8
    assert "2 lost" in fig._suptitle.get_text()
    # the lift-off channel has a shaded span from 0.5 s to 1.2 s (detected) and a hatched truth bar
    spans = [p for p in axes[3].patches if isinstance(p, (Polygon, Rectangle))]
    xs = sorted((round(p.get_xy()[0][0], 2) if isinstance(p, Polygon) else round(p.get_x(), 2)) for p in spans)
    assert xs.count(0.5) >= 2
    assert not [p for p in axes[0].patches]  # a clean channel: nothing shaded
    # the gap is a dashed line on every panel
    assert all(any(line.get_linestyle() == "--" for line in ax.lines) for ax in axes)
