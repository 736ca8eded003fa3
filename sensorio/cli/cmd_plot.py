"""sensorio plot FILE: raw, filtered and envelope traces per channel, faults shaded, gaps marked;
above 16 channels an overview heat map first."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from . import non_negative_integer
from ._memory import bound_heap
from ._plotopts import add_plot_options, plot_selection
from ._progress import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="plot a recording or byte dump: traces, faults, gaps (needs matplotlib)")
    p.add_argument("file", type=Path, help="a recording or raw byte dump")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT.png",
        help="image to write (default: FILE with the suffix .png); .svg and .pdf work too",
    )
    p.add_argument("--format", default=None, help="wire format (default: the recording's, or sio for a raw dump)")
    p.add_argument("--stream", type=non_negative_integer, action="append", help="plot only this stream (repeatable)")
    add_plot_options(p)
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bound_heap()  # long files: freed block buffers go back to the system
    from ..dsp.analyze import analyze_file
    from ..plotting import image_format, need_matplotlib, plot_analysis

    need_matplotlib("sensorio plot")
    if args.output is None and not args.file.name:
        raise UsageError(f"{str(args.file)!r} is not a file name: give a recording, or the image with -o")
    out = args.output if args.output is not None else args.file.with_suffix(".png")
    image_format(out)  # an unknown suffix fails before the work, not after
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists: choose another name with -o or pass --force")
    selection = plot_selection(args)
    result = analyze_file(
        args.file,
        args.format,
        streams=args.stream,
        overview=True,
        window=selection["time"],
        progress=progress_bar(f"analysing {args.file.name}"),
    )
    plot_analysis(out, result, title=f"sensorio plot {args.file.name}", **selection)
    print(out)
    return 0
