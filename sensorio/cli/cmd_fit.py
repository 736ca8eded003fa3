"""sensorio fit REC... -o MODEL: fit a control model from training recordings."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._fitting import add_fit_options, fit_and_report, warnings_after
from ._options import check_output


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit",
        help="fit a control model from recordings made by sensorio train",
        description="Fit a control model (features, LDA, proportional speed) from recordings whose "
        "gesture markers (written by sensorio train) label the samples.",
    )
    p.add_argument("recordings", nargs="+", type=Path, metavar="REC", help="training recordings (.sior)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL", help="model file to write (.npz)")
    add_fit_options(p)
    p.add_argument("--force", action="store_true", help="overwrite the model file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_output(args.output, args.force)
    with warnings_after("sensorio fit"):
        return fit_and_report(list(args.recordings), args.output, args)
