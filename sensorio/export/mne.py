"""A recording as an MNE-Python Raw: EMG channel types, volts, and the
faults and gaps as ``BAD_`` annotations, so MNE's reject-by-annotation
leaves them out (needs mne: ``pip install mne``)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..descriptor import channel_labels, volts_per_unit
from ..dsp.analyze import Analysis, StreamAnalysis, analyze_file
from ..errors import SensorioError


def _import_mne() -> Any:
    try:
        import mne
    except ImportError as exc:
        raise SensorioError(f"MNE-Python is not installed (pip install mne): {exc}") from None
    return mne


def _emg_stream(analysis: Analysis, stream: int | None) -> StreamAnalysis:
    if stream is not None:
        if stream not in analysis.streams:
            raise SensorioError(f"no stream {stream}: the recording has streams {sorted(analysis.streams)}")
        return analysis.streams[stream]
    for sa in analysis.streams.values():
        if volts_per_unit(sa.unit) is not None:
            return sa
    return analysis.streams[min(analysis.streams)]


def to_mne(
    recording: str | os.PathLike[str] | Analysis,
    *,
    stream: int | None = None,
    format: str | None = None,
    signal: str = "raw",
) -> Any:
    """An ``mne.io.RawArray`` of one stream of a recording (default: the
    first stream in volts, i.e. the EMG).

    recording: a path (analysed with the default pipeline) or an Analysis
    already made. signal: "raw" (calibrated, unfiltered) or "filtered".
    Voltage streams are typed ``emg`` and scaled to volts; other streams are
    ``misc`` in their own unit. Samples lost in a gap are NaN and every gap is
    annotated ``BAD_gap``; each fault is ``BAD_fault_<kind>`` on its channel,
    each drift warning ``drift_<kind>`` (not BAD). The measurement date is
    when the recording was made, where the file says so.
    """
    mne = _import_mne()
    analysis = recording if isinstance(recording, Analysis) else analyze_file(Path(recording), format)
    sa = _emg_stream(analysis, stream)
    if signal not in ("raw", "filtered"):
        raise SensorioError(f"signal must be 'raw' or 'filtered', not {signal!r}")
    data = sa.raw if signal == "raw" or sa.filtered is None else sa.filtered
    n_ch = data.shape[1]
    labels = list(sa.labels) if len(sa.labels) == n_ch else list(channel_labels(None, n_ch))
    volts = volts_per_unit(sa.unit)
    kind = "emg" if volts is not None else "misc"
    info = mne.create_info(labels, sa.rate_hz, ch_types=kind)
    raw = mne.io.RawArray((data * (volts or 1.0)).T, info, verbose="error")
    onsets: list[float] = []
    durations: list[float] = []
    descriptions: list[str] = []
    channels: list[tuple[str, ...]] = []
    end_s = data.shape[0] / sa.rate_hz
    for start, stop in sa.gaps_s:
        onsets.append(max(start, 0.0))
        durations.append(max(stop - max(start, 0.0), 1.0 / sa.rate_hz))
        descriptions.append("BAD_gap")
        channels.append(())
    for ev in analysis.events:
        if ev.stream != sa.stream or not 0 <= ev.channel < n_ch:
            continue
        stop = end_s if ev.end_s is None else ev.end_s
        onsets.append(ev.start_s)
        durations.append(max(stop - ev.start_s, 0.0))
        descriptions.append(f"BAD_fault_{ev.kind}" if ev.severity == "fault" else f"{ev.severity}_{ev.kind}")
        channels.append((labels[ev.channel],))
    if onsets:
        raw.set_annotations(mne.Annotations(onsets, durations, descriptions, ch_names=channels))
    created = analysis.header.get("created_ns")
    if isinstance(created, int) and 0 < created < 2**62:
        raw.set_meas_date(datetime.fromtimestamp(created / 1e9, tz=timezone.utc))
    return raw
