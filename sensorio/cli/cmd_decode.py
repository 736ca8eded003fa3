"""sensorio decode FILE -o OUT.npz: decode a raw byte dump (or a recording)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..errors import SensorioError
from ..parser import Parser, concat_blocks

CHUNK = 1 << 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decode", help="decode a raw byte dump or recording to NPZ")
    p.add_argument("file", type=Path, help="raw bytes as captured from the port, or a recording")
    p.add_argument("-o", "--output", type=Path, help="write arrays to this .npz")
    p.add_argument("--format", default="sio", help="wire format (default: sio)")
    p.add_argument("--json", action="store_true", help="print the link statistics as JSON on stdout")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=run)


def decode_file(path: Path, format: str = "sio") -> tuple[Parser, dict, list]:
    """Decode a whole file; returns the parser, arrays per stream and messages."""
    parser = Parser(format)
    blocks = []
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                parser.feed(chunk)
                blocks.extend(parser.read())
            parser.flush()
            blocks.extend(parser.read())
    except FileNotFoundError:
        raise SensorioError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise SensorioError(f"{path} is a directory, not a byte dump or recording") from None
    except PermissionError:
        raise SensorioError(f"permission denied reading {path}") from None
    return parser, concat_blocks(blocks), parser.read_messages()


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
        np.savez(args.output, **arrays)
    if args.json:
        summary = dict(stats)
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
