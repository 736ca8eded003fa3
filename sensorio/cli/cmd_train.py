"""sensorio train PORT -o MODEL: prompt gestures, record them, fit a model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import SensorioError, UsageError
from ._describe import capture_summary
from ._fitting import add_fit_options, fit_and_report, fit_features, warnings_after
from ._options import (
    add_format,
    add_stream,
    baud_rate,
    check_output,
    non_negative_integer,
    non_negative_number,
    old_spelling,
    positive_integer,
    positive_number,
)
from ._realtime import file_stamp, handshake, run_live


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="prompt gestures on the terminal, record them and fit a control model",
        description="Prompt a gesture sequence on the terminal (a pause, then every gesture once per "
        "repetition, each followed by a pause) while recording the device, with each prompt as a marker "
        "in the recording; then fit a control model (sensorio fit) from the recording. With an emulated "
        "gesture device (sim://gestures?...) the emulated wearer performs the sequence.",
    )
    p.add_argument("port", help="serial port path or URL (sim://gestures?..., replay://FILE)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL", help="model file to write (.npz)")
    # --record is -o's old spelling in stream and view; train's second output is
    # the recording, so it gets its own name
    p.add_argument(
        "--recording", type=Path, metavar="FILE", help="the recording to write (default: MODEL with suffix .sior)"
    )
    old_spelling(p, "--record", "--recording", "recording", type=Path)
    p.add_argument(
        "--gestures",
        default="rest,open,close,pronate,supinate,point",
        help="classes, comma-separated, rest first (default: rest,open,close,pronate,supinate,point)",
    )
    p.add_argument("--reps", type=positive_integer, default=3, help="repetitions of every gesture (default 3)")
    p.add_argument(
        "--hold", type=positive_number, default=3.0, metavar="S", help="seconds to hold each gesture (default 3)"
    )
    p.add_argument(
        "--pause", type=non_negative_number, default=2.0, metavar="S", help="seconds of rest after each (default 2)"
    )
    p.add_argument(
        "--order",
        choices=("cycle", "random"),
        default="cycle",
        help="gestures in the listed order or shuffled per repetition (default cycle)",
    )
    p.add_argument(
        "--seed",
        type=non_negative_integer,
        default=0,
        help="seed of the random order (default 0; an emulated wearer, sim://, follows its URL's seed=)",
    )
    add_fit_options(p)
    add_format(p, port=True)
    p.add_argument("--baud", type=baud_rate, default=115200, help="baud rate (default: 115200)")
    add_stream(p, repeatable=False, help="the EMG stream (default: 0)")
    p.add_argument("--force", action="store_true", help="overwrite the model and recording files")
    p.add_argument("--quiet", action="store_true", help="no prompts on the terminal (emulated wearers)")
    p.set_defaults(func=run, implied_outputs=implied_outputs)


def recording_file(args: argparse.Namespace) -> Path:
    """The recording train writes: --recording, or MODEL with the suffix .sior."""
    return args.recording or args.output.with_suffix(".sior")


def implied_outputs(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """The default recording, for the command line's checks of every output
    (sensorio.cli._outputs): MODEL.sior over a replay://MODEL.sior port's
    recording destroyed the file being replayed."""
    if args.recording is not None or not args.output.name:
        return []
    return [("-o MODEL with suffix .sior", recording_file(args))]


def run(args: argparse.Namespace) -> int:
    # run_live: a stop during the handshake says so and exits 0, as in the
    # other live commands (it said only "interrupted", exit 130)
    return run_live(_run, args)


def _run(args: argparse.Namespace) -> int:
    from ..training import Prompt, open_training, plan_prompts, run_training

    gestures = [g.strip().lower() for g in args.gestures.split(",") if g.strip()]
    if not args.output.name or args.output.is_dir():
        raise UsageError(f"-o needs a model file name, not {str(args.output)!r}")
    record = recording_file(args)
    if record.resolve() == args.output.resolve():
        raise UsageError("the model and the recording need different file names")
    check_output(args.output, args.force)
    check_output(record, args.force)
    # a hold or pause with no room for a window after the settling time gives
    # no training data: say so before the session, not after it
    least = args.settle + args.window_ms / 1000.0
    for name, seconds, what in (("--hold", args.hold, "a gesture"), ("--pause", args.pause, "rest")):
        if seconds <= least:
            raise UsageError(
                f"{name} {seconds:g} s leaves no window of {what} to train on: it must be longer than "
                f"--settle + --window-ms ({least:g} s)"
            )
    fit_features(args)  # before the session, not after it
    plan = plan_prompts(args.port, gestures, args.reps, args.hold, args.pause, args.order, args.seed)
    n = len(plan.prompts)
    say = (lambda text: None) if args.quiet else (lambda text: print(text, flush=True))
    who = "the emulated wearer performs them" if plan.emulated else "follow the prompts"

    def action(label: str) -> str:
        return "relax" if label == "rest" else label.upper()

    def on_prompt(i: int, prompt: Prompt | None) -> None:
        if prompt is None:
            say("done")
            return
        after = plan.prompts[i + 1].label if i + 1 < n else None
        upcoming = f"   next: {action(after)}" if after else ""
        say(f"[{i + 1:>3}/{n}] {action(prompt.label):<10} {prompt.end_s - prompt.start_s:g} s{upcoming}")

    before = file_stamp(record)
    with warnings_after("sensorio train"):
        try:
            # (a stop in the handshake is told by its own line, the file included)
            with handshake(args.port, record):
                cap = open_training(plan, record, format=args.format, baudrate=args.baud, overwrite=args.force)
            # the plan once the port is open: a port that is not there is one error line
            say(f"{n} prompts over {plan.duration_s:g} s ({who}); recording to {record}")
            cap = run_training(cap, plan, stream=args.stream, on_prompt=on_prompt)
        except (SensorioError, KeyboardInterrupt) as exc:
            if file_stamp(record) not in (before, None):  # this session wrote it
                # (the command line prints it after the error or "interrupted")
                exc.sensorio_note = f"the recording so far is kept: fit it with sensorio fit {record} -o MODEL"  # type: ignore[union-attr]
            raise
        # the recording's losses in record's words (only the model was told of:
        # 100 frames lost went unsaid, and the model was fitted around their gap)
        summary = capture_summary(cap, f"{cap.stats.samples_ok} samples", None, False, record)
        code = fit_and_report([record], args.output, args)
        # after the fit: a fit that fails stays one line
        print(summary, file=sys.stderr)
        return code
