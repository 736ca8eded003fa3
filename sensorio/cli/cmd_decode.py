"""sensorio decode FILE -o OUT.npz: decode a raw byte dump (or a recording)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SensorioError, cannot_create
from ..export.output import atomic_output, remove_tree
from ..npystream import ARRAY_NAMES, BlockArrays, pack_npz
from ..parser import Parser, concat_blocks
from ..recording import BlockStream, decode_any, nothing_decoded
from . import input_files
from ._describe import file_lost as file_lost_note
from ._describe import frames_lost, samples_by_stream
from ._memory import bound_heap
from ._options import refuse_input
from ._progress import with_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decode", help="decode a raw byte dump or recording to NPZ")
    p.add_argument(
        "file",
        type=Path,
        help="raw bytes as captured from the port, or a recording (a pipe works: /dev/stdin)",
    )
    p.add_argument(
        "-o",
        "--output",
        help="write arrays to this .npz (samples in their native dtype, written as decoded); "
        "or to a folder (a name ending in /) as one .npy per array",
    )
    p.add_argument("--format", default=None, help="wire format (default: the recording's, or sio for a raw dump)")
    p.add_argument("--json", action="store_true", help="print the link statistics as JSON on stdout")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=run)


def decode_file(path: Path, format: str | None = None) -> tuple[Parser, dict, list]:
    """Decode a whole recording or raw dump into memory; returns the parser,
    arrays per stream and messages (the command itself streams: see run).
    A recording's gaps (disconnects, damaged regions) are marked with
    Parser.discontinuity where they happened; its problems are
    RecordingWarnings (BlockStream)."""
    parser, blocks, messages, _ = decode_any(path, format, stream_ok=True)
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


def _folder_output(out: str | Path) -> bool:
    """-o DIR/ (or an existing folder): one NPY per array instead of an .npz."""
    return str(out).endswith(("/", os.sep)) or Path(out).is_dir()


def decode_to(
    path: Path, format: str | None, folder: Path | None
) -> tuple[Parser, dict[int, dict[str, int]], list, dict[str, Path], int]:
    """Decode block by block (memory bounded whatever the file's length); with
    folder, the arrays are written there as growing NPY files. Returns the
    parser, counts per stream, the messages, {array name: NPY path} and the
    frames counted lost that a recording's damage lost (not the link)."""
    with BlockStream(path, format, stream_ok=True) as bs:
        sink = BlockArrays(folder, bs.parser.format.clock_modulus) if folder is not None else None
        counts: dict[int, dict[str, int]] = {}
        try:
            for block in with_progress(bs, lambda: bs.position, bs.size, f"decoding {path.name}"):
                if sink is not None:
                    sink.add(block)
                c = counts.setdefault(block.stream, {"samples": 0, "channels": block.n_channels, "frames": 0})
                c["samples"] += len(block)
                c["frames"] += int(block.frame_seq.size)
        finally:
            members = sink.close() if sink is not None else {}
    if not counts:  # (not a recording, another format: an archive of no samples helps nobody)
        raise nothing_decoded(path, format, bs.reader)
    file_lost = (bs.reader.report.file_lost_frames or 0) if bs.reader is not None else 0
    return bs.parser, dict(sorted(counts.items())), bs.messages, members, file_lost


def run(args: argparse.Namespace) -> int:
    bound_heap()  # long files: freed block buffers go back to the system
    folder_out = args.output is not None and _folder_output(args.output)
    if args.output is not None:
        args.output = Path(args.output)
    if args.output is not None and not folder_out:
        if args.output.suffix != ".npz":
            raise SensorioError(f"output {args.output} must end in .npz (or / for a folder of .npy files)")
        if args.output.exists() and not args.force:
            raise SensorioError(f"{args.output} exists: choose another name or pass --force")
    if folder_out:
        return _run_folder(args)
    if args.output is None:
        parser, counts, messages, _, file_lost = decode_to(args.file, args.format, None)
    else:
        with atomic_output(args.output, overwrite=args.force) as tmp:
            parts = Path(tempfile.mkdtemp(prefix=f".{args.output.stem}.", suffix=".parts", dir=tmp.parent))
            try:
                parser, counts, messages, members, file_lost = decode_to(args.file, args.format, parts)
                pack_npz(members, tmp, {"messages": _messages(messages)})
            finally:
                remove_tree(parts)
    _report(args, parser, counts, file_lost)
    return 0


#: the names decode gives its arrays in a folder (npystream.array_name)
_DECODED = re.compile(rf"(s[0-9]+_)?({'|'.join((*ARRAY_NAMES, 'messages'))})")


def _run_folder(args: argparse.Namespace) -> int:
    """-o DIR/: samples.npy, frame_seq.npy, ... (s<k>_ for stream k) and messages.npy."""
    out: Path = args.output
    if out.is_dir():  # each array there is written over or, with --force, removed: none may be the input
        for array in sorted(out.glob("*.npy")):
            if _DECODED.fullmatch(array.stem):
                refuse_input(array, *input_files(args))
    try:
        out.mkdir(parents=False, exist_ok=True)
    except (FileNotFoundError, NotADirectoryError):
        raise SensorioError(cannot_create(out)) from None
    except OSError as exc:
        raise SensorioError(f"cannot create {out}: {exc.strerror or exc}") from None
    parts = Path(tempfile.mkdtemp(prefix=".decode.", suffix=".parts", dir=out))
    try:
        parser, counts, messages, members, file_lost = decode_to(args.file, args.format, parts)
        np.save(parts / "messages.npy", _messages(messages))
        members["messages"] = parts / "messages.npy"
        # what an earlier decode left there: with --force it goes too (new
        # arrays of stream 0 beside an older recording's s1_... mixed two)
        earlier = sorted(p for p in out.glob("*.npy") if _DECODED.fullmatch(p.stem))
        if earlier and not args.force:
            raise SensorioError(f"{earlier[0]} exists: choose another folder or pass --force")
        for name, path in members.items():
            os.replace(path, out / f"{name}.npy")
        for old in earlier:
            if old.stem not in members:
                old.unlink(missing_ok=True)
    finally:
        remove_tree(parts)
    _report(args, parser, counts, file_lost)
    return 0


def _messages(messages: list) -> np.ndarray:
    return np.array([m.text for m in messages], dtype=object).astype(str)


def _report(args: argparse.Namespace, parser: Parser, counts: dict[int, dict[str, int]], file_lost: int) -> None:
    stats: dict[str, Any] = {**parser.stats.as_dict(), "lost_frames_counted": parser.format.counts_lost_frames}
    if args.json:
        summary: dict[str, Any] = dict(stats)
        summary["file_lost_frames"] = file_lost
        summary["streams"] = {str(sid): dict(c) for sid, c in counts.items()}
        json.dump(summary, sys.stdout)
        sys.stdout.write("\n")
    elif args.output is None:
        samples = samples_by_stream({sid: c["samples"] for sid, c in counts.items()})
        print(
            f"{args.file}: {stats['frames_ok']} frames, {samples}, "
            f"{frames_lost(stats, stats['lost_frames_counted'], '{} lost')}{file_lost_note(file_lost)}, "
            f"{stats['crc_errors']} CRC errors"
        )
