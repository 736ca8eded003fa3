"""What a long-running command does before its signal path starts: keep
the garbage collector off what it built, and stop on SIGTERM or SIGHUP as
on Ctrl-C."""

from __future__ import annotations

import gc
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class StopSignal(KeyboardInterrupt):
    """A signal that asks a capture to stop (SIGTERM, SIGHUP): handled like
    Ctrl-C, everything kept; its one argument is the signal's name."""


@contextmanager
def stop_signals() -> Iterator[None]:
    """Within: SIGTERM, and SIGHUP (the terminal or SSH session closed),
    raise StopSignal in the main thread, so a command that stops cleanly on
    Ctrl-C does on those too (its recording gets its END record and all its
    data); and a file-size limit comes back as EFBIG (reported, data kept)
    instead of killing the process."""

    def on_term(signum: int, frame: object) -> None:
        raise StopSignal(signal.Signals(signum).name)

    if threading.current_thread() is not threading.main_thread():
        yield  # (a command run from a thread: signals are the main thread's)
        return

    wanted: dict[signal.Signals, Any] = {signal.SIGTERM: on_term}
    if hasattr(signal, "SIGHUP"):
        wanted[signal.SIGHUP] = on_term
    if hasattr(signal, "SIGXFSZ"):
        wanted[signal.SIGXFSZ] = signal.SIG_IGN
    saved = {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def freeze_setup() -> None:
    """Move what the command has built by now (numpy, scipy, the pipeline,
    the model) out of the garbage collector's reach: it lives to the end,
    and left there a full collection walks all of it, 10-40 ms with the
    GIL held, in the middle of the signal path (docs/performance.md,
    "Garbage collection on the signal path")."""
    gc.collect()
    gc.freeze()


@contextmanager
def signals_ignored() -> Iterator[None]:
    """Within: Ctrl-C, SIGTERM and SIGHUP ignored (in the main thread), so
    that closing up (a recording's END record, an actuator's last 'MOVE
    rest') is not cut short by a second stop that asks for what is already
    under way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in stops}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
