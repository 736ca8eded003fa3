"""Offline analysis, the file-to-analysis workflow (formerly sensorio.dsp.analyze):
decode a byte dump (or recording) with sensorio.Parser,
run a pipeline per stream (the default one for EMG streams, calibration only
for the others), and collect the signals and the events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..blocks import EV_GAP, Block, ShapeCheck, SignalBlock
from ..dsp.calibrate import Calibrate, Calibration, StreamInfo
from ..dsp.stages import DspEvent, Pipeline, Stage
from ..errors import SensorioError
from ..recording.source import read_source

CHUNK = 1 << 20


@dataclass
class StreamAnalysis:
    """Whole-signal arrays of one stream, indexed by sample (NaN where a
    stage had no output): ``raw`` (calibrated), ``filtered`` (the last
    filter before the envelope), ``envelope``; ``valid`` is the fault mask."""

    stream: int
    rate_hz: float
    unit: str
    labels: tuple[str, ...]
    raw: np.ndarray
    filtered: np.ndarray | None
    envelope: np.ndarray | None
    valid: np.ndarray
    gaps_s: list[tuple[float, float]]
    latency_s: float
    health: list[dict[str, Any]] = field(default_factory=list)

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.raw.shape[0]) / self.rate_hz


@dataclass
class Analysis:
    streams: dict[int, StreamAnalysis]
    events: list[DspEvent]
    link: dict[str, int]
    info: dict[str, Any] | None
    #: the recording's header ({} for a raw dump or blocks analysed directly)
    header: dict[str, Any] = field(default_factory=dict)


class _Collector:
    """Taps of one pipeline: pieces of raw / filtered / envelope / mask."""

    def __init__(self, pipe: Pipeline) -> None:
        kinds = [st.kind for st in pipe.stages]
        self.raw_k = 0
        self.fault_k = kinds.index("faults") if "faults" in kinds else None
        env = kinds.index("envelope") if "envelope" in kinds else None
        filt = [
            i
            for i, k in enumerate(kinds)
            if k in ("bandpass", "highpass", "notch", "lowpass") and (env is None or i < env)
        ]
        self.filt_k = filt[-1] if filt else None
        self.env_k = env
        self.pieces: dict[int, list[SignalBlock]] = {}
        self.gaps: list[tuple[float, float]] = []

    def __call__(self, k: int, stage: Stage, block: SignalBlock) -> None:
        if k in (self.raw_k, self.fault_k, self.filt_k, self.env_k):
            self.pieces.setdefault(k, []).append(block)
        if k == self.raw_k:
            for ev in block.events:
                if ev["kind"] == EV_GAP or block.reset:
                    resume = (block.start + int(ev["row"])) / block.rate_hz
                    self.gaps.append((resume - int(ev["lost_samples"]) / block.rate_hz, resume))

    def array(self, k: int | None, what: str = "data") -> np.ndarray | None:
        if k is None or k not in self.pieces:
            return None
        blocks = self.pieces[k]
        end = max(b.start + len(b) for b in blocks)
        ch = blocks[0].n_channels
        out = np.full((end, ch), np.nan) if what == "data" else np.zeros((end, ch), dtype=bool)
        for b in blocks:
            out[b.start : b.start + len(b)] = getattr(b, what)
        return out


def analyze_blocks(
    blocks: Iterable[Block],
    info: Mapping[str, Any] | None,
    *,
    config: Mapping[str, Any] | str | Path | None = None,
    policy: str = "nan",
    calibration_dir: str | None = None,
    calibration: Calibration | None = None,
    streams: Iterable[int] | None = None,
    link: dict[str, int] | None = None,
) -> Analysis:
    """Run the pipelines over Blocks (any number of streams). calibration:
    the user calibration to apply (else the one saved for the device's
    serial in calibration_dir)."""
    pipes: dict[int, Pipeline] = {}
    taps: dict[int, _Collector] = {}
    wanted = None if streams is None else set(streams)
    shapes = ShapeCheck("the blocks to analyse")
    seen: set[int] = set()
    for block in blocks:
        sid = block.stream
        seen.add(sid)
        if wanted is not None and sid not in wanted:
            continue
        shapes.check([block])  # a pipeline cannot follow a change of channel count
        if sid not in pipes:
            pipes[sid] = _pipeline_for(sid, info, config, policy, calibration_dir, calibration)
            taps[sid] = _Collector(pipes[sid])
            pipes[sid].tap = taps[sid]
        pipes[sid].process(block)
    missing = sorted((wanted or set()) - seen)
    if missing:
        have = ", ".join(str(s) for s in sorted(seen)) or "none"
        raise SensorioError(
            f"no stream {', '.join(str(s) for s in missing)} in the data "
            f"(streams with samples: {have})"
        )
    out: dict[int, StreamAnalysis] = {}
    events: list[DspEvent] = []
    for sid, pipe in pipes.items():
        pipe.flush()
        events.extend(pipe.events)
        col = taps[sid]
        cal = pipe.stages[0]
        assert isinstance(cal, Calibrate)
        si = next(iter(cal.streams_seen.values()))
        raw = col.array(col.raw_k)
        assert raw is not None
        valid = col.array(col.fault_k if col.fault_k is not None else col.raw_k, "valid")
        health = []
        for st in pipe.stages:
            if hasattr(st, "health"):
                health = st.health()
        out[sid] = StreamAnalysis(
            stream=sid,
            rate_hz=si.rate_hz,
            unit=si.unit,
            labels=si.labels,
            raw=raw,
            filtered=col.array(col.filt_k),
            envelope=col.array(col.env_k),
            valid=valid if valid is not None else np.ones(raw.shape, bool),
            gaps_s=col.gaps,
            latency_s=pipe.total_latency_s(si.rate_hz),
            health=health,
        )
    events.sort(key=lambda e: (e.stream, e.start_s, e.channel, e.kind))
    return Analysis(out, events, link or {}, dict(info) if info is not None else None)


def _pipeline_for(
    sid: int,
    info: Mapping[str, Any] | None,
    config: Any,
    policy: str,
    calibration_dir: str | None,
    calibration: Calibration | None,
) -> Pipeline:
    if info is not None:
        StreamInfo.from_descriptor(info, sid)  # a stream the descriptor describes in full
    if config is not None:
        pipe = Pipeline.from_config(config)
        if pipe.stages and isinstance(pipe.stages[0], Calibrate):
            if calibration is not None:
                pipe.stages[0].calibration = calibration
            if info is not None:
                pipe.stages[0].set_descriptor(info)
            pipe.stages[0].stream = sid
        return pipe
    return Pipeline.for_stream(info, sid, policy=policy, calibration_dir=calibration_dir, calibration=calibration)


def analyze_file(path: str | Path, format: str | None = None, **options: Any) -> Analysis:
    """Decode and analyse a file (see analyze_blocks for the options)."""
    blocks, info, link, header = read_source(Path(path), format)
    if "calibration" not in options:
        # the user calibration in effect when the recording was made
        saved = header.get("calibration")
        options["calibration"] = (
            Calibration.from_json(saved, f"{path}: its calibration") if saved else None
        )
    analysis = analyze_blocks(blocks, info, link=link, **options)
    analysis.header = header
    return analysis
