"""sensorio decode FILE -o OUT.npz: decode a raw byte dump (or a recording)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SensorioError
from ..export.output import atomic_output
from ..parser import Parser, concat_blocks
from ..recording import decode_any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decode", help="decode a raw byte dump or recording to NPZ")
    p.add_argument(
        "file",
        type=Path,
        help="raw bytes as captured from the port, or a recording (a pipe works: /dev/stdin)",
    )
    p.add_argument("-o", "--output", type=Path, help="write arrays to this .npz")
    p.add_argument("--format", default=None,
                   help="wire format (default: the recording's, or sio for a raw dump)")
    p.add_argument("--json", action="store_true", help="print the link statistics as JSON on stdout")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=run)


def decode_file(path: Path, format: str | None = None) -> tuple[Parser, dict, list]:
    """Decode a whole recording or raw dump; returns the parser, arrays per
    stream and messages. A recording's gaps (disconnects, damaged regions)
    are marked with Parser.discontinuity where they happened."""
    parser, blocks, messages, reader = decode_any(path, format, stream_ok=True)
    if reader is not None:
        for problem in reader.report.problems():
            print(f"{path}: note: {problem}", file=sys.stderr)
    return parser, concat_blocks(blocks), messages


def npz_arrays(streams: dict) -> dict[str, np.ndarray]:
    """Arrays named as the decode contract says: stream 0 bare, stream k 's<k>_'."""
    out: dict[str, np.ndarray] = {}
    for sid, arrays in streams.items():
        prefix = "" if sid == 0 else f"s{sid}_"
        for name in ("samples", "frame_seq", "frame_t_us", "frame_leadoff"):
            out[prefix + name] = arrays[name]
        out[prefix + "events"] = arrays["events"]
    return out


def run(args: argparse.Namespace) -> int:
    if args.output is not None:
        if args.output.suffix != ".npz":
            raise SensorioError(f"output {args.output} must end in .npz")
        if args.output.exists() and not args.force:
            raise SensorioError(f"{args.output} exists: choose another name or pass --force")
    parser, streams, messages = decode_file(args.file, args.format)
    stats = parser.stats.as_dict()
    if args.output is not None:
        arrays = npz_arrays(streams)
        arrays["messages"] = np.array([m.text for m in messages], dtype=object).astype(str)
        with atomic_output(args.output, overwrite=args.force) as tmp:
            np.savez(tmp, **arrays)  # type: ignore[arg-type]  # numpy's stubs take **kwds as allow_pickle
    if args.json:
        summary: dict[str, Any] = dict(stats)
        summary["streams"] = {
            str(sid): {"samples": int(a["samples"].shape[0]), "channels": int(a["samples"].shape[1]),
                       "frames": int(a["frame_seq"].size)}
            for sid, a in streams.items()
        }
        json.dump(summary, sys.stdout)
        sys.stdout.write("\n")
    elif args.output is None:
        total = sum(a["samples"].shape[0] for a in streams.values())
        print(f"{args.file}: {stats['frames_ok']} frames, {total} samples in {len(streams)} stream(s), "
              f"{stats['lost_frames']} lost, {stats['crc_errors']} CRC errors")
    return 0
