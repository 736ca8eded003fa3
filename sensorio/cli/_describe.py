"""A recording's metadata and statistics, as `sensorio info` prints them (record
counts what it wrote with it too)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..blocks import StreamTally
from ..capture.device import describe_device, device_identity
from ..descriptor import described_streams, resolve_descriptor
from ..errors import SensorioError
from ..parser import Parser
from ..recording import DamageTally, DataChunk, Event, RecordingReader, feed_items
from ._options import cli_text
from ._progress import with_progress

#: host times a header may hold (ns since the epoch): 1970 up to the year 9999
_MAX_TIME_NS = 253402300799 * 10**9


def lost_frames(stats: Any) -> str:
    """The lost-frame count as the user reads it: "at least N" when some
    gap's size could not be known (a counter that wrapped during a long
    dropout, such as a Cyton's 8-bit one), so a lower bound does not look
    exact. stats: sensorio.Stats or its dict."""
    get = stats.get if isinstance(stats, dict) else lambda name, default=0: getattr(stats, name, default)
    lost = get("lost_frames", 0)
    return f"at least {lost}" if get("gaps_at_least", 0) else f"{lost}"


#: the lost-frame figure of a format without a frame counter (ASCII lines, a
#: spec format without ``[counter]``), where no loss can be seen: every
#: command says it in these words, never "0 lost"
LOST_NOT_COUNTED = "frames lost: not counted (no frame counter)"


def frames_lost(stats: Any, counted: bool, form: str = "{} frames lost") -> str:
    """The lost-frame figure in a command's words (form, given lost_frames),
    or LOST_NOT_COUNTED when the format has no frame counter."""
    return form.format(lost_frames(stats)) if counted else LOST_NOT_COUNTED


def file_lost(count: int | None) -> str:
    """What follows a lost-frame count when count of them were lost where a
    recording was damaged, not on the link (ReadReport.file_lost_frames):
    the same words in info, decode and analyze."""
    return f" ({count} of them to file damage)" if count else ""


def samples_by_stream(rows: dict[int, int]) -> str:
    """Samples (rows: each is one sample of every channel of its stream) as
    the user reads them: one figure for one stream or for streams of equal
    length, each stream's otherwise. Never a sum over streams: four 64-channel
    streams of 50000 samples are 50000 samples of 256 channels, not 200000."""
    if len(rows) <= 1:
        return f"{sum(rows.values())} samples"
    counts = set(rows.values())
    if len(counts) == 1:
        return f"{counts.pop()} samples in each of {len(rows)} streams"
    return "samples per stream " + ", ".join(f"{sid}: {n}" for sid, n in sorted(rows.items()))


def link_summary(
    stats: Any,
    samples: str,
    stopped_by: str | None,
    source_ended: bool,
    recorded: bool = False,
    counted: bool = True,
) -> str:
    """The closing word of a live command on its link: frames, samples (as
    the command counts them), frames lost (counted: the format has a frame
    counter: Format.counts_lost_frames), CRC errors, the bytes the live decoder
    skipped when it fell behind (the ring overflowed; with recorded, the
    file holds them), and why it ended."""
    skipped = stats.ring_overflow_bytes
    lost = frames_lost(stats, counted)
    if counted and skipped and not recorded and not stats.lost_frames and not stats.gaps_at_least:
        lost = "an unknown number of frames lost"  # bytes gone where the counter could not count them
    live = " decoded live" if skipped and recorded else ""
    line = f"{stats.frames_ok} frames{live}, {samples}, {lost}, {stats.crc_errors} CRC errors"
    if skipped:
        line += f", {skipped} bytes left undecoded live (the decoder fell behind"
        line += "; the file holds them: sensorio decode counts its frames and losses)" if recorded else ")"
    if stopped_by is not None:
        return line + f" (stopped by {stopped_by})"
    return line + " (the source ended)" if source_ended else line


def capture_summary(cap: Any, samples: str, stopped_by: str | None, source_ended: bool, output: Any = None) -> str:
    """A live capture's link_summary, led by "FILE: N bytes recorded, " when
    it records to output: the one closing line of record, stream, control
    and train."""
    line = link_summary(
        cap.stats,
        samples,
        stopped_by,
        source_ended,
        recorded=cap.recorder is not None,
        counted=cap.format.counts_lost_frames,
    )
    if cap.recorder is None or output is None:
        return line
    return f"{output}: {cap.recorder.bytes_written} bytes recorded, {line}"


def kept_error(failure: SensorioError, path: Path | str, written: int) -> SensorioError:
    """failure as one line that names what its recording kept, in record's
    words ("... [FILE: N bytes kept, M frames]"), with its exit code: a
    command that stops on an error leaves the file, and the user must know it
    is there. The port bytes and frames come from the file itself: after a
    disk error the parser has seen more than the file holds (the write that
    failed, and what followed), and the file holds more than the records
    written whole (the intact part of the one cut); written (the whole
    records' bytes) when it cannot be read."""
    try:
        found = describe(Path(path))
        kept = f"{found['raw_bytes']} bytes kept, {found['stats']['frames_ok']} frames"
    except (SensorioError, OSError):
        kept = f"{written} bytes kept, an unknown number of frames"
    error = SensorioError(f"{cli_text(failure)} [{path}: {kept}]")
    error.exit_code = failure.exit_code
    return error


def created_time(header: dict[str, Any]) -> str:
    """The header's created_ns as a UTC date, '?' when absent; SensorioError
    when it is there but cannot be a time (the file is untrusted input)."""
    created = header.get("created_ns")
    if created is None:
        return "?"
    if isinstance(created, bool) or not isinstance(created, int) or not 0 <= created <= _MAX_TIME_NS:
        raise SensorioError(
            f"the recording's header says it was created at {created!r} ns, which is not a time "
            "(the header is damaged or was not written by sensorio)"
        )
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(created // 10**9))


def describe(path: Path, format: str | None = None) -> dict[str, Any]:
    """Metadata and statistics of a recording (format: decode with this one
    instead of the header's)."""
    with RecordingReader(path) as reader:
        parser = Parser(reader.wire_format(format))
        events: Counter[str] = Counter()
        info = reader.header.get("device_info")
        # every device whose INFO the file holds, in order (more than one:
        # another device took the port and its data followed in this file)
        devices: list[dict[str, Any]] = [info] if isinstance(info, dict) else []
        infos: list[dict[str, Any]] = []
        shapes: dict[int, dict[str, Any]] = {}  # each stream's channels and their changes
        tallies: dict[int, StreamTally] = {}
        # per stream, the host times of the first and the last port read of
        # the records that carried its frames (a duration for a stream without a rate)
        host: dict[int, list[int]] = {}
        items = with_progress(reader.items(), lambda: reader.position, reader.size, f"reading {path.name}")
        damage = DamageTally(parser)
        for item, blocks in feed_items(parser, items, damage):
            if isinstance(item, Event):
                events[item.kind] += 1
                new = item.detail.get("info")
                if item.kind == "info" and isinstance(new, dict):
                    infos.append(new)
                    if not devices or device_identity(new) != device_identity(devices[-1]):
                        devices.append(new)
            if blocks and isinstance(item, DataChunk):
                times = [t for _, t in item.reads] or [item.t_ns]
                for sid in {b.stream for b in blocks}:
                    host.setdefault(sid, [min(times), 0])[1] = max(times)
            for b in blocks:
                shape = shapes.setdefault(b.stream, {"channels": b.n_channels, "changes": []})
                tally = tallies.setdefault(b.stream, StreamTally())
                last = shape["changes"][-1]["channels"] if shape["changes"] else shape["channels"]
                if b.n_channels != last:
                    shape["changes"].append({"sample": tally.samples, "channels": b.n_channels})
                tally.add(b)  # (the same counts as analyze's)
        streams = {
            sid: {
                "channels": shape["channels"],
                "samples": tallies[sid].samples,
                "frames": tallies[sid].frames,
                "lost_samples": tallies[sid].lost_samples,
                "span_samples": tallies[sid].span,
                "changes": shape["changes"],
                "host_span_s": (host[sid][1] - host[sid][0]) * 1e-9 if sid in host else None,
            }
            for sid, shape in shapes.items()
        }
        rep = reader.report
        damage.finish(rep)
        described = resolve_descriptor(reader.header, infos, parser.format)
        return {
            "file": str(path),
            "header": reader.header,
            "header_damage": reader.header_damage,
            "device_info": described,
            "complete": rep.complete,
            "problems": rep.problems()
            + _mixed(devices, streams)
            + (_short(streams, tallies, described) if len(devices) <= 1 else []),
            "devices": devices,
            "records": rep.records,
            "raw_bytes": rep.raw_bytes,
            "damaged_records": len(rep.damaged_records),
            "file_lost_frames": rep.file_lost_frames or 0,
            "duration_s": ((rep.last_ns - reader.header_t_ns) * 1e-9) if rep.last_ns else 0.0,
            "events": dict(events),
            "streams": {str(k): v for k, v in sorted(streams.items())},
            # (beside lost_frames: False when the format has no frame counter)
            "stats": {**parser.stats.as_dict(), "lost_frames_counted": parser.format.counts_lost_frames},
        }


def stream_rates(info: Mapping[str, Any] | None) -> dict[int, float]:
    """Each stream's sample rate by its id, as the descriptor gives it."""
    return {
        sid: float(st["rate_hz"])
        for sid, st in described_streams(info).items()
        if isinstance(st.get("rate_hz"), (int, float)) and st["rate_hz"] > 0
    }


def _short(
    streams: dict[int, dict[str, Any]], tallies: Mapping[int, StreamTally], info: Mapping[str, Any] | None
) -> list[str]:
    """A stream that holds less time than the longest of the device (see
    short_streams)."""
    if any(s["changes"] for s in streams.values()):
        return []  # a file whose streams change shape: its own problem line says so
    return list(short_streams(tallies, stream_rates(info)).values())


def short_streams(tallies: Mapping[int, StreamTally], rates: Mapping[int, float]) -> dict[int, str]:
    """The problem line, by stream, of each stream that holds less time than
    the longest (the rule of an EDF/BDF export's BAD_no_data,
    export.edf.no_data_spans: a board of a rig that stopped, or began late),
    from each stream's tally (samples, samples lost in gaps, frames);
    streams without a rate are left out. Lost samples count as time held
    (the link lost them, the board sent them). info and analyze both say it so."""
    from ..export.edf import no_data_spans

    held = {sid: t.span for sid, t in tallies.items() if sid in rates}
    if len(held) < 2:
        return {}
    frame_rows = {sid: tallies[sid].samples / max(1, tallies[sid].frames) for sid in held}
    longest = max(held, key=lambda sid: held[sid] / rates[sid])
    spans = no_data_spans(dict.fromkeys(held, 0), held, rates, held[longest] / rates[longest], frame_rows)
    return {
        sid: f"stream {sid} holds {span:.2f} s less than stream {longest} "
        "(it began late or stopped early; an EDF/BDF export marks its zeros BAD_no_data)"
        for sid, _, span in spans
    }


def _mixed(devices: list[dict[str, Any]], streams: dict[int, dict[str, Any]]) -> list[str]:
    """Problems of a file that holds data of more than one device."""
    out = []
    if len(devices) > 1:
        out.append(
            f"the recording holds data of {len(devices)} devices: "
            + "; then ".join(describe_device(d) for d in devices)
        )
    for sid, s in sorted(streams.items()):
        for change in s["changes"]:
            out.append(
                f"stream {sid} changes to {change['channels']} channels at sample "
                f"{change['sample']}: analyze, plot and export refuse such a file"
            )
    return out
