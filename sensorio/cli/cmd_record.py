"""sensorio record PORT -o FILE: capture to a recording with a live status line.

Ctrl-C (or SIGTERM) stops cleanly and keeps everything. Any failure
(disk full, device gone for good, nothing decodable arriving) stops the
recording with what was captured so far kept on disk, and exits non-zero.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from pathlib import Path

from ..capture.stream import RECORDING_MAX_READ_INTERVAL, RECORDING_READ_INTERVAL, Stream
from ..errors import SensorioError
from ._describe import capture_summary, kept_error, lost_frames, samples_by_stream
from ._options import (
    add_check_seconds,
    add_duration,
    add_format,
    add_start,
    baud_rate,
    check_output,
    non_negative_number,
    start_command,
)
from ._realtime import (
    HandshakeStopped,
    check_first_frame,
    handshake,
    no_frames_error,
    signals_ignored,
    stop_reason,
    stop_signals,
)
from ._status import StatusLine


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("record", help="capture a port to a recording file, with a live status line")
    p.add_argument("port", help="serial port path or URL (sim://..., replay://...)")
    p.add_argument("-o", "--output", type=Path, required=True, help="recording file to create (.sior)")
    add_format(p, port=True)
    p.add_argument("--baud", type=baud_rate, default=115200, help="baud rate (default: 115200)")
    add_duration(p)
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument(
        "--flush-interval",
        type=float,
        default=0.5,
        help="seconds between writes to disk; at most this much is lost on a crash (default 0.5)",
    )
    p.add_argument(
        "--no-fsync",
        action="store_true",
        help="do not fsync after each flush (a power cut may then lose more)",
    )
    add_start(p)
    p.add_argument("--no-info", action="store_true", help="do not ask an SIO-1 device for its INFO")
    p.add_argument(
        "--stall-timeout",
        type=non_negative_number,
        default=2.0,
        help="report a stall after this many seconds without bytes (0: never; default 2)",
    )
    p.add_argument("--no-reconnect", action="store_true", help="stop at the first disconnect")
    add_check_seconds(p)
    p.add_argument("--quiet", action="store_true", help="no status line")
    p.set_defaults(func=run)


class _Status:
    """Rates per stream over the last seconds, and the status line."""

    def __init__(self, started: float | None = None) -> None:
        self.rows: dict[int, int] = {}
        self.channels: dict[int, int] = {}
        # rates count from the start until two seconds have passed, then over the last two
        self.window: deque[tuple[float, dict[int, int]]] = deque(
            [(time.monotonic() if started is None else started, {})]
        )

    def add(self, blocks: list) -> None:
        for b in blocks:
            self.rows[b.stream] = self.rows.get(b.stream, 0) + len(b)
            self.channels[b.stream] = b.n_channels

    def line(self, st: Stream, elapsed: float) -> str:
        now = time.monotonic()
        self.window.append((now, dict(self.rows)))
        while len(self.window) > 2 and now - self.window[0][0] > 2.0:
            self.window.popleft()
        t0, rows0 = self.window[0]
        span = max(now - t0, 1e-9)
        parts = [f"{elapsed:7.1f} s"]
        for sid in sorted(self.rows):
            if span > 0.2:
                rate = (self.rows[sid] - rows0.get(sid, 0)) / span
                parts.append(f"s{sid} {self.channels[sid]}ch {rate:7.1f} Hz")
            else:  # too soon to measure a rate
                parts.append(f"s{sid} {self.channels[sid]}ch")
        s = st.stats
        parts.append(f"frames {s.frames_ok}")
        # (lost_frames gives a string: "0" is said only where a loss was seen)
        lost = lost_frames(s) if s.lost_frames or getattr(s, "gaps_at_least", 0) else 0
        losses = [
            f"{name} {value}"
            for name, value in (
                ("lost", lost),
                ("crc", s.crc_errors),
                ("cobs", s.cobs_errors),
                ("oversized", s.oversized),
                ("malformed", s.malformed),
                ("unknown", s.unknown_type),
                ("overflow", s.ring_overflow_bytes),
                ("restarts", s.restarts),
            )
            if value
        ]
        fmt = getattr(st, "format", None)
        if fmt is not None and not fmt.counts_lost_frames:
            losses.append("lost frames not counted (no frame counter)")
        parts.append("losses: " + (", ".join(losses) if losses else "none"))
        parts.append(f"buffer {st.ring_fill * 100:4.1f}%")
        if st.recorder is not None:
            parts.append(f"saved {st.recorder.bytes_written / 1e6:.2f} MB")
        if st.source_ended:
            parts.append("the source has ended")
        elif not st.connected:
            parts.append("DISCONNECTED, waiting for the device")
        return " | ".join(parts)


def run(args: argparse.Namespace) -> int:
    with stop_signals():
        return _record(args)


#: how often the main thread takes the parsed blocks for the status line: it
#: needs no more (it shows a line a second), and the reader thread does not
#: wait for it; each wake-up costs CPU (docs/performance.md, "Cyton at 250 Hz")
STATUS_POLL_S = 0.1
#: ... and at a low byte rate less often, about every STATUS_POLL_BYTES, up to
#: this long: a 250 Hz Cyton (8 kB/s) woke the main thread ten times a second
#: for 800 bytes each, a third of the recorder's CPU. A fast device is polled
#: every STATUS_POLL_S, long before its bytes could fill the parser's ring
STATUS_POLL_MAX_S = 0.5
STATUS_POLL_BYTES = 4096


class StatusPace:
    """How long the main thread of a recording sleeps before it next takes
    the parsed blocks: STATUS_POLL_S, or, at a byte rate (measured between
    its calls) so low that fewer than STATUS_POLL_BYTES would come by then,
    the time for that many bytes, up to STATUS_POLL_MAX_S; never past the
    time left (a --duration)."""

    def __init__(self, started: float) -> None:
        self._t = started
        self._bytes = 0

    def next(self, bytes_in: int, now: float, remaining: float | None = None) -> float:
        """The sleep before the next poll, after one at `now` that had seen
        bytes_in bytes in all; remaining: the seconds left to record (None:
        no limit)."""
        span = now - self._t
        rate = (bytes_in - self._bytes) / span if span > 0 else 0.0
        self._t, self._bytes = now, bytes_in
        wait = STATUS_POLL_S
        if rate > 0:
            wait = min(STATUS_POLL_MAX_S, max(STATUS_POLL_S, STATUS_POLL_BYTES / rate))
        if remaining is not None:
            wait = min(wait, max(remaining, 0.0))
        return wait


def _open(args: argparse.Namespace) -> Stream:
    """The capture of args.port into args.output (the handshake happens here)."""
    return Stream(
        args.port,
        args.format,
        baudrate=args.baud,
        record=args.output,
        overwrite=args.force,
        flush_interval=args.flush_interval,
        fsync=not args.no_fsync,
        start_command=start_command(args),
        request_info=False if args.no_info else None,
        reconnect=not args.no_reconnect,
        stall_timeout=args.stall_timeout,
        read_interval=RECORDING_READ_INTERVAL,
        max_read_interval=RECORDING_MAX_READ_INTERVAL,
    )


def _record(args: argparse.Namespace) -> int:
    start_command(args)  # (--start against --no-start: before anything opens)
    check_output(args.output, args.force)
    try:
        with handshake(args.port, args.output):
            st = _open(args)
    except HandshakeStopped as stop:
        # the Stream closed what it had: say so, as a stop later would
        print(stop.args[0], file=sys.stderr)
        return 0
    started = time.monotonic()
    status = _Status(started)
    line_out = StatusLine(quiet=args.quiet, started=started)
    stopped_by: str | None = None
    failure: SensorioError | None = None
    pace = StatusPace(started)
    wait = STATUS_POLL_S
    try:
        while True:
            time.sleep(wait)
            blocks = st.read(0)
            status.add(blocks)
            now = time.monotonic()
            elapsed = now - started
            check_first_frame(st, args.port, elapsed, args.check_seconds)
            if line_out.due(now):
                line_out.show(status.line(st, elapsed))
            if args.duration is not None and elapsed >= args.duration:
                break
            if st.ended:
                if st.source_ended:
                    break
                if any(e.kind == "disconnect" for e in st.events):
                    raise SensorioError(f"{args.port} disconnected (and --no-reconnect was given)")
                break
            wait = pace.next(st.stats.bytes_in, now, None if args.duration is None else args.duration - elapsed)
    except KeyboardInterrupt as exc:
        stopped_by = stop_reason(exc)
    except SensorioError as exc:
        failure = exc
    finally:
        _close_despite_signals(st)
    if failure is None:
        try:  # the blocks decoded at the close, for the per-stream counts
            status.add(st.read(0))
        except SensorioError as exc:  # a background failure known only now
            failure = exc
    line_out.finish()
    if failure is None and stopped_by is None and args.check_seconds and not st.stats.frames_ok:
        # it ended (--duration, the source's end) before --check-seconds could
        # say why nothing decoded: say it now (what arrived is kept)
        failure = no_frames_error(st, args.port)
    s = st.stats
    kept = st.recorder.bytes_written if st.recorder else 0
    # several streams: each one's count (their sum is no count of anything)
    samples = samples_by_stream(status.rows) if len(status.rows) > 1 else f"{s.samples_ok} samples"
    summary = capture_summary(st, samples, stopped_by, st.source_ended, args.output)
    if failure is None and st.recorder is not None and st.recorder.error is not None:
        failure = st.recorder.error
    if failure is not None:
        # one line for the user: the problem, what to do, and what was kept
        if st.recorder is None:
            raise failure
        raise kept_error(failure, args.output, kept) from failure
    try:
        print(summary)
    except OSError:
        if stopped_by != "SIGHUP":
            raise  # after a hang-up the terminal may be gone; the file is complete
    return 0


def _close_despite_signals(st: Stream) -> None:
    """Close the stream (the END record, the data still in memory) with the
    stop signals ignored: a second Ctrl-C, SIGTERM or SIGHUP asks for what
    is already under way, and must not cut the closing short."""
    with signals_ignored():
        st.close()
