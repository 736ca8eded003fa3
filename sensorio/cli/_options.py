"""The command line's words for the library's settings.

Library messages name a setting by its keyword argument (an
:class:`sensorio.errors.Advice`); the command line shows the same advice with
the option that sets it. One table, used for every message a command prints.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import Advice, SensorioError, UsageError, cannot_create, input_clash, library_spelling
from ..numbers import parse_integer, parse_number

#: library setting (keyword argument) -> the command-line option that sets it
FLAGS = {
    "overwrite": "--force",
    "force": "--force",
    "format": "--format",
    "baudrate": "--baud",
    "start_command": "--start",
    "calibrated": "--raw",  # calibrated=False
    "out_dir": "--output",
    "plot": "--plot",
    "window": "--window",
}


def cli_spelling(name: str, value: Any) -> str:
    """A setting as the command line takes it: ``--format cyton``, ``--force``."""
    flag = FLAGS.get(name)
    if flag is None:
        return library_spelling(name, value)
    if value is None or isinstance(value, bool):
        return flag
    return f"{flag} {value}"


def cli_text(message: str | Advice | SensorioError) -> str:
    """A library message in the command line's words."""
    if isinstance(message, (SensorioError, Advice)):
        return message.render(cli_spelling)
    return str(message)


# -- options shared by the commands: one spelling and one check each -----------
# A command's main output file is -o/--output; the streams it works on are
# --stream ID (repeatable where a command takes several); --duration S stops a
# live command after S seconds; --format NAME is the wire format; --plot FILE
# writes a plot image; --verbose lets liblsl's INFO lines through (the
# commands that publish to LSL). An old spelling stays as a hidden alias that
# prints a one-line notice on stderr.


class _OldSpelling(argparse.Action):
    """A hidden former spelling of an option: acts as the new one, says so on stderr."""

    def __init__(
        self, option_strings: list[str], dest: str, new: str = "", switch: bool = False, **kwargs: Any
    ) -> None:
        self.new = new
        self.switch = switch
        if switch:
            kwargs["nargs"] = 0
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(f"{parser.prog}: warning: {option_string} is deprecated, use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, True if self.switch else values)


class _Once(argparse.Action):
    """An option a command takes once (a repeated one is a usage error, not "the last wins")."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if getattr(namespace, f"_{self.dest}_given", False):
            parser.error(f"{option_string} takes one value here; give it once")
        setattr(namespace, f"_{self.dest}_given", True)
        setattr(namespace, self.dest, values)


def old_spelling(
    p: argparse.ArgumentParser, old: str, new: str, dest: str, *, switch: bool = False, type: Any = None
) -> None:
    """Keep ``old`` working as a hidden, deprecated alias of ``new``."""
    kwargs: dict[str, Any] = {"dest": dest, "new": new, "switch": switch, "help": argparse.SUPPRESS}
    if type is not None and not switch:
        kwargs["type"] = type
    p.add_argument(old, action=_OldSpelling, **kwargs)


def add_output(
    p: argparse.ArgumentParser, help: str, *, metavar: str = "FILE", required: bool = False, old: tuple[str, ...] = ()
) -> None:
    """``-o/--output``: the command's main output (args.output, a Path)."""
    p.add_argument("-o", "--output", type=Path, metavar=metavar, required=required, help=help)
    for spelling in old:
        old_spelling(p, spelling, "-o/--output", "output", type=Path)


def add_stream(
    p: argparse.ArgumentParser, *, repeatable: bool, dest: str = "stream", default: Any = None, help: str | None = None
) -> None:
    """``--stream ID`` (a stream id, 0 or above); repeatable: a list, else one id."""
    if repeatable:
        p.add_argument(
            "--stream",
            type=non_negative_integer,
            action="append",
            dest=dest,
            metavar="ID",
            help=help or "only this stream (repeatable; default: all)",
        )
    else:
        p.add_argument(
            "--stream",
            type=non_negative_integer,
            action=_Once,
            dest=dest,
            metavar="ID",
            default=0 if default is None else default,
            help=help or "the stream (default: 0)",
        )


def add_start(p: argparse.ArgumentParser) -> None:
    """``--start CMD`` and ``--no-start``: the command that starts a live
    device streaming (start_command; the advice for a device that sends no
    data names --start: every live command takes it)."""
    p.add_argument(
        "--start",
        metavar="CMD",
        default=None,
        help="command that starts streaming, sent on (re)connect (default: the format's: START for sio, b for cyton)",
    )
    p.add_argument("--no-start", action="store_true", help="send no start command")


def start_command(args: argparse.Namespace) -> str | None:
    """What --start and --no-start say to send (the format's own by default)."""
    from ..formats import default_start_command

    if args.no_start and args.start:
        raise UsageError("--no-start and --start say opposite things: give one")
    return None if args.no_start else (args.start or default_start_command(args.format))


#: seconds a live command waits for its first data frame before it says why
#: none came (--check-seconds)
FIRST_FRAME_S = 5.0


def add_check_seconds(p: argparse.ArgumentParser) -> None:
    """``--check-seconds S``: fail with a diagnosis when no frame came in S s (0: never)."""
    p.add_argument(
        "--check-seconds",
        type=non_negative_number,
        default=FIRST_FRAME_S,
        help=f"fail with a diagnosis if no frame arrived within this time (0: never; default {FIRST_FRAME_S:g})",
    )


def add_verbose(p: argparse.ArgumentParser, help: str = "let liblsl log its INFO lines too") -> None:
    """``--verbose``: liblsl's INFO lines on stderr too, for a command that
    publishes to LSL (args.verbose, given to sinks.lsl.prepare_lsl as
    info_lines; without it they are kept off)."""
    p.add_argument("--verbose", action="store_true", help=help)


def add_duration(p: argparse.ArgumentParser, help: str = "stop after this many seconds") -> None:
    """``--duration S``: a finite number of seconds above 0 (args.duration, None: until stopped)."""
    p.add_argument("--duration", type=positive_number, metavar="S", help=help)


def refuse_existing(path: Path | str, force: bool) -> None:
    """An output that is there (a link to nothing too) may be written only with --force."""
    if not force and os.path.lexists(path):
        raise UsageError(f"{path} exists: choose another name or pass --force to overwrite it")


def refuse_input(out: Path | str, *inputs: Path | str) -> None:
    """UsageError (input_clash) when writing ``out`` writes over an input."""
    clash = input_clash(out, inputs)
    if clash:
        raise UsageError(clash)


def check_output(path: Path | str, force: bool) -> None:
    """An output file may be written: it is named, is no folder, does not
    exist (or --force) and its folder does."""
    path = Path(path)
    if not str(path) or not path.name or path.is_dir():
        raise UsageError(f"the output needs a file name, not {str(path)!r}")
    refuse_existing(path, force)
    if not path.parent.is_dir():
        raise UsageError(cannot_create(path))


def add_format(p: argparse.ArgumentParser, *, port: bool) -> None:
    """``--format NAME``: the wire format (a name, a board spec or a .toml spec);
    a port's default is sio, a file's the recording's own (sio for a raw dump)."""
    if port:
        p.add_argument("--format", default="sio", metavar="NAME", help="wire format (default: sio)")
    else:
        p.add_argument(
            "--format",
            default=None,
            metavar="NAME",
            help="wire format (default: the recording's, or sio for a raw dump)",
        )


# -- option types shared by every command: one spelling, one check ----------
def _option(parse: Callable[..., Any], text: str, what: str, **limits: Any) -> Any:
    try:
        return parse(text, **limits)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give {what}") from None


def positive_number(text: str) -> float:
    """argparse type: a finite number above 0 (a rate, seconds, an amplitude)."""
    return float(_option(parse_number, text, "a finite number above 0", minimum=0, above=True))


def non_negative_number(text: str) -> float:
    """argparse type: a finite number, 0 or above."""
    return float(_option(parse_number, text, "a finite number, 0 or above", minimum=0))


def positive_integer(text: str) -> int:
    """argparse type: a whole number, 1 or above (a channel count)."""
    return int(_option(parse_integer, text, "a whole number, 1 or above", minimum=1))


def probability(text: str) -> float:
    """argparse type: a number from 0 to 1 (a posterior, a share)."""
    return float(_option(parse_number, text, "a number from 0 to 1", minimum=0, maximum=1))


def baud_rate(text: str) -> int:
    """argparse type: a serial baud rate (50 to 20,000,000; ptys and sim:// ignore it)."""
    return int(_option(parse_integer, text, "a baud rate from 50 to 20000000", minimum=50, maximum=20_000_000))


def non_negative_integer(text: str) -> int:
    """argparse type: a whole number, 0 or above (a seed, a stream id, a count)."""
    return int(_option(parse_integer, text, "a whole number, 0 or above", minimum=0))
