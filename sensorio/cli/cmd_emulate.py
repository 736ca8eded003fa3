"""sensorio emulate: a virtual device on a pseudo-terminal (prints its path)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from dataclasses import fields

from ..emulator.link import KINDS as LINK_KINDS
from ..emulator.settings import LAYOUTS, SIGNAL_HELP, SignalConfig
from ..errors import UsageError, same_file
from ..faultkinds import EMULATED_KINDS, check_mains_hz
from ..numbers import parse_number
from . import non_negative_integer, non_negative_number, positive_integer, positive_number
from ._options import refuse_existing
from ._realtime import freeze_setup


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "emulate",
        help="serve an emulated device (SIO-1, Cyton, ASCII) on a pseudo-terminal",
        description="Serve an emulated sensor device on a pseudo-terminal and print its path. "
        f"Faults: --fault KIND:channel=N,start=S,end=S[,...] (kinds {', '.join(EMULATED_KINDS)}; "
        "channel counts from 1, as the labels); "
        f"--link KIND:at=S[,...] ({', '.join(LINK_KINDS)}). "
        "Times are device seconds (the sample clock, running while the device streams).",
    )
    p.add_argument(
        "--format",
        choices=("sio", "cyton", "ascii"),
        default=None,
        help="wire format (default sio, or the profile's own: a Cyton's is cyton)",
    )
    p.add_argument("--profile", help="device profile: emg8, prosthesis (sio); cyton; arduino (ascii)")
    p.add_argument(
        "--channels",
        type=positive_integer,
        help="stream 0 channels (overrides the profile; EMG above 64: streams of 64, up to 256)",
    )
    p.add_argument("--rate", type=positive_number, help="stream 0 sample rate in Hz (overrides the profile)")
    p.add_argument("--enc", choices=("i16", "i24", "i32"), help="stream 0 sample encoding (SIO-1)")
    p.add_argument(
        "--seed", type=non_negative_integer, default=0, help="random seed: same seed, same signal (default 0)"
    )
    p.add_argument("--serial", help="serial number in the INFO descriptor")
    p.add_argument(
        "--grid",
        metavar="ROWSxCOLS",
        help="the EMG electrodes sit on this grid, row by row (such as 8x8), and the INFO says so (format "
        "sio; above 64 channels each stream of 64 its own rows): the fault detector compares each with its "
        "neighbours, the plot of more than 16 channels draws the grid",
    )
    p.add_argument("--fault", action="append", default=[], metavar="SPEC", help="a sensor fault (repeatable)")
    p.add_argument("--link", action="append", default=[], metavar="SPEC", help="a link fault (repeatable)")
    p.add_argument(
        "--random-faults",
        type=non_negative_integer,
        default=0,
        metavar="N",
        help="N random sensor faults from the seed",
    )
    sig = p.add_argument_group("signal (the same settings as sim:// query parameters)")
    for f in fields(SignalConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "layout":
            sig.add_argument(flag, choices=LAYOUTS, help=SIGNAL_HELP[f.name])
        elif f.name == "source":
            sig.add_argument(flag, metavar="FILE", help=SIGNAL_HELP[f.name])
        elif f.name == "mains_hz":
            sig.add_argument(flag, type=mains_frequency, metavar="HZ", help=SIGNAL_HELP[f.name])
        else:
            sig.add_argument(flag, type=non_negative_number, metavar="X", help=SIGNAL_HELP[f.name])
    p.add_argument("--duration", type=positive_number, help="stop streaming after this many device seconds, then exit")
    p.add_argument(
        "--timeout",
        type=positive_number,
        metavar="SECONDS",
        help="exit after this many seconds of wall time, streaming or not "
        "(--duration counts device time, which stands still until a host sends START)",
    )
    speed = p.add_mutually_exclusive_group()
    speed.add_argument("--fast", action="store_true", help="as fast as the reader takes it, not real time")
    speed.add_argument("--speed", type=positive_number, help="time factor (1 = real time, the default)")
    p.add_argument("--autostart", action="store_true", help="stream at once, without waiting for START / b")
    p.add_argument("--labels", action="store_true", help="ASCII: Arduino Serial Plotter label:value fields")
    p.add_argument("--counter", action="store_true", help="ASCII: a leading sample counter on each line")
    p.add_argument(
        "--link-path",
        metavar="PATH",
        help="also make PATH a symlink to the pty, kept across replugs",
    )
    p.add_argument("--truth", metavar="FILE", help="write the ground truth (JSON lines) to FILE")
    p.add_argument("--force", action="store_true", help="overwrite an existing --truth file")
    p.add_argument("--truth-codes", action="store_true", help="put every frame's samples in the truth")
    p.add_argument("--quiet", action="store_true", help="print only the port path")
    g = p.add_argument_group(
        "gestures",
        "the wearer performs hand gestures (profile gestures, or any of these options; "
        "the sequence goes to the truth as gesture records)",
    )
    for flag, help_text in GESTURE_HELP.items():
        g.add_argument(f"--{flag.replace('_', '-')}", metavar="VALUE", help=help_text)
    p.set_defaults(func=run)


#: the gesture options (sensorio.emulator.gestures.OPTION_NAMES) as flags
GESTURE_HELP = {
    "gestures": "classes, comma-separated (default rest,open,close,pronate,supinate,point)",
    "reps": "repetitions of every gesture per pass of the sequence (default 5)",
    "hold_s": "seconds each gesture is held (default 3)",
    "pause_s": "seconds of rest after each gesture (default 2)",
    "order": "cycle (as listed, default) or random (shuffled per repetition)",
    "script": "explicit sequence LABEL:SECONDS,... (overrides the four above)",
    "loop": "repeat the sequence (yes, default) or rest after it (no)",
    "subject": "the wearer's anatomy: muscle positions on the electrode ring (default 0)",
    "variability": "repetition-to-repetition variation of each channel, log-normal sigma (default 0.15)",
    "wobble": "slow wavering of the effort within a hold, fraction (default 0.1)",
    "fatigue": "EMG amplitude growth with the work done, fraction (default 0.2)",
    "ramp_s": "seconds over which one gesture blends into the next (default 0.3)",
}


def mains_frequency(text: str) -> float:
    """argparse type: a mains frequency (faultkinds.check_mains_hz: 50 or 60 Hz, 0 for none)."""
    try:
        return check_mains_hz(parse_number(text), none=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def options_from_args(args: argparse.Namespace) -> dict[str, list[str]]:
    opts: dict[str, list[str]] = {
        "format": [args.format] if args.format else [],
        "seed": [str(args.seed)],
        "fault": args.fault,
        "link": args.link,
    }
    for name in (
        "profile",
        "channels",
        "rate",
        "enc",
        "serial",
        "grid",
        "duration",
        "speed",
        *(f.name for f in fields(SignalConfig)),
    ):
        value = getattr(args, name)
        if value is not None:
            opts[name] = [str(value)]
    if args.random_faults:
        opts["random_faults"] = [str(args.random_faults)]
    for flag in ("fast", "labels", "counter", "truth_codes"):
        if getattr(args, flag):
            opts[flag] = ["1"]
    if args.autostart:
        opts["autostart"] = ["1"]
    for name in GESTURE_HELP:
        if getattr(args, name) is not None:
            opts[name] = [getattr(args, name)]
    return opts


def run(args: argparse.Namespace) -> int:
    from ..emulator import Emulator, Truth, config_from_options
    from ..emulator.pty import PtyServer, check_link_path

    cfg = config_from_options(options_from_args(args))
    if args.truth_codes and not args.truth:
        raise UsageError("--truth-codes needs --truth FILE")
    if args.link_path:
        check_link_path(args.link_path)  # before the truth file is created
    if args.truth:
        for flag, other in (("--link-path", args.link_path), ("--source", args.source)):
            if other and same_file(other, args.truth):
                raise UsageError(f"--truth and {flag} both name {args.truth}: give two paths")
        refuse_existing(args.truth, args.force)  # (a sim:// port's truth= too: sensorio.cli._check_file_outputs)
    try:
        truth = Truth(args.truth, keep=False) if args.truth else None
    except OSError as exc:
        raise UsageError(f"cannot write the truth file {args.truth}: {exc.strerror}") from None

    def say(text: str) -> None:
        if not args.quiet:
            print(f"sensorio emulate: {text}", file=sys.stderr, flush=True)

    def behind(t_s: float, lag_s: float) -> None:
        # always shown, even with --quiet: the timing of the output is not what it should be
        print(
            f"sensorio emulate: warning: falling behind real time by {lag_s * 1000:.0f} ms at device time {t_s:.2f} s",
            file=sys.stderr,
            flush=True,
        )

    try:
        emulator = Emulator(cfg, truth, on_lag=behind)
        server = PtyServer(emulator, link=args.link_path, on_event=say)
    except BaseException:
        if truth is not None:  # nothing was served: no truth file is left behind
            truth.close()
            os.unlink(args.truth)
        raise
    print(server.port, flush=True)
    prof = emulator.profile
    say(
        f"{prof.device} ({cfg.format}, "
        f"{', '.join(f'{s.name} {s.channels}ch@{s.rate_hz:g}Hz' for s in prof.streams)})"
        f" on {server.path}; Ctrl-C to stop"
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout

    def done() -> bool:
        return stop.is_set() or (deadline is not None and time.monotonic() >= deadline)

    # this process only serves the device: a full collection would stall it
    freeze_setup()
    try:
        server.serve(until=done)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if truth is not None:
            truth.close()
    if emulator.lag_count:
        say(f"fell behind real time {emulator.lag_count} times, at most {emulator.max_lag_s * 1000:.0f} ms")
    return 0
