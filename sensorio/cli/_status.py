"""A status line that fits where stderr goes: rewritten in place on a terminal, a plain
line every few seconds in a file or pipe (no carriage returns, no escape codes), nothing
with --quiet."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class StatusLine:
    """``if status.due(): status.show(text)`` in a loop, ``status.finish()`` at the end.

    The first line comes one interval after the start, when there is something to say
    (rates measured over less than that would be noise)."""

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        quiet: bool = False,
        tty_interval: float = 0.5,
        pipe_interval: float = 5.0,
        started: float | None = None,
    ) -> None:
        self.out = out if out is not None else sys.stderr
        try:
            self.tty = bool(self.out.isatty())
        except (AttributeError, ValueError, OSError):
            self.tty = False
        self.quiet = quiet
        self.interval = tty_interval if self.tty else pipe_interval
        self.last = time.monotonic() if started is None else started
        self._open = False

    def due(self, now: float | None = None) -> bool:
        """Whether a line is due now (never when quiet)."""
        now = time.monotonic() if now is None else now
        if self.quiet or now - self.last < self.interval:
            return False
        self.last = now
        return True

    def show(self, line: str) -> None:
        """Write the line: in place on a terminal (erasing the rest of the old one), else as a line."""
        if self.quiet:
            return
        if self.tty:
            self.out.write("\r" + line + "\x1b[K")
            self._open = True
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def finish(self) -> None:
        """End the line being rewritten on a terminal, so that what follows starts on its own."""
        if self._open:
            self.out.write("\n")
            self.out.flush()
            self._open = False
