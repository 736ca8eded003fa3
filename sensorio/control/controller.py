"""Online control: samples in, one Decision per feature window out.

>>> model = load_model("me.npz")
>>> with sensorio.capture.open(port) as s:
...     for d in run(s, model):            # Decisions, as they are made
...         print(d.label, d.speed, d.channels_used)

The Controller takes calibrated, filtered samples in µV with the fault
detector's validity mask (SignalBlocks from :func:`control_pipeline`, or plain
arrays). For each window it gives the decoder the channels valid over the
whole window; the LDA then uses its marginal over those channels, so a lifted
electrode changes the channels used at the next decision, and its recovery
changes them back.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from ..blocks import Block, SignalBlock
from ..errors import SensorioError
from .decoders import Decision, MajorityVote
from .features import Windows
from .model import Model
from .watch import NO_SIGNAL_S, SignalCallback, SignalWatch

DecisionCallback = Callable[[Decision], None]


def control_pipeline(
    info: Mapping[str, Any] | None = None,
    stream: int = 0,
    *,
    config: Mapping[str, Any] | None = None,
    policy: str = "zero",
    **calibrate_options: Any,
) -> Any:
    """The dsp pipeline in front of the controller: calibrate -> faults ->
    notch -> band-pass 20-450 Hz (no envelope: the features need the EMG
    itself). ``config``: a pipeline description instead (a model's
    ``pipeline``, from ``Pipeline.describe()``). Invalid samples are 0 by
    default (``policy``); the controller ignores them through the mask."""
    from ..dsp import BandPass, Calibrate, FaultDetector, Notch, Pipeline

    if config is not None:
        pipe = Pipeline.from_config(dict(config))
        if info is not None:
            pipe.set_descriptor(info)
        return pipe
    return Pipeline(
        [Calibrate(info, stream=stream, **calibrate_options), FaultDetector(), Notch(), BandPass()],
        policy=policy,
    )


class Controller:
    """Features -> decoder -> rejection -> majority vote -> proportional
    speed, streaming. ``process`` and ``process_signal`` return the
    decisions completed by the rows given (callbacks, if any, get each too)."""

    def __init__(
        self,
        model: Model,
        rate_hz: float | None = None,
        on_decision: DecisionCallback | None = None,
    ) -> None:
        if rate_hz is not None and abs(float(rate_hz) - model.rate_hz) > 1e-6 * model.rate_hz:
            raise SensorioError(
                f"the model was trained at {model.rate_hz:g} Hz and the signal runs at {float(rate_hz):g} Hz"
            )
        self.model = model
        self.rate_hz = model.rate_hz
        self.extractor = model.extractor()
        self.decoder = model.decoder
        self.vote = MajorityVote(model.vote)
        # the speed ramp is state: each controller has its own (the fitted levels are shared)
        self.proportional = copy.copy(model.proportional)
        if self.proportional is not None:
            self.proportional.reset()
        self._mav = model.feature_index("mav")
        self._callbacks: list[DecisionCallback] = [on_decision] if on_decision else []
        self._dt = self.extractor.increment / self.rate_hz
        self.decisions = 0
        self._started = False

    def add_callback(self, on_decision: DecisionCallback) -> None:
        """Call ``on_decision`` with every Decision from now on, after those already registered."""
        self._callbacks.append(on_decision)

    def reset(self, origin: int | None = None) -> None:
        """A discontinuity: drop buffered samples, vote and ramp state; the
        next window starts at row ``origin``."""
        self.extractor.reset(origin)
        self.settle()

    def process(self, samples_uv: np.ndarray, valid: np.ndarray | None = None) -> list[Decision]:
        """Rows (rows, channels) µV and their validity (None: all valid)."""
        return self.decide_windows(self.extractor.process(samples_uv, valid))

    def process_signal(self, block: SignalBlock) -> list[Decision]:
        """A SignalBlock from the pipeline (its ``reset`` restarts the windows
        at the block's first row)."""
        if block.n_channels != self.model.n_channels:
            raise SensorioError(f"the model has {self.model.n_channels} channels and the stream {block.n_channels}")
        if abs(block.rate_hz - self.rate_hz) > 1e-6 * self.rate_hz:
            raise SensorioError(
                f"the model was trained at {self.rate_hz:g} Hz and the signal runs at {block.rate_hz:g} Hz"
            )
        if block.reset or not self._started or block.start != self.extractor.next_row:
            # the first block, a discontinuity, or rows missing in between
            self.reset(block.start)
            self._started = True
        return self.process(block.data, block.valid)

    def decide_windows(self, windows: Windows) -> list[Decision]:
        """Decisions for feature windows (in order)."""
        out = []
        for k in range(len(windows)):
            d = self.decide(windows.features[k], windows.valid[k], int(windows.end_row[k]))
            out.append(d)
        return out

    def settle(self) -> None:
        """Bring the vote and the speed ramp to rest at once (the signal was
        lost): the first decision after starts from rest and ramps up,
        instead of jumping to where the ramp had been."""
        self.vote.reset()
        if self.proportional is not None:
            self.proportional.reset()

    def safe_decision(self, end_row: int, reason: str) -> Decision:
        """The safe output (rest, zero speed; ``safe`` set, ``reason`` why)
        at end_row, the vote and the speed ramp stepped toward rest: what a
        decision is when the decoder cannot decide, and (after ``settle``)
        what to send when the signal is gone. Not counted in ``decisions``,
        no callbacks."""
        model = self.model
        rest, classes = model.rest_class, model.classes
        self.vote(rest)
        if self.proportional is not None:
            self.proportional(np.zeros(0), rest, (), self._dt)
        return Decision(
            rest if classes else -1,
            classes[rest] if classes else "",
            np.zeros(len(classes)),
            False,
            (),
            0.0,
            True,
            end_row,
            end_row / self.rate_hz,
            reason,
            np.zeros(0),
        )

    def decide(self, features: np.ndarray, valid: np.ndarray, end_row: int) -> Decision:
        """One decision from one window's features (channels, F) and validity (channels,)."""
        model, dec = self.model, self.decoder
        rest = model.rest_class
        classes = model.classes
        used, reason = dec.usable(valid)
        if used and not np.isfinite(features[list(used)]).all():
            used, reason = (), "non-finite features on a channel marked valid"
        t_s = end_row / self.rate_hz
        self.decisions += 1
        if not used:
            d = self.safe_decision(end_row, reason)
        elif not classes:  # a regressor
            est = np.asarray(dec.scores(features, used), dtype=np.float64).reshape(-1)
            d = Decision(
                -1, "", np.zeros(0), False, used, float(np.clip(est[0], 0.0, 1.0)), False, end_row, t_s, "", est
            )
        else:
            p = dec.scores(features, used)
            best = int(np.argmax(p))
            rejected = bool(p[best] < model.reject_below) and best != rest
            cls = self.vote(rest if rejected else best)
            if self.proportional is not None and self._mav is not None:
                speed = self.proportional(features[:, self._mav], cls, used, self._dt)
            else:
                speed = 0.0 if cls == rest else 1.0
            d = Decision(cls, classes[cls], p, rejected, used, speed, False, end_row, t_s)
        for cb in self._callbacks:
            cb(d)
        return d


#: how long run() waits for a capture's next read (s): the silence check runs
#: at least this often while nothing comes
POLL_S = 0.1


def _is_capture(stream: Any) -> bool:
    """A capture Stream (sensorio.capture; the control layer cannot import
    it), by the API the signal watch needs."""
    return all(hasattr(stream, name) for name in ("read", "ended", "source_ended", "quiet_s"))


class _Decisions:
    """Blocks of device stream ``stream_id`` through the pipeline and the
    Controller: the pipeline built at the first block (the INFO that precedes
    it has come then; it may not have when run() or attach() is called)
    unless one was given."""

    def __init__(self, source: Any, model: Model, ctl: Controller, pipeline: Any, stream_id: int) -> None:
        self.source, self.model, self.ctl, self.pipeline, self.stream_id = source, model, ctl, pipeline, stream_id

    def of(self, block: Block) -> Iterator[Decision]:
        """The decisions a block of the stream completes, signal block by signal block."""
        if self.pipeline is None:
            info = getattr(self.source, "info", None)
            self.pipeline = control_pipeline(info, self.stream_id, config=self.model.pipeline)
        for sig in self.pipeline.process(block):
            yield from self.ctl.process_signal(sig)

    def at_end(self) -> Iterator[Decision]:
        """The decisions of what the pipeline holds at the source's end (its look-ahead)."""
        for sig in self.pipeline.flush() if self.pipeline is not None else ():
            yield from self.ctl.process_signal(sig)

    def next_row(self) -> int:
        """The stream row the pipeline takes next (once a block has come)."""
        return int(self.pipeline.next_row(self.stream_id))


def run(
    stream: Iterable[Block],
    model: Model,
    *,
    pipeline: Any = None,
    stream_id: int = 0,
    on_decision: DecisionCallback | None = None,
    no_signal_s: float = NO_SIGNAL_S,
    on_signal: SignalCallback | None = None,
) -> Iterator[Decision]:
    """Decisions from a capture Stream (or any iterable of raw Blocks): the
    blocks of device stream ``stream_id`` go through ``pipeline`` (default:
    the model's pipeline, else :func:`control_pipeline` with the stream's
    INFO) and the Controller. ``on_decision`` is called for each too.

    From a capture Stream the signal is watched (:class:`SignalWatch`): when
    the device disconnects, or no block of the stream comes for
    ``no_signal_s`` while the port delivers nothing, the safe Decision (rest,
    speed 0, ``safe``, ``reason`` saying why) is yielded at once, once, and
    the decisions made of what was in the pipeline before the loss are
    dropped until the signal is back. ``on_signal(lost, why)`` is told of
    each loss and return (else they are logged on the ``sensorio.control``
    logger). The Stream is read with a timeout for that (its ``read``), so
    the iterator does not wait forever for a block that does not come. A
    plain iterable of Blocks (a list, a recording) has no clock to watch:
    its blocks are decided as they come, with no safe output."""
    if not _is_capture(stream):
        plain = _Decisions(stream, model, Controller(model, on_decision=on_decision), pipeline, stream_id)
        for block in stream:
            if block.stream == stream_id:
                yield from plain.of(block)
        yield from plain.at_end()
        return
    cap: Any = stream
    decisions = _Decisions(cap, model, Controller(model), pipeline, stream_id)
    out: deque[Decision] = deque()  # what the watch lets through, yielded in order
    watch = SignalWatch(decisions.ctl, decisions.next_row, out.append, no_signal_s=no_signal_s, on_signal=on_signal)
    watching = True

    def on_event(event: Any) -> None:  # in the capture's reader thread
        if watching:  # (a Stream cannot take a callback back: it goes quiet when run() ends)
            watch.on_event(event)

    def handed_out() -> Iterator[Decision]:
        while out:
            d = out.popleft()
            if on_decision is not None:
                on_decision(d)
            yield d

    add_event = getattr(cap, "add_event_callback", None)
    if add_event is not None:
        add_event(on_event)
    try:
        while True:
            blocks = cap.read(POLL_S)  # (it raises a failure of the capture's threads first)
            for block in blocks:
                if block.stream != stream_id:
                    watch.other()
                    continue
                for d in decisions.of(block):
                    watch.send(d)
                watch.arrived()  # after its work: a long batch is no silence
                yield from handed_out()
            # (after a block, the silence measured is nil: one call for both cases)
            watch.poll(None if cap.source_ended else cap.quiet_s)
            yield from handed_out()
            if not blocks and cap.ended:
                break
        # a failure of the capture's threads as they finished, after the last
        # read looked for one: raised, not lost with the end of the data
        wait = getattr(cap, "wait", None)
        if wait is not None:
            wait(0)
        for d in decisions.at_end():
            watch.send(d)
        yield from handed_out()
    finally:
        watching = False


def attach(
    stream: Any,
    model: Model,
    on_decision: DecisionCallback,
    *,
    pipeline: Any = None,
    stream_id: int = 0,
    no_signal_s: float = NO_SIGNAL_S,
    on_signal: SignalCallback | None = None,
) -> Controller:
    """Callbacks instead of an iterator: run the controller on the Stream's
    dispatcher thread (``stream.add_callback``) and call ``on_decision`` for
    every decision, the one at the source's end too (``add_end_callback``);
    ``stream.wait()`` re-raises a failure (``on_decision``'s too). Returns
    the Controller.

    The signal is watched as in :func:`run`, in the same thread: a
    disconnect (``add_event_callback``) or a silence of ``no_signal_s``
    (checked at the Stream's polls, ``add_poll_callback``, which come while
    no block does) sends the safe Decision to ``on_decision`` at once, once,
    and stale decisions are dropped until the signal is back;
    ``on_signal(lost, why)`` is told of each loss and return (else they are
    logged). A stream without those hooks gets no watch. Callbacks added to
    the returned Controller see its own decisions, stale ones too, not the
    safe output."""
    decisions = _Decisions(stream, model, Controller(model), pipeline, stream_id)
    watch = SignalWatch(decisions.ctl, decisions.next_row, on_decision, no_signal_s=no_signal_s, on_signal=on_signal)

    def on_block(block: Block) -> None:
        if block.stream == stream_id:
            for d in decisions.of(block):
                watch.send(d)
            watch.arrived()
        else:
            watch.other()

    def on_poll() -> None:
        watch.poll(None if getattr(stream, "source_ended", False) else stream.quiet_s)

    def on_end() -> None:  # what the pipeline holds at the end, as run() decides it
        for d in decisions.at_end():
            watch.send(d)

    add_end = getattr(stream, "add_end_callback", None)
    if add_end is not None:
        add_end(on_end)
    add_event = getattr(stream, "add_event_callback", None)
    if add_event is not None:
        add_event(watch.on_event)
    add_poll = getattr(stream, "add_poll_callback", None)
    if add_poll is not None and hasattr(stream, "quiet_s"):
        add_poll(on_poll)
    stream.add_callback(on_block)
    return decisions.ctl
