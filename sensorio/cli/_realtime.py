"""What a long-running live command does around its signal path: open the
device, keep the garbage collector off what it built, and stop on SIGTERM
or SIGHUP as on Ctrl-C."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class StopSignal(KeyboardInterrupt):
    """A signal that asks a capture to stop (SIGTERM, SIGHUP): handled like
    Ctrl-C, everything kept; its one argument is the signal's name."""


def stop_reason(exc: KeyboardInterrupt) -> str:
    """Who stopped a command, for its closing word: the signal's name, or the user (Ctrl-C)."""
    return exc.args[0] if isinstance(exc, StopSignal) and exc.args else "the user"


class HandshakeStopped(KeyboardInterrupt):
    """A stop (Ctrl-C, SIGTERM, SIGHUP) that came while a live command was
    still opening the device (asking its INFO, starting it); its one argument
    is the line that says so (handshake_stopped)."""


def file_stamp(path: Any) -> tuple[int, int, int] | None:
    """(inode, size, modification time) of a file, None when there is none:
    a file with the stamp it had before a run was not written by that run."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def handshake_stopped(
    exc: KeyboardInterrupt, port: str, output: Any = None, before: tuple[int, int, int] | None = None
) -> str:
    """The one line for a stop during the handshake with port: who stopped
    it and, when recording to output, whether the file was kept (the capture
    closes it whole) or nothing was recorded. before: output's file_stamp
    before the run, so that an older file of that name (--force) is not
    taken for what this run wrote."""
    line = f"stopped by {stop_reason(exc)} during the handshake with {port}"
    if output is None:
        return line
    out = Path(output)
    now = file_stamp(out)
    if now is not None and now != before:
        return f"{line}: {out} kept ({now[1]} bytes)"
    return f"{line}: nothing recorded" + (f" ({out} left as it was)" if now is not None else "")


def run_live(run: Callable[[Any], int], args: Any) -> int:
    """A live command's run(args): SIGTERM and SIGHUP stop it as Ctrl-C does
    (stop_signals); a stop during the handshake (live_capture) ends it with
    exit 0 and one line saying what it was doing, as a stop later does and
    as record's does (it said only "interrupted", exit 130)."""
    with stop_signals():
        try:
            return run(args)
        except HandshakeStopped as stop:
            print(stop.args[0], file=sys.stderr)
            return 0


@contextmanager
def stop_signals() -> Iterator[None]:
    """Within: SIGTERM, and SIGHUP (the terminal or SSH session closed),
    raise StopSignal in the main thread, so a command that stops cleanly on
    Ctrl-C does on those too (its recording gets its END record and all its
    data); and a file-size limit comes back as EFBIG (reported, data kept)
    instead of killing the process."""

    def on_term(signum: int, frame: object) -> None:
        raise StopSignal(signal.Signals(signum).name)

    wanted: dict[str, Any] = {"SIGTERM": on_term, "SIGHUP": on_term, "SIGXFSZ": signal.SIG_IGN}
    with _handlers(wanted):
        yield


@contextmanager
def _handlers(wanted: dict[str, Any]) -> Iterator[None]:
    """Within: the handlers wanted (by signal name; names this system lacks
    are left out), the ones before put back after. Only in the main thread:
    a command run from another thread leaves signals to the main one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # a signal ignored when the process started stays so: nohup's SIGHUP
    # (every command stopped on it once they all took it)
    saved = {
        getattr(signal, name): signal.signal(getattr(signal, name), handler)
        for name, handler in wanted.items()
        if hasattr(signal, name) and signal.getsignal(getattr(signal, name)) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@contextmanager
def live_capture(args: Any, on_event: Any = None) -> Iterator[Any]:
    """open_live's capture, closed at the end. An error raised within once
    the recording (-o) has been created (a check that needs the device's
    INFO: a stream or channel it lacks, a model for another layout) names
    the file kept, as record's errors do: it was left without a word, and a
    second run failed on "FILE exists". A stop during the opening (the
    handshake) comes out as HandshakeStopped, for run_live to say."""
    from ..errors import SensorioError
    from ._describe import kept_error

    with handshake(args.port, args.output):
        cap = open_live(args, on_event)
    try:
        with cap:
            yield cap
    except SensorioError as exc:
        if cap.recorder is None:
            raise
        raise kept_error(exc, args.output, cap.recorder.bytes_written) from exc


@contextmanager
def handshake(port: str, output: Any = None) -> Iterator[None]:
    """Within: the opening of a live command's capture of port (recording to
    output, if any); a stop there comes out as HandshakeStopped, with
    handshake_stopped's line, for run_live to say."""
    before = file_stamp(output) if output is not None else None
    try:
        yield
    except HandshakeStopped:
        raise
    except KeyboardInterrupt as exc:  # the capture closed what it had (a recording: kept whole)
        raise HandshakeStopped(handshake_stopped(exc, port, output, before)) from None


def open_live(args: Any, on_event: Any = None) -> Any:
    """The capture of a live command (view, stream, control): args.port in
    args.format at args.baud, recorded to args.output when given (args.force
    to overwrite), sent its format's start command (START to an SIO-1 device,
    'b' to a Cyton, as record does); on_event gets its link events."""
    from ..capture import open as open_capture
    from ._options import start_command

    start = start_command(args)
    return open_capture(
        args.port,
        args.format,
        baudrate=args.baud,
        record=args.output,
        overwrite=args.force,
        start_command=start,
        on_event=on_event,
    )


def check_first_frame(cap: Any, port: str, waited_s: float, check_s: float) -> None:
    """--check-seconds: once check_s (0: never) have passed with no data
    frame decoded, stop with no_frames_error's diagnosis."""
    if check_s and waited_s >= check_s and not cap.stats.frames_ok:
        error = no_frames_error(cap, port)
        if error is not None:
            raise error


def no_frames_error(cap: Any, port: str) -> Any:
    """Why the capture decoded no data frame ("the device answers ... but
    sends no data frames", "no bytes arrived", a format or baud rate that
    looks wrong), as the SensorioError a live command stops with; None when
    frames came or there is nothing to advise."""
    from ..errors import SensorioError
    from ._options import cli_text

    advice = cap.diagnose()
    return SensorioError(f"{port}: {cli_text(advice)}") if advice else None


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
    with _handlers(dict.fromkeys(("SIGINT", "SIGTERM", "SIGHUP"), signal.SIG_IGN)):
        yield
