"""EDF+ / BDF+ export through pyedflib (an optional extra: ``pip install 'sensorio[edf]'``).

One signal per channel of every device stream, each at its stream's own rate.
The raw ADC codes are written as the file's digital values, unchanged (shifted
only when the code range must be moved into the file's digital range), and
the physical range comes from the calibration: physical = (code - zero) * scale,
so physical min/max are the values of the rails ``min_code`` / ``max_code``.
EDF holds 16-bit samples, BDF 24-bit: 24-bit devices need BDF.

Labels follow the ``<TYPE> <label>`` convention (``EMG emg1`` for a stream in
volts, ``MISC ax`` otherwise) from which MNE's ``read_raw_edf``/``read_raw_bdf``
with ``infer_types=True`` types the channels; the transducer field says
``EMG electrode`` (or the descriptor's ``transducer``). Header fields are ASCII
(:func:`header_ascii`: "Bíceps" is ``EMG Biceps``, "µV" is ``uV``).

EDF and BDF hold integers only, no NaN: samples lost in a gap are filled with
the code of physical zero so that the time axis stays true, and each gap is
annotated ``BAD_gap`` over exactly those samples, so MNE's reject-by-annotation
leaves them out. Sensor faults are ``BAD_fault_<kind>@@<channel>`` (the ``@@``
names the channel for MNE, as read with ``infer_types=True``); restarts, overflows, resyncs and markers are
annotations as well.
"""

from __future__ import annotations

import math
import os
import unicodedata
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..blocks import CLOCK_WRAP, EV_GAP, EV_OVERFLOW, EV_RESTART, EV_RESYNC, clock_step
from ..descriptor import channel_labels, volt_unit
from ..errors import Advice, SensorioError
from .output import atomic_output

if TYPE_CHECKING:
    from ..dsp.calibrate import Calibration

EDF_DIGITAL = (-(1 << 15), (1 << 15) - 1)
BDF_DIGITAL = (-(1 << 23), (1 << 23) - 1)
SUFFIXES = (".edf", ".bdf")


@dataclass(frozen=True)
class Annotation:
    """An EDF+ annotation: seconds from the start of the file; duration None = an instant."""

    onset_s: float
    duration_s: float | None
    text: str


@dataclass(frozen=True)
class SignalPlan:
    """How one channel goes into the file."""

    stream: int
    channel: int
    label: str
    unit: str
    rate_hz: float
    physical: tuple[float, float]
    digital: tuple[int, int]
    #: digital = code + shift
    shift: int
    #: code written where samples were lost (physical zero)
    fill_code: int
    #: the EDF transducer field
    transducer: str = ""


@dataclass(frozen=True)
class EdfSummary:
    """What an EDF+/BDF export wrote: the file, its type (``EDF+`` or ``BDF+``),
    the number of signals (one per channel) and of annotations, and the
    duration in seconds."""

    path: Path
    file_type: str
    signals: int
    annotations: int
    duration_s: float
    #: (stream, onset s, duration s) of each ``BAD_no_data`` span (no_data_spans)
    no_data: tuple[tuple[int, float, float], ...] = ()
    #: annotations whose text was cut to ANNOTATION_BYTES (fit_annotation_text)
    cut_texts: int = 0


def _import_pyedflib() -> Any:
    try:
        import pyedflib
    except ImportError:
        raise SensorioError("EDF+/BDF export needs pyedflib: pip install 'sensorio[edf]' (or pyedflib)") from None
    return pyedflib


def edf_number(x: float) -> float | int:
    """x rounded to what the 8-character EDF header field can hold."""
    for digits in range(8, 0, -1):
        text = f"{x:.{digits}g}"
        if "e" not in text and len(text) <= 8:
            return float(text)
    raise SensorioError(f"{x} does not fit an EDF header field: export in a larger unit")


def physical_range(lo: int, hi: int, zero: float, scale: float) -> tuple[float, float]:
    """The header's physical minimum and maximum for codes lo..hi, physical
    = (code - zero) x scale. Eight characters cannot hold a 24-bit stream's
    rails to its step (-187499.649 uV is written -187500), and the reader's
    line through the two rails then misses 0 at the zero code by about half
    the two roundings (0.19 uV, 8 steps, on every sample). So the maximum is
    chosen among the numbers the field holds next to the one that puts the
    line through 0 at the zero code: an offset of at most about half a step
    near zero, the roundings' error left at the rails."""
    pmin = edf_number((lo - zero) * scale)
    if not lo < zero < hi:
        return pmin, edf_number((hi - zero) * scale)
    want = pmin * (hi - zero) / (lo - zero)  # the line through (lo, pmin) and (zero, 0) at hi
    near = edf_number(want)
    text = f"{near:.8g}"
    step = 10.0 ** -(len(text) - text.index(".") - 1) if "." in text else 1.0
    best, best_off = near, math.inf
    for cand in (near - step, near, near + step):
        try:
            cand = edf_number(cand)
        except SensorioError:
            continue
        off = abs(pmin + (zero - lo) * (cand - pmin) / (hi - lo))
        if off < best_off:
            best, best_off = cand, off
    return pmin, best


def stream_descriptor(info: Mapping[str, Any] | None, stream: int) -> dict[str, Any]:
    for s in (info or {}).get("streams", []) or []:
        if isinstance(s, dict) and s.get("id") == stream:
            return s
    return {}


def _rate(desc: Mapping[str, Any], arrays: Mapping[str, np.ndarray], stream: int) -> float:
    rate = desc.get("rate_hz")
    if isinstance(rate, (int, float)) and rate > 0:
        return float(rate)
    raise SensorioError(
        f"stream {stream}: no rate_hz in the device descriptor, so EDF cannot place its samples in time"
    )


#: label prefixes that MNE's read_raw_edf/read_raw_bdf(infer_types=True) turn into channel types
MNE_TYPES = ("EEG", "SEEG", "ECOG", "DBS", "EOG", "ECG", "EMG", "BIO", "RESP", "TEMP", "MISC", "SAO2", "STIM")
#: edflib keeps at most this many bytes of an annotation's text (UTF-8),
#: cutting a longer one through a character
ANNOTATION_BYTES = 40
#: edflib keeps one annotation per annotation signal of a data record, and a
#: file has at most this many annotation signals: any more are left out
ANNOTATION_SIGNALS = 64


def signal_type(desc: Mapping[str, Any]) -> str:
    """The EDF channel type of a stream's signals: ``EMG`` for a stream in volts, else ``MISC``."""
    volts = volt_unit(str(desc.get("unit", ""))) is not None
    return "EMG" if volts and isinstance(desc.get("scale"), (int, float)) else "MISC"


def header_ascii(text: str) -> str:
    """text as an EDF/BDF header field holds it, printable ASCII (spaces kept): the
    micro sign (µ, or the Greek μ) as ``u``, accented letters as their base letter
    (NFKD: "Bíceps" -> "Biceps"), any other character ``_``. edflib turned each
    byte of the UTF-8 into ASCII of its own: "Bíceps" became "BA ceps", the
    channel MNE reads, while a fault's ``@@Bíceps`` named no channel of the file."""
    text = unicodedata.normalize("NFKD", text.replace("µ", "u").replace("μ", "u"))
    return "".join("_" if not 32 <= ord(c) < 127 else c for c in text if not unicodedata.combining(c))


def typed_label(kind: str, label: str) -> str:
    """``"<TYPE> <label>"`` (16 characters at most, ASCII as :func:`header_ascii`
    makes it), the label convention from which MNE infers channel types; a label
    that already starts with a type word stays."""
    label = header_ascii(label)
    first = label.split(" ", 1)[0]
    typed = label if " " in label and first.upper() in MNE_TYPES else f"{kind} {label}"
    # without the spaces a cut leaves at its end: readers strip them (MNE
    # read "EMG left_flexor " as the "EMG left_flexor" beside it)
    return typed[:16].rstrip()


def edf_unit(unit: str) -> str:
    """A unit as the 8-character ASCII header field holds it (:func:`header_ascii`):
    the micro sign (µ, or the Greek μ) as EDF's ``u``. edflib wrote the UTF-8 of "µV" as
    "AuV", a unit MNE does not know: it read the samples as volts, 1e6 too large.
    A voltage in its usual case (``uV``, ``mV``, ``V``): MNE read "uv" and "mv" as
    units it does not know, and so the samples as volts."""
    return volt_unit(unit) or header_ascii(unit)[:8]


def transducer(desc: Mapping[str, Any], kind: str) -> str:
    """The EDF transducer field (80 characters, ASCII as :func:`header_ascii` makes
    it): the descriptor's ``transducer`` when it has one, ``EMG electrode`` for a
    stream in volts, else the stream's name."""
    given = desc.get("transducer")
    if isinstance(given, str) and given:
        return header_ascii(given)[:80]
    return "EMG electrode" if kind == "EMG" else header_ascii(str(desc.get("name", "")))[:80]


def _check_depth(sid: int, lo: int, hi: int, bdf: bool) -> None:
    """Raise SensorioError when codes lo..hi do not fit the file's samples."""
    fmin, fmax = BDF_DIGITAL if bdf else EDF_DIGITAL
    if hi - lo > fmax - fmin:
        bits = math.ceil(math.log2(hi - lo + 1))
        # a .bdf only where it holds them (its advice sent 32-bit streams on to .bdf and back)
        instead = ".bdf" if not bdf and hi - lo <= BDF_DIGITAL[1] - BDF_DIGITAL[0] else ".npz or .csv"
        raise SensorioError(
            f"stream {sid} has {bits}-bit samples and {'BDF holds 24' if bdf else 'EDF holds 16'}: "
            f"export to {instead} instead"
        )


def check_depths(info: Mapping[str, Any] | None, bdf: bool) -> None:
    """The bit depth check of plan_signals on the streams whose descriptor
    gives their code range, before any pass over the recording (an int24
    recording exported to .edf failed after its analysis pass)."""
    for desc in (info or {}).get("streams", []) or []:
        # the range is the descriptor's only when it calibrates (without,
        # the file carries the codes seen, whatever range they span)
        cal = _calibration(desc) if isinstance(desc, Mapping) else None
        if cal is not None:
            _check_depth(int(desc.get("id", 0)), int(cal[2]), int(cal[3]), bdf)


def _calibration(desc: Mapping[str, Any]) -> tuple[Any, Any, Any, Any] | None:
    """A stream descriptor's (scale, zero, min_code, max_code) when they are
    numbers and the scale is not 0; None: it does not calibrate its codes."""
    cal = (desc.get("scale"), desc.get("zero", 0), desc.get("min_code"), desc.get("max_code"))
    if not all(isinstance(v, (int, float)) for v in cal) or cal[0] == 0:
        return None
    return cal


def plan_signals(
    streams: Mapping[int, Mapping[str, np.ndarray]],
    info: Mapping[str, Any] | None,
    bdf: bool,
    raw: bool = False,
) -> list[SignalPlan]:
    """One SignalPlan per channel: labels, units, rates, physical and digital ranges
    (raw: the physical value of every sample is its code, in unit "code")."""
    fmin, fmax = BDF_DIGITAL if bdf else EDF_DIGITAL
    plans: list[SignalPlan] = []
    all_labels: list[str] = []
    for sid, arrays in sorted(streams.items()):
        desc = stream_descriptor(info, sid)
        n_ch = int(arrays["samples"].shape[1])
        # as the file holds them: "Bíceps" and "Biceps" are one name there
        all_labels += [header_ascii(x) for x in channel_labels(desc.get("labels"), n_ch)]
    duplicated = len(set(all_labels)) != len(all_labels)
    k = 0
    for sid, arrays in sorted(streams.items()):
        desc = stream_descriptor(info, sid)
        kind = signal_type(desc)
        rate = _rate(desc, arrays, sid)
        samples = arrays["samples"]
        cal = _calibration(desc)
        if cal is None:
            # no calibration: the file carries raw codes in their observed range
            scale, zero, unit = 1.0, 0.0, "code"
            lo = int(samples.min()) if samples.size else 0
            hi = int(samples.max()) if samples.size else 1
            hi = max(hi, lo + 1)
        else:
            scale, zero, lo, hi = cal
            unit = str(desc.get("unit", ""))
        if raw:
            scale, zero, unit = 1.0, 0, "code"
        lo, hi, zero = int(lo), int(hi), float(zero)
        _check_depth(sid, lo, hi, bdf)
        shift = fmin - lo if lo < fmin or hi > fmax else 0
        fill = int(round(zero)) if lo <= zero <= hi else lo
        pmin, pmax = physical_range(lo, hi, zero, scale)
        for c in range(samples.shape[1]):
            label = all_labels[k]
            k += 1
            if duplicated:
                label = f"s{sid} {label}"
            plans.append(
                SignalPlan(
                    sid,
                    c,
                    typed_label(kind, label),
                    edf_unit(unit),
                    rate,
                    (pmin, pmax),
                    (lo + shift, hi + shift),
                    shift,
                    fill,
                    transducer(desc, kind),
                )
            )
    # labels alike only once cut to 16 characters ("EMG left_forearm" for
    # ..._flexor and ..._extensor) would name two signals the same, and a
    # fault's "@@" neither: those end in their signal's number in the file
    # instead (its channel's, for one stream; unique across streams too)
    cut = [p.label for p in plans]
    return [
        replace(p, label=f"{p.label[: 15 - len(str(i))]}~{i}") if cut.count(p.label) > 1 else p
        for i, p in enumerate(plans, 1)
    ]


def stream_offsets(
    streams: Mapping[int, Mapping[str, np.ndarray]],
    rates: Mapping[int, float],
    time_us: float | None = 1.0,
    clock_wrap: int = CLOCK_WRAP,
) -> dict[int, float]:
    """Seconds from the file start to each stream's first sample, from the device clock
    (streams of one device share it); 0 for all when a stream has no frame time or the
    unit of frame times is unknown. time_us: µs per unit of frame_t_us (Format.time_scale_us)."""
    firsts = {sid: int(a["frame_t_us"][0]) for sid, a in streams.items() if len(a["frame_t_us"])}
    if len(firsts) != len(streams) or not firsts or time_us is None:
        return {sid: 0.0 for sid in streams}
    ref = next(iter(firsts.values()))
    rel = {sid: clock_step(t, ref, clock_wrap) * time_us for sid, t in firsts.items()}
    if max(rel.values()) - min(rel.values()) > 10_000_000:
        return {sid: 0.0 for sid in streams}  # not one clock: do not invent an alignment
    base = min(rel.values())
    return {sid: (rel[sid] - base) / 1e6 for sid in streams}


#: the annotation over samples lost in a gap (zero in the file: EDF/BDF cannot hold NaN)
GAP_TEXT = "BAD_gap"
#: the annotation over a stream's zeros before its first sample or after its
#: last, where other streams of the file have data (followed by the stream)
NO_DATA_TEXT = "BAD_no_data"


def no_data_spans(
    leads: Mapping[int, int],
    lengths: Mapping[int, int],
    rates: Mapping[int, float],
    duration_s: float,
    frame_rows: Mapping[int, float],
) -> list[tuple[int, float, float]]:
    """(stream, onset s, duration s) of each stream's zeros where the file
    has time but the stream no sample: before it began (leads: its first
    sample's row on the file's axis) and after it ended (lengths: rows up to
    its last sample, gaps counted) while a longer stream went on, for more
    than a frame of it and of the longest-framed stream (frame_rows: samples
    per frame): streams started and stopped together begin and end a frame
    or so apart, no fault. A stream that stopped early must not read as a
    signal at zero."""
    frame_s = {sid: frame_rows[sid] / rates[sid] for sid in lengths}
    longest_frame = max(frame_s.values(), default=0.0)
    out = []
    for sid in sorted(lengths):
        rate, slack = rates[sid], frame_s[sid] + longest_frame
        if leads[sid] / rate > slack:
            out.append((sid, 0.0, leads[sid] / rate))
        end = lengths[sid] / rate
        if duration_s - end > slack:
            out.append((sid, end, duration_s - end))
    return out


def link_annotations(
    events: np.ndarray, resumed_rows: np.ndarray, rate_hz: float, offset_s: float, stream_name: str
) -> list[Annotation]:
    """Annotations for a stream's link events (rows where the stream resumed): a gap is
    ``BAD_gap`` over the lost samples (for every signal: MNE's reject-by-annotation
    leaves the span out), restarts, overflows and resyncs are instants naming the stream."""
    out = []
    for ev, row in zip(events, resumed_rows, strict=True):
        kind, at = int(ev["kind"]), offset_s + int(row) / rate_hz
        if kind == EV_GAP:
            dur = int(ev["lost_samples"]) / rate_hz
            out.append(Annotation(at - dur, dur, GAP_TEXT))
        elif kind == EV_RESTART:
            out.append(Annotation(at, None, f"device restart {stream_name}"))
        elif kind == EV_OVERFLOW:
            out.append(Annotation(at, None, f"receiver overflow {stream_name}: {int(ev['lost_bytes'])} bytes lost"))
        elif kind == EV_RESYNC:
            out.append(Annotation(at, None, f"resync {stream_name}: {int(ev['lost_bytes'])} bytes skipped"))
    return out


def fault_annotation(
    event: Any, labels: Mapping[tuple[int, int], str], offsets: Mapping[int, float], end_s: float
) -> Annotation:
    """An annotation for a sensor fault (a sensorio.dsp DspEvent or an object with the
    same fields: stream, channel, kind, start_s, end_s, optionally severity).

    A fault is ``BAD_fault_<kind>``, another severity ``<severity>_<kind>`` (a drift
    warning is not BAD); on one channel the text ends ``@@<channel>``, the convention
    by which MNE's EDF reader (and MNE's own EDF export) ties an annotation to a
    channel: ``labels`` gives the channel's name as MNE reads it with
    ``infer_types=True`` (the label without its type word). The channel is left off
    when the text would pass edflib's 40 bytes."""
    offset = offsets.get(event.stream, 0.0)
    stop = event.end_s if event.end_s is not None else end_s
    severity = str(getattr(event, "severity", "fault") or "fault")
    text = f"BAD_fault_{event.kind}" if severity == "fault" else f"{severity}_{event.kind}"
    label = labels.get((event.stream, event.channel)) if event.channel >= 0 else None
    if label and len(f"{text}@@{label}".encode()) <= ANNOTATION_BYTES:
        text = f"{text}@@{label}"
    return Annotation(offset + float(event.start_s), max(float(stop) - float(event.start_s), 0.0), text)


def write_edf(
    path: str | os.PathLike[str],
    streams: Mapping[int, Mapping[str, np.ndarray]],
    info: Mapping[str, Any] | None,
    *,
    faults: Iterable[Any] = (),
    markers: Iterable[Annotation] = (),
    start: datetime | None = None,
    overwrite: bool = False,
    file_type: str | None = None,
    time_us: float | None = 1.0,
    raw: bool = False,
    clock_wrap: int = CLOCK_WRAP,
) -> EdfSummary:
    """Write decoded streams (``sensorio.concat_blocks`` output: per stream
    ``samples``, ``frame_t_us``, ``events``) to EDF+ or BDF+.

    ``info``: the device INFO descriptor (calibration, rates, labels, units).
    ``faults``: sensor-fault events (sensorio.dsp DspEvent), times in seconds of
    their stream. ``markers``: more annotations, in seconds from the file start.
    ``file_type``: "edf" or "bdf" (default: by the suffix of path).
    ``clock_wrap``: where frame_t_us wraps (``Format.clock_modulus``).
    ``time_us``: µs per unit of the streams' frame_t_us (``Format.time_scale_us()``;
    None when unknown: the streams then all start with the file).
    ``raw``: physical = digital code (unit "code") instead of the calibrated range.
    The same writer as export_edf_stream, each stream one block.
    """
    pyedflib = _import_pyedflib()
    path, bdf = _output(path, file_type, overwrite)
    blocks = [_WholeStream(sid, a["samples"], a["frame_t_us"], a["events"]) for sid, a in sorted(streams.items())]
    tallies: dict[int, _StreamTally] = {}
    for _ in _tally(blocks, tallies):
        pass
    return _write_blocks(
        pyedflib, path, bdf, lambda: iter(blocks), tallies, info, list(faults), list(markers), start,
        overwrite=overwrite, time_us=time_us, raw=raw, clock_wrap=clock_wrap,
    )  # fmt: skip


def _output(path: str | os.PathLike[str], file_type: str | None, overwrite: bool) -> tuple[Path, bool]:
    """The output path and whether it is BDF (by file_type, else the suffix); refused when it exists."""
    path = Path(path)
    kind = (file_type or path.suffix.lstrip(".")).lower()
    if kind not in ("edf", "bdf"):
        raise SensorioError(f"cannot tell EDF from BDF for {path}: the name must end in .edf or .bdf")
    if path.exists() and not overwrite:
        raise SensorioError(Advice(f"{path} exists: choose another name or pass {{overwrite}}", overwrite=True))
    return path, kind == "bdf"


def _write_file(
    pyedflib: Any,
    path: Path,
    overwrite: bool,
    bdf: bool,
    plans: list[SignalPlan],
    records: Iterable[np.ndarray],
    annotations: list[Annotation],
    n_records: int,
    record_s: float,
    per_record: list[int],
    info: Mapping[str, Any] | None,
    start: datetime | None,
) -> None:
    """The EDF+/BDF+ file at path (atomically), its data records from records, then checked."""
    file_kind = pyedflib.FILETYPE_BDFPLUS if bdf else pyedflib.FILETYPE_EDFPLUS
    with atomic_output(path, overwrite=overwrite) as tmp:
        try:
            writer = pyedflib.EdfWriter(str(tmp), len(plans), file_type=file_kind)
        except OSError as exc:
            raise SensorioError(f"cannot write {path}: {exc}") from None
        try:
            with warnings.catch_warnings():
                # pyedflib warns when a record duration is forced, and measures physical
                # limits as str(float) when edf_number already made them fit the header
                warnings.simplefilter("ignore", UserWarning)
                _write(writer, path, plans, records, annotations, n_records, record_s, info, start)
        finally:
            writer.close()
        _check_written(tmp, path, len(plans), sum(per_record) * n_records, 3 if bdf else 2)


def _write(
    writer: Any,
    path: Path,
    plans: list[SignalPlan],
    records: Iterable[np.ndarray],
    annotations: list[Annotation],
    n_records: int,
    record_s: float,
    info: Mapping[str, Any] | None,
    start: datetime | None,
) -> None:
    device = dict(info or {})
    writer.setDatarecordDuration(record_s)
    writer.setSignalHeaders(
        [
            {
                "label": p.label,
                "dimension": p.unit,
                "sample_frequency": p.rate_hz,
                "physical_min": p.physical[0],
                "physical_max": p.physical[1],
                "digital_min": p.digital[0],
                "digital_max": p.digital[1],
                "transducer": p.transducer,
                "prefilter": "",
            }
            for p in plans
        ]
    )
    # EDF+ header subfields are separated by spaces: spaces inside one become "_"
    equipment = f"{device.get('device', 'unknown device')}_{device.get('serial', '')}".strip("_")
    writer.setEquipment(_header_text(equipment))
    writer.setRecordingAdditional(_header_text(f"sensorio_fw_{device.get('fw', '?')}"))
    # edflib stores one annotation per annotation signal and data record
    signals = math.ceil(len(annotations) / n_records) + 1
    writer.set_number_of_annotation_signals(min(ANNOTATION_SIGNALS, max(1, signals)))
    writer.setStartdatetime((start or datetime.now()).replace(microsecond=0))
    for r, record in enumerate(records):
        if writer.blockWriteDigitalSamples(record) < 0:
            raise SensorioError(
                f"cannot write {path}: data record {r} did not reach the file (is the disk full, "
                "or a file size limit reached?); nothing was written under that name"
            )
    for a in sorted(annotations, key=lambda a: a.onset_s):
        writer.writeAnnotation(max(a.onset_s, 0.0), -1 if a.duration_s is None else a.duration_s, a.text)


def _check_written(tmp: Path, path: Path, n_signals: int, n_samples: int, sample_bytes: int) -> None:
    """edflib reports no write error (a full disk, a size limit) when it closes
    the file: check that the file holds at least the header and every sample."""
    least = 256 * (n_signals + 2) + n_samples * sample_bytes  # + one annotation signal
    try:
        size = tmp.stat().st_size
    except OSError as exc:
        raise SensorioError(f"cannot write {path}: {exc.strerror or exc}") from None
    if size < least:
        raise SensorioError(
            f"cannot write {path}: only {size} of at least {least} bytes reached the disk "
            "(is it full, or a file size limit reached?); nothing was written under that name"
        )


def _header_text(text: str) -> str:
    """A header subfield (equipment, recording): ASCII, its spaces ``_`` (EDF+
    separates subfields by spaces), 80 characters at most."""
    return header_ascii(text).replace(" ", "_")[:80]


def fit_annotation_text(text: str) -> str:
    """text as the file can hold it: cut, between two characters, to the
    ANNOTATION_BYTES of UTF-8 that edflib keeps (it would cut through one)."""
    raw = text.encode()
    if len(raw) <= ANNOTATION_BYTES:
        return text
    return raw[:ANNOTATION_BYTES].decode(errors="ignore")


def _records_for(duration_s: float, record_s: float, rates: Iterable[float], n_annotations: int) -> tuple[float, int]:
    """The data records' length and count for duration_s of data: record_s,
    unless its records cannot hold n_annotations (ANNOTATION_SIGNALS each:
    edflib leaves any more out, silently); then the longest records shorter
    than it that still hold whole samples of every rate and are enough, or
    failing those, more records of record_s (zeros after the end of data,
    as the last record's tail)."""
    need = max(1, math.ceil(n_annotations / ANNOTATION_SIGNALS))
    n = max(1, math.ceil(duration_s / record_s - 1e-9))
    if n >= need:
        return record_s, n
    rates = list(rates)
    for k in range(2, 1001):
        short = record_s / k
        if short < 0.001:  # pyedflib's shortest record
            break
        ticks = short * 1e5  # (the header keeps it in 10 us)
        whole = [r * short for r in rates]
        if abs(ticks - round(ticks)) > 1e-6 or any(abs(w - round(w)) > 1e-6 or round(w) < 1 for w in whole):
            continue
        m = max(1, math.ceil(duration_s / short - 1e-9))
        if m >= need:
            return short, m
    return record_s, need


def _record_duration(rates: Iterable[float]) -> float:
    """The shortest data-record length (<= 1 s preferred) holding whole samples of every rate."""
    rates = list(rates)
    for record_s in (1.0, 2.0, 4.0, 5.0, 10.0, 20.0, 50.0, 60.0):
        if all(abs(r * record_s - round(r * record_s)) < 1e-6 for r in rates):
            return record_s
    raise SensorioError(f"rates {rates} do not fit whole EDF data records: export to .npz instead")


@dataclass(frozen=True)
class RowMarker(Annotation):
    """A marker that names the sample it belongs to (``sensorio train``'s
    gesture prompts: ``stream`` and ``row``, counting lost samples as the
    pipeline does): placed by that row, not by the host's clock (place_markers),
    where the file holds that stream; its onset is the host's meanwhile."""

    stream: int = 0
    row: int = 0


def place_markers(
    markers: Iterable[Annotation], rates: Mapping[int, float], offsets: Mapping[int, float]
) -> list[Annotation]:
    """The markers on the file's time axis: a RowMarker at its row of its
    stream (that stream's offset plus row / rate), the others as they are."""
    out: list[Annotation] = []
    for m in markers:
        if isinstance(m, RowMarker) and rates.get(m.stream):
            m = Annotation(offsets.get(m.stream, 0.0) + m.row / rates[m.stream], m.duration_s, m.text)
        out.append(m)
    return out


def recording_markers(path: str | os.PathLike[str]) -> tuple[list[Annotation], datetime | None]:
    """Marker, disconnect and connect events of a recording as annotations,
    and the wall-clock start of the recording. Host-timed ones are in seconds
    from the first bytes read once the file was made, which trail the first
    sample by the port's latency (the bytes of the handshake before it, kept
    too, came a second or more before the device streamed); a marker that
    names its row is a RowMarker (place_markers puts it on the file's axis)."""
    from ..recording import DataChunk, Event, RecordingReader

    if not RecordingReader.is_recording(path):
        return [], None
    reader = RecordingReader(path)
    first_ns: int | None = None
    earliest: int | None = None
    created = reader.header.get("created_ns")
    created_ns = int(created) if isinstance(created, int) and not isinstance(created, bool) else None
    notes: list[tuple[int, str, tuple[int, int] | None]] = []  # (t_ns, text, (stream, row))
    try:
        for item in reader.items():
            if isinstance(item, DataChunk) and first_ns is None:
                arrivals = [t for _, t in item.reads] or [item.t_ns]
                earliest = arrivals[0] if earliest is None else earliest
                first_ns = next((t for t in arrivals if created_ns is None or t >= created_ns), None)
            elif isinstance(item, Event) and item.kind in ("marker", "disconnect", "connect", "stall", "resume"):
                text = item.detail.get("text") if item.kind == "marker" else None
                label = f"marker {text}" if text else item.kind
                row, stream = item.detail.get("row"), item.detail.get("stream", 0)
                counted = item.kind == "marker" and _is_count(row) and _is_count(stream)
                at = (int(stream), int(row)) if counted and row is not None else None
                notes.append((item.t_ns, label, at))
    finally:
        reader.close()
    first_ns = first_ns if first_ns is not None else earliest
    if first_ns is None or earliest is None:
        return [], None
    annotations: list[Annotation] = []
    for t, text, at in notes:
        if t < earliest and at is None:
            continue
        onset = max((t - first_ns) / 1e9, 0.0)  # (the handshake's first connect: at the start)
        annotations.append(Annotation(onset, None, text) if at is None else RowMarker(onset, None, text, *at))
    return annotations, datetime.fromtimestamp(first_ns / 1e9)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class _StreamTally:
    """What the first pass learns of one stream: rows, channels, the code range,
    the first frame time and the link events (rows absolute, as concat_blocks)."""

    def __init__(self, block: Any) -> None:
        self.rows = 0
        self.channels = int(block.n_channels)
        self.lo: Any = None
        self.hi: Any = None
        self.first_t: np.ndarray = block.frame_t_us[:0]
        self.events: list[np.ndarray] = []
        self.frames = 0

    def add(self, block: Any) -> None:
        if block.samples.size:
            lo, hi = block.samples.min(), block.samples.max()
            self.lo = lo if self.lo is None else min(self.lo, lo)
            self.hi = hi if self.hi is None else max(self.hi, hi)
        if not self.first_t.size and block.frame_t_us.size:
            self.first_t = block.frame_t_us[:1].copy()
        ev = block.events.copy()
        ev["row"] += np.uint32(block.first_row)
        self.events.append(ev)
        self.rows += len(block)
        self.frames += int(block.frame_t_us.size)

    def arrays(self) -> dict[str, np.ndarray]:
        """Stand-ins for concat_blocks' arrays that plan_signals and stream_offsets
        read: two rows holding the code range, the first frame time, the events."""
        if self.lo is None:
            samples = np.zeros((0, self.channels), dtype=np.int64)
        else:
            samples = np.array([[self.lo] * self.channels, [self.hi] * self.channels])
        return {"samples": samples, "frame_t_us": self.first_t, "events": np.concatenate(self.events)}


#: _FilledStream.take makes at most about this many values at once (rows x channels)
TAKE_VALUES = 1 << 20


class _FilledStream:
    """One stream's codes as the file holds them (the lead before its first
    sample and the samples lost in gaps as physical zero), produced block by
    block and taken out in data-record pieces.
    Rows of physical zero (the lead, gaps, the padding at the end) are held
    as counts and made only when taken, so a long gap costs no memory."""

    def __init__(self, plan: SignalPlan, channels: int, lead: int, events: np.ndarray, spr: int) -> None:
        self.fill = plan.fill_code
        self.low, self.high, self.shift = plan.digital[0] - plan.shift, plan.digital[1] - plan.shift, plan.shift
        self.channels = channels
        self.spr = spr
        gaps = events[events["kind"] == EV_GAP]
        self.gaps = [(int(r), int(n)) for r, n in zip(gaps["row"], gaps["lost_samples"], strict=True) if n]
        self.pos = 0  # rows of the stream's samples seen
        self.rows = 0  # rows of the filled stream so far (samples and fill)
        #: rows not yet taken, in order: sample arrays, or counts of fill rows
        self.parts: deque[np.ndarray | int] = deque()
        self.held = 0
        if lead:
            self._fill(lead)

    def _fill(self, n: int) -> None:
        self.parts.append(n)
        self.held += n
        self.rows += n

    def _samples(self, samples: np.ndarray) -> None:
        if samples.shape[0]:
            self.parts.append(samples)
            self.held += samples.shape[0]
            self.rows += samples.shape[0]

    def add(self, samples: np.ndarray) -> None:
        start, end = self.pos, self.pos + samples.shape[0]
        cut = start
        while self.gaps and self.gaps[0][0] < end:
            r, n = self.gaps.pop(0)
            r = max(r, cut)
            self._samples(samples[cut - start : r - start])
            self._fill(n)
            cut = r
        self._samples(samples[cut - start :])
        self.pos = end

    def finish(self, total: int) -> None:
        """The gaps at the very end, then physical zero up to total rows in all."""
        for _, n in self.gaps:
            self._fill(n)
        self.gaps = []
        if total > self.rows:
            self._fill(total - self.rows)

    def records(self) -> int:
        return self.held // self.spr

    def per_take(self) -> int:
        """How many records take() makes at once, at most (bounded memory)."""
        return max(1, TAKE_VALUES // max(1, self.spr * self.channels))

    def take(self, n_records: int) -> np.ndarray:
        """The next n_records records' values, (n_records, channels * spr): channel by channel."""
        rows = n_records * self.spr
        out = np.empty((rows, self.channels), dtype=np.int32)
        at = 0
        while at < rows:
            part = self.parts[0]
            n = min(part if isinstance(part, int) else part.shape[0], rows - at)
            if isinstance(part, int):
                out[at : at + n] = int(np.clip(self.fill, self.low, self.high)) + self.shift
                rest: np.ndarray | int = part - n
            else:
                out[at : at + n] = np.clip(part[:n].astype(np.int64), self.low, self.high) + self.shift
                rest = part[n:]
            if isinstance(rest, int) and rest or not isinstance(rest, int) and rest.shape[0]:
                self.parts[0] = rest
            else:
                self.parts.popleft()
            at += n
        self.held -= rows
        return out.reshape(n_records, self.spr, self.channels).transpose(0, 2, 1).reshape(n_records, -1)


class _WholeStream:
    """A stream's decoded arrays as one block (what the writer reads of a Block)."""

    def __init__(self, stream: int, samples: np.ndarray, frame_t_us: np.ndarray, events: np.ndarray) -> None:
        self.stream = stream
        self.samples = samples
        self.frame_t_us = frame_t_us
        self.events = events
        self.first_row = 0
        self.n_channels = int(samples.shape[1])

    def __len__(self) -> int:
        return int(self.samples.shape[0])


def _tally(blocks: Iterable[Any], tallies: dict[int, _StreamTally]) -> Iterator[Any]:
    """The blocks, each counted into its stream's tally as it passes."""
    for b in blocks:
        t = tallies.get(b.stream)
        if t is None:
            t = tallies[b.stream] = _StreamTally(b)
        t.add(b)
        yield b


def export_edf_stream(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    open_blocks: Callable[[], Iterator[Any]],
    info: Mapping[str, Any] | None,
    *,
    faults: bool = True,
    overwrite: bool = False,
    time_us: float | None = 1.0,
    raw: bool = False,
    calibration: Calibration | None = None,
    analyse: Callable[[Iterator[Any]], Iterable[Any]] | None = None,
    clock_wrap: int = CLOCK_WRAP,
) -> EdfSummary:
    """Decoded Blocks of a recording (or raw dump) to EDF+/BDF+ in bounded
    memory, with sensor faults found by sensorio.dsp and the recording's
    markers as annotations (time_us, raw, clock_wrap: see write_edf), from two passes
    over the Blocks (``open_blocks()`` gives a new iterator over them each
    time). The first finds the code ranges, gaps and (faults) the sensor
    faults, with the analysis run block by block; the second writes the data
    records as the Blocks come. calibration: the user calibration the
    recording was made with (Calibration.of_recording), which the fault
    detection applies as ``sensorio analyze`` does (not read when analyse
    is given: that analysis applies its own). analyse: the first
    pass's analysis instead, given its Blocks as they come, returning the
    events to annotate, for a caller that needs more of the
    analysis than the events (the BIDS export) and must not read the
    recording a third time for it."""
    pyedflib = _import_pyedflib()
    path, bdf = _output(output, None, overwrite)
    tallies: dict[int, _StreamTally] = {}
    found: list[Any] = []
    if faults and info is not None:
        blocks = _tally(open_blocks(), tallies)
        with warnings.catch_warnings():
            # the analysis only finds events: its notch's start-up choice
            # ("no mains hum found ...: notching 50 Hz") filters no sample of the file
            warnings.filterwarnings("ignore", message="no mains hum found")
            if analyse is None:
                from ..workflows.analyze import analyze_blocks

                with np.errstate(all="ignore"):
                    # only the events: the overview goes before the data records are written
                    events = analyze_blocks(blocks, info, overview=True, calibration=calibration).events
            else:
                events = list(analyse(blocks))
        found = [ev for ev in events if ev.kind != "dropout"]
    else:
        for _ in _tally(open_blocks(), tallies):
            pass
    markers, start = recording_markers(source)
    return _write_blocks(
        pyedflib, path, bdf, open_blocks, tallies, info, found, markers, start,
        overwrite=overwrite, time_us=time_us, raw=raw, clock_wrap=clock_wrap,
    )  # fmt: skip


def _write_blocks(
    pyedflib: Any,
    path: Path,
    bdf: bool,
    open_blocks: Callable[[], Iterator[Any]],
    tallies: Mapping[int, _StreamTally],
    info: Mapping[str, Any] | None,
    faults: list[Any],
    markers: list[Annotation],
    start: datetime | None,
    *,
    overwrite: bool,
    time_us: float | None,
    raw: bool,
    clock_wrap: int,
) -> EdfSummary:
    """The file from the streams' tallies (ranges, gaps, first times), the
    annotations, and the data records as ``open_blocks()`` gives the Blocks
    again: gaps filled with physical zero, each stream placed on the file's
    time axis, the tail padded to whole records (the annotations say where
    data ends)."""
    streams = {sid: t.arrays() for sid, t in sorted(tallies.items()) if t.rows}
    if not streams:
        raise SensorioError("no samples to export")
    plans = plan_signals(streams, info, bdf, raw)
    rates = {p.stream: p.rate_hz for p in plans}
    offsets = stream_offsets(streams, rates, time_us, clock_wrap)
    annotations: list[Annotation] = []
    lengths: dict[int, int] = {}
    leads: dict[int, int] = {}
    for sid, arrays in streams.items():
        name = str(stream_descriptor(info, sid).get("name", f"stream {sid}"))
        ev = arrays["events"]
        lost = np.where(ev["kind"] == EV_GAP, ev["lost_samples"].astype(np.int64), 0)
        resumed = ev["row"].astype(np.int64) + np.cumsum(lost)
        leads[sid] = int(round(offsets[sid] * rates[sid]))
        lengths[sid] = leads[sid] + tallies[sid].rows + int(lost.sum())
        annotations += link_annotations(ev, resumed, rates[sid], offsets[sid], f"s{sid} {name}")
    duration = max(lengths[sid] / rates[sid] for sid in streams)
    frame_rows = {sid: tallies[sid].rows / max(1, tallies[sid].frames) for sid in streams}
    no_data = no_data_spans(leads, lengths, rates, duration, frame_rows)
    for sid, onset, span in no_data:
        name = str(stream_descriptor(info, sid).get("name", f"stream {sid}"))
        annotations.append(Annotation(onset, span, f"{NO_DATA_TEXT} s{sid} {name}"))
    # annotations name a channel as MNE does after reading the type off "EMG emg1": "emg1"
    labels = {(p.stream, p.channel): p.label.strip().split(" ", 1)[-1] for p in plans}
    annotations += [fault_annotation(ev, labels, offsets, duration) for ev in faults]
    annotations += place_markers(markers, rates, offsets)
    annotations.append(Annotation(duration, None, "end of data"))
    fitted = [replace(a, text=fit_annotation_text(a.text)) for a in annotations]
    cut = sum(a.text != f.text for a, f in zip(annotations, fitted, strict=True))
    annotations = fitted
    record_s, n_records = _records_for(duration, _record_duration(rates.values()), rates.values(), len(annotations))
    per_record = [int(round(p.rate_hz * record_s)) for p in plans]
    first_plan: dict[int, SignalPlan] = {}
    for p in plans:
        first_plan.setdefault(p.stream, p)
    filled = {
        sid: _FilledStream(
            first_plan[sid], tallies[sid].channels, leads[sid], streams[sid]["events"], round(rates[sid] * record_s)
        )
        for sid in streams
    }

    def records() -> Iterator[np.ndarray]:
        done = 0

        def ready() -> Iterator[np.ndarray]:
            nonlocal done
            step = min(f.per_take() for f in filled.values())
            while (n := min(step, n_records - done, *(f.records() for f in filled.values()))) > 0:
                pieces = [filled[sid].take(n) for sid in sorted(filled)]
                for r in range(n):
                    yield np.concatenate([piece[r] for piece in pieces])
                done += n

        for b in open_blocks():
            f = filled.get(b.stream)
            if f is not None:
                f.add(b.samples)
                yield from ready()
        for f in filled.values():
            f.finish(n_records * f.spr)
        yield from ready()

    _write_file(
        pyedflib, path, overwrite, bdf, plans, records(), annotations, n_records, record_s, per_record, info, start
    )
    return EdfSummary(path, "BDF+" if bdf else "EDF+", len(plans), len(annotations), duration, tuple(no_data), cut)
