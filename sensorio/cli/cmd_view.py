"""sensorio view PORT: a live view of a capture (terminal, or a plot window with --plot)."""

from __future__ import annotations

import argparse
import sys
import time

from ..descriptor import capture_descriptor
from ..errors import SensorioError
from . import positive_number
from ._options import add_duration, add_format, add_output, add_start, add_stream, baud_rate, old_spelling
from ._plotopts import add_channel_option, time_range
from ._realtime import live_capture, no_frames_error, run_live


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("view", help="live per-channel level, envelope and health of a capture")
    p.add_argument("port", help="serial port path or URL (sim://..., replay://FILE)")
    add_format(p, port=True)
    p.add_argument("--baud", type=baud_rate, default=115200, help="baud rate (default: 115200)")
    add_stream(p, repeatable=True, dest="streams", help="device stream to show (repeatable; default: all)")
    add_channel_option(p, default="16 of each stream, those with faults first")
    p.add_argument(
        "--time",
        type=time_range,
        metavar="START:END",
        help="seconds of the stream to look at (by its samples): shown from START "
        "(the filters settle on what comes before), stopped at END",
    )
    p.add_argument("--window", action="store_true", help="a live plot window instead (needs a display)")
    old_spelling(p, "--plot", "--window", "window", switch=True)
    add_output(p, "also record to this file (.sior)", old=("--record",))
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    add_duration(p)
    add_start(p)
    p.add_argument(
        "--interval",
        type=positive_number,
        default=0.2,
        help="seconds between redraws on a terminal (default: 0.2; into a file or pipe: 5)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # SIGTERM, SIGHUP: stop as on Ctrl-C, the recording (-o) kept whole; a stop
    # during the handshake said as such
    return run_live(_run, args)


def _run(args: argparse.Namespace) -> int:
    from ..live import LiveModel, PlotView, TerminalView
    from ..plotting import no_such_channel

    with live_capture(args) as cap:
        model = LiveModel(capture_descriptor(cap), streams=args.streams, time_range=args.time)
        if not model.streams:
            raise SensorioError(f"none of the streams {args.streams} is in the device descriptor")
        most = max(len(st.labels) for st in model.streams.values())
        if args.channels and max(args.channels) >= most:
            raise no_such_channel(max(args.channels) + 1, most, len(model.streams))
        plot = PlotView(model, args.channels) if args.window else None
        term = TerminalView(model, sys.stdout, channels=args.channels)
        # into a file or a pipe: a snapshot every few seconds, not five a second
        every = args.interval if term.in_place or plot is not None else max(args.interval, 5.0)
        t_end = None if args.duration is None else time.monotonic() + args.duration
        drawn = 0.0 if every == args.interval else time.monotonic()  # off a terminal: the first after `every`
        stopped = False
        try:
            while True:
                for block in cap.read(args.interval):
                    model.update(block)
                now = time.monotonic()
                if now - drawn >= every and not model.before_start:
                    drawn = now
                    status = "disconnected: waiting for the device" if not cap.connected else "Ctrl-C to stop"
                    if plot is not None:
                        plot.draw()
                    else:
                        term.draw(cap.stats, status)
                if cap.ended or model.past_end or (t_end is not None and now >= t_end):
                    break
        except KeyboardInterrupt:
            stopped = True
        if not stopped and not cap.stats.frames_ok:
            # it ended (the source's end, --duration) with nothing to show: say
            # why, as record and stream do (it said "stopped", exit 0)
            error = no_frames_error(cap, args.port)
            if error is not None:
                raise error
        if model.before_start and cap.ended:  # the source ended first (a stop before it is no error)
            got = max(st.rows / st.rate_hz for st in model.streams.values())
            raise SensorioError(f"the source ended at {got:.2f} s, before --time's start: nothing to show")
        if plot is None:
            term.draw(cap.stats, "stopped")
    return 0
