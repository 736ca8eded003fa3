"""What train and fit share: the model's options, fitting and its report."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._options import non_negative_number, positive_integer, positive_number, probability


def add_fit_options(p: argparse.ArgumentParser) -> None:
    """Options train and fit share."""
    p.add_argument(
        "--settle",
        type=non_negative_number,
        default=0.5,
        metavar="S",
        help="seconds after each prompt left out of the training windows (default 0.5)",
    )
    p.add_argument("--window-ms", type=positive_number, default=200.0, help="feature window, ms (default 200)")
    p.add_argument(
        "--increment-ms", type=positive_number, default=50.0, help="one decision every this many ms (default 50)"
    )
    p.add_argument("--features", help="features, comma-separated (default: the library's default set)")
    p.add_argument(
        "--reject",
        type=probability,
        default=0.0,
        metavar="P",
        help="posterior below P gives rest (default 0: no rejection)",
    )
    p.add_argument(
        "--vote", type=positive_integer, default=1, metavar="N", help="majority vote over N decisions (default 1)"
    )


def fit_features(args: argparse.Namespace) -> list[str] | None:
    """--features as a list (None: the default set), checked as the library
    checks them, and --reject checked as fit_model does: train checks both
    before its session (they failed only after it)."""
    from ..control.features import check_features
    from ..control.model import check_reject

    check_reject(args.reject)
    if not args.features:
        return None
    features = [f.strip() for f in args.features.split(",") if f.strip()]
    check_features(features)
    return features


def fit_and_report(recordings: list[Path], output: Path, args: argparse.Namespace) -> int:
    """Fit from recordings, write the model, print a one-line summary."""
    from ..control import save_model
    from ..training import fit_recordings

    features = fit_features(args)
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
    """Hold the library's warnings (e.g. no mains hum found, the file was
    cut) and print each once, one line, when the command ends: also when it
    fails, before its error line (a cut file's warning is often why)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for text in dict.fromkeys(str(w.message) for w in caught):
                print(f"{prog}: warning: {text}", file=sys.stderr)
