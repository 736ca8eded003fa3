"""What analyze and plot share: one file-to-analysis run with its options.
`sensorio plot FILE` is `sensorio analyze FILE --plot FILE.png` without the
summary: the same options, the same analysis, the same figure."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ._memory import bound_heap
from ._options import add_format, add_stream, check_output
from ._plotopts import add_plot_options, plot_selection
from ._progress import progress_bar


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    """The file, what to decode and analyse, and the plot's selection."""
    p.add_argument("file", type=Path, help="a recording, or raw bytes as captured from the port")
    add_format(p, port=False)
    add_stream(p, repeatable=True, help="analyse only this stream (repeatable; default: all)")
    p.add_argument(
        "--pipeline",
        type=Path,
        metavar="FILE",
        help="pipeline description (.toml or .json) instead of the default",
    )
    p.add_argument(
        "--policy",
        choices=("nan", "hold", "zero"),
        default="nan",
        help="value of masked samples (default: nan)",
    )
    p.add_argument(
        "--calibration-dir",
        metavar="DIR",
        help="where calibration files are (default: the user's config dir)",
    )
    add_plot_options(p)
    p.add_argument("--force", action="store_true", help="overwrite existing output files")


def run_analysis(
    args: argparse.Namespace, *, plot: Path | None, outputs: tuple[Path | None, ...] = (), title: str
) -> Any:
    """Analyse ``args.file`` block by block (bounded memory, a progress bar
    on a terminal) and draw ``plot`` when given; every output is checked
    before the work, not after."""
    from ..workflows.analyze import analyze_file

    if plot is None:
        given = [f"--{n}" for n in ("channels", "time", "truth") if getattr(args, n, None) is not None]
        if given:  # (they were ignored without a word)
            raise UsageError(f"{' and '.join(given)} choose what --plot draws: give --plot OUT.png too")
    bound_heap()  # long files: freed block buffers go back to the system
    for out in (*outputs, plot):
        if out is not None:
            check_output(out, args.force)
    if plot is not None:
        from ..plotting import image_format, need_matplotlib

        need_matplotlib(title)
        image_format(plot)  # an unknown suffix fails before the work, not after
    selection = plot_selection(args)
    if plot is not None and selection.get("channels"):
        _check_channels(args.file, selection["channels"], args.stream)
    result = analyze_file(
        args.file,
        args.format,
        config=args.pipeline,
        policy=args.policy,
        calibration_dir=args.calibration_dir,
        streams=args.stream,
        overview=True,
        window=selection["time"] if plot is not None else None,
        progress=progress_bar(f"analysing {args.file.name}"),
    )
    if plot is not None:
        from ..plotting import plot_analysis

        plot_analysis(plot, result, title=f"{title} {args.file.name}", **selection)
    return result


def _check_channels(path: Path, chosen: list[int], streams: list[int] | None) -> None:
    """--channels beyond the streams' channels refused before the work, when
    the recording's header holds its descriptor (else after the analysis, by
    plot_analysis: a raw dump is described by what it holds)."""
    from ..descriptor import described_streams
    from ..plotting import no_such_channel
    from ..recording import MAGIC, RecordingReader

    try:
        with path.open("rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                return
        with warnings.catch_warnings(), RecordingReader(path) as reader:
            warnings.simplefilter("ignore")  # a damaged header: the analysis warns once
            info = reader.header.get("device_info")
    except (OSError, ValueError):
        return  # the analysis says what is wrong with the file
    if not isinstance(info, dict):
        return
    counts = [
        st["channels"]
        for sid, st in described_streams(info).items()
        if isinstance(st.get("channels"), int) and (not streams or sid in streams)
    ]
    if counts and max(chosen) >= max(counts):
        raise no_such_channel(max(chosen) + 1, max(counts), len(counts))
