"""sensorio export FILE -o OUT: a recording (or raw dump) to CSV or NPZ, chosen by OUT's suffix.

CSV: one file per device stream (stream 0 at OUT, stream k at OUT with
``.s<k>`` before the suffix); columns row, t_us (device time of each sample
in µs: the device clock, or for formats that count frames (Cyton, board
specs) the frame count times the frame period; ``frame`` instead when no
rate is known), one column per channel (labels and physical units from the
device descriptor: the device's INFO, else the format's own; raw codes with
--raw or without a scale; a name with a comma or quote quoted as CSV quotes
it), leadoff (bitmask) and event (gap, restart, overflow, resync at the row
where the stream resumed; two at one row, as a reconnect's resync and gap,
joined by ``;``).
NPZ: samples in physical units (float32; float64 for codes wider than 24
bits; --raw: the native integer codes), with per stream the plain arrays
unit, samples_unit, labels, scale and zero (value = (code - zero) * scale),
the frame arrays of ``sensorio decode``, and the device INFO as JSON
(sensorio.export.npz).
EDF/BDF: EDF+ or BDF+ (24-bit devices need .bdf), one signal per channel, with
annotations for gaps, sensor faults and markers (sensorio.export.edf); the
digital values are the codes, the physical range the calibrated one (--raw:
physical = code, unit "code").
--bids DIR --subject S --task T: a BIDS-EMG dataset (BDF+ and its sidecars,
channels.tsv with channel health, events.tsv; sensorio.bridges.bids) instead of -o.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..blocks import EVENT_NAMES, Block, StreamClocks
from ..errors import SensorioError
from ..export.npz import NpzStream
from ..export.output import atomic_output, remove_tree, write_error
from ..export.units import exact_format, stream_calibration
from ..faultkinds import check_mains_hz
from ..npystream import pack_npz
from ..recording import BlockStream, lookahead_info
from . import input_files
from ._describe import samples_by_stream
from ._memory import bound_heap
from ._options import refuse_input
from ._progress import with_progress

SUFFIXES = (".csv", ".npz", ".edf", ".bdf")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a recording to CSV, NPZ, EDF+ or BDF+ (by the output suffix)")
    p.add_argument("file", type=Path, help="a recording (.sior) or a raw byte dump")
    p.add_argument("-o", "--output", type=Path, help="OUT.csv, OUT.npz, OUT.edf or OUT.bdf")
    p.add_argument("--format", default=None, help="wire format of a raw dump (default: sio)")
    p.add_argument(
        "--raw",
        action="store_true",
        help="raw ADC codes instead of physical units (NPZ: native integer dtype with the calibration beside; "
        "EDF/BDF: physical value = code)",
    )
    p.add_argument(
        "--no-faults", action="store_true", help="EDF/BDF: no fault detection (annotations for gaps and markers only)"
    )
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    b = p.add_argument_group("BIDS-EMG (instead of -o)")
    b.add_argument("--bids", type=Path, metavar="DIR", help="write into the BIDS dataset at DIR")
    b.add_argument("--subject", help="BIDS subject label (letters and digits)")
    b.add_argument("--task", help="BIDS task label (letters and digits)")
    b.add_argument("--session", help="BIDS session label")
    b.add_argument("--run", type=int, help="BIDS run index")
    b.add_argument(
        "--placement-scheme",
        choices=("ChannelSpecific", "Measured", "Other"),
        help="EMGPlacementScheme (default: the device INFO's placement_scheme, else Other)",
    )
    b.add_argument("--placement-description", help="EMGPlacementSchemeDescription, e.g. 'SENIAM'")
    b.add_argument("--reference", help="EMGReference, e.g. 'Bipolar' (default: the device INFO's, else n/a)")
    b.add_argument(
        "--power-line",
        type=float,
        metavar="HZ",
        help="PowerLineFrequency, 50 or 60 (default: the mains found in the EMG, else n/a)",
    )
    p.set_defaults(func=run)


def run_bids(args: argparse.Namespace) -> int:
    from ..bridges.bids import export_bids

    if args.output is not None:
        raise SensorioError("give either -o OUT or --bids DIR, not both")
    missing = [o for o, v in (("--subject", args.subject), ("--task", args.task)) if not v]
    if missing:
        raise SensorioError(f"--bids needs {' and '.join(missing)}")
    if args.power_line is not None:
        try:
            check_mains_hz(args.power_line)  # (the one rule: 50 or 60 Hz; none found is written as n/a)
        except ValueError as exc:
            raise SensorioError(f"--power-line: {exc}") from None
    done = export_bids(
        args.file,
        args.bids,
        subject=args.subject,
        task=args.task,
        session=args.session,
        run=args.run,
        format=args.format,
        placement_scheme=args.placement_scheme,
        placement_description=args.placement_description,
        reference=args.reference,
        power_line_hz=args.power_line,
        overwrite=args.force,
    )
    mains = f"{done.power_line_hz:g} Hz" if done.power_line_hz else "n/a (none found)"
    # a TSV cell holds no tab or line break: say which texts lost theirs
    respaced = "".join(
        f" ({n} {'marker texts' if name == 'events.tsv' else f'texts in {name}'} had tabs or line breaks, "
        "written as spaces)"
        for name, n in done.respaced.items()
    )
    print(
        f"{done.data}: BIDS-EMG, power line {mains}, {done.n_events} events{respaced}, "
        f"bad channels: {', '.join(done.bad_channels) or 'none'}"
    )
    return 0


def _stream_desc(info: dict[str, Any] | None, sid: int) -> dict[str, Any]:
    for s in (info or {}).get("streams", []) or []:
        if isinstance(s, dict) and s.get("id") == sid:
            return s
    return {}


#: rows formatted at once by CsvStream (a bound on the Python objects it makes)
CSV_PIECE_ROWS = 2048


class CsvStream:
    """One stream's CSV (see the module docstring), written block by block:
    the row time (the device clock unwrapped, one period per row from each
    frame's time), the row count and pending events carry from block to
    block, so the file is the one the whole stream would give.

    period: µs (or frame_t_us units) per row; None: 1e6 / the stream's rate
    (needs a rate and time_us), else the caller measures it first
    (``frame_period``)."""

    def __init__(
        self,
        f: TextIO,
        desc: dict[str, Any],
        raw: bool,
        time_us: float | None,
        period: float | None = None,
        clocks: StreamClocks | None = None,
    ) -> None:
        self.f = f
        self.desc = desc
        self.raw = raw
        self.time_us = time_us
        rate = desc.get("rate_hz") if isinstance(desc.get("rate_hz"), (int, float)) else None
        self.period = 1e6 / rate if rate and time_us is not None else (period or 0.0)
        self.rows = 0
        self._first_row: int | None = None
        # the recording's clock, shared with its other streams' CSVs (StreamClocks)
        self._clocks = clocks if clocks is not None else StreamClocks()
        self._events: dict[int, list[str]] = {}
        self._cal: Any = None
        self._fmt = "%d"

    def _start(self, block: Block) -> None:
        cal = stream_calibration(self.desc, block.n_channels)
        names = list(cal.labels)
        # every value to its last bit (6 digits lost a 24-bit code's)
        self._fmt = "%d" if block.samples.dtype.kind in "iu" else exact_format(block.samples.dtype)
        if not self.raw and cal.calibrated:
            self._cal = cal
            names = [f"{n}_{cal.unit}" if cal.unit else n for n in names]
            self._fmt = exact_format(cal.dtype)
        time_name = "t_us" if self.time_us is not None else "frame"
        # csv.writer quotes a name holding a comma, quote or line break (a label
        # "flexor, left" split in two and shifted every column name after it)
        csv.writer(self.f, lineterminator="\n").writerow(["row", time_name, *names, "leadoff", "event"])
        self._first_row = block.first_row

    def add(self, block: Block) -> None:
        if self._first_row is None:
            self._start(block)
        assert self._first_row is not None
        n = len(block)
        values = self._cal.to_physical(block.samples) if self._cal is not None else block.samples
        for ev in block.events:
            # a list: a reconnect's resync and its gap share a row (one hid the other)
            name = EVENT_NAMES.get(int(ev["kind"]), str(ev["kind"]))
            self._events.setdefault(int(ev["row"]) + block.first_row, []).append(name)
        t = self._clocks(block.stream, block.frame_t_us)
        if t.size:
            times = t.astype(np.float64)
            if self.time_us is not None:
                times *= self.time_us
            frame_row = block.frame_row.astype(np.int64) + (block.first_row - self._first_row)
            counts = np.diff(np.append(frame_row, block.first_row - self._first_row + n))
            start = np.repeat(times - frame_row * self.period, counts)
            row_t = start + np.arange(self.rows, self.rows + n) * self.period
            leadoff = np.repeat(block.frame_leadoff, counts)
        else:
            row_t = np.zeros(n)
            leadoff = np.zeros(n, np.int64)
        # one %-format per piece of rows: the formatting runs in C, where a
        # format per value (64 channels x 4 kHz) took 18 minutes an hour
        line = f"%d,%.1f,{','.join([self._fmt] * values.shape[1])},%d,%s\n"
        for a in range(0, n, CSV_PIECE_ROWS):
            b = min(n, a + CSV_PIECE_ROWS)
            table = np.empty((b - a, values.shape[1] + 4), dtype=object)
            table[:, 0] = range(self.rows + a, self.rows + b)
            table[:, 1] = row_t[a:b].tolist()
            table[:, 2:-2] = values[a:b].tolist()
            table[:, -2] = np.asarray(leadoff[a:b], dtype=np.int64).tolist()
            table[:, -1] = ""
            for i in [i for i in self._events if self.rows + a <= i < self.rows + b]:
                table[i - self.rows - a, -1] = ";".join(self._events.pop(i))
            self.f.write((line * (b - a)) % tuple(table.ravel().tolist()))
        self.rows += n


def frame_period(path: Path, format: str | None, time_us: float | None) -> dict[int, float]:
    """Per stream, the median time per row between frames (in µs when time_us
    is known), for streams without a rate: one pass over the file keeping
    only the frames' times and rows (memory bounded by the frame count)."""
    times: dict[int, list[np.ndarray]] = {}
    rows: dict[int, list[np.ndarray]] = {}
    first: dict[int, int] = {}
    with BlockStream(path, format, stream_ok=True) as bs:
        clocks = StreamClocks(bs.parser.format.clock_modulus)
        for b in bs:
            t = clocks(b.stream, b.frame_t_us)
            first.setdefault(b.stream, b.first_row)
            times.setdefault(b.stream, []).append(t)
            rows.setdefault(b.stream, []).append(b.frame_row.astype(np.int64) + b.first_row - first[b.stream])
    out = {}
    for sid in times:
        t = np.concatenate(times[sid]).astype(np.float64)
        if time_us is not None:
            t *= time_us
        frame_row = np.concatenate(rows[sid])
        period = 0.0
        if t.size >= 2 and frame_row[-1] > frame_row[0]:
            period = float(np.median(np.diff(t) / np.maximum(np.diff(frame_row), 1)))
        out[sid] = period
    return out


def run(args: argparse.Namespace) -> int:
    bound_heap()  # long files: freed block buffers go back to the system
    if args.bids is not None:
        return run_bids(args)
    if args.output is None:
        raise SensorioError("give -o OUT (.csv, .npz, .edf, .bdf) or --bids DIR")
    suffix = args.output.suffix.lower()
    if suffix not in SUFFIXES:
        raise SensorioError(f"cannot export to {args.output}: the name must end in {' or '.join(SUFFIXES)}")
    if suffix in (".edf", ".bdf"):
        return _run_edf(args)
    if args.output.exists() and not args.force:
        raise SensorioError(f"{args.output} exists: choose another name or pass --force")
    with contextlib.ExitStack() as outputs:
        bs = outputs.enter_context(BlockStream(args.file, args.format))
        it = with_progress(bs, lambda: bs.position, bs.size, f"exporting {args.file.name}")
        head, info = lookahead_info(it, bs)
        if not head:
            raise SensorioError(f"{args.file}: no samples decoded, nothing to export")
        time_us = bs.parser.format.time_scale_us()

        def blocks() -> Iterator[Block]:
            yield from head
            head.clear()  # the look-ahead is not kept while the rest streams
            yield from it

        # every file under a temporary name first: all appear, or none
        if suffix == ".npz":
            tmp = outputs.enter_context(atomic_output(args.output, overwrite=args.force))
            parts = Path(tempfile.mkdtemp(prefix=f".{args.output.stem}.", suffix=".parts", dir=tmp.parent))
            outputs.callback(remove_tree, parts)
            sink = NpzStream(parts, info, raw=args.raw, clock_wrap=bs.parser.format.clock_modulus)
            for block in blocks():
                sink.add(block)
            members = sink.close([m.text for m in bs.messages], info, bs.parser.stats.as_dict())
            pack_npz(members, tmp)
            rows = sink.rows
            written = [args.output]
        else:
            rows, written = _write_csvs(args, outputs, blocks(), info, time_us, bs.parser.format.clock_modulus)
    print(f"{_file_list(written)}: {samples_by_stream(rows)}")
    return 0


def _file_list(paths: list[Path]) -> str:
    """The files written, for the last message: ``x.csv``, or ``x.csv (and 2
    more: x.s1.csv, x.s2.csv)`` (it named only the first)."""
    first, *more = paths
    return f"{first} (and {len(more)} more: {', '.join(map(str, more))})" if more else str(first)


def _write_csvs(
    args: argparse.Namespace,
    outputs: contextlib.ExitStack,
    blocks: Iterator[Block],
    info: dict[str, Any] | None,
    time_us: float | None,
    clock_wrap: int,
) -> tuple[dict[int, int], list[Path]]:
    """One CSV per stream, each opened when its stream's first block comes;
    returns the rows written per stream and the files, by stream."""
    suffix = args.output.suffix
    writers: dict[int, tuple[Path, CsvStream]] = {}
    periods: dict[int, float] | None = None
    clocks = StreamClocks(clock_wrap)  # the streams' CSVs on the recording's one clock
    for block in blocks:
        entry = writers.get(block.stream)
        if entry is None:
            sid = block.stream
            target = args.output if sid == 0 else args.output.with_suffix(f".s{sid}{suffix}")
            refuse_input(target, *input_files(args))  # (the command line checked -o itself, not OUT.s<k>.csv)
            if target.exists() and not args.force:
                raise SensorioError(f"{target} exists: choose another name or pass --force")
            tmp = outputs.enter_context(atomic_output(target, overwrite=args.force))
            f = outputs.enter_context(open(tmp, "w"))
            desc = _stream_desc(info, sid)
            rate = desc.get("rate_hz") if isinstance(desc.get("rate_hz"), (int, float)) else None
            period = None
            if not (rate and time_us is not None):  # the period measured over the whole stream first
                if periods is None:
                    periods = frame_period(args.file, args.format, time_us)
                period = periods.get(sid, 0.0)
            entry = writers[sid] = (target, CsvStream(f, desc, args.raw, time_us, period, clocks))
        try:
            entry[1].add(block)
        except OSError as exc:  # named here: the error is this file's
            raise write_error(entry[0], exc) from None
    done = sorted(writers.items())
    return {sid: w.rows for sid, (_, w) in done}, [path for _, (path, _) in done]


def _run_edf(args: argparse.Namespace) -> int:
    """EDF+/BDF+ in two passes over the file (sensorio.export.edf.export_edf_stream)."""
    from ..export.edf import check_depths, export_edf_stream

    with BlockStream(args.file, args.format) as bs:
        head, info = lookahead_info(iter(bs), bs)
        check_depths(info, bdf=args.output.suffix.lower() == ".bdf")
        time_us = bs.parser.format.time_scale_us()
        clock_wrap = bs.parser.format.clock_modulus
        calibration = None
        if not args.no_faults:  # the DSP stack is imported only for fault detection
            from ..dsp.calibrate import Calibration

            calibration = Calibration.of_recording(bs.header, args.file)
    if not head:
        raise SensorioError(f"{args.file}: no samples decoded, nothing to export")
    del head
    passes = iter(("reading", "writing"))

    def open_blocks() -> Iterator[Block]:
        label = f"{next(passes, 'reading')} {args.file.name}"
        with BlockStream(args.file, args.format) as stream:
            yield from with_progress(stream, lambda: stream.position, stream.size, label)

    done = export_edf_stream(
        args.file,
        args.output,
        open_blocks,
        info,
        faults=not args.no_faults,
        overwrite=args.force,
        time_us=time_us,
        raw=args.raw,
        calibration=calibration,
        clock_wrap=clock_wrap,
    )
    cut = f" ({done.cut_texts} of their texts cut to EDF+'s 40 bytes)" if done.cut_texts else ""
    print(
        f"{done.path}: {done.file_type}, {done.signals} signals, {done.duration_s:.2f} s, "
        f"{done.annotations} annotations{cut}"
    )
    return 0
