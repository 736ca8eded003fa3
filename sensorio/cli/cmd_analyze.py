"""sensorio analyze FILE: calibrate, filter and check a byte dump or recording
for sensor faults; events as JSON lines, an optional plot."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import UsageError
from . import non_negative_integer
from ._memory import bound_heap
from ._plotopts import add_plot_options, plot_selection
from ._progress import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="calibrate, filter and detect sensor faults in a recording")
    p.add_argument("file", type=Path, help="raw bytes as captured from the port, or a recording")
    p.add_argument("--format", default=None, help="wire format (default: the recording's, or sio for a raw dump)")
    p.add_argument(
        "--events",
        type=Path,
        metavar="OUT.jsonl",
        help="write the events as JSON lines (channel, kind, start_s, end_s, ...)",
    )
    p.add_argument(
        "--plot",
        type=Path,
        metavar="OUT.png",
        help="plot raw, filtered and envelope per channel, faults shaded (needs matplotlib)",
    )
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
        "--stream",
        type=non_negative_integer,
        action="append",
        help="analyse only this stream (repeatable; default: all)",
    )
    p.add_argument(
        "--calibration-dir",
        metavar="DIR",
        help="where calibration files are (default: the user's config dir)",
    )
    add_plot_options(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bound_heap()  # long files: freed block buffers go back to the system
    from ..dsp.analyze import analyze_file

    for out in (args.events, args.plot):
        if out is not None and out.exists() and not args.force:
            raise UsageError(f"{out} exists: choose another name or pass --force")
    if args.plot is not None:
        from ..plotting import image_format

        _need_matplotlib()
        image_format(args.plot)
    selection = plot_selection(args)
    result = analyze_file(
        args.file,
        args.format,
        config=args.pipeline,
        policy=args.policy,
        calibration_dir=args.calibration_dir,
        streams=args.stream,
        overview=True,
        window=selection["time"] if args.plot is not None else None,
        progress=progress_bar(f"analysing {args.file.name}"),
    )
    if args.events is not None:
        write_events(args.events, result)
    if args.plot is not None:
        plot(args.plot, result, args.file, **selection)
    summary = summarise(result)
    if args.json:
        json.dump(summary, sys.stdout)
        sys.stdout.write("\n")
    else:
        print_summary(args.file, summary)
    return 0


def event_record(ev: Any, labels: tuple[str, ...] = ()) -> dict[str, Any]:
    rec = {
        "stream": ev.stream,
        "channel": ev.channel,
        "kind": ev.kind,
        "start_s": round(ev.start_s, 6),
        "end_s": None if ev.end_s is None else round(ev.end_s, 6),
        "detected_s": None if ev.detected_s is None else round(ev.detected_s, 6),
        "severity": ev.severity,
    }
    if 0 <= ev.channel < len(labels):
        rec["label"] = labels[ev.channel]
    if ev.detail:
        rec["detail"] = ev.detail
    return rec


def write_events(path: Path, result: Any) -> None:
    from ..export.output import atomic_output

    with atomic_output(path, overwrite=True) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for ev in result.events:
            st = result.streams.get(ev.stream)
            f.write(json.dumps(event_record(ev, st.labels if st else ())) + "\n")


def summarise(result: Any) -> dict[str, Any]:
    streams = {}
    for sid, st in result.streams.items():
        kinds: dict[int, Counter] = {c: Counter() for c in range(st.raw.shape[1])}
        for ev in result.events:
            if ev.stream == sid and 0 <= ev.channel < st.raw.shape[1]:
                kinds[ev.channel][ev.kind] += 1
        n = st.samples
        shares = st.valid_shares()
        streams[str(sid)] = {
            "rate_hz": st.source_rate_hz,
            "unit": st.unit,
            "seconds": n / st.source_rate_hz,
            "latency_s": round(st.latency_s, 6),
            "channels": [
                {
                    "channel": c,
                    "label": st.labels[c] if c < len(st.labels) else f"ch{c}",
                    "valid_share": round(float(shares[c]) if n else 0.0, 4),
                    "events": dict(kinds[c]),
                }
                for c in range(st.raw.shape[1])
            ],
        }
    return {
        "streams": streams,
        "events": len(result.events),
        "lost_frames": result.link.get("lost_frames", 0),
        "crc_errors": result.link.get("crc_errors", 0),
    }


def print_summary(path: Path, summary: dict[str, Any]) -> None:
    print(
        f"{path}: {summary['events']} event(s), {summary['lost_frames']} lost frame(s), "
        f"{summary['crc_errors']} CRC error(s)"
    )
    for sid, st in summary["streams"].items():
        print(
            f"stream {sid}: {st['seconds']:.2f} s at {st['rate_hz']:g} Hz in {st['unit']}, "
            f"pipeline latency {st['latency_s'] * 1e3:.1f} ms"
        )
        print(f"  {'channel':<12} {'valid':>7}  events")
        for ch in st["channels"]:
            ev = ", ".join(f"{k} x{v}" for k, v in sorted(ch["events"].items())) or "-"
            print(f"  {ch['label']:<12} {100 * ch['valid_share']:6.1f}%  {ev}")


def _need_matplotlib() -> None:
    from ..plotting import need_matplotlib

    need_matplotlib("--plot")


def plot(path: Path, result: Any, source: Path | None = None, **selection: Any) -> None:
    """Raw, filtered, envelope per channel; faults shaded; gaps marked; an overview above 16
    channels (sensorio.plotting.plot_analysis, which takes the ``selection`` keywords)."""
    from ..plotting import plot_analysis

    plot_analysis(path, result, title=f"sensorio analyze {source.name if source else ''}".strip(), **selection)
