"""The progress bar of the file commands (sensorio.cli._progress)."""

from __future__ import annotations

import io
import os

import pytest

from sensorio.cli import _progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_keeps_its_width_as_the_figures_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bar's own width changed between redraws (the line is fitted to
    the terminal, and the megabytes and seconds left were printed at their
    own width)."""
    clock = [0.0]
    monkeypatch.setattr(_progress.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(_progress.shutil, "get_terminal_size", lambda fallback: os.terminal_size((100, 24)))
    out = _Terminal()
    bar = _progress.Progress(2_500_000_000, "exporting rec.sior", out=out)
    for done in (10_000_000, 95_000_000, 600_000_000, 1_234_000_000, 2_490_000_000):
        clock[0] += 3.0
        bar.update(done)
    lines = [part.replace("\x1b[K", "") for part in out.getvalue().split("\r") if part.strip()]
    assert len(lines) == 5
    assert len({line.index("]") for line in lines}) == 1, lines  # the bar itself
    assert len({len(line) for line in lines}) == 1, lines
    assert all(line.startswith("exporting rec.sior [") for line in lines)


def test_no_bar_off_a_terminal_or_before_two_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(_progress.time, "monotonic", lambda: clock[0])
    piped = io.StringIO()
    bar = _progress.Progress(1000, "decoding", out=piped)
    clock[0] = 5.0
    bar.update(500)
    assert piped.getvalue() == ""
    term = _Terminal()
    bar = _progress.Progress(1000, "decoding", out=term)
    clock[0] += 1.0
    bar.update(500)
    assert term.getvalue() == ""
    clock[0] += 1.5
    bar.update(600)
    assert "60%" in term.getvalue()
