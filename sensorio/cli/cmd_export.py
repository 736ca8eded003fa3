"""sensorio export FILE -o OUT: a recording (or raw dump) to CSV or NPZ, chosen by OUT's suffix.

CSV: one file per device stream (stream 0 at OUT, stream k at OUT with
``.s<k>`` before the suffix); columns row, t_us (device time of each sample
in µs: the device clock, or for formats that count frames (Cyton, board
specs) the frame count times the frame period; ``frame`` instead when no
rate is known), one column per channel (labels and physical units from the
device descriptor: the device's INFO, else the format's own; raw codes with
--raw or without a scale), leadoff (bitmask) and event (gap, restart,
overflow, resync at the row where the stream resumed).
NPZ: samples as float32 in physical units (--raw: the native integer codes),
with per stream the plain arrays unit, samples_unit, labels, scale and zero
(value = (code - zero) * scale), the frame arrays of ``sensorio decode``, and
the device INFO as JSON (sensorio.export.npz).
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
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..blocks import EVENT_NAMES
from ..errors import SensorioError
from ..export.npz import npz_arrays
from ..export.output import atomic_output, write_error
from ..export.units import stream_calibration
from ..npystream import native_dtype
from ..parser import concat_blocks
from ..recording import decode_any, source_descriptor

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
        help="PowerLineFrequency (default: the mains found in the EMG, else n/a)",
    )
    p.set_defaults(func=run)


def run_bids(args: argparse.Namespace) -> int:
    from ..bridges.bids import export_bids

    if args.output is not None:
        raise SensorioError("give either -o OUT or --bids DIR, not both")
    missing = [o for o, v in (("--subject", args.subject), ("--task", args.task)) if not v]
    if missing:
        raise SensorioError(f"--bids needs {' and '.join(missing)}")
    if args.power_line is not None and not 0 < args.power_line < float("inf"):
        raise SensorioError(f"--power-line {args.power_line:g}: must be a positive frequency in Hz")
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
    print(
        f"{done.data}: BIDS-EMG, power line {mains}, {done.n_events} events, "
        f"bad channels: {', '.join(done.bad_channels) or 'none'}"
    )
    return 0


def _stream_desc(info: dict[str, Any] | None, sid: int) -> dict[str, Any]:
    for s in (info or {}).get("streams", []) or []:
        if isinstance(s, dict) and s.get("id") == sid:
            return s
    return {}


def _row_times(arrays: dict[str, np.ndarray], rate_hz: float | None, time_us: float | None) -> np.ndarray:
    """Time of every row from its frame's time (unwrapped), in µs when
    time_us (µs per unit of frame_t_us) is known, else in frame_t_us units."""
    t = arrays["frame_t_us"].astype(np.int64)
    rows_total = arrays["samples"].shape[0]
    if not t.size:
        return np.zeros(rows_total)
    steps = (np.diff(t) + (1 << 31)) % (1 << 32) - (1 << 31)  # a 32-bit device clock wraps
    t = (t[0] + np.cumsum(np.concatenate(([0], steps)))).astype(np.float64)
    if time_us is not None:
        t *= time_us
    frame_row = arrays["frame_row"].astype(np.int64)
    if rate_hz and time_us is not None:
        period = 1e6 / rate_hz
    elif t.size >= 2 and frame_row[-1] > frame_row[0]:
        period = float(np.median(np.diff(t) / np.maximum(np.diff(frame_row), 1)))
    else:
        period = 0.0
    counts = np.diff(np.append(frame_row, rows_total))
    start = np.repeat(t - frame_row * period, counts)
    return start + np.arange(rows_total) * period


def write_csv(
    path: Path,
    arrays: dict[str, np.ndarray],
    desc: dict[str, Any],
    raw: bool,
    time_us: float | None = 1.0,
) -> None:
    """One stream to CSV (see the module docstring). time_us: µs per unit of
    frame_t_us (None: unknown, the time column is then ``frame`` in the
    format's own units)."""
    samples = arrays["samples"]
    cal = stream_calibration(desc, samples.shape[1])
    names = list(cal.labels)
    values: np.ndarray = samples
    fmt = "%d" if samples.dtype.kind in "iu" else "%.9g"
    if not raw and cal.calibrated:
        values = cal.to_physical(samples)
        names = [f"{n}_{cal.unit}" if cal.unit else n for n in names]
        fmt = "%.6g"
    rate = desc.get("rate_hz") if isinstance(desc.get("rate_hz"), (int, float)) else None
    times = _row_times(arrays, rate, time_us)
    counts = np.diff(np.append(arrays["frame_row"].astype(np.int64), samples.shape[0]))
    leadoff = np.repeat(arrays["frame_leadoff"], counts)
    event = [""] * samples.shape[0]
    for ev in arrays["events"]:
        if ev["row"] < len(event):
            event[ev["row"]] = EVENT_NAMES.get(int(ev["kind"]), str(ev["kind"]))
    with open(path, "w") as f:
        time_name = "t_us" if time_us is not None else "frame"
        f.write(",".join(["row", time_name, *names, "leadoff", "event"]) + "\n")
        for i in range(samples.shape[0]):
            vals = ",".join(fmt % v for v in values[i])
            f.write(f"{i},{times[i]:.1f},{vals},{int(leadoff[i])},{event[i]}\n")


def run(args: argparse.Namespace) -> int:
    if args.bids is not None:
        return run_bids(args)
    if args.output is None:
        raise SensorioError("give -o OUT (.csv, .npz, .edf, .bdf) or --bids DIR")
    suffix = args.output.suffix.lower()
    if suffix not in SUFFIXES:
        raise SensorioError(f"cannot export to {args.output}: the name must end in {' or '.join(SUFFIXES)}")
    parser, blocks, messages, reader = decode_any(args.file, args.format)
    header = reader.header if reader is not None else None
    # the device's own INFO, else the format's descriptor: rates, units, scale, labels
    info = source_descriptor(parser, messages, header)
    time_us = parser.format.time_scale_us()
    if suffix in (".edf", ".bdf"):
        from ..export.edf import export_edf

        if not blocks:
            raise SensorioError(f"{args.file}: no samples decoded, nothing to export")
        done = export_edf(
            args.file,
            args.output,
            blocks,
            info,
            faults=not args.no_faults,
            overwrite=args.force,
            time_us=time_us,
            raw=args.raw,
        )
        print(
            f"{done.path}: {done.file_type}, {done.signals} signals, {done.duration_s:.2f} s, "
            f"{done.annotations} annotations"
        )
        return 0
    streams = concat_blocks(blocks)
    for sid, arrays in streams.items():
        arrays["frame_row"] = np.concatenate(
            [b.frame_row.astype(np.int64) + b.first_row for b in blocks if b.stream == sid]
        ) - min(b.first_row for b in blocks if b.stream == sid)
    targets = (
        {0: args.output}
        if suffix == ".npz"
        else {sid: args.output if sid == 0 else args.output.with_suffix(f".s{sid}{suffix}") for sid in streams}
    )
    for t in targets.values():
        if t.exists() and not args.force:
            raise SensorioError(f"{t} exists: choose another name or pass --force")
    if not streams:
        raise SensorioError(f"{args.file}: no samples decoded, nothing to export")
    # every file under a temporary name first: all appear, or none
    with contextlib.ExitStack() as outputs:
        tmp = {sid: outputs.enter_context(atomic_output(t, overwrite=args.force)) for sid, t in targets.items()}
        if suffix == ".npz":
            native = {b.stream: native_dtype(b) for b in blocks}
            arrays = npz_arrays(streams, info, raw=args.raw, native=native)
            arrays["messages"] = np.array([m.text for m in messages], dtype=object).astype(str)
            arrays["device_info"] = np.array(json.dumps(info))
            arrays["stats"] = np.array(json.dumps(parser.stats.as_dict()))
            np.savez(tmp[0], **arrays)  # type: ignore[arg-type]  # numpy's stubs take **kwds as allow_pickle
        else:
            for sid, arrays in streams.items():
                try:
                    write_csv(tmp[sid], arrays, _stream_desc(info, sid), args.raw, time_us)
                except OSError as exc:  # named here: the error is this file's
                    raise write_error(targets[sid], exc) from None
    total = sum(a["samples"].shape[0] for a in streams.values())
    print(f"{args.output}: {total} samples in {len(streams)} stream(s)")
    return 0
