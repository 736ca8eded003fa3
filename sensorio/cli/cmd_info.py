"""sensorio info FILE: a recording's metadata and statistics."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._describe import created_time, describe, file_lost, frames_lost, stream_rates
from ._memory import bound_heap


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="a recording's metadata and statistics")
    p.add_argument("file", type=Path, help="a recording (.sior)")
    p.add_argument("--json", action="store_true", help="print everything as one JSON object")
    p.add_argument(
        "--format",
        default=None,
        help="wire format to decode with (default: the one in the recording's header)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bound_heap()  # long files: freed block buffers go back to the system
    d = describe(args.file, args.format)
    when = created_time(d["header"])
    if args.json:
        json.dump(d, sys.stdout, default=str)
        sys.stdout.write("\n")
        return 0
    h = d["header"]
    print(f"file:       {d['file']}")
    print(f"recorded:   {when}, {d['duration_s']:.1f} s, {d['raw_bytes']} bytes, by {h.get('software', '?')}")
    print(f"port:       {h.get('port', '?')} {h.get('port_settings', '')}")
    recorded = h.get("format", "?")
    # (the counts below are in the format given: saying only the header's hid that)
    given = f" (decoded as {args.format}, as given)" if args.format and args.format != recorded else ""
    print(f"format:     {recorded}{given}")
    for n, info in enumerate(d["devices"] or [d["device_info"]]):
        if not isinstance(info, dict):
            continue
        if not d["devices"]:  # no INFO in the file (a Cyton, ASCII lines, a board spec)
            print(f"device:     {info.get('device') or '?'} (as its format describes it: it sends no INFO)")
            continue
        print(
            f"{'device:' if n == 0 else 'then:':<12}{info.get('device') or '?'} "
            f"serial {info.get('serial') or '?'} firmware {info.get('fw') or '?'}"
        )
    print(f"calibration: {'yes' if h.get('calibration') else 'none'}")
    # (a file of several devices: the first one's rates do not time the rest)
    rates = stream_rates(d["device_info"]) if len(d["devices"]) <= 1 else {}
    for sid, s in d["streams"].items():
        then = "".join(f", then {c['channels']} channels from sample {c['sample']}" for c in s["changes"])
        rate = None if s["changes"] else rates.get(int(sid))
        # the time the stream covers, lost samples included (as analyze says it)
        lost = f" ({s['lost_samples']} lost)" if s["lost_samples"] else ""
        if rate:
            timing = f" in {s['span_samples'] / rate:.2f} s at {rate:g} Hz"
        elif s["changes"] or len(d["devices"]) > 1:
            timing = ""  # a rate there may be, but not one for the whole stream
        else:  # the device gives the stream no rate (ASCII lines)
            timing = _host_timing(s["host_span_s"])
        print(
            f"stream {sid}:   {s['channels']} channels, {s['samples']} samples{timing}{lost}, "
            f"{s['frames']} frames{then}"
        )
    st = d["stats"]
    print(
        f"link:       {st['frames_ok']} frames ok, {frames_lost(st, st['lost_frames_counted'], '{} lost')}"
        f"{file_lost(d['file_lost_frames'])}, "
        f"{st['crc_errors']} CRC, "
        f"{st['cobs_errors']} COBS, {st['malformed']} malformed, {st['restarts']} restarts"
    )
    print(f"events:     {', '.join(f'{k} {v}' for k, v in sorted(d['events'].items())) or 'none'}")
    print(f"state:      {'closed cleanly' if d['complete'] else 'NOT closed cleanly'}")
    if d["header_damage"]:
        print(f"problem:    {d['header_damage']}")
    for problem in d["problems"]:
        print(f"problem:    {problem}")
    return 0


def _host_timing(span_s: float | None) -> str:
    """The duration of a stream without a rate, by the host's read times
    (the device's own clock cannot time it), or why there is none."""
    if span_s:
        return f" in about {span_s:.2f} s of host time (no rate: from the reads that brought its first and last frames)"
    return " (no duration: no rate, and its frames came in one read)"
