"""The stage contract and the Pipeline that chains stages.

A stage is a stateful streaming transform: ``process(SignalBlock) ->
SignalBlock``. Every stage gives the same output whatever the chunking of its
input, equal to running it once on the whole signal, because all of its state
(filter memories, partial windows, hysteresis counters) is carried between
calls and every decision is aligned on the stream's sample clock, never on
block boundaries.

Gaps and faults: a sample whose ``valid`` flag is False never enters a filter's
memory. Filters feed the channel's last valid input instead (a hold, which adds
no step and so no transient), and mark the output sample invalid; the output
value of an invalid sample is set by the pipeline's masking ``policy``:
``"nan"``, ``"hold"`` (the stage's last valid output) or ``"zero"``. Short
gaps arrive already filled with invalid rows (see calibrate.Calibrate), so the
time axis stays uniform; a discontinuity of unknown length arrives as a block
with ``reset=True``: the Pipeline flushes what each stage buffered, resets it,
and the stage starts afresh (filters re-primed on the first valid sample).

Latency: every stage reports the delay it adds (``latency(rate_hz)``, in
input samples); the Pipeline sums them in seconds.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..blocks import Block, SignalBlock
from ..descriptor import described_streams, is_emg, stream_descriptor
from ..errors import SensorioError
from .runahead import RunAhead

POLICIES = ("nan", "hold", "zero")
#: rows per piece when the Pipeline splits a big block (see
#: Pipeline._run_pieces), and at most this many samples (rows x channels)
#: per piece: 8192 rows of 64 channels, 4 MB per float64 array (more
#: channels, fewer rows: their arrays stay in the cache as 64 channels' do)
PIECE_ROWS = 8192
PIECE_SAMPLES = PIECE_ROWS * 64


@dataclass
class DspEvent:
    """Something a stage noticed on one channel: a fault, a drift warning.

    Times are seconds on the stream's sample clock. ``end_s`` is None while
    the condition lasts; ``detected_s`` is when the stage had the data to say
    so (the detection delay is ``detected_s - start_s``).
    """

    stream: int
    channel: int
    kind: str
    start_s: float
    end_s: float | None = None
    detected_s: float | None = None
    severity: str = "fault"
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # plain Python numbers, whatever the stage computed them with: they print as 0.5,
        # not np.float64(0.5), and go into JSON as they are
        self.stream, self.channel, self.start_s = int(self.stream), int(self.channel), float(self.start_s)
        if self.end_s is not None:
            self.end_s = float(self.end_s)
        if self.detected_s is not None:
            self.detected_s = float(self.detected_s)

    def as_dict(self) -> dict[str, Any]:
        """The event as a dict of its fields (``detail`` copied, not shared)."""
        return asdict(self)

    def to_json(self) -> str:
        """The event as one line of JSON, fields in declaration order."""
        return json.dumps(self.as_dict(), sort_keys=False)


@dataclass(frozen=True)
class Latency:
    """Delay added by one stage."""

    stage: str
    samples: float
    seconds: float


class Stage:
    """Base class of streaming stages. Subclasses set ``kind`` (the name used
    in pipeline files) and implement ``process``; stages that buffer also
    implement ``flush``; stages with state implement ``reset``.

    A stage may keep a reference to a block's arrays until its output covers
    those rows (the fault detector gathers small blocks until a hop is
    complete): give each call its own arrays, and do not write into them
    afterwards. Stages never write into the arrays they are given."""

    kind: ClassVar[str] = ""
    #: the masking policy for invalid samples; the Pipeline sets it
    policy: str = "nan"
    #: holds rows back (a look-ahead) and lets them out with the values they
    #: came with, only their validity changed: the Pipeline may run the
    #: stages after it ahead on the rows it holds (see dsp/runahead.py and
    #: :meth:`output_cut`)
    holds_rows: ClassVar[bool] = False
    #: can be run ahead of such a stage: saves and restores its state
    #: (:meth:`snapshot`, :meth:`restore`)
    runs_ahead: ClassVar[bool] = False
    #: its output is its input block, unchanged (it only watches)
    transparent: ClassVar[bool] = False

    def __init__(self) -> None:
        self._events: list[DspEvent] = []

    def process(self, block: SignalBlock) -> SignalBlock:
        """Transform one block; the output covers the rows the stage can give so far.

        The base class raises NotImplementedError: every stage implements it."""
        raise NotImplementedError

    def flush(self) -> SignalBlock | None:
        """Emit whatever is still buffered (end of stream or before a reset)."""
        return None

    def reset(self) -> None:
        """Forget the signal history (after a discontinuity)."""

    def finish(self, end_s: float) -> None:
        """End of the stream at end_s: close what is still open."""

    def latency(self, rate_hz: float) -> float:
        """Added delay in input samples at this rate (group delay)."""
        return 0.0

    def output_rate(self, rate_hz: float) -> float:
        """Sample rate in Hz of this stage's output for input at rate_hz (the same, unless it decimates)."""
        return rate_hz

    def set_descriptor(self, info: Mapping[str, Any]) -> None:
        """The device's INFO descriptor arrived (or changed)."""

    def snapshot(self) -> Any:
        """The stage's signal state, for :meth:`restore` (None: it cannot be
        saved now). Only stages with ``runs_ahead`` implement it."""
        return None

    def restore(self, state: Any) -> None:
        """Go back to a state :meth:`snapshot` gave (the signal since then is forgotten)."""
        raise NotImplementedError

    def output_cut(self, row: int) -> int | None:
        """For a stage that ``holds_rows``: the first stream row after row at
        which an output block of it may end (None: not known yet)."""
        return None

    def watch_ahead(self, row: int, codes: np.ndarray | None, stretch: tuple[int, np.ndarray] | None) -> None:
        """For a ``transparent`` stage the Pipeline runs ahead with (see
        dsp/runahead.py): rows from stream row row of its input, as they will
        come if they come out of the look-ahead with the validity they came
        with, were run ahead (called piece by piece, in order): codes their
        codes (rows, channels; None: not known); stretch, when they complete
        one, (its first row, its data (channels, rows)): the very array its
        block's ``data`` will then be a view of (transposed). It may work out
        now what it will need of them (the base does nothing)."""

    def take_events(self) -> list[DspEvent]:
        """The DspEvents this stage emitted since the last call, and forget them."""
        out, self._events = self._events, []
        return out

    def emit(self, event: DspEvent) -> None:
        """Queue an event for the next :meth:`take_events` (the Pipeline collects it)."""
        self._events.append(event)

    def describe(self) -> dict[str, Any]:
        """This stage's settings as a pipeline-file table, ``{"type": kind, ...}``:
        what :meth:`Pipeline.from_config` builds such a stage from (the base gives only the type)."""
        return {"type": self.kind}


_REGISTRY: dict[str, type[Stage]] = {}


def register_stage(cls: type[Stage]) -> type[Stage]:
    """Class decorator: make a stage available to pipeline files by its kind."""
    _REGISTRY[cls.kind] = cls
    return cls


def stage_types() -> dict[str, type[Stage]]:
    """The stage classes by kind. ``sensorio.dsp`` imports every module of
    stages (and so registers them) before anything here can run."""
    return dict(_REGISTRY)


def make_stage(kind: str, *args: Any, **options: Any) -> Stage:
    """A new stage of a registered kind (see :func:`stage_types`)."""
    cls: Any = _REGISTRY[kind]
    stage: Stage = cls(*args, **options)
    return stage


#: the stages of :meth:`Pipeline.default`, in order
DEFAULT_STAGES = ("calibrate", "faults", "notch", "bandpass", "drift", "envelope")


# -- helpers shared by the stages ---------------------------------------------


def forward_fill(x: np.ndarray, valid: np.ndarray, held: np.ndarray) -> np.ndarray:
    """x with each invalid sample replaced by the channel's last valid one
    (``held`` before the block); returns x itself when all are valid."""
    bad = np.flatnonzero(~valid.all(axis=0))
    if not bad.size:
        return x
    # only the channels with invalid samples: one faulty channel of 256 must
    # not cost a pass over all of them
    out = np.array(x, dtype=np.result_type(x, held))
    n = x.shape[0]
    idx = np.where(valid[:, bad], np.arange(n)[:, None], -1)
    np.maximum.accumulate(idx, axis=0, out=idx)
    filled = np.take_along_axis(x[:, bad], np.maximum(idx, 0), axis=0)
    out[:, bad] = np.where(idx >= 0, filled, held[bad][None, :])
    return out


def last_valid(x: np.ndarray, valid: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Per channel, the last valid value of x, or ``held`` if there is none."""
    if x.shape[0] == 0:
        return held
    out = np.array(x[-1], dtype=np.result_type(x, held))
    bad = np.flatnonzero(~valid[-1])  # only these need a search
    if not bad.size:
        return out
    n = x.shape[0]
    idx = np.where(valid[:, bad], np.arange(n)[:, None], -1).max(axis=0)
    ok = idx >= 0
    out[bad] = np.where(ok, x[np.maximum(idx, 0), bad], held[bad])
    return out


def apply_policy(y: np.ndarray, valid: np.ndarray, policy: str, held: np.ndarray) -> np.ndarray:
    """Set invalid output samples by the masking policy. ``held`` is the last
    valid output per channel before this block (for "hold")."""
    if valid.all():
        return y
    if policy == "nan":
        return np.where(valid, y, np.nan)
    if policy == "zero":
        return np.where(valid, y, 0.0)
    return forward_fill(y, valid, held)


class Pipeline:
    """Stages in order. Feed raw Blocks (the first stage must then be a
    ``calibrate`` stage) or SignalBlocks; get SignalBlocks back.

    >>> pipe = Pipeline.default(info)
    >>> for block in parser.read():
    ...     for out in pipe.process(block): ...
    >>> pipe.take_events()     # DspEvents opened or closed since the last call
    """

    def __init__(
        self,
        stages: Iterable[Stage],
        policy: str = "nan",
        tap: Callable[[int, Stage, SignalBlock], None] | None = None,
    ) -> None:
        if policy not in POLICIES:
            raise SensorioError(f"unknown masking policy {policy!r}: use one of {', '.join(POLICIES)}")
        self.stages = list(stages)
        self.policy = policy
        for st in self.stages:
            st.policy = policy
        self._pending_reset = [False] * len(self.stages)
        self.events: list[DspEvent] = []
        self._new: list[DspEvent] = []
        self._seen: set[int] = set()
        self._end_s = 0.0
        #: called with (stage index, stage, block) for every block a stage outputs
        self.tap = tap
        #: run the stages after a look-ahead stage ahead of it (same output, the
        #: work spread over the blocks; see dsp/runahead.py); off while tap is set
        self.run_ahead = True
        self._ahead = _make_run_ahead(self.stages)
        self._plan = list(self.stages)

    # -- building ----------------------------------------------------------
    @classmethod
    def from_config(cls, config: Mapping[str, Any] | str | Path) -> Pipeline:
        """Build from a dict or a .toml/.json file::

        policy = "hold"
        [[stage]]
        type = "calibrate"
        [[stage]]
        type = "bandpass"
        low_hz = 20
        high_hz = 450
        """
        where = "pipeline"
        if not isinstance(config, Mapping):
            where = f"pipeline file {config}"
            config = load_config(Path(config))
        types = stage_types()
        stage_list = config.get("stage", config.get("stages", []))
        if not isinstance(stage_list, list):
            raise SensorioError(f"{where}: 'stage' must be a list of tables ([[stage]])")
        stages = []
        for i, spec in enumerate(stage_list):
            if not isinstance(spec, Mapping):
                raise SensorioError(f"{where}: stage {i + 1} must be a table, not {type(spec).__name__}")
            spec = dict(spec)
            name = spec.pop("type", None)
            if not isinstance(name, str) or name not in types:
                raise SensorioError(
                    f"pipeline stage {i + 1}: unknown type {name!r}; use one of {', '.join(sorted(types))}"
                )
            settings = _settings_of(types[name])
            for key, value in spec.items():
                if settings is not None and key not in settings:
                    raise SensorioError(
                        f"pipeline stage {i + 1} ({name}): no setting {key!r}; "
                        f"it has {', '.join(settings) if settings else 'none'}"
                    )
                if not _finite(value):
                    raise SensorioError(f"pipeline stage {i + 1} ({name}): {key} must be finite, not {value!r}")
            try:
                stages.append(types[name](**spec))
            except (TypeError, ValueError, SensorioError) as exc:
                raise SensorioError(f"pipeline stage {i + 1} ({name}): {exc}") from None
        policy = config.get("policy", "nan")
        if not isinstance(policy, str):
            raise SensorioError(f"{where}: policy must be one of {', '.join(POLICIES)}")
        return cls(stages, policy=policy)

    @classmethod
    def default(
        cls,
        info: Mapping[str, Any] | None = None,
        stream: int = 0,
        *,
        policy: str = "nan",
        **calibrate_options: Any,
    ) -> Pipeline:
        """calibrate -> faults -> notch (mains found automatically) ->
        band-pass 20-450 Hz -> drift -> moving-RMS envelope (50 ms), for
        one stream (Blocks of the others give nothing: a device of several
        streams needs a pipeline for each). SensorioError for a stream the
        descriptor does not have."""
        if info is not None and isinstance(info.get("streams"), list):
            ids = described_streams(info)
            if stream not in ids:
                have = ", ".join(str(i) for i in ids) or "none"
                raise SensorioError(f"the device descriptor has no stream {stream} (its streams: {have})")
        first, *rest = DEFAULT_STAGES
        return cls(
            [make_stage(first, info, stream=stream, **calibrate_options), *(make_stage(k) for k in rest)],
            policy=policy,
        )

    @classmethod
    def for_stream(
        cls,
        info: Mapping[str, Any] | None = None,
        stream: int = 0,
        *,
        policy: str = "nan",
        **calibrate_options: Any,
    ) -> Pipeline:
        """The pipeline sensorio runs on a device stream: :meth:`default` for an
        EMG stream (:func:`sensorio.descriptor.is_emg`; also when there is no
        descriptor to tell), calibration only for any other."""
        if info is not None:
            try:
                desc = stream_descriptor(info, stream)
            except SensorioError:
                desc = None
            if desc is not None and not is_emg(desc):
                return cls([make_stage("calibrate", info, stream=stream, **calibrate_options)], policy=policy)
        return cls.default(info, stream, policy=policy, **calibrate_options)

    def describe(self) -> dict[str, Any]:
        """The pipeline as a config dict (``policy`` and the ``stage`` list) that
        :meth:`from_config` reads back into the same pipeline."""
        return {"policy": self.policy, "stage": [st.describe() for st in self.stages]}

    # -- running -------------------------------------------------------------
    def set_descriptor(self, info: Mapping[str, Any]) -> None:
        """Hand the device's INFO descriptor to every stage (each takes what it uses, such as the calibration)."""
        for st in self.stages:
            st.set_descriptor(info)

    def next_row(self, stream: int) -> int:
        """The sample index the next raw sample of stream gets in the
        signal (what the first stage has taken in; 0 without a calibrate
        stage): everything that comes out later with a lower index was in
        the pipeline already."""
        first = self.stages[0] if self.stages else None
        return int(first.next_row(stream)) if first is not None and hasattr(first, "next_row") else 0

    def process(self, block: Block | SignalBlock) -> list[SignalBlock]:
        """Run one block through every stage; returns the blocks that came out
        (none while a stage is still filling a window, several after a reset)."""
        if isinstance(block, Block):
            first = self.stages[0] if self.stages else None
            if first is None or not hasattr(first, "process_raw"):
                raise SensorioError("raw Blocks need a 'calibrate' stage first in the pipeline")
            items = first.process_raw(block)
            self._collect(first)
            if self.tap is not None:
                for b in items:
                    self.tap(0, first, b)
            return self._run_pieces(items, 1)
        return self._run_pieces([block], 0)

    def _run_pieces(self, items: list[SignalBlock], first: int) -> list[SignalBlock]:
        """Big blocks go through all stages in pieces of at most PIECE_ROWS
        rows and PIECE_SAMPLES samples, one piece after the other: every
        stage's temporaries then stay in the CPU cache. The output is the same (stages are chunk-invariant)
        and comes back in those pieces, consecutive blocks: joining them would
        copy every array once more (concat_signal does it when wanted)."""
        rows = [min(PIECE_ROWS, max(1, PIECE_SAMPLES // max(b.data.shape[1], 1))) for b in items]
        if all(len(b) <= r for b, r in zip(items, rows, strict=True)):
            return self._run(items, first)
        out: list[SignalBlock] = []
        for b, r in zip(items, rows, strict=True):
            for a in range(0, max(len(b), 1), r):
                out.extend(self._run([slice_signal(b, a, a + r)], first))
        return out

    def _run(self, items: list[SignalBlock], first: int) -> list[SignalBlock]:
        if len(self._plan) != len(self.stages) or any(a is not b for a, b in zip(self._plan, self.stages, strict=True)):
            # the stages were edited (a list or an item replaced): plan again
            if self._ahead is not None:
                self._ahead.abandon()  # (the old stage objects back where their output stopped)
            self._ahead = _make_run_ahead(self.stages)
            if self._ahead is not None:
                self._ahead.detach()  # src holds rows not seen here
            self._plan = list(self.stages)
            self._pending_reset = (self._pending_reset + [False] * len(self.stages))[: len(self.stages)]
        ahead = self._ahead if self.run_ahead and self.tap is None else None
        if ahead is None and self._ahead is not None:
            self._ahead.detach()
        k = first
        while k < len(self.stages):
            st = self.stages[k]
            src = ahead is not None and k == ahead.src
            if src:
                assert ahead is not None
                for b in items:
                    ahead.took(b)
            items = self._stage(k, st, items)
            if src:
                assert ahead is not None
                items = self._chain(ahead, items)
                if not items:  # a block that lets rows out has enough to do: run ahead on the next
                    ahead.advance(st.output_cut)
                k = ahead.chain[-1]
            k += 1
        if items:
            self._end_s = max(self._end_s, (items[-1].start + len(items[-1])) / items[-1].rate_hz)
        return items

    def _stage(self, k: int, st: Stage, items: list[SignalBlock]) -> list[SignalBlock]:
        """Stage k on the blocks items: its output blocks (events collected, tap called)."""
        out: list[SignalBlock] = []
        for b in items:
            if b.reset:
                tail = st.flush()
                if tail is not None and len(tail):
                    out.append(self._mark(k, tail))
                st.reset()
                self._pending_reset[k] = True
            res = st.process(b)
            if len(res):
                out.append(self._mark(k, res))
        self._collect(st)
        if self.tap is not None:
            for b in out:
                self.tap(k, st, b)
        return out

    def _chain(self, ahead: RunAhead, items: list[SignalBlock]) -> list[SignalBlock]:
        """The stages run ahead on the look-ahead stage's output blocks items:
        what they computed ahead where the rows came out as they were run,
        the stages themselves otherwise (and the transparent ones always)."""
        done = [ahead.outputs(b) for b in items]
        if all(d is None for d in done):
            for j in ahead.chain:
                items = self._stage(j, self.stages[j], items)
            return items
        for j in ahead.chain:
            st = self.stages[j]
            out: list[SignalBlock] = []
            kept: list[dict[int, tuple[np.ndarray, np.ndarray] | None] | None] = []
            for b, d in zip(items, done, strict=True):
                if d is None or st.transparent:
                    res = self._stage(j, st, [b])
                    out.extend(res)
                    kept.extend([d] * len(res))
                else:
                    got = d[j]
                    # a filter whose output only the next one reads: its block is not made
                    out.append(self._mark(j, b if got is None else b.replace(data=got[0], valid=got[1])))
                    kept.append(d)
            self._collect(st)
            items, done = out, kept
        return items

    def _mark(self, k: int, block: SignalBlock) -> SignalBlock:
        reset = self._pending_reset[k]
        self._pending_reset[k] = False
        if block.reset != reset:
            block = block.replace(reset=reset)
        return block

    def _collect(self, st: Stage) -> None:
        for ev in st.take_events():
            self._new.append(ev)
            if id(ev) not in self._seen:
                self._seen.add(id(ev))
                self.events.append(ev)

    def flush(self) -> list[SignalBlock]:
        """End of input: drain every stage's buffer, close open events."""
        if self._ahead is not None:
            self._ahead.abandon()
        out: list[SignalBlock] = []
        for k, st in enumerate(self.stages):
            moved = []
            for b in out:
                res = st.process(b)
                if len(res):
                    moved.append(res)
            tail = st.flush()
            if tail is not None and len(tail):
                moved.append(self._mark(k, tail))
            self._collect(st)
            if self.tap is not None:
                for b in moved:
                    self.tap(k, st, b)
            out = moved
        if out:
            self._end_s = max(self._end_s, (out[-1].start + len(out[-1])) / out[-1].rate_hz)
        for st in self.stages:
            st.finish(self._end_s)
            self._collect(st)
        return out

    def take_events(self) -> list[DspEvent]:
        """Events opened or closed since the last call (an event is returned
        again when it closes, with end_s set)."""
        out, self._new = self._new, []
        return out

    def latency(self, rate_hz: float) -> list[Latency]:
        """Each stage's added delay at the given input rate."""
        out = []
        for st in self.stages:
            n = float(st.latency(rate_hz))
            out.append(Latency(st.kind, n, n / rate_hz))
            rate_hz = st.output_rate(rate_hz)
        return out

    def total_latency_s(self, rate_hz: float) -> float:
        """The delay in seconds all stages add together at input rate rate_hz (see :meth:`latency`)."""
        return float(sum(lat.seconds for lat in self.latency(rate_hz)))


def _make_run_ahead(stages: list[Stage]) -> RunAhead | None:
    """The stages to run ahead of the first that holds rows back (None: none)."""
    for k, st in enumerate(stages):
        if st.holds_rows:
            chain = []
            for j in range(k + 1, len(stages)):
                if not (stages[j].runs_ahead or stages[j].transparent):
                    break
                chain.append(j)
            if any(stages[j].runs_ahead for j in chain):
                return RunAhead(stages, k, chain)
            return None
    return None


def load_config(path: Path) -> dict[str, Any]:
    """A pipeline file: TOML (.toml) or JSON (.json), a table at the top."""
    from ..formats.spec import parse_toml  # sensorio's one TOML reader

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SensorioError(f"no such pipeline file: {path}") from None
    except OSError as exc:
        raise SensorioError(f"cannot read pipeline file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SensorioError(f"pipeline file {path}: not UTF-8 text (byte {exc.start})") from None
    if path.suffix.lower() == ".toml":
        config = parse_toml(text, f"pipeline file {path}")
    else:
        try:
            config = json.loads(text)
        except ValueError as exc:
            raise SensorioError(f"pipeline file {path}: not valid JSON: {exc}") from None
        except RecursionError:
            raise SensorioError(f"pipeline file {path}: not usable JSON: nested too deeply") from None
    if not isinstance(config, dict):
        raise SensorioError(f"pipeline file {path}: must hold a table (an object), not a list or value")
    return config


def _settings_of(stage_type: type) -> list[str] | None:
    """The settings a stage type's constructor takes, by name (None: it takes
    any, as ``**options``)."""
    params = list(inspect.signature(stage_type).parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _finite(value: Any) -> bool:
    """False for a NaN or infinite number anywhere in a stage parameter
    (walked without recursion: a parameter may nest as deep as the file)."""
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, float) and not math.isfinite(v):
            return False
        if isinstance(v, (list, tuple)):
            todo.extend(v)
        elif isinstance(v, Mapping):
            todo.extend(v.values())
    return True


def concat_signal(blocks: list[SignalBlock]) -> SignalBlock:
    """Join contiguous SignalBlocks of one stream (event rows re-based)."""
    if len(blocks) == 1:
        return blocks[0]
    first = blocks[0]
    evs = []
    off = 0
    for b in blocks:
        e = b.events.copy()
        e["row"] += off
        evs.append(e)
        off += len(b)

    def cat(name: str) -> np.ndarray | None:
        parts = [getattr(b, name) for b in blocks]
        if any(p is None for p in parts):
            return None
        return np.concatenate(parts)

    return first.replace(
        data=cat("data"),
        valid=cat("valid"),
        events=np.concatenate(evs),
        leadoff=cat("leadoff"),
        codes=cat("codes"),
    )


def slice_signal(block: SignalBlock, a: int, b: int) -> SignalBlock:
    """Rows a..b of a SignalBlock (events that fall in them, re-based)."""
    rows = block.events["row"]
    # an event at the very end (rows resume in the next block) stays with the last slice
    ev = block.events[(rows >= a) & ((rows < b) | (b >= len(block)))].copy()
    ev["row"] -= a
    return block.replace(
        data=block.data[a:b],
        valid=block.valid[a:b],
        start=block.start + a,
        events=ev,
        leadoff=None if block.leadoff is None else block.leadoff[a:b],
        codes=None if block.codes is None else block.codes[a:b],
        reset=block.reset and a == 0,
    )
