"""The ``sensorio`` command line.

Each subcommand lives in its own module ``sensorio/cli/cmd_<name>.py`` that
defines ``register(subparsers)``; modules are found at start-up, so adding a
command touches no other file. Errors reach the user as one line on stderr
and a non-zero exit, never as a traceback (set SENSORIO_DEBUG=1 for one).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import SensorioError, UsageError, input_clash, same_file
from ._options import cli_text, refuse_existing
from ._options import non_negative_integer as non_negative_integer  # the option types, for `from . import`
from ._options import non_negative_number as non_negative_number
from ._options import positive_integer as positive_integer
from ._options import positive_number as positive_number
from ._realtime import StopSignal, stop_signals


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line, not usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__

    parser = OneLineParser(prog="sensorio", description="Acquire, check and record serial sensor data.")
    parser.add_argument("--version", action="version", version=f"sensorio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    package = os.path.dirname(__file__)
    for info in sorted(pkgutil.iter_modules([package]), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"{__name__}.{info.name}").register(sub)
    return parser


def _note(exc: BaseException) -> str:
    """What a command added to an error or interruption it let through
    (``exc.sensorio_note``, e.g. the recording it kept), as ": note"."""
    note = getattr(exc, "sensorio_note", None)
    return f": {note}" if note else ""


def _one_line(text: object) -> str:
    """A message as one line, whatever it quotes (a file name may hold a newline)."""
    return str(text).replace("\r", "\\r").replace("\n", "\\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"sensorio {args.command}"
    shown: set[str] = set()

    def show_warning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        # one line a warning, like the errors (not Python's two, with source);
        # once: a command that reads its file twice found the same thing twice
        text = _one_line(message)
        if text in shown:
            return
        shown.add(text)
        print(f"{prog}: warning: {text}", file=file or sys.stderr, flush=True)

    # a file name that is not UTF-8 is printed back as the bytes it is, as
    # ls does, instead of failing the command (on a strict UTF-8 stdout)
    out: Any = sys.stdout
    strict = getattr(out, "errors", None) == "strict" and hasattr(out, "reconfigure")
    if strict:
        out.reconfigure(errors="surrogateescape")
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            return _run(args, prog)
    finally:
        if strict:
            out.reconfigure(errors="strict")


#: the options that name what a command reads and what it writes (--truth is
#: either: plot and analyze read it, emulate writes it and checks it itself)
INPUT_OPTIONS = ("file", "recordings", "model", "source", "truth", "pipeline", "port")
OUTPUT_OPTIONS = ("output", "events", "plot", "bids", "recording")


def _named_file(value: object) -> str | None:
    """The file an option's value names (a replay:// port's recording too), or None."""
    if not isinstance(value, (str, Path)) or not str(value):
        return None
    text = str(value)
    if text.startswith("replay://"):
        from ..urlhandler import replay_file

        return replay_file(text)  # as the port reads it
    return text


def _port_truth(args: argparse.Namespace) -> str | None:
    """The truth= file of a sim:// port, which the port writes when it opens
    (the port of record, stream, control, ...; calibrate's source)."""
    port = next((v for v in (getattr(args, n, None) for n in ("port", "source")) if isinstance(v, str)), None)
    if port is None or not port.lower().startswith("sim://"):
        return None
    from ..urlhandler import truth_file

    return truth_file(port)


def _implied_outputs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The files a command writes under names it makes from its arguments
    (plot's FILE.png, train's MODEL.sior), as (what names it, the file):
    the command's ``implied_outputs(args)``, set as a parser default."""
    implied = getattr(args, "implied_outputs", None)
    return [(what, str(f)) for what, f in implied(args)] if implied is not None else []


def _outputs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Every file the command line names for the command to write, as (the
    option that names it, the file): the output options, the names the
    command makes of them, and a sim:// port's truth= file."""
    outs = [(f"--{name}", f) for name in OUTPUT_OPTIONS if (f := _named_file(getattr(args, name, None))) is not None]
    outs += _implied_outputs(args)
    truth = _port_truth(args)
    if truth is not None:
        outs.append(("the port's truth=", truth))
    return outs


def input_files(args: argparse.Namespace) -> list[str]:
    """The files the command line names for the command to read (a replay://
    port's recording too): a file a command names from what it reads
    (export's OUT.s1.csv) is checked against them (_options.refuse_input)."""
    inputs: list[Any] = []
    for name in INPUT_OPTIONS:
        value = getattr(args, name, None)
        inputs.extend(value if isinstance(value, list) else [value])
    return [f for f in map(_named_file, inputs) if f is not None]


def _output_on_an_input(args: argparse.Namespace) -> str | None:
    """The first output that is one of the command's input files, or another
    of its outputs (the same file by any name), with --force or not: writing
    it destroyed the input. None when there is none."""
    named = input_files(args)
    outs = _outputs(args)
    for i, (_, out) in enumerate(outs):
        for other_name, other in outs[i + 1 :]:
            if same_file(out, other):
                return f"{out} is named for two outputs ({other_name} too): give each its own name"
        clash = input_clash(out, named)
        if clash:
            return clash
    return None


def _check_file_outputs(args: argparse.Namespace) -> None:
    """Each output file named (not a folder: one ending in a separator or
    one that is there) checked before the command's work (export.output.check_writable);
    a sim:// port's truth= file is there only with --force, as emulate's --truth."""
    from ..export.output import check_writable, refuse_non_regular

    if getattr(args, "command", None) == "demo":  # its output is a folder it makes
        return
    force = bool(getattr(args, "force", False))
    named = [(name, _named_file(getattr(args, name, None))) for name in OUTPUT_OPTIONS]
    for name, out in named + _implied_outputs(args):
        if out is None or out == "-" or out.endswith(os.sep) or os.path.isdir(out) or name == "bids":
            continue
        refuse_non_regular(out)
        refuse_existing(out, force)
        check_writable(out, force)
    truth = _port_truth(args)
    if truth is not None and hasattr(args, "force"):
        refuse_existing(truth, force)
    elif truth is not None and os.path.lexists(truth):  # (a command without --force: calibrate)
        raise UsageError(f"{truth} exists: give the port's truth= another name")


def _run(args: argparse.Namespace, prog: str) -> int:
    try:
        clash = _output_on_an_input(args)
        if clash:
            raise UsageError(clash)
        _check_file_outputs(args)
        # SIGTERM (kill, timeout) and SIGHUP stop every command as Ctrl-C
        # does, its partial outputs cleaned up (they were left behind)
        with stop_signals():
            return int(args.func(args) or 0)
    except SensorioError as exc:
        print(f"{prog}: error: {_one_line(cli_text(exc) + _note(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        by = f"stopped by {exc.args[0]}" if isinstance(exc, StopSignal) and exc.args else "interrupted"
        print(f"{prog}: {by}{_note(exc)}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:
        if os.environ.get("SENSORIO_DEBUG"):
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"{prog}: error: {_one_line(f'{exc.strerror or exc}{where}')}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("SENSORIO_DEBUG"):
            raise
        print(
            f"{prog}: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(please report it; SENSORIO_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
