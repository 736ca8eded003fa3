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

from ..errors import SensorioError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line, not usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="sensorio", description="Acquire, check and record serial sensor data.")
    parser.add_argument("--version", action="version", version=f"sensorio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    package = os.path.dirname(__file__)
    for info in sorted(pkgutil.iter_modules([package]), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"{__name__}.{info.name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"sensorio {args.command}"

    def one_line_warning(message: Warning | str, *_: object, **__: object) -> None:
        print(f"{prog}: warning: {message}", file=sys.stderr)

    # warnings are one line each, every distinct one once per command
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = one_line_warning
        return _run(args, prog)


def _run(args: argparse.Namespace, prog: str) -> int:
    try:
        return int(args.func(args) or 0)
    except SensorioError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:
        if os.environ.get("SENSORIO_DEBUG"):
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"{prog}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("SENSORIO_DEBUG"):
            raise
        print(
            f"{prog}: internal error: {type(exc).__name__}: {exc} "
            "(please report it; SENSORIO_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
