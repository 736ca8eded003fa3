"""sensorio plot FILE: raw, filtered and envelope traces per channel, faults shaded, gaps marked;
above 16 channels an overview heat map first. The same analysis and figure as
``sensorio analyze FILE --plot FILE.png``, without the summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from ._analysis import add_analysis_options, run_analysis


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="plot a recording or byte dump: traces, faults, gaps (needs matplotlib)",
        description="Plot a recording: the figure of sensorio analyze --plot, with the same options.",
    )
    add_analysis_options(p)
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT.png",
        help="image to write (default: FILE with the suffix .png); .svg and .pdf work too",
    )
    p.set_defaults(func=run, implied_outputs=implied_outputs)


def image_file(args: argparse.Namespace) -> Path:
    """The image plot writes: -o, or FILE with the suffix .png."""
    return args.output if args.output is not None else args.file.with_suffix(".png")


def implied_outputs(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """The default image, for the command line's checks of every output
    (sensorio.cli._outputs): with --force it was written over a recording
    named FILE.png."""
    if args.output is not None or not args.file.name:
        return []
    return [("FILE with suffix .png", image_file(args))]


def run(args: argparse.Namespace) -> int:
    if args.output is None and not args.file.name:
        raise UsageError(f"{str(args.file)!r} is not a file name: give a recording, or the image with -o")
    out = image_file(args)
    run_analysis(args, plot=out, title="sensorio plot")
    print(out)
    return 0
