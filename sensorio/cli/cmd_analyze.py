"""sensorio analyze FILE: calibrate, filter and check a byte dump or recording
for sensor faults; events as JSON lines, an optional plot."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SensorioError, UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="calibrate, filter and detect sensor faults in a recording")
    p.add_argument("file", type=Path, help="raw bytes as captured from the port, or a recording")
    p.add_argument("--format", default="sio", help="wire format (default: sio)")
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
        type=int,
        action="append",
        help="analyse only this stream (repeatable; default: all)",
    )
    p.add_argument(
        "--calibration-dir",
        metavar="DIR",
        help="where calibration files are (default: the user's config dir)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..dsp.analyze import analyze_file

    for out in (args.events, args.plot):
        if out is not None and out.exists() and not args.force:
            raise UsageError(f"{out} exists: choose another name or pass --force")
    if args.plot is not None:
        _need_matplotlib()
    result = analyze_file(
        args.file,
        args.format,
        config=args.pipeline,
        policy=args.policy,
        calibration_dir=args.calibration_dir,
        streams=args.stream,
    )
    if args.events is not None:
        write_events(args.events, result)
    if args.plot is not None:
        plot(args.plot, result)
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
    try:
        with open(path, "w", encoding="utf-8") as f:
            for ev in result.events:
                st = result.streams.get(ev.stream)
                f.write(json.dumps(event_record(ev, st.labels if st else ())) + "\n")
    except OSError as exc:
        raise SensorioError(f"cannot write {path}: {exc.strerror or exc}") from None


def summarise(result: Any) -> dict[str, Any]:
    streams = {}
    for sid, st in result.streams.items():
        kinds: dict[int, Counter] = {c: Counter() for c in range(st.raw.shape[1])}
        for ev in result.events:
            if ev.stream == sid and 0 <= ev.channel < st.raw.shape[1]:
                kinds[ev.channel][ev.kind] += 1
        n = st.raw.shape[0]
        streams[str(sid)] = {
            "rate_hz": st.rate_hz,
            "unit": st.unit,
            "seconds": n / st.rate_hz,
            "latency_s": round(st.latency_s, 6),
            "channels": [
                {
                    "channel": c,
                    "label": st.labels[c] if c < len(st.labels) else f"ch{c}",
                    "valid_share": round(float(st.valid[:, c].mean()) if n else 0.0, 4),
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
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SensorioError(
            "--plot needs matplotlib: pip install 'sensorio[plot]' (or matplotlib)"
        ) from None


KIND_COLOURS = {
    "leadoff": "tab:purple",
    "saturation": "tab:red",
    "stuck": "tab:brown",
    "flat": "tab:gray",
    "spikes": "tab:orange",
    "motion": "tab:olive",
    "noise": "tab:pink",
    "mains": "tab:cyan",
    "dropout": "black",
    "baseline_near_rail": "gold",
    "gain_drift": "khaki",
}
MAX_POINTS = 20000


def plot(path: Path, result: Any) -> None:
    """One panel per channel of each stream: raw (offset removed), filtered and
    envelope; fault spans shaded by kind; gaps as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (sid, c) for sid, st in sorted(result.streams.items()) for c in range(st.raw.shape[1])
    ]
    if not panels:
        raise SensorioError("nothing to plot: no samples decoded")
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(12, 1.6 * len(panels) + 1), sharex=True, squeeze=False
    )
    seen: set[str] = set()
    for ax, (sid, c) in zip(axes[:, 0], panels, strict=True):
        st = result.streams[sid]
        t = st.times
        step = max(1, len(t) // MAX_POINTS)
        raw = st.raw[:, c]
        ax.plot(t[::step], (raw - np.nanmedian(raw))[::step], lw=0.5, color="0.7", label="raw")
        if st.filtered is not None:
            ax.plot(
                t[: len(st.filtered)][::step],
                st.filtered[::step, c],
                lw=0.5,
                color="tab:blue",
                label="filtered",
            )
        if st.envelope is not None:
            ax.plot(
                t[: len(st.envelope)][::step],
                st.envelope[::step, c],
                lw=1.0,
                color="tab:red",
                label="envelope",
            )
        for ev in result.events:
            if ev.stream != sid or ev.channel != c or ev.kind == "dropout":
                continue
            end = ev.end_s if ev.end_s is not None else t[-1]
            colour = KIND_COLOURS.get(ev.kind, "tab:gray")
            ax.axvspan(
                ev.start_s,
                max(end, ev.start_s + 1 / st.rate_hz),
                color=colour,
                alpha=0.25,
                label=ev.kind if ev.kind not in seen else None,
            )
            seen.add(ev.kind)
        for a, b in st.gaps_s:
            ax.axvline(
                a, color="black", ls="--", lw=0.8, label="gap" if "gap" not in seen else None
            )
            if b - a > 2 / st.rate_hz:
                ax.axvline(b, color="black", ls="--", lw=0.8)
            seen.add("gap")
        label = st.labels[c] if c < len(st.labels) else f"ch{c}"
        ax.set_ylabel(f"s{sid} {label}\n[{st.unit}]", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("time [s]")
    handles, labels = [], []
    for ax in axes[:, 0]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="upper right", fontsize=7, ncol=min(6, len(labels)))
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise SensorioError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
