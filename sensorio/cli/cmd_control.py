"""sensorio control PORT --model MODEL: online control, decisions to stdout,
UDP, LSL or a serial actuator."""

from __future__ import annotations

import argparse
import queue
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..blocks import split_block
from ..descriptor import capture_descriptor, timed_stream
from ..errors import SensorioError
from ._describe import capture_summary
from ._options import (
    add_check_seconds,
    add_duration,
    add_format,
    add_output,
    add_start,
    add_stream,
    add_verbose,
    baud_rate,
    check_output,
)
from ._realtime import (
    check_first_frame,
    freeze_setup,
    live_capture,
    no_frames_error,
    run_live,
    signals_ignored,
    stop_reason,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "control",
        help="run a control model online: decisions to stdout (JSON lines), UDP, LSL or an actuator",
        description="Decode gestures online with a model from sensorio train / fit. Every decision (one per "
        "feature increment) goes to stdout as a JSON line (class, speed, posteriors, channels used), and "
        "optionally to UDP (the same JSON per datagram), to LSL (a Control stream: class, speed, "
        "posteriors) and to a serial actuator (one line 'MOVE <class> <speed>' per decision). Channels the "
        "fault detector masks are left out of each decision at once.",
    )
    p.add_argument("port", help="serial port path or URL (sim://..., replay://FILE)")
    p.add_argument("--model", type=Path, required=True, help="model file from sensorio train / fit")
    p.add_argument("--udp", metavar="HOST:PORT", help="also send each decision as a UDP datagram (JSON)")
    p.add_argument("--lsl", action="store_true", help="also publish decisions as an LSL stream (needs pylsl)")
    p.add_argument("--actuator", metavar="PORT", help="serial port of an actuator: 'MOVE <class> <speed>' lines")
    p.add_argument("--actuator-baud", type=baud_rate, default=115200, help="actuator baud rate (default 115200)")
    add_format(p, port=True)
    p.add_argument("--baud", type=baud_rate, default=115200, help="baud rate (default: 115200)")
    add_stream(p, repeatable=False, help="the EMG stream (default: 0)")
    add_duration(p, "stop after this many seconds of signal (of time at most, as record)")
    add_start(p)
    add_check_seconds(p)
    add_output(p, "also record to this file (.sior)", old=("--record",))
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--quiet", action="store_true", help="no JSON lines on stdout")
    add_verbose(p, "with --lsl: let liblsl log its INFO lines too")
    p.set_defaults(func=run)


def _check_stream(info: dict[str, Any], stream: int, model: Any, port: str) -> None:
    desc = timed_stream(info, stream, port)
    if int(desc["channels"]) != model.n_channels or abs(float(desc["rate_hz"]) - model.rate_hz) > 1e-6:
        raise SensorioError(
            f"the model is for {model.n_channels} channels at {model.rate_hz:g} Hz; stream {stream} has "
            f"{desc['channels']} at {float(desc['rate_hz']):g} Hz"
        )


def run(args: argparse.Namespace) -> int:
    # SIGTERM, SIGHUP: stop as on Ctrl-C, the recording (-o) kept whole; a stop
    # during the handshake said as such
    return run_live(_run, args)


def _run(args: argparse.Namespace) -> int:
    from ..control import Controller, SignalWatch, control_pipeline, load_model
    from ..sinks.decisions import Actuator, JsonLines, LslDecisions, UdpSender, parse_host_port

    if args.udp:
        parse_host_port(args.udp)
    if args.output is not None:
        check_output(args.output, args.force)
    if args.lsl:
        from ..sinks.lsl import prepare_lsl

        # as stream does: liblsl's INFO lines on the terminal, among the
        # decisions and the closing summary, told the user nothing (--verbose
        # lets them through)
        prepare_lsl(info_lines=args.verbose)
    model = load_model(args.model)
    sinks: list[Any] = []
    try:
        if not args.quiet:
            sinks.append(JsonLines(sys.stdout))
        if args.udp:
            sinks.append(UdpSender(args.udp))
        if args.lsl:
            sinks.append(LslDecisions(model.classes))
        if args.actuator:
            sinks.append(Actuator(args.actuator, args.actuator_baud))
        # everything loaded and run once before the device starts streaming, so
        # that the first decisions do not wait for imports and first calls
        control_pipeline(None, args.stream, config=model.pipeline)
        warm = Controller(model)
        warm.process(np.zeros((warm.extractor.window, model.n_channels)))
        link_events: queue.SimpleQueue = queue.SimpleQueue()  # filled by the capture's threads
        stopped_by: str | None = None
        with live_capture(args, link_events.put) as cap:
            info = capture_descriptor(cap)
            _check_stream(info, args.stream, model, args.port)
            pipe = control_pipeline(info, args.stream, config=model.pipeline)
            ctl = Controller(model)

            sent = [0]  # decisions sent, for the closing word

            def send(decision: Any) -> None:
                sent[0] += 1
                for s in sinks:
                    s.send(decision)

            # the library's watch: the safe output when the signal is lost, stale decisions dropped
            watch = SignalWatch(
                ctl,
                lambda: pipe.next_row(args.stream),
                send,
                on_signal=lambda lost, why: _say_signal(args.port, lost, why),
            )
            end_row = None if args.duration is None else int(round(args.duration * model.rate_hz))
            freeze_setup()

            def decide(block: Any) -> bool:
                """Decisions from a block, a decision's worth at a time (a fast
                source's reads are long); True once --duration's rows are in."""
                for piece in split_block(block, ctl.extractor.increment):
                    for sig in pipe.process(piece):
                        for d in ctl.process_signal(sig):
                            watch.send(d)
                    if end_row is not None and pipe.next_row(args.stream) >= end_row:
                        return True
                return False

            # --duration: seconds of signal, and at most as many of time, as
            # record's: a device whose signal does not come (or comes slowly) is
            # not waited for past it
            started = time.monotonic()
            t_end = None if args.duration is None else started + args.duration
            rows = 0  # samples of the stream, for the closing word
            try:
                done = False
                while not (done or cap.ended):
                    got = False
                    for block in cap.read(0.1):
                        if block.stream == args.stream:
                            got = True
                            rows += len(block)
                            done = decide(block)
                            watch.arrived()  # after its work: a long batch is not a silence
                            if done:
                                break
                        else:
                            watch.other()
                    while not link_events.empty():
                        watch.on_event(link_events.get())
                    # silent: but a slow loop with bytes arriving is no loss
                    watch.poll(None if got or cap.source_ended else cap.quiet_s)
                    now = time.monotonic()
                    check_first_frame(cap, args.port, now - started, args.check_seconds)  # (nothing to decide on)
                    if t_end is not None and now >= t_end:
                        done = True
                if done or cap.source_ended:
                    # --duration, or the end of a replay or a sim:// device: what
                    # the pipeline holds (its look-ahead) is decided too
                    for sig in pipe.flush():
                        for d in ctl.process_signal(sig):
                            watch.send(d)
            except KeyboardInterrupt as exc:
                stopped_by = stop_reason(exc)
            with signals_ignored():  # a second Ctrl-C must not cut the closing short
                cap.close()
            if stopped_by is None and not cap.stats.frames_ok:
                # it ended (--duration, the source's end) with nothing to decide
                # on: say why, as record and stream do (within the capture: the
                # error names the recording kept)
                error = no_frames_error(cap, args.port)
                if error is not None:
                    raise error
        # the last word on the link, as record's and stream's (on stderr: the
        # decisions have stdout): losses, and the recording kept on a stop
        what = f"{rows} samples of stream {args.stream}, {sent[0]} decisions"
        if watch.dropped:
            what += f" ({watch.dropped} stale ones dropped after a signal loss)"
        elif not sent[0]:
            window = ctl.extractor.window
            what += f" (no window of {window} samples came)" if rows < window else ""
        line = capture_summary(cap, what, stopped_by, cap.source_ended, args.output)
    finally:
        with signals_ignored():  # a second Ctrl-C or SIGTERM must not cut 'MOVE rest' short
            for s in sinks:
                s.close()
    print(line, file=sys.stderr)
    return 0


def _say_signal(port: str, lost: bool, why: str) -> None:
    """The signal watch's one line on stderr, at a loss and at the return."""
    if lost:
        print(f"control: {port}: {why}: safe output (rest) until the signal is back", file=sys.stderr, flush=True)
    else:
        print(f"control: the signal from {port} is back: deciding again", file=sys.stderr, flush=True)
