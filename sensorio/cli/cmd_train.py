"""sensorio train PORT -o MODEL: prompt gestures, record them, fit a model."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import UsageError
from ._options import add_format, add_stream


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
    p.add_argument("--record", type=Path, metavar="FILE", help="the recording (default: MODEL with suffix .sior)")
    p.add_argument(
        "--gestures",
        default="rest,open,close,pronate,supinate,point",
        help="classes, comma-separated, rest first (default: rest,open,close,pronate,supinate,point)",
    )
    p.add_argument("--reps", type=int, default=3, help="repetitions of every gesture (default 3)")
    p.add_argument("--hold", type=float, default=3.0, metavar="S", help="seconds to hold each gesture (default 3)")
    p.add_argument("--pause", type=float, default=2.0, metavar="S", help="seconds of rest after each (default 2)")
    p.add_argument(
        "--order",
        choices=("cycle", "random"),
        default="cycle",
        help="gestures in the listed order or shuffled per repetition (default cycle)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random order (default 0)")
    add_fit_options(p)
    add_format(p, port=True)
    p.add_argument("--baud", type=int, default=115200, help="baud rate (default: 115200)")
    add_stream(p, repeatable=False, help="the EMG stream (default: 0)")
    p.add_argument("--force", action="store_true", help="overwrite the model and recording files")
    p.add_argument("--quiet", action="store_true", help="no prompts on the terminal (emulated wearers)")
    p.set_defaults(func=run)


def add_fit_options(p: argparse.ArgumentParser) -> None:
    """Options train and fit share."""
    p.add_argument(
        "--settle",
        type=float,
        default=0.5,
        metavar="S",
        help="seconds after each prompt left out of the training windows (default 0.5)",
    )
    p.add_argument("--window-ms", type=float, default=200.0, help="feature window, ms (default 200)")
    p.add_argument("--increment-ms", type=float, default=50.0, help="one decision every this many ms (default 50)")
    p.add_argument("--features", help="features, comma-separated (default: the library's default set)")
    p.add_argument(
        "--reject", type=float, default=0.0, metavar="P", help="posterior below P gives rest (default 0: no rejection)"
    )
    p.add_argument("--vote", type=int, default=1, metavar="N", help="majority vote over N decisions (default 1)")


def fit_and_report(recordings: list[Path], output: Path, args: argparse.Namespace) -> int:
    """Fit from recordings, write the model, print a one-line summary."""
    from ..control import save_model
    from ..training import fit_recordings

    if args.vote < 1:
        raise UsageError("--vote must be at least 1")
    features = [f.strip() for f in args.features.split(",") if f.strip()] if args.features else None
    model = fit_recordings(
        recordings,
        settle_s=args.settle,
        window_ms=args.window_ms,
        increment_ms=args.increment_ms,
        features=features,
        reject_below=args.reject,
        vote=args.vote,
    )
    save_model(output, model)
    counts = model.info.get("windows_per_class", {})
    print(
        f"model {output}: {model.n_channels} channels at {model.rate_hz:g} Hz, classes "
        + ", ".join(f"{c} ({counts.get(c, 0)} windows)" for c in model.classes),
        file=sys.stderr,
    )
    return 0


@contextmanager
def warnings_after(prog: str) -> Iterator[None]:
    """Hold the library's warnings (e.g. no mains hum found) and print each
    once, one line, when the command succeeds (a failure stays one line)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for text in dict.fromkeys(str(w.message) for w in caught):
        print(f"{prog}: warning: {text}", file=sys.stderr)


def one_line_warnings(prog: str) -> Callable[..., None]:
    """A warnings.showwarning that prints one line per warning, as it happens."""

    def show(message: Warning | str, *args: object, **kw: object) -> None:
        print(f"{prog}: warning: {message}", file=sys.stderr, flush=True)

    return show


def check_output(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise UsageError(f"{path} exists: choose another name or pass --force to overwrite it")
    if not path.parent.exists():
        raise UsageError(f"cannot create {path}: its folder does not exist")


def run(args: argparse.Namespace) -> int:
    from ..training import Prompt, plan_prompts, record_training

    gestures = [g.strip().lower() for g in args.gestures.split(",") if g.strip()]
    if not args.output.name or args.output.is_dir():
        raise UsageError(f"-o needs a model file name, not {str(args.output)!r}")
    record = args.record or args.output.with_suffix(".sior")
    if record.resolve() == args.output.resolve():
        raise UsageError("the model and the recording need different file names")
    check_output(args.output, args.force)
    check_output(record, args.force)
    plan = plan_prompts(args.port, gestures, args.reps, args.hold, args.pause, args.order, args.seed)
    n = len(plan.prompts)
    say = (lambda text: None) if args.quiet else (lambda text: print(text, flush=True))
    who = "the emulated wearer performs them" if plan.emulated else "follow the prompts"
    say(f"{n} prompts over {plan.duration_s:g} s ({who}); recording to {record}")

    def action(label: str) -> str:
        return "relax" if label == "rest" else label.upper()

    def on_prompt(i: int, prompt: Prompt | None) -> None:
        if prompt is None:
            say("done")
            return
        after = plan.prompts[i + 1].label if i + 1 < n else None
        upcoming = f"   next: {action(after)}" if after else ""
        say(f"[{i + 1:>3}/{n}] {action(prompt.label):<10} {prompt.end_s - prompt.start_s:g} s{upcoming}")

    with warnings_after("sensorio train"):
        record_training(
            plan,
            record,
            format=args.format,
            baudrate=args.baud,
            overwrite=args.force,
            stream=args.stream,
            on_prompt=on_prompt,
        )
        return fit_and_report([record], args.output, args)
