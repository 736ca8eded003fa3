"""sensorio replay FILE: play a recording back at real speed or faster,
through the capture pipeline (a summary at the end) or out through a
pseudo-terminal for other programs."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse
from pathlib import Path

from ..capture.stream import Stream
from ..errors import SensorioError, UsageError
from ..recording import RecordingReader
from ..recording.replay import ReplaySchedule, parse_speed
from ._memory import bound_heap
from ._progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="play a recording back (real speed, faster, or out through a pty)")
    p.add_argument("file", type=Path, help="a recording (.sior)")
    p.add_argument(
        "--speed",
        default="1",
        help="1 = real time (default), 2 = twice as fast, max = as fast as possible",
    )
    p.add_argument(
        "--pty",
        action="store_true",
        help="send the bytes out through a pseudo-terminal and print its path",
    )
    p.add_argument("--link", type=Path, help="with --pty: also make this symlink to the pseudo-terminal")
    p.add_argument(
        "--wait",
        type=float,
        default=1.0,
        help="with --pty: seconds to wait after printing the path before sending (default 1)",
    )
    p.add_argument(
        "--format",
        default=None,
        help="wire format to decode with (default: the one in the recording's header)",
    )
    p.add_argument("--json", action="store_true", help="print the link statistics as JSON")
    p.set_defaults(func=run)


#: the longest --wait that makes sense (an hour): anything longer is a typo
MAX_WAIT_S = 3600.0


def run(args: argparse.Namespace) -> int:
    bound_heap()  # long files: freed block buffers go back to the system
    try:
        speed = parse_speed(args.speed)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not 0 <= args.wait <= MAX_WAIT_S:  # also refuses NaN
        raise UsageError(f"--wait must be between 0 and {MAX_WAIT_S:g} seconds, not {args.wait:g}")
    if args.link and not args.pty:
        raise UsageError("--link needs --pty")
    # a clear error for a missing or broken file before anything starts, and
    # the format the recording was made in
    with RecordingReader(args.file) as reader:
        wire_format = reader.wire_format(args.format)
    if args.pty:
        return _to_pty(args, speed)
    query = urllib.parse.urlencode({"speed": repr(speed)})
    url = "replay://" + urllib.parse.quote(str(args.file.resolve())) + "?" + query
    rows = 0
    started = time.monotonic()
    with (
        # no history: nothing here asks for the latest seconds, and at full
        # speed 10 s of them is 10-40 MB of blocks held for nothing
        Stream(url, wire_format, request_info=False, reconnect=False, stall_timeout=0, history_seconds=0) as st,
        Progress(args.file.stat().st_size, f"replaying {args.file.name}") as bar,
    ):
        for n, block in enumerate(st):
            rows += len(block)
            if n % 32 == 0 and bar.tty:
                bar.update(st.stats.bytes_in)
        stats = st.stats.as_dict()
    elapsed = time.monotonic() - started
    if args.json:
        json.dump(stats, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(
            f"{args.file}: replayed in {elapsed:.2f} s: {stats['frames_ok']} frames, "
            f"{rows} samples, "
            f"{stats['lost_frames']} frames lost, {stats['crc_errors']} CRC errors"
        )
    return 0


def _to_pty(args: argparse.Namespace, speed: float) -> int:
    import pty
    import tty

    master, slave = pty.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    path = os.ttyname(slave)
    if args.link:
        if args.link.exists() or args.link.is_symlink():
            raise SensorioError(f"{args.link} exists: remove it or choose another --link")
        args.link.symlink_to(path)
    print(path, flush=True)
    schedule = ReplaySchedule(args.file, speed)
    sent = gaps = 0
    try:
        time.sleep(args.wait)
        t0 = time.monotonic()
        for piece in schedule:
            if piece.gap_lost is not None:
                gaps += 1  # a pty cannot carry a disconnect: the bytes just continue
            delay = piece.at_s - (time.monotonic() - t0)
            if delay > 0:
                time.sleep(delay)
            view = memoryview(piece.data)
            while view:
                view = view[os.write(master, view) :]
            sent += len(piece.data)
        # let the other side drain before the master closes (which it sees as an unplug)
        deadline = time.monotonic() + 5
        while _unread(slave) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        schedule.close()
        if args.link:
            args.link.unlink(missing_ok=True)
        os.close(master)
        os.close(slave)
    print(
        f"sent {sent} bytes" + (f" ({gaps} recorded gaps were joined)" if gaps else ""),
        file=sys.stderr,
    )
    return 0


def _unread(slave: int) -> int:
    """Bytes waiting on the reading side of the pseudo-terminal."""
    import fcntl
    import termios

    buf = bytearray(4)
    try:
        fcntl.ioctl(slave, termios.FIONREAD, buf)
    except OSError:
        return 0
    return int.from_bytes(buf, sys.byteorder)
