"""sensorio demo: an emulated EMG device with faults, captured, analysed, tabulated and plotted."""

from __future__ import annotations

import argparse
import json
import sys

from . import non_negative_integer
from ._options import add_output


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="see sensorio work without hardware: an emulated EMG device with faults")
    add_output(p, "output directory (default: a new sensorio-demo-<time> folder here)", metavar="DIR", old=("--out",))
    p.add_argument("--force", action="store_true", help="write into an existing, non-empty output directory")
    p.add_argument("--seed", type=non_negative_integer, default=1, help="emulator seed (default: 1)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG (no matplotlib needed)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import DemoScenario, default_out_dir, format_table, prepare_out_dir, run_demo

    if not args.no_plot:
        from ..plotting import need_matplotlib

        need_matplotlib("the demo's plot (or pass --no-plot)")
    out = prepare_out_dir(args.output if args.output is not None else default_out_dir(), args.force)
    progress = None if args.json else (lambda msg: print(f"  {msg} ...", file=sys.stderr, flush=True))
    result = run_demo(out, DemoScenario(seed=args.seed), plot=not args.no_plot, progress=progress, overwrite=args.force)
    if args.json:
        json.dump(result.as_dict(), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    print(format_table(result))
    print()
    print(f"done in {result.seconds['total']:.1f} s; outputs in {out}/")
    for name, path in result.files.items():
        print(f"  {name:<10} {path.name}")
    return 0
