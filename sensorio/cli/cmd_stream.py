"""sensorio stream PORT --lsl: capture a device and publish it to Lab Streaming Layer."""

from __future__ import annotations

import argparse
import queue
import sys
import time
from typing import Any

from ..descriptor import capture_descriptor
from ..errors import SensorioError, UsageError
from ._describe import capture_summary, link_summary, lost_frames, samples_by_stream
from ._options import add_duration, add_format, add_output, add_start, add_stream, add_verbose, baud_rate
from ._realtime import freeze_setup, live_capture, no_frames_error, run_live, signals_ignored, stop_reason
from ._status import StatusLine


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stream", help="publish a live capture to Lab Streaming Layer (--lsl)")
    p.add_argument("port", help="serial port path or URL (sim://..., replay://FILE)")
    p.add_argument("--lsl", action="store_true", help="publish to LSL (needs pylsl: pip install 'sensorio[lsl]')")
    add_format(p, port=True)
    p.add_argument("--baud", type=baud_rate, default=115200, help="baud rate (default: 115200)")
    p.add_argument("--raw", action="store_true", help="publish raw ADC codes (int32) instead of calibrated values")
    add_stream(p, repeatable=True, dest="streams", help="device stream to publish (repeatable; default: all)")
    p.add_argument(
        "--name",
        help="LSL stream name; with several streams published, each is 'NAME <stream name>' "
        "(default: device model and stream name)",
    )
    p.add_argument("--no-faults", action="store_true", help="no fault detection (no fault markers)")
    add_output(p, "also record to this file (.sior)", old=("--record",))
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    add_duration(p)
    add_start(p)
    p.add_argument("--quiet", action="store_true", help="no status line, no outlet lines")
    add_verbose(p)
    p.set_defaults(func=run)


def fault_pipelines(info: dict[str, Any], streams: list[int]) -> dict[int, Any]:
    """sensorio.dsp's default (EMG) pipeline per EMG stream, for fault markers."""
    from ..descriptor import is_emg, stream_descriptor
    from ..dsp import Pipeline

    return {sid: Pipeline.default(info, stream=sid) for sid in streams if is_emg(stream_descriptor(info, sid))}


def publish(block: Any, cap: Any, outlets: dict[int, Any], pipes: dict[int, Any]) -> None:
    """One Block to its stream's outlet, stamped by the capture's fitted device clock;
    the faults the stream's pipeline finds to the marker stream."""
    out = outlets.get(block.stream)
    if out is None:
        return
    host = cap.host_times(block)
    out.push_block(block, None if host is None else host[0])
    pipe = pipes.get(block.stream)
    if pipe is not None:
        pipe.process(block)
        for ev in pipe.take_events():
            out.push_fault(ev)


def learn_channels(
    cap: Any, info: dict[str, Any], wanted: list[int], t_end: float | None, port: str
) -> tuple[dict[str, Any], list[Any]]:
    """The descriptor with each wanted stream's channel count, and the blocks
    read to learn it: an ASCII-lines device tells its count only with its
    first line, and an LSL outlet needs it before the first sample."""
    from ..descriptor import stream_descriptor

    unknown = {sid for sid in wanted if stream_descriptor(info, sid).get("channels") is None}
    if not unknown:
        return info, []
    info = {**info, "streams": [dict(st) for st in info["streams"]]}
    early: list[Any] = []
    while unknown and not cap.ended and (t_end is None or time.monotonic() < t_end):
        for block in cap.read(0.2):
            early.append(block)
            if block.stream in unknown:
                stream_descriptor(info, block.stream)["channels"] = block.n_channels
                unknown.discard(block.stream)
    if unknown:
        names = ", ".join(map(str, sorted(unknown)))
        raise SensorioError(f"{port}: stream {names} sent no sample to count its channels by: nothing to publish")
    return info, early


def run(args: argparse.Namespace) -> int:
    # SIGTERM, SIGHUP: stop as on Ctrl-C, the recording (-o) kept whole; a stop
    # during the handshake said as such
    return run_live(_run, args)


def _run(args: argparse.Namespace) -> int:
    if not args.lsl:
        raise UsageError("say where to stream: --lsl (Lab Streaming Layer)")
    from ..sinks.lsl import LslOutlet, outlet_name, prepare_lsl

    prepare_lsl(info_lines=args.verbose)  # before the port is opened and liblsl first used
    link_events: queue.SimpleQueue = queue.SimpleQueue()  # filled by the capture's threads
    with live_capture(args, link_events.put) as cap:
        info = capture_descriptor(cap)
        wanted = args.streams or [int(s["id"]) for s in info["streams"]]
        t_end = None if args.duration is None else time.monotonic() + args.duration
        try:
            info, early = learn_channels(cap, info, wanted, t_end, args.port)
        except KeyboardInterrupt as exc:  # stopped before anything could be published
            by = stop_reason(exc)
            print(link_summary(cap.stats, "0 samples published", by, False, counted=cap.format.counts_lost_frames))
            return 0
        outlets = {
            sid: LslOutlet(
                info,
                sid,
                calibrated=not args.raw,
                name=outlet_name(info, sid, args.name, alone=len(wanted) == 1),
                port=args.port,
                time_scale_us=cap.format.time_scale_us(),
                clock_modulus=cap.format.clock_modulus,
            )
            for sid in wanted
        }
        pipes = {} if args.no_faults else fault_pipelines(info, wanted)
        for out in () if args.quiet else outlets.values():  # (--quiet: errors and warnings only)
            print(
                f"LSL: {out.name!r} type {out.type}, {out.channels} ch at {out.rate_hz:g} Hz, "
                f"source_id {out.source_id}",
                file=sys.stderr,
            )
        status = StatusLine(quiet=args.quiet, tty_interval=1.0)
        freeze_setup()
        stopped_by: str | None = None
        published: dict[int, int] = {}  # rows per stream, for the closing count

        def send(blocks: list) -> None:
            for block in blocks:
                publish(block, cap, outlets, pipes)
                if block.stream in outlets:
                    published[block.stream] = published.get(block.stream, 0) + len(block)
            while not link_events.empty():
                ev = link_events.get()
                for o in outlets.values():
                    o.push_marker({"event": ev.kind, **ev.detail}, o.lsl_time(ev.t_ns / 1e9))

        try:
            send(early)
            try:
                while not cap.ended:
                    send(cap.read(0.2))  # a timeout, so --duration ends a silent device too
                    now = time.monotonic()
                    if status.due(now):
                        st = cap.stats
                        status.show(f"{st.frames_ok} frames, {lost_frames(st)} lost, {st.crc_errors} CRC errors")
                    if t_end is not None and now >= t_end:
                        break
            except KeyboardInterrupt as exc:
                stopped_by = stop_reason(exc)
            with signals_ignored():  # a second Ctrl-C must not cut the closing short
                cap.close()
            send(cap.read(0))  # what arrived before the close is published too
        finally:
            for o in outlets.values():
                o.close()
        status.finish()
        if stopped_by is None and not cap.stats.frames_ok:
            # it ended (--duration, the source's end) with nothing published:
            # say why (within the capture: the error names the recording kept)
            error = no_frames_error(cap, args.port)
            if error is not None:
                raise error
    # the last word on the link, as record's: the status line comes only every
    # few seconds in a log, so the losses of the last ones went unsaid
    line = capture_summary(cap, f"{samples_by_stream(published)} published", stopped_by, cap.source_ended, args.output)
    print(line)
    return 0
