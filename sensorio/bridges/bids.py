"""A recording as BIDS-EMG (the EMG datatype of BIDS 1.11, BEP042).

``export_bids(recording, root, subject=..., task=...)`` writes, under
``root/sub-<S>[/ses-<X>]/emg/``:

- ``..._emg.bdf``: BDF+ through sensorio's own BDF export (every channel of
  every stream, raw calibrated samples, annotations for gaps, faults, markers);
- ``..._emg.json``: TaskName, SamplingFrequency (the EMG stream's rate),
  PowerLineFrequency (the mains found in the EMG, else ``"n/a"``, or the
  caller's value), SoftwareFilters (``"n/a"``: the file holds unfiltered
  samples), EMGPlacementScheme / EMGPlacementSchemeDescription and
  EMGReference (the caller's options, else the device INFO's ``placement_scheme``,
  ``placement_description`` and ``reference``, else ``"Other"`` with a
  description saying it was not recorded, and ``"n/a"``), RecordingType,
  channel count, duration, and the device's maker, model, serial and firmware;
- ``..._channels.tsv``: name (as in the BDF), type (EMG for voltage streams,
  MISC otherwise), units, sampling_frequency, status (``bad`` where sensorio's
  fault detection ends the recording with the channel faulty, or masks at
  least half of its samples) and status_description (the fault kinds and the
  share of samples they cover);
- ``..._events.tsv`` (+ ``.json``): gaps (``BAD_gap``), sensor faults
  (``BAD_fault_<kind>`` with its channel; drift warnings ``warning_<kind>``),
  device restarts and overflows, and the recording's markers;
- ``dataset_description.json``, ``participants.tsv`` and ``README`` at the
  root when missing (an existing dataset gets the subject added).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..descriptor import channel_labels, volt_unit
from ..errors import Advice, SensorioError, UsageError, input_clash
from ..faultkinds import check_mains_hz

#: the BIDS version whose EMG datatype this writes
BIDS_VERSION = "1.11.0"
PLACEMENT_SCHEMES = ("ChannelSpecific", "Measured", "Other")
#: a channel is bad when faults mask at least this share of its samples
BAD_SHARE = 0.5
#: seconds of EMG the mains detector listens to
MAINS_LISTEN_S = 30.0
#: channels of the mains window read back at a time
MAINS_GROUP = 2


@dataclass
class BidsSummary:
    """What export_bids wrote."""

    data: Path
    sidecar: Path
    channels: Path
    events: Path
    bad_channels: list[str] = field(default_factory=list)
    power_line_hz: float | None = None
    n_events: int = 0
    #: per TSV file (``events.tsv``, ``channels.tsv``), how many cells had a tab
    #: or line break, written as spaces (a cell cannot hold them); files with none left out
    respaced: dict[str, int] = field(default_factory=dict)


def _label(kind: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not re.fullmatch(r"[A-Za-z0-9]+", value):
        raise UsageError(f"BIDS {kind} label {value!r}: letters and digits only")
    return value


#: the characters a BIDS TSV cell cannot hold (they end the cell or the row), as spaces
_BREAKS = str.maketrans({"\t": " ", "\n": " ", "\r": " "})


def _tsv(rows: list[dict[str, Any]], columns: list[str]) -> tuple[str, int]:
    """A BIDS TSV table, and how many of its cells had a tab or line break
    (each written as a space: the export says how many).

    A cell is its text as it is, no CSV quoting (csv.writer doubled a text's
    quotes and put it in quotes, a text no BIDS reader gives back); with no
    tab left in it the spec's quoting of values with tabs never applies. None is
    ``n/a``; a text that is literally ``n/a`` stays so: it is the user's
    text, and a BIDS reader takes it for "no value", as it does a marker
    without text."""
    lines = ["\t".join(columns)]
    changed = 0
    for r in rows:
        cells = ["n/a" if r.get(c) is None else _cell(r[c]) for c in columns]
        flat = [c.translate(_BREAKS) for c in cells]
        changed += sum(a != b for a, b in zip(cells, flat, strict=True))
        lines.append("\t".join(flat))
    return "\n".join(lines) + "\n", changed


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6f}".rstrip("0").rstrip(".") if np.isfinite(v) else "n/a"
    return str(v)


def _bids_unit(unit: str) -> str:
    u = unit.strip()
    if not u or u.lower() == "code":
        return "n/a"
    return volt_unit(u) or {"deg": "deg"}.get(u.lower(), u)


class _StreamGather:
    """What the BIDS files need of one stream beyond the analysis' overview,
    gathered block by block while the analysis runs (analyze_blocks' tap):
    how many samples arrived (rows not all NaN), per channel how many of
    them the mask leaves out (fault detection's, else the calibration's),
    and the first MAINS_LISTEN_S seconds of the calibrated signal with its
    mask for the mains detector (the signal in a temporary file: 30 s of 64
    channels at 16 kHz are 245 MB of float64)."""

    def __init__(self, roles: tuple[str, ...], listen: bool) -> None:
        self.faults = "faults" in roles
        self.listen = listen
        self.seen = 0
        self.masked: dict[str, np.ndarray] = {}  # by role: "raw", "faults"
        #: which rows arrived, per raw block, until fault detection has passed them
        self.pending: deque[tuple[int, np.ndarray]] = deque()
        self.end = 0
        self.rate_hz = 0.0
        self.window: Any = None  # a temporary file
        self.window_seen: np.ndarray | None = None
        self.window_valid: np.ndarray | None = None

    def __call__(self, role: str, block: Any) -> None:
        if role not in ("raw", "faults") or not len(block):
            return
        if role == "raw":
            seen = ~np.isnan(block.data).all(axis=1)
            self.seen += int(seen.sum())
            if self.faults:
                self.pending.append((block.start, seen))
            self.end = max(self.end, block.start + len(block))
            self.rate_hz = block.rate_hz
        else:
            seen = self._seen(block.start, len(block))
        count = (~block.valid[seen]).sum(axis=0).astype(np.int64)
        self.masked[role] = self.masked[role] + count if role in self.masked else count
        if self.listen:
            self._listen(role, block)

    def _seen(self, start: int, n: int) -> np.ndarray:
        """Which of the rows start..start+n arrived (as the raw blocks had them)."""
        out = np.zeros(n, dtype=bool)
        while self.pending:
            s, bits = self.pending[0]
            e = s + bits.shape[0]
            if s >= start + n:
                break
            a, b = max(s, start), min(e, start + n)
            if b > a:
                out[a - start : b - start] = bits[a - s : b - s]
            if e > start + n:
                break
            self.pending.popleft()
        return out

    def _listen(self, role: str, block: Any) -> None:
        """The first MAINS_LISTEN_S seconds, the signal in a temporary file
        (channels in groups, each group's rows together), the mask here."""
        rows = int(MAINS_LISTEN_S * block.rate_hz)
        if block.start >= rows:
            return
        if self.window is None:
            self.window = tempfile.TemporaryFile(prefix="sensorio-mains-")
            self.window.truncate(8 * rows * block.n_channels)
            self.window_seen = np.zeros(rows, dtype=bool)
            self.window_valid = np.zeros((rows, block.n_channels), dtype=bool)
        assert self.window_seen is not None and self.window_valid is not None
        n = min(len(block), rows - block.start)
        at = slice(block.start, block.start + n)
        if role == "raw":
            data = block.data[:n]
            self.window_seen[at] = ~np.isnan(data).all(axis=1)
            for g in range(0, data.shape[1], MAINS_GROUP):
                part = np.ascontiguousarray(data[:, g : g + MAINS_GROUP], dtype=np.float64)
                self.window.seek(8 * (rows * g + block.start * part.shape[1]))
                self.window.write(part.tobytes())
        if role == "faults" or not self.faults:
            self.window_valid[at] = block.valid[:n]  # fault detection's mask, where there is one

    def masked_share(self) -> np.ndarray | None:
        """Per channel, the share of the arrived samples that the mask leaves out."""
        masked = self.masked.get("faults" if self.faults else "raw")
        return None if masked is None else masked / max(self.seen, 1)

    def mains(self) -> float | None:
        """The mains in the first MAINS_LISTEN_S seconds, samples masked as
        faulty left out (a lifted electrode's swings would drown the hum):
        detect_mains' verdict, its spectrum added up group by group."""
        if self.window is None or self.window_seen is None or self.window_valid is None:
            return None
        from ..dsp.filters import mains_in_power, mains_power, mains_segment

        rows, channels = self.window_valid.shape
        n = min(self.end, rows)
        seen = self.window_seen[:n]
        if seen.sum() < self.rate_hz * 0.5:
            return None
        spec: np.ndarray | None = None
        segment = mains_segment(int(seen.sum()), self.rate_hz)
        for g in range(0, channels, MAINS_GROUP):
            w = min(MAINS_GROUP, channels - g)
            self.window.seek(8 * rows * g)
            part = np.frombuffer(self.window.read(8 * rows * w), dtype=np.float64).reshape(rows, w)[:n][seen]
            power = mains_power(part, np.isfinite(part) & self.window_valid[:n, g : g + w][seen], segment)
            spec = power if spec is None else spec + power
        assert spec is not None
        return mains_in_power(spec, segment, self.rate_hz)[0]

    def close(self) -> None:
        """Forget the mains window (its temporary file goes)."""
        if self.window is not None:
            self.window.close()
        self.window = self.window_seen = self.window_valid = None


def _health_rows(sa: Any, events: list[Any], masked_share: np.ndarray | None) -> list[tuple[str, str | None]]:
    """(status, description) per channel of a StreamAnalysis (masked_share: _StreamGather.masked_share)."""
    n_ch = sa.raw.shape[1]
    out = []
    for c in range(n_ch):
        masked = float(masked_share[c]) if masked_share is not None and masked_share.shape[0] > c else 0.0
        kinds = sorted(
            {
                ev.kind
                for ev in events
                if ev.stream == sa.stream and ev.channel == c and ev.severity == "fault" and ev.kind != "dropout"
            }
        )
        health = sa.health[c] if c < len(sa.health) else {}
        faulty_end = health.get("state") == "faulty"
        bad = faulty_end or masked >= BAD_SHARE
        parts = []
        if kinds:
            parts.append(f"sensorio fault detection: {', '.join(kinds)} on {masked:.0%} of the samples")
        if faulty_end:
            parts.append(f"faulty at the end of the recording ({', '.join(health.get('kinds', [])) or '?'})")
        out.append(("bad" if bad else "good", "; ".join(parts) or None))
    return out


def _read_back_labels(path: Path) -> list[str]:
    """The signal labels as the BDF file holds them (channels.tsv must name them alike)."""
    import pyedflib

    with pyedflib.EdfReader(str(path)) as f:
        return [s.strip() for s in f.getSignalLabels()]


def export_bids(
    recording: str | os.PathLike[str],
    root: str | os.PathLike[str],
    *,
    subject: str,
    task: str,
    session: str | None = None,
    run: int | None = None,
    format: str | None = None,  # noqa: A002 - as elsewhere in sensorio
    placement_scheme: str | None = None,
    placement_description: str | None = None,
    reference: str | None = None,
    power_line_hz: float | None = None,
    overwrite: bool = False,
) -> BidsSummary:
    """Write one recording into a BIDS-EMG dataset at root (see the module docstring)."""
    from ..export.edf import NO_DATA_TEXT, export_edf_stream, place_markers, recording_markers, stream_offsets
    from ..recording import BlockStream, lookahead_info
    from ..workflows.analyze import analyze_blocks

    subject = _label("subject", subject) or ""
    task = _label("task", task) or ""
    session = _label("session", session)
    if run is not None and run < 0:
        raise UsageError(f"BIDS run {run}: must be a non-negative integer")
    if power_line_hz is not None:
        try:
            check_mains_hz(power_line_hz)
        except ValueError as exc:
            raise UsageError(f"power line frequency: {exc}") from None
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise SensorioError(f"{root} exists and is not a directory")
    recording = Path(recording)
    with BlockStream(recording, format) as bs:
        head, found_info = lookahead_info(iter(bs), bs)
        header = bs.header
        time_us = bs.parser.format.time_scale_us()
        clock_wrap = bs.parser.format.clock_modulus
    if not head:
        raise SensorioError(f"{recording}: no samples decoded, nothing to export")
    del head
    info: dict[str, Any] = dict(found_info or {})

    scheme = placement_scheme or info.get("placement_scheme") or "Other"
    if scheme not in PLACEMENT_SCHEMES:
        raise UsageError(f"EMG placement scheme {scheme!r}: one of {', '.join(PLACEMENT_SCHEMES)}")
    description = placement_description or info.get("placement_description")
    if scheme == "Other" and not description:
        description = "not recorded (give sensorio export --placement-description)"
    ref = reference or info.get("reference") or "n/a"

    # sensorio's analysis: faults, health, gaps, mains
    from ..dsp.calibrate import Calibration

    calibration = Calibration.of_recording(header, recording)
    # block by block: the analysis keeps an overview, the gatherers what the files need besides
    gather: dict[int, _StreamGather] = {}
    streams: dict[int, tuple[int, int, np.ndarray]] = {}  # rows, channels, the first frame time

    def tap(sid: int, roles: tuple[str, ...]) -> Any:
        gather[sid] = _StreamGather(roles, listen=power_line_hz is None)
        return gather[sid]

    def counted(blocks: Iterator[Any]) -> Iterator[Any]:
        for b in blocks:
            rows, _, first_t = streams.get(b.stream, (0, b.n_channels, b.frame_t_us[:0]))
            if not first_t.size and b.frame_t_us.size:
                first_t = b.frame_t_us[:1].copy()
            streams[b.stream] = (rows + len(b), b.n_channels, first_t)
            yield b

    def open_blocks() -> Any:  # the BDF export's two passes
        with BlockStream(recording, format) as stream:
            yield from stream

    analysed: list[tuple[Any, Any, float | None]] = []  # the analysis, its main stream, the mains

    def analyse(blocks: Iterator[Any]) -> list[Any]:
        """The BDF export's first pass: the analysis, whose events are the
        file's annotations and events.tsv alike (one fault detection, one
        reading for both)."""
        with np.errstate(all="ignore"):
            analysis = analyze_blocks(counted(blocks), info, calibration=calibration, overview=True, tap=tap)
        emg = [sa for sa in analysis.streams.values() if volt_unit(sa.unit) is not None]
        main = emg[0] if emg else analysis.streams[min(analysis.streams)]
        mains = power_line_hz if power_line_hz is not None else (gather[main.stream].mains() if emg else None)
        for g in gather.values():
            g.close()  # its temporary file, before the data records are written
        analysed.append((analysis, main, mains))
        return analysis.events

    parts = [f"sub-{subject}"] + ([f"ses-{session}"] if session else []) + [f"task-{task}"]
    if run is not None:
        parts.append(f"run-{run}")
    stem = "_".join(parts)
    folder = root / f"sub-{subject}" / (f"ses-{session}" if session else "") / "emg"
    data = folder / f"{stem}_emg.bdf"
    outputs = {
        "sidecar": folder / f"{stem}_emg.json",
        "channels": folder / f"{stem}_channels.tsv",
        "events": folder / f"{stem}_events.tsv",
        "events_json": folder / f"{stem}_events.json",
    }
    for p in [data, *outputs.values()]:
        clash = input_clash(p, [recording])
        if clash:  # (--force or not: the recording was gone)
            raise UsageError(clash)
        if p.exists() and not overwrite:
            raise SensorioError(Advice(f"{p} exists: choose another run or pass {{overwrite}}", overwrite=True))
    created = [d for d in (folder, *folder.parents) if not d.exists()]
    written: list[Path] = [p for p in [data, *outputs.values()] if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        done = export_edf_stream(
            recording,
            data,
            open_blocks,
            info,
            faults=True,
            overwrite=overwrite,
            time_us=time_us,
            analyse=analyse,
            clock_wrap=clock_wrap,
        )
        analysis, main, mains = analysed[0]
        names = _read_back_labels(data)

        # channels.tsv, in the file's signal order (streams by id, channels in order)
        rows: list[dict[str, Any]] = []
        k = 0
        bad: list[str] = []
        for sid in sorted(sid for sid, (n, _, _) in streams.items() if n):
            sa = analysis.streams.get(sid)
            desc = next((s for s in info.get("streams", []) if isinstance(s, dict) and s.get("id") == sid), {})
            unit = str(desc.get("unit", "")) if isinstance(desc.get("scale"), (int, float)) else "code"
            volts = volt_unit(unit) is not None
            n_ch = streams[sid][1]
            shares = gather[sid].masked_share() if sid in gather else None
            health = _health_rows(sa, analysis.events, shares) if sa is not None else [("good", None)] * n_ch
            for c in range(n_ch):
                name = names[k] if k < len(names) else f"s{sid} {channel_labels(None, c + 1)[c]}"
                k += 1
                status, why = health[c]
                if status == "bad":
                    bad.append(name)
                rows.append(
                    {
                        "name": name,
                        "type": "EMG" if volts else "MISC",
                        "units": _bids_unit(unit),
                        "sampling_frequency": float(desc.get("rate_hz") or 0) or None,
                        "reference": ref if volts else None,
                        "status": status,
                        "status_description": why,
                    }
                )
        columns = ["name", "type", "units", "sampling_frequency", "reference", "status", "status_description"]

        # events.tsv: seconds from the start of the file
        rates = {sid: sa.source_rate_hz for sid, sa in analysis.streams.items()}
        offsets = stream_offsets(
            {s: {"frame_t_us": t} for s, (_, _, t) in streams.items() if s in rates}, rates, time_us, clock_wrap
        )
        label_of = {}
        k = 0
        for r in rows:
            label_of[k] = r["name"]
            k += 1
        first = {sid: sum(streams[s][1] for s in sorted(streams) if s < sid) for sid in streams}
        events: list[dict[str, Any]] = []
        for sid, sa in analysis.streams.items():
            off = offsets.get(sid, 0.0)
            for start, stop in sa.gaps_s:
                events.append(
                    {
                        "onset": off + max(start, 0.0),
                        "duration": max(stop - max(start, 0.0), 0.0),
                        "trial_type": "BAD_gap",
                        "channel": None,
                        "stream": sid,
                    }
                )
        end_s = done.duration_s
        # a stream's zeros where it had not begun or had ended: the BDF's own spans
        for sid, onset, span in done.no_data:
            events.append(
                {"onset": onset, "duration": span, "trial_type": NO_DATA_TEXT, "channel": None, "stream": sid}
            )
        for ev in analysis.events:
            if ev.kind == "dropout":
                continue  # a gap, listed above
            off = offsets.get(ev.stream, 0.0)
            stop = ev.end_s if ev.end_s is not None else end_s - off
            kind = f"BAD_fault_{ev.kind}" if ev.severity == "fault" else f"{ev.severity}_{ev.kind}"
            chan = label_of.get(first.get(ev.stream, 0) + ev.channel) if ev.channel >= 0 else None
            events.append(
                {
                    "onset": off + float(ev.start_s),
                    "duration": max(float(stop) - float(ev.start_s), 0.0),
                    "trial_type": kind,
                    "channel": chan,
                    "stream": ev.stream,
                }
            )
        markers, _ = recording_markers(recording)
        for m in place_markers(markers, rates, offsets):
            kind, _, text = m.text.partition(" ")
            events.append(
                {"onset": m.onset_s, "duration": m.duration_s or 0.0, "trial_type": kind, "value": text or None}
            )
        events.sort(key=lambda e: (e["onset"], e["trial_type"]))
        ev_columns = ["onset", "duration", "trial_type", "channel", "value", "stream"]

        sidecar = {
            "TaskName": task,
            "SamplingFrequency": main.source_rate_hz,
            "PowerLineFrequency": mains if mains is not None else "n/a",
            "SoftwareFilters": "n/a",
            "EMGPlacementScheme": scheme,
            **({"EMGPlacementSchemeDescription": description} if description else {}),
            "EMGReference": ref,
            "RecordingType": "continuous",
            "RecordingDuration": round(done.duration_s, 6),
            "EMGChannelCount": sum(1 for r in rows if r["type"] == "EMG"),
            "Manufacturer": str(info.get("manufacturer") or "n/a"),
            "ManufacturersModelName": str(info.get("device") or "n/a"),
            "DeviceSerialNumber": str(info.get("serial") or "n/a"),
            "SoftwareVersions": f"firmware {info.get('fw', 'n/a')}; sensorio {__version__}",
            "HardwareFilters": "n/a",
        }
        if isinstance(info.get("ground"), str):
            sidecar["EMGGround"] = info["ground"]
        events_json = {
            "trial_type": {
                "Description": "What happened (sensorio's name for it)",
                "Levels": {t: _level(t) for t in sorted({e["trial_type"] for e in events})},
            },
            "channel": {"Description": "The channel the event concerns (n/a: every channel)"},
            "value": {"Description": "The text of a marker"},
            "stream": {"Description": "The sensorio device stream the event concerns"},
        }
        channels_tsv, respaced_channels = _tsv(rows, columns)
        events_tsv, respaced_events = _tsv(events, ev_columns)
        respaced = {k: n for k, n in (("events.tsv", respaced_events), ("channels.tsv", respaced_channels)) if n}
        texts = {
            "sidecar": json.dumps(sidecar, indent=2) + "\n",
            "channels": channels_tsv,
            "events": events_tsv,
            "events_json": json.dumps(events_json, indent=2) + "\n",
        }
        for key, text in texts.items():
            outputs[key].write_text(text, encoding="utf-8")
        _dataset_files(root, subject, written)
    except BaseException:
        for g in gather.values():
            g.close()
        # a failed export leaves nothing behind: the files it made, then the folders
        for p in written:
            p.unlink(missing_ok=True)
        for d in sorted(created, key=lambda d: len(d.parts), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass
        raise
    return BidsSummary(
        data, outputs["sidecar"], outputs["channels"], outputs["events"], bad, mains, len(events), respaced
    )


def _level(trial_type: str) -> str:
    """What an events.tsv trial_type means."""
    if trial_type == "BAD_gap":
        return "samples lost on the link (the data file holds no real samples there)"
    if trial_type == "BAD_no_data":  # export.edf.NO_DATA_TEXT
        return "the stream had not begun or had ended while others went on (zeros in the data file)"
    if trial_type.startswith("BAD_fault_"):
        return f"sensor fault '{trial_type[10:]}' found by sensorio on the channel named in 'channel'"
    if trial_type.startswith("warning_"):
        return f"a slow change ('{trial_type[8:]}') found by sensorio, not a fault"
    return {
        "marker": "a marker put into the recording; its text is in 'value'",
        "connect": "the device was connected",
        "disconnect": "the device was disconnected",
        "stall": "the device fell silent",
        "resume": "the device streamed again",
    }.get(trial_type, trial_type)


def _dataset_files(root: Path, subject: str, written: list[Path]) -> None:
    """dataset_description.json, participants.tsv and README (the new ones go into written)."""
    desc = root / "dataset_description.json"
    if not desc.exists():
        written.append(desc)
        desc.write_text(
            json.dumps(
                {
                    "Name": root.resolve().name,
                    "BIDSVersion": BIDS_VERSION,
                    "DatasetType": "raw",
                    "GeneratedBy": [{"Name": "sensorio", "Version": __version__}],
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    participants = root / "participants.tsv"
    pid = f"sub-{subject}"
    if not participants.exists():
        written.append(participants)
        participants.write_text(f"participant_id\n{pid}\n", encoding="utf-8")
    else:
        lines = participants.read_text(encoding="utf-8").splitlines()
        if pid not in {ln.split("\t")[0] for ln in lines[1:]}:
            n_cols = len(lines[0].split("\t")) if lines else 1
            with participants.open("a", encoding="utf-8") as f:
                f.write("\t".join([pid] + ["n/a"] * (n_cols - 1)) + "\n")
    readme = root / "README"
    if not readme.exists() and not any(root.glob("README*")):
        written.append(readme)
        readme.write_text("EMG recordings made with sensorio and exported as BIDS-EMG.\n", encoding="utf-8")


def describe(summary: BidsSummary) -> Mapping[str, Any]:
    """A short account of an export, for the command line."""
    return {
        "data": str(summary.data),
        "bad_channels": summary.bad_channels,
        "power_line_hz": summary.power_line_hz,
        "events": summary.n_events,
        "respaced": summary.respaced,
    }
