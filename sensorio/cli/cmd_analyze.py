"""sensorio analyze FILE: calibrate, filter and check a byte dump or recording
for sensor faults; events as JSON lines, an optional plot."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from ..descriptor import channel_labels
from ._analysis import add_analysis_options, run_analysis
from ._describe import file_lost, frames_lost, short_streams, stream_rates


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="calibrate, filter and detect sensor faults in a recording")
    add_analysis_options(p)
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
        help="plot raw, filtered and envelope per channel, faults shaded (needs matplotlib); "
        "sensorio plot draws the same",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = run_analysis(args, plot=args.plot, outputs=(args.events,), title="sensorio analyze")
    if args.events is not None:
        write_events(args.events, result)
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
        tally = result.tallies.get(sid)
        streams[str(sid)] = {
            "rate_hz": st.source_rate_hz,
            "unit": st.unit,
            "seconds": n / st.source_rate_hz,
            # the link's gaps on this stream: a stream without a fault stage
            # (no dropout events) says it here too
            "lost_samples": tally.lost_samples if tally is not None else 0,
            "latency_s": round(st.latency_s, 6),
            "channels": [
                {
                    "channel": c,
                    "label": channel_labels(st.labels, c + 1)[c],
                    "valid_share": round(float(shares[c]) if n else 0.0, 4),
                    "events": dict(kinds[c]),
                }
                for c in range(st.raw.shape[1])
            ],
        }
    short = short_streams(result.tallies, stream_rates(result.info))
    return {
        "streams": streams,
        "events": len(result.events),
        "lost_frames": result.link.get("lost_frames", 0),
        # False: the format has no frame counter, and lost_frames says nothing
        "lost_frames_counted": bool(result.link.get("lost_frames_counted", True)),
        "file_lost_frames": result.link.get("file_lost_frames", 0),
        "crc_errors": result.link.get("crc_errors", 0),
        # info's problem lines about the streams analysed: a valid share
        # reads as if the stream were whole, these say when it is not
        "problems": [text for sid, text in sorted(short.items()) if sid in result.streams],
    }


def print_summary(path: Path, summary: dict[str, Any]) -> None:
    to_file = file_lost(summary.get("file_lost_frames", 0))
    print(
        f"{path}: {summary['events']} event(s), "
        f"{frames_lost(summary, summary['lost_frames_counted'], '{} lost frame(s)')}{to_file}, "
        f"{summary['crc_errors']} CRC error(s)"
    )
    for problem in summary["problems"]:
        print(f"problem: {problem}")
    for sid, st in summary["streams"].items():
        lost = f", {st['lost_samples']} samples lost in gaps" if st["lost_samples"] else ""
        print(
            f"stream {sid}: {st['seconds']:.2f} s at {st['rate_hz']:g} Hz in {st['unit']}, "
            f"pipeline latency {st['latency_s'] * 1e3:.1f} ms{lost}"
        )
        print(f"  {'channel':<12} {'valid':>7}  events")
        for ch in st["channels"]:
            ev = ", ".join(f"{k} x{v}" for k, v in sorted(ch["events"].items())) or "-"
            print(f"  {ch['label']:<12} {100 * ch['valid_share']:6.1f}%  {ev}")
