"""Options shared by the commands that draw channels (plot, analyze --plot, view): which
channels (1-based, as the labels emg1.. count), which time range, and the emulator's truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import SensorioError


def _channels(text: str) -> list[int]:
    from ..plotting import parse_channels

    try:
        return parse_channels(text)
    except SensorioError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def time_range(text: str) -> tuple[float | None, float | None]:
    """argparse type of ``--time START:END`` (seconds; either side may be empty)."""
    from ..plotting import parse_time_range

    try:
        return parse_time_range(text)
    except SensorioError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_channel_option(p: argparse.ArgumentParser, *, default: str = "the first 8 or those with faults") -> None:
    """``--channels 1-8,12``: the channels to show, 1-based; ``default``: what
    is shown of a stream of more than 16 without it."""
    p.add_argument(
        "--channels",
        type=_channels,
        metavar="LIST",
        help="channels to show, 1-based like the labels emg1.. (within each stream): e.g. 1-8,12 "
        f"(default: all up to 16; above, {default})",
    )


def add_plot_options(p: argparse.ArgumentParser, *, truth: bool = True) -> None:
    """``--channels``, ``--time START:END`` and (with truth) ``--truth FILE``."""
    add_channel_option(p)
    p.add_argument(
        "--time",
        type=time_range,
        metavar="START:END",
        help="time range to plot in seconds, e.g. 2:5.5 or 10: (default: all)",
    )
    if truth:
        p.add_argument(
            "--truth",
            type=Path,
            metavar="FILE.jsonl",
            help="emulator truth (JSON lines) to overlay its injected faults as hatched bars",
        )


def load_truth(path: Path | None) -> list[dict[str, Any]] | None:
    """The injected faults of an emulator truth file (JSON lines), or None without one."""
    if path is None:
        return None
    from ..emulator.truth import TruthLog

    try:
        log = TruthLog.load(path)
        if not log.of("start"):  # (an empty file, or other JSON lines: an overlay of nothing, said nowhere)
            raise SensorioError(f"{path} is not an emulator truth file: it has no start record")
        faults = log.faults()
        for f in faults:
            float(f["start_s"]), str(f["kind"]), int(f["channel"])
    except KeyError as exc:
        raise SensorioError(f"{path}: a fault record without {exc}") from None
    except OSError as exc:
        raise SensorioError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError) as exc:
        raise SensorioError(f"{path} is not an emulator truth file (JSON lines): {exc}") from None
    return faults


def plot_selection(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of sensorio.plotting.plot_analysis that the options give."""
    return {
        "channels": getattr(args, "channels", None),
        "time": getattr(args, "time", None),
        "truth": load_truth(getattr(args, "truth", None)),
    }
