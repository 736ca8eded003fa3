"""Offline analysis, the file-to-analysis workflow (formerly sensorio.dsp.analyze):
decode a byte dump (or recording) with sensorio.Parser,
run a pipeline per stream (the default one for EMG streams, calibration only
for the others), and collect the signals and the events."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..blocks import EV_GAP, Block, ShapeCheck, SignalBlock, StreamTally
from ..descriptor import described_streams
from ..dsp.calibrate import Calibrate, Calibration, StreamInfo
from ..dsp.stages import DspEvent, Pipeline, Stage
from ..errors import SensorioError
from ..recording import lookahead_info, nothing_decoded
from ..recording.source import read_source

CHUNK = 1 << 20
#: analyze_blocks(overview=True): values kept per tapped signal, shared by the
#: streams analysed in proportion to their channels (rows x channels; min and
#: max of three signals and the mask, float32: 16 MB in all)
OVERVIEW_VALUES = 1 << 19


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
    #: overview mode (analyze_file(..., overview=True)): the stream's own rate
    #: and sample count, and each channel's exact share of valid samples; the
    #: arrays then hold per-bin (min, max) row pairs at ``rate_hz`` rows/s
    sample_rate_hz: float | None = None
    n_samples: int | None = None
    valid_share: np.ndarray | None = None
    #: the time of the arrays' first row (an overview of a time window starts there)
    start_s: float = 0.0

    @property
    def times(self) -> np.ndarray:
        return self.start_s + np.arange(self.raw.shape[0]) / self.rate_hz

    @property
    def source_rate_hz(self) -> float:
        """The stream's sample rate (``rate_hz`` is the rate of the arrays' rows)."""
        return self.sample_rate_hz if self.sample_rate_hz is not None else self.rate_hz

    @property
    def samples(self) -> int:
        """Samples of the stream (rows of the arrays unless they are an overview)."""
        return self.n_samples if self.n_samples is not None else int(self.raw.shape[0])

    def valid_shares(self) -> np.ndarray:
        """Per channel, the share of the stream's samples that are valid."""
        if self.valid_share is not None:
            return self.valid_share
        if not self.valid.shape[0]:
            return np.zeros(self.valid.shape[1])
        return self.valid.mean(axis=0)


@dataclass
class Analysis:
    streams: dict[int, StreamAnalysis]
    events: list[DspEvent]
    link: dict[str, int]
    info: dict[str, Any] | None
    #: the recording's header ({} for a raw dump or blocks analysed directly)
    header: dict[str, Any] = field(default_factory=dict)
    #: every stream of the data, analysed or not: a stream's length is
    #: judged against all the others (one that stopped early)
    tallies: dict[int, StreamTally] = field(default_factory=dict)


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


class _Reducer:
    """A bounded picture of one tapped signal: its rows as they are while
    they fit in ``cap`` bins, then per-bin minimum and maximum (NaN ignored),
    the bin width doubling whenever the signal outgrows the bins."""

    def __init__(self, cap: int, what: str = "data") -> None:
        self.cap = cap
        self.what = what
        self.width = 1  # samples per bin
        self.end = 0  # bins used
        self.lo: np.ndarray | None = None
        self.hi: np.ndarray | None = None

    def add(self, start: int, values: np.ndarray) -> None:
        n = values.shape[0]
        if not n:
            return
        if self.lo is None:
            # float32: a picture to draw, half the memory of the signal's float64
            self.lo = np.full((self.cap, values.shape[1]), np.nan, dtype=np.float32)
            self.hi = np.full((self.cap, values.shape[1]), np.nan, dtype=np.float32)
        assert self.hi is not None
        while (start + n - 1) // self.width >= self.cap:
            self._coarsen()
        if self.what == "valid":  # a bin is valid when all its samples are: min over 0/1
            values = values.astype(np.float32)
        first = start // self.width
        if self.width == 1:
            bins = slice(start, start + n)
            self.lo[bins] = np.fmin(self.lo[bins], values)
            self.hi[bins] = np.fmax(self.hi[bins], values)
        else:
            idx = (start + np.arange(n)) // self.width
            cuts = np.flatnonzero(np.diff(idx)) + 1
            starts = np.concatenate(([0], cuts))
            at = idx[starts]
            with np.errstate(invalid="ignore"):
                self.lo[at] = np.fmin(self.lo[at], np.fmin.reduceat(values, starts, axis=0))
                self.hi[at] = np.fmax(self.hi[at], np.fmax.reduceat(values, starts, axis=0))
        self.end = max(self.end, (start + n - 1) // self.width + 1, first + 1)

    def _coarsen(self) -> None:
        assert self.lo is not None and self.hi is not None
        half = self.cap // 2
        lo = np.fmin(self.lo[0::2], self.lo[1::2])
        hi = np.fmax(self.hi[0::2], self.hi[1::2])
        self.lo[:half], self.hi[:half] = lo, hi
        self.lo[half:] = np.nan
        self.hi[half:] = np.nan
        self.width *= 2
        self.end = (self.end + 1) // 2

    def rows(self, width: int) -> np.ndarray | None:
        """The picture at a bin width of ``width`` (>= this one's): the rows
        themselves at width 1, else (min, max) row pairs."""
        if self.lo is None:
            return None
        assert self.hi is not None
        lo, hi, end = self.lo[: self.end], self.hi[: self.end], self.end
        factor = width // self.width
        if factor > 1:
            pad = -end % factor
            if pad:
                lo = np.concatenate([lo, np.full((pad, lo.shape[1]), np.nan)])
                hi = np.concatenate([hi, np.full((pad, hi.shape[1]), np.nan)])
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                lo = np.nanmin(lo.reshape(-1, factor, lo.shape[1]), axis=1)
                hi = np.nanmax(hi.reshape(-1, factor, hi.shape[1]), axis=1)
        if width == 1:
            out = lo.astype(np.float64)
        else:
            out = np.empty((2 * lo.shape[0], lo.shape[1]))
            out[0::2], out[1::2] = lo, (lo if self.what == "valid" else hi)
        if self.what == "valid":
            return out == 1.0  # NaN (no sample there) and 0 (a fault) are not valid
        return out


class _Overview(_Collector):
    """Taps of one pipeline kept as an overview of bounded size (_Reducer per
    tap), plus each channel's exact count of valid samples."""

    def __init__(
        self, pipe: Pipeline, max_values: int, window: tuple[float | None, float | None] | None = None
    ) -> None:
        super().__init__(pipe)
        self.max_values = max_values
        self.window = window or (None, None)
        self.first = 0  # the sample the overview starts at
        self.reducers: dict[tuple[int, str], _Reducer] = {}
        self.valid_count: np.ndarray | None = None
        self.samples = 0
        self.mask_k = self.fault_k if self.fault_k is not None else self.raw_k

    def __call__(self, k: int, stage: Stage, block: SignalBlock) -> None:
        if k == self.raw_k:
            for ev in block.events:
                if ev["kind"] == EV_GAP or block.reset:
                    resume = (block.start + int(ev["row"])) / block.rate_hz
                    self.gaps.append((resume - int(ev["lost_samples"]) / block.rate_hz, resume))
        for kk, what in ((k, "data"), (k, "valid")):
            if what == "valid" and kk != self.mask_k:
                continue
            if what == "data" and kk not in (self.raw_k, self.filt_k, self.env_k):
                continue
            lo, hi = self._rows(block)
            if hi <= lo:
                continue
            red = self.reducers.get((kk, what))
            if red is None:
                cap = max(1024, min(1 << 16, self.max_values // max(1, block.n_channels)))
                red = self.reducers[(kk, what)] = _Reducer(cap - cap % 2, what)
            red.add(block.start + lo - self.first, getattr(block, what)[lo:hi])
        if k == self.mask_k and len(block):
            if self.valid_count is None:
                self.valid_count = np.zeros(block.n_channels, dtype=np.int64)
            self.valid_count += block.valid.sum(axis=0)
            self.samples = max(self.samples, block.start + len(block))

    def _rows(self, block: SignalBlock) -> tuple[int, int]:
        """The rows of block inside the window (all without one)."""
        t0, t1 = self.window
        n = len(block)
        if t0 is None and t1 is None:
            return 0, n
        self.first = max(0, int(round(t0 * block.rate_hz))) if t0 is not None else 0
        lo = min(n, max(0, self.first - block.start))
        hi = n if t1 is None else min(n, max(0, int(round(t1 * block.rate_hz)) - block.start))
        return lo, hi

    def width(self) -> int:
        return max((r.width for r in self.reducers.values()), default=1)

    def array(self, k: int | None, what: str = "data") -> np.ndarray | None:
        red = self.reducers.get((k, what)) if k is not None else None
        return red.rows(self.width()) if red is not None else None


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
    overview: bool = False,
    max_values: int = OVERVIEW_VALUES,
    window: tuple[float | None, float | None] | None = None,
    tap: Callable[[int, tuple[str, ...]], Callable[[str, SignalBlock], None]] | None = None,
) -> Analysis:
    """Run the pipelines over Blocks (any number of streams). calibration:
    the user calibration to apply (else the one saved for the device's
    serial in calibration_dir).

    overview: instead of whole-length arrays, keep per stream an overview of
    at most about ``max_values`` values per signal (the rows themselves while
    they fit, then per-bin min/max pairs; StreamAnalysis says how), so that
    memory stays bounded whatever the length; events, gaps and each
    channel's valid share stay exact. blocks may then be any iterator (a
    BlockStream): they are processed as they come. window: (start, end) in
    seconds (either None for the edge): the overview covers only that time
    (StreamAnalysis.start_s is its first row's time), the rest stays exact.
    tap: for what a caller needs beyond the analysis (gathered as blocks
    come): called once per stream, when its pipeline is made, with the
    stream and the roles of the signals its pipeline has, of "raw"
    (calibrated), "faults" (the output of fault detection, whose ``valid`` is
    the fault mask), "filtered", "envelope"; it returns the function then
    called with (role, block) for every block of those signals."""
    pipes: dict[int, Pipeline] = {}
    taps: dict[int, _Collector] = {}
    wanted = None if streams is None else set(streams)
    shapes = ShapeCheck("the blocks to analyse")
    tallies: dict[int, StreamTally] = {}
    for block in blocks:
        sid = block.stream
        tallies.setdefault(sid, StreamTally()).add(block)
        if wanted is not None and sid not in wanted:
            continue
        shapes.check([block])  # a pipeline cannot follow a change of channel count
        if sid not in pipes:
            pipes[sid] = _pipeline_for(sid, info, config, policy, calibration_dir, calibration)
            share = _overview_share(info, sid, wanted)
            taps[sid] = _Overview(pipes[sid], int(max_values * share), window) if overview else _Collector(pipes[sid])
            pipes[sid].tap = taps[sid] if tap is None else _tapped(sid, taps[sid], tap)
        pipes[sid].process(block)
    missing = sorted((wanted or set()) - tallies.keys())
    if missing:
        have = ", ".join(str(s) for s in sorted(tallies)) or "none"
        raise SensorioError(
            f"no stream {', '.join(str(s) for s in missing)} in the data (streams with samples: {have})"
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
        if raw is None and isinstance(col, _Overview):  # nothing inside the window
            raw = np.zeros((0, len(si.labels) or 1))
        assert raw is not None
        valid = col.array(col.fault_k if col.fault_k is not None else col.raw_k, "valid")
        health = []
        for st in pipe.stages:
            if hasattr(st, "health"):
                health = st.health()
        extra: dict[str, Any] = {}
        if isinstance(col, _Overview):
            width = col.width()
            n = col.samples
            extra = {
                "sample_rate_hz": si.rate_hz,
                "n_samples": n,
                "valid_share": (col.valid_count / n) if n and col.valid_count is not None else np.zeros(raw.shape[1]),
                "start_s": col.first / si.rate_hz,
            }
            rows_rate = si.rate_hz if width == 1 else 2 * si.rate_hz / width
        else:
            rows_rate = si.rate_hz
        out[sid] = StreamAnalysis(
            stream=sid,
            rate_hz=rows_rate,
            unit=si.unit,
            labels=si.labels,
            raw=raw,
            filtered=col.array(col.filt_k),
            envelope=col.array(col.env_k),
            valid=valid if valid is not None else np.ones(raw.shape, bool),
            gaps_s=col.gaps,
            latency_s=pipe.total_latency_s(si.rate_hz),
            health=health,
            **extra,
        )
    events.sort(key=lambda e: (e.stream, e.start_s, e.channel, e.kind))
    return Analysis(out, events, link or {}, dict(info) if info is not None else None, tallies=tallies)


def _tapped(
    sid: int, col: _Collector, tap: Callable[[int, tuple[str, ...]], Callable[[str, SignalBlock], None]]
) -> Callable[[int, Stage, SignalBlock], None]:
    """The collector's tap, then the caller's with the role of the stage."""
    ks = (("raw", col.raw_k), ("faults", col.fault_k), ("filtered", col.filt_k), ("envelope", col.env_k))
    roles = {k: role for role, k in reversed(ks) if k is not None}
    theirs = tap(sid, tuple(role for role, k in ks if k is not None and roles[k] == role))

    def both(k: int, stage: Stage, block: SignalBlock) -> None:
        col(k, stage, block)
        role = roles.get(k)
        if role is not None:
            theirs(role, block)

    return both


def _overview_share(info: Mapping[str, Any] | None, sid: int, wanted: set[int] | None) -> float:
    """Stream sid's share of the overview's values: its channels over those
    of the streams analysed (a 256-channel rig of four 64-channel streams
    keeps the picture one 256-channel stream would, not four times it). All
    of it without a descriptor that says."""
    counts = {
        s: max(1, st["channels"])
        for s, st in described_streams(info).items()
        if isinstance(st.get("channels"), int) and (wanted is None or s in wanted)
    }
    if sid not in counts:
        return 1.0
    return counts[sid] / sum(counts.values())


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


def analyze_file(
    path: str | Path,
    format: str | None = None,
    *,
    overview: bool = False,
    max_values: int = OVERVIEW_VALUES,
    progress: Callable[[Iterator[Block], Callable[[], int], int | None], Iterator[Block]] | None = None,
    **options: Any,
) -> Analysis:
    """Decode and analyse a file (see analyze_blocks for the options).

    overview: decode and analyse block by block as the file is read, keeping
    an overview instead of whole-length arrays (memory bounded whatever the
    file's length; see analyze_blocks); progress: wraps the block iterator
    given how to read the bytes done and the file's size (the command line
    draws a progress bar with it)."""
    if not overview:
        blocks, info, link, header = read_source(Path(path), format)
        _saved_calibration(options, header, path)
        analysis = analyze_blocks(blocks, info, link=link, **options)
        analysis.header = header
        return analysis
    from ..recording import BlockStream

    with BlockStream(Path(path), format) as bs:
        header = bs.header
        _saved_calibration(options, header, path)
        it = iter(bs)
        if progress is not None:
            it = progress(it, lambda: bs.position, bs.size)
        head, info = lookahead_info(it, bs)
        if not head:
            raise nothing_decoded(path, format, bs.reader)

        def all_blocks() -> Iterable[Block]:
            yield from head
            head.clear()  # the look-ahead is not kept while the rest streams
            yield from it

        analysis = analyze_blocks(all_blocks(), info, overview=True, max_values=max_values, **options)
        analysis.link = {**bs.parser.stats.as_dict(), "lost_frames_counted": bs.parser.format.counts_lost_frames}
        if bs.reader is not None:  # (the frames counted lost that the file's damage lost, not the link)
            analysis.link["file_lost_frames"] = bs.reader.report.file_lost_frames or 0
    analysis.header = header
    return analysis


def _saved_calibration(options: dict[str, Any], header: dict[str, Any], path: str | Path) -> None:
    """The user calibration in effect when the recording was made (unless given)."""
    if "calibration" not in options:
        options["calibration"] = Calibration.of_recording(header, path)
