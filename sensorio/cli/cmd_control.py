"""sensorio control PORT --model MODEL: online control, decisions to stdout,
UDP, LSL or a serial actuator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..descriptor import capture_descriptor
from ..errors import SensorioError
from ._options import add_duration, add_format, add_output, add_stream, baud_rate, check_output
from ._realtime import freeze_setup, stop_signals


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
    add_duration(p, "stop after this many seconds of signal")
    add_output(p, "also record to this file (.sior)", old=("--record",))
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--quiet", action="store_true", help="no JSON lines on stdout")
    p.set_defaults(func=run)


def _check_stream(info: dict[str, Any] | None, stream: int, model: Any, port: str) -> None:
    if not info or not info.get("streams"):
        raise SensorioError(f"{port} sent no device descriptor (INFO): check --format")
    desc = next((s for s in info["streams"] if int(s["id"]) == stream), None)
    if desc is None:
        raise SensorioError(f"the device has no stream {stream}")
    if int(desc["channels"]) != model.n_channels or abs(float(desc["rate_hz"]) - model.rate_hz) > 1e-6:
        raise SensorioError(
            f"the model is for {model.n_channels} channels at {model.rate_hz:g} Hz; stream {stream} has "
            f"{desc['channels']} at {float(desc['rate_hz']):g} Hz"
        )


def run(args: argparse.Namespace) -> int:
    with stop_signals():  # SIGTERM, SIGHUP: stop as on Ctrl-C, the recording (-o) kept whole
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ..capture import open as open_capture
    from ..control import Controller, control_pipeline, load_model
    from ..sinks.decisions import Actuator, JsonLines, LslDecisions, UdpSender, parse_host_port

    if args.udp:
        parse_host_port(args.udp)
    if args.output is not None:
        check_output(args.output, args.force)
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
        start = "START" if args.format == "sio" else None
        with open_capture(
            args.port, args.format, baudrate=args.baud, record=args.output, overwrite=args.force, start_command=start
        ) as cap:
            info = capture_descriptor(cap)
            _check_stream(info, args.stream, model, args.port)
            pipe = control_pipeline(info, args.stream, config=model.pipeline)
            ctl = Controller(model)
            freeze_setup()
            first: float | None = None
            try:
                while not cap.ended:
                    for block in cap.read(0.2):
                        if block.stream != args.stream:
                            continue
                        for sig in pipe.process(block):
                            for d in ctl.process_signal(sig):
                                for s in sinks:
                                    s.send(d)
                                first = d.t_s if first is None else first
                                if args.duration is not None and d.t_s - first >= args.duration:
                                    return 0
            except KeyboardInterrupt:
                pass
    finally:
        for s in sinks:
            s.close()
    return 0
