"""A progress bar for commands that read a file: on a terminal only (stderr is a tty),
and only once the work has taken longer than ``DELAY_S``; nothing in a file or pipe."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")

#: a bar appears only after this many seconds (short commands stay silent)
DELAY_S = 2.0
#: redraws at most this often
INTERVAL_S = 0.2


class Progress:
    """``update(done)`` as the work goes (done of ``total`` bytes), ``close()`` at the end
    (erases the bar). Draws nothing unless ``out`` (default stderr) is a terminal."""

    def __init__(self, total: int | None, label: str = "", out: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stderr
        try:
            self.tty = bool(self.out.isatty())
        except (AttributeError, ValueError, OSError):
            self.tty = False
        self.total = total if total and total > 0 else None
        self.label = label
        self.started = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def update(self, done: int) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if now - self.started < DELAY_S or now - self._last < INTERVAL_S:
            return
        self._last = now
        width = shutil.get_terminal_size((80, 24)).columns
        elapsed = now - self.started
        mb = done / 1e6
        if self.total:
            share = min(1.0, done / self.total)
            left = elapsed * (1 - share) / share if share > 0 else 0.0
            total_mb = f"{self.total / 1e6:,.0f}"
            # fixed widths: the bar's length must not change as the figures grow or shrink
            tail = f" {100 * share:3.0f}% {mb:>{len(total_mb)},.0f}/{total_mb} MB, {left:5.0f} s left"
            room = max(10, width - len(self.label) - len(tail) - 4)
            filled = int(room * share)
            line = f"{self.label} [{'#' * filled}{'.' * (room - filled)}]{tail}"
        else:
            line = f"{self.label} {mb:,.0f} MB, {elapsed:.0f} s"
        self.out.write("\r" + line[: width - 1] + "\x1b[K")
        self.out.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def with_progress(items: Iterable[T], position: Callable[[], int], total: int | None, label: str) -> Iterator[T]:
    """items, updating a Progress from position() after each one (erased at the end)."""
    with Progress(total, label) as bar:
        for item in items:
            yield item
            bar.update(position())


def progress_bar(label: str) -> Callable[[Iterable[T], Callable[[], int], int | None], Iterator[T]]:
    """A wrapper for library calls that take ``progress=``: items with a bar labelled ``label``."""
    return lambda items, position, total: with_progress(items, position, total, label)
