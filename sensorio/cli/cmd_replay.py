"""sensorio replay FILE: play a recording back at real speed or faster,
through the capture pipeline (a summary at the end) or out through a
pseudo-terminal for other programs."""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import time
import urllib.parse
import warnings
from pathlib import Path
from typing import Any

from ..capture.stream import Stream
from ..errors import SensorioError, UsageError
from ..recording import RecordingReader, RecordingWarning, nothing_decoded
from ..recording.replay import ReplaySchedule, parse_speed
from ._describe import frames_lost, samples_by_stream
from ._memory import bound_heap
from ._progress import Progress
from ._realtime import stop_signals


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
        help="with --pty: seconds to wait after a reader opens the pseudo-terminal before sending (default 1)",
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
    with warnings.catch_warnings():
        # (a damaged header's warning: the replay's own reader says it, once)
        warnings.simplefilter("ignore", RecordingWarning)
        reader = RecordingReader(args.file)
    with reader:
        wire_format = reader.wire_format(args.format)
    if args.pty:
        return _to_pty(args, speed)
    query = urllib.parse.urlencode({"speed": repr(speed)})
    url = "replay://" + urllib.parse.quote(str(args.file.resolve())) + "?" + query
    rows: dict[int, int] = {}
    started = time.monotonic()
    with (
        # no history: nothing here asks for the latest seconds, and at full
        # speed 10 s of them is 10-40 MB of blocks held for nothing
        Stream(url, wire_format, request_info=False, reconnect=False, stall_timeout=0, history_seconds=0) as st,
        Progress(args.file.stat().st_size, f"replaying {args.file.name}") as bar,
    ):
        for n, block in enumerate(st):
            rows[block.stream] = rows.get(block.stream, 0) + len(block)
            if n % 32 == 0 and bar.tty:
                bar.update(st.stats.bytes_in)
        stats: dict[str, Any] = {**st.stats.as_dict(), "lost_frames_counted": st.format.counts_lost_frames}
    elapsed = time.monotonic() - started
    # the capture does not see the file: what is wrong with it, from a pass
    # of the reader alone (no decoding), said as every other reader says it
    damaged = _warn_problems(args.file)
    if not rows:  # as decode, export and analyze: a replay of nothing is no success
        if not stats["bytes_in"]:
            raise SensorioError(f"{args.file}: the recording holds no data (nothing arrived from the device)")
        raise nothing_decoded(args.file, wire_format, damaged)
    if args.json:
        json.dump(stats, sys.stdout)
        sys.stdout.write("\n")
    else:
        # (a replay cannot tell the frames the file's damage lost from the
        # link's: info and decode count them apart)
        some = " (the file's damage may account for some)" if damaged.report.has_damage and stats["lost_frames"] else ""
        print(
            f"{args.file}: replayed in {elapsed:.2f} s: {stats['frames_ok']} frames, "
            f"{samples_by_stream(rows)}, "
            f"{frames_lost(stats, stats['lost_frames_counted'])}{some}, {stats['crc_errors']} CRC errors"
        )
    return 0


def _warn_problems(path: Path, reader: RecordingReader | None = None) -> RecordingReader:
    """A RecordingWarning for each problem of the recording at path (damage,
    a cut end: ReadReport.problems), after a pass of a reader over it (or
    reader's, already made); the reader, closed."""
    if reader is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RecordingWarning)  # (its header's: said already)
            reader = RecordingReader(path)
        with reader:
            for _ in reader.items():
                pass
    for problem in reader.report.problems():
        warnings.warn(f"{path}: {problem}", RecordingWarning, stacklevel=2)
    return reader


#: how often --pty looks whether a reader has the pseudo-terminal open
READER_POLL_S = 0.05


def _to_pty(args: argparse.Namespace, speed: float) -> int:
    """Send the recording out through a pseudo-terminal: from --wait after a
    reader opens it (bytes written before would meet the reader's flush on
    open, or fill the pty with no one to read them), to the end or until the
    reader closes it (said, with what was sent). SIGTERM and SIGHUP stop as
    Ctrl-C does, and the link goes with the pty."""
    import pty
    import tty

    master, slave = pty.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    path = os.ttyname(slave)
    # the reader's side is ours only while we look: with it closed, the
    # master reports a hang-up until some program opens the path
    os.close(slave)
    os.set_blocking(master, False)
    poller = select.poll()
    poller.register(master, select.POLLOUT)
    if args.link:
        if args.link.exists() or args.link.is_symlink():
            os.close(master)
            raise SensorioError(f"{args.link} exists: remove it or choose another --link")
    sent = gaps = markers = 0
    reader_left = finished = False
    schedule: ReplaySchedule | None = None
    linked = False
    # from the link's making to its removal, SIGTERM and SIGHUP stop as Ctrl-C does
    with stop_signals():
        try:
            if args.link:
                args.link.symlink_to(path)
                linked = True
            print(path, flush=True)
            schedule = ReplaySchedule(args.file, speed)
            # until a reader opens the path and keeps it open for --wait (a
            # program that opens a port and closes it again, probing it, is
            # no reader: waited past)
            while True:
                while _hung_up(poller):
                    time.sleep(READER_POLL_S)
                time.sleep(args.wait)
                if not _hung_up(poller):
                    break
            t0 = time.monotonic()
            finished = False
            for piece in schedule:
                if piece.gap_lost is not None:
                    gaps += 1  # a pty cannot carry a disconnect: the bytes just continue
                markers += len(piece.markers)  # nor a marker
                delay = piece.at_s - (time.monotonic() - t0)
                if delay > 0:
                    time.sleep(delay)
                if not _send(master, poller, piece.data):
                    reader_left = True
                    break
                sent += len(piece.data)
            else:
                finished = True
                # let the reader drain before the master closes (which it sees as an unplug)
                deadline = time.monotonic() + 5
                while _unread(path) and time.monotonic() < deadline and not _hung_up(poller):
                    time.sleep(0.02)
                time.sleep(0.1)
        except KeyboardInterrupt:
            pass
        finally:
            if schedule is not None:
                schedule.close()
            if linked:
                args.link.unlink(missing_ok=True)
            os.close(master)
    joined = f" ({gaps} recorded gaps were joined)" if gaps else ""
    if markers:
        joined += f" ({markers} recorded markers not sent: a pseudo-terminal carries bytes only)"
    if finished and schedule is not None:
        _warn_problems(args.file, schedule.reader)  # (its pass read the whole file)
    if reader_left:
        raise SensorioError(f"the reader closed {path}: {sent} bytes sent{joined}, the rest not")
    print(f"sent {sent} bytes{joined}", file=sys.stderr)
    return 0


def _hung_up(poller: select.poll) -> bool:
    """Whether no program has the pseudo-terminal's reading side open."""
    return any(ev & select.POLLHUP for _, ev in poller.poll(0))


def _send(master: int, poller: select.poll, data: bytes) -> bool:
    """Write all of data to the pty's master, waiting while the reader is
    behind (a pty has flow control); False if the reader closes it first."""
    view = memoryview(data)
    while view:
        events = 0
        for _, ev in poller.poll(int(READER_POLL_S * 1000)):
            events |= ev
        if events & select.POLLHUP:
            return False
        if events & select.POLLOUT:
            try:
                view = view[os.write(master, view) :]
            except BlockingIOError:
                pass
    return True


def _unread(path: str) -> int:
    """Bytes waiting on the reading side of the pseudo-terminal at path."""
    import fcntl
    import termios

    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return 0
    buf = bytearray(4)
    try:
        fcntl.ioctl(fd, termios.FIONREAD, buf)
    except OSError:
        return 0
    finally:
        os.close(fd)
    return int.from_bytes(buf, sys.byteorder)
