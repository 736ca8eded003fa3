"""Live terminal view: per-channel level, envelope and health, rate and losses, in plain ANSI."""

from __future__ import annotations

import io
import json

import numpy as np
from emulator_util import run

import sensorio
from sensorio.live import LiveModel, TerminalView


def blocks_of(**kw):
    data, truth = run(autostart=True, **kw)
    parser = sensorio.Parser()
    chunks = []
    for i in range(0, len(data), 4096):  # as a port delivers them
        parser.feed(data[i : i + 4096])
        chunks.extend(parser.read())
    info = json.loads(next(m.text for m in parser.read_messages() if m.kind == "info"))
    return chunks, info, parser


def test_view_shows_levels_health_rate_and_losses() -> None:
    blocks, info, parser = blocks_of(
        profile="emg8",
        seed=5,
        duration=2.0,
        fault=["liftoff:channel=4,start=0.5,end=1.6"],
        link=["drop:at=0.2,count=2"],
    )
    model = LiveModel(info)
    out = io.StringIO()
    view = TerminalView(model, out, colour=False, in_place=True)
    t = 0.0
    during = None
    for b in blocks:
        t += len(b) / 2000
        model.update(b, now=t)  # device time as the clock: the measured rate is the device's
        if during is None and t > 1.2:
            view.draw(parser.stats)
            during = view.render(parser.stats)
    lines = during.splitlines()
    rows = {ln.split()[0]: ln for ln in lines if ln.startswith("  emg")}
    assert set(rows) == {f"emg{i}" for i in range(1, 9)}
    assert "faulty (leadoff)" in rows["emg4"]
    assert all(rows[k].rstrip().endswith("ok") for k in rows if k != "emg4")
    level = float(rows["emg1"].split()[1])
    assert 1 < level < 1000  # microvolts of EMG, filtered
    assert "#" in rows["emg1"]
    assert "2000 samples/s" in lines[0] or abs(float(lines[0].split(":")[1].split()[0]) - 2000) < 50
    assert "2 lost" in during and "link:" in during
    assert any("emg4: leadoff began" in ln for ln in lines)
    # after the fault the channel recovers, and a redraw moves the cursor back over the old lines
    view.draw(parser.stats)
    final = view.render(parser.stats)
    assert next(ln for ln in final.splitlines() if ln.startswith("  emg4")).rstrip().endswith("ok")
    written = out.getvalue()
    assert f"\x1b[{len(during.splitlines())}F" in written and "\x1b[K" in written
    assert not np.isnan(model.streams[0].envelope).any()


def test_colour_only_on_terminals() -> None:
    blocks, info, _ = blocks_of(profile="emg8", seed=1, duration=0.3)
    model = LiveModel(info)
    for b in blocks:
        model.update(b)
    assert "\x1b[32m" not in TerminalView(model, io.StringIO()).render()
    assert "\x1b[32m" in TerminalView(model, io.StringIO(), colour=True).render()


def test_plot_view_traces_each_channels_envelope(monkeypatch) -> None:
    import pytest
    from support import require_or_skip

    try:
        import matplotlib
    except ImportError:
        require_or_skip(False, "matplotlib is not installed (pip install 'sensorio[plot]')")
    matplotlib.use("Agg")  # no window here: the same figure, drawn off screen
    from sensorio.errors import SensorioError
    from sensorio.live import PlotView

    blocks, info, _ = blocks_of(profile="emg8", seed=6, duration=1.5, fault=["saturation:channel=2,start=0.5,end=1.0"])
    model = LiveModel(info)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SensorioError, match="no display"):
        PlotView(model)
    monkeypatch.setenv("DISPLAY", ":0")
    view = PlotView(model)
    assert len(view.lines) == 8
    for b in blocks:
        model.update(b)
    view.draw()
    hist = np.array(model.streams[0].history)
    for c in range(8):
        x, y = view.lines[(0, c)].get_data()
        np.testing.assert_array_equal(y, hist[:, c])
        assert list(x) == list(range(len(hist)))
        top = view.lines[(0, c)].axes.get_ylim()[1]
        finite = hist[:, c][np.isfinite(hist[:, c])]
        assert top == pytest.approx(max(finite.max() * 1.2, 1e-9))
    assert view.lines[(0, 0)].axes.get_ylabel() == "emg1"
    view.plt.close(view.fig)
