"""Live views of a running capture.

``TerminalView``: per channel the signal level (RMS of the filtered signal
over the last ``window_s``), the envelope, a level bar and the health the
fault detector gives; per stream the measured sample rate and the losses.
Plain ANSI escapes (cursor up, erase line), so it works in any terminal and
over SSH on a Raspberry Pi; no curses. Into a file or a pipe it writes plain
text, one snapshot after another, without escape codes. Above 16 channels it
shows 16 (those with faults first) unless told which. ``PlotView``: the same numbers as
scrolling traces in a matplotlib window, where a display exists.

Both take raw Blocks (``update(block)``) and run sensorio.dsp's default
pipeline on them, so what they show is what an application would get.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from .blocks import Block, SignalBlock, split_block
from .errors import Advice, SensorioError

BAR_WIDTH = 24


@dataclass
class StreamState:
    """What the views know about one stream."""

    stream: int
    name: str
    labels: tuple[str, ...]
    unit: str
    rate_hz: float
    pipeline: Any
    level: np.ndarray
    envelope: np.ndarray
    health: list[dict[str, Any]] = field(default_factory=list)
    #: (monotonic time, rows) of recent blocks, for the measured rate
    arrivals: deque = field(default_factory=lambda: deque(maxlen=256))
    rows: int = 0
    recent_filtered: deque = field(default_factory=lambda: deque(maxlen=64))
    history: deque = field(default_factory=lambda: deque(maxlen=400))

    def measured_rate(self) -> float:
        if len(self.arrivals) < 2:
            return 0.0
        (t0, r0), (t1, r1) = self.arrivals[0], self.arrivals[-1]
        return (r1 - r0) / (t1 - t0) if t1 > t0 else 0.0


class LiveModel:
    """Runs the dsp pipelines and keeps the per-channel figures the views draw."""

    def __init__(
        self,
        info: Mapping[str, Any],
        *,
        window_s: float = 0.25,
        streams: list[int] | None = None,
        time_range: tuple[float | None, float | None] | None = None,
    ) -> None:
        """``time_range``: (start, end) in seconds of each stream (by the samples received):
        the pipelines run from the first sample (their filters settle), but events before
        start are not listed and blocks from end on are not analysed."""
        from .dsp import Pipeline
        from .dsp.calibrate import StreamInfo

        self.info = dict(info)
        self.window_s = window_s
        self.time_range = time_range or (None, None)
        self.streams: dict[int, StreamState] = {}
        self.events: deque = deque(maxlen=8)
        for desc in info.get("streams", []):
            sid = int(desc["id"])
            if streams is not None and sid not in streams:
                continue
            si = StreamInfo.from_descriptor(info, sid)
            pipe = Pipeline.for_stream(info, sid)
            state = StreamState(
                sid,
                si.name,
                si.labels,
                si.unit,
                si.rate_hz,
                pipe,
                np.full(si.channels, np.nan),
                np.full(si.channels, np.nan),
                [{"channel": c, "state": "ok", "kinds": []} for c in range(si.channels)],
            )
            pipe.tap = self._tap(state)
            self.streams[sid] = state

    def _tap(self, state: StreamState) -> Any:
        kinds = [st.kind for st in state.pipeline.stages]
        filt = max(i for i, k in enumerate(kinds) if k in ("bandpass", "notch", "highpass", "calibrate"))
        env = kinds.index("envelope") if "envelope" in kinds else None

        def tap(k: int, stage: Any, block: SignalBlock) -> None:
            if not len(block):
                return
            lo = self.time_range[0]
            if lo is not None and (block.start + len(block)) / block.rate_hz <= lo:
                return  # settling before --time's start: not shown
            if k == filt:
                state.recent_filtered.append(block.data)
                keep = int(self.window_s * block.rate_hz)
                while sum(len(b) for b in state.recent_filtered) - len(state.recent_filtered[0]) >= keep:
                    state.recent_filtered.popleft()
                x = np.concatenate(list(state.recent_filtered))[-keep:]
                finite = np.isfinite(x)
                n = finite.sum(axis=0)
                power = np.where(finite, x, 0.0) ** 2
                state.level = np.where(n > 0, np.sqrt(power.sum(axis=0) / np.maximum(n, 1)), state.level)
            if env is not None and k == env:
                state.envelope = block.data[-1].copy()
                state.history.append(block.data[-1].copy())
            if hasattr(stage, "health"):
                state.health = stage.health()

        return tap

    def update(self, block: Block, now: float | None = None) -> None:
        state = self.streams.get(block.stream)
        if state is None:
            return
        t0 = state.rows / state.rate_hz
        state.rows += len(block)
        state.arrivals.append((time.monotonic() if now is None else now, state.rows))
        lo, hi = self.time_range
        if hi is not None and t0 >= hi:
            return
        if hi is not None and state.rows / state.rate_hz > hi:
            # a long block (a fast source) runs past the end: only up to it
            block = next(split_block(block, max(1, int(math.ceil((hi - t0) * state.rate_hz)))))
        with np.errstate(invalid="ignore", divide="ignore"):
            state.pipeline.process(block)
            if hi is not None and t0 + len(block) / state.rate_hz >= hi:
                state.pipeline.flush()  # the end: what the filters hold back is shown too
        for ev in state.pipeline.take_events():
            at = ev.start_s
            if lo is not None and (ev.end_s if ev.end_s is not None else at) < lo:
                continue  # before the range: not listed (an end inside it is)
            if ev.kind == "dropout":  # a link gap: every channel has it, say it once
                if ev.channel == 0 and ev.end_s is not None:
                    self.events.append(f"{at:8.2f} s  {state.name}: gap of {ev.end_s - ev.start_s:.3f} s")
                continue
            label = state.labels[ev.channel] if 0 <= ev.channel < len(state.labels) else f"s{ev.stream}"
            what = "ended" if ev.end_s is not None else "began"
            self.events.append(f"{at:8.2f} s  {label}: {ev.kind} {what}")

    @property
    def before_start(self) -> bool:
        """No stream has reached the start of the time range yet."""
        lo = self.time_range[0]
        return lo is not None and all(st.rows / st.rate_hz < lo for st in self.streams.values())

    @property
    def past_end(self) -> bool:
        """Every stream has passed the end of the time range."""
        hi = self.time_range[1]
        return hi is not None and all(st.rows / st.rate_hz >= hi for st in self.streams.values())


def _bar(value: float, full_scale: float, width: int = BAR_WIDTH) -> str:
    if not math.isfinite(value) or full_scale <= 0:
        return " " * width
    filled = min(width, int(round(width * value / full_scale)))
    return "#" * filled + "." * (width - filled)


#: most channel rows the terminal view shows of a stream when not told which
TERMINAL_ROWS = 16


def _isatty(out: TextIO) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class TerminalView:
    """One line per channel, one per stream: redrawn in place on a terminal (``in_place``,
    default: when ``out`` is one), else written as plain snapshots one after another.

    ``channels``: 0-based channels to show (default: all up to TERMINAL_ROWS; above,
    those not ok first, then the first ones, TERMINAL_ROWS in all)."""

    GREEN, YELLOW, RED, DIM, RESET = "\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[2m", "\x1b[0m"

    def __init__(
        self,
        model: LiveModel,
        out: TextIO | None = None,
        *,
        colour: bool | None = None,
        full_scale: float | None = None,
        in_place: bool | None = None,
        channels: list[int] | None = None,
    ) -> None:
        self.model = model
        self.out = out or sys.stdout
        tty = _isatty(self.out)
        self.colour = (tty and os.environ.get("NO_COLOR") is None) if colour is None else colour
        self.in_place = tty if in_place is None else in_place
        self.full_scale = full_scale
        self.channels = channels
        self._lines = 0

    def shown(self, st: StreamState) -> list[int]:
        """The channels of a stream this view shows, in order."""
        n = len(st.labels)
        if self.channels is not None:
            return [c for c in self.channels if 0 <= c < n]
        if n <= TERMINAL_ROWS:
            return list(range(n))
        bad = [c for c in range(n) if c < len(st.health) and st.health[c]["state"] != "ok"]
        rest = [c for c in range(n) if c not in bad]
        return sorted((bad + rest)[:TERMINAL_ROWS])

    def _paint(self, text: str, code: str) -> str:
        return f"{code}{text}{self.RESET}" if self.colour else text

    def render(self, stats: Any = None, status: str = "") -> str:
        """The current view as text (without cursor movement)."""
        lines = []
        for st in self.model.streams.values():
            scale = self.full_scale or max(
                float(np.nanmax(st.envelope)) * 2 if np.isfinite(st.envelope).any() else 0.0, 50.0
            )
            lines.append(
                f"stream {st.stream} {st.name}: {st.measured_rate():7.0f} samples/s "
                f"(nominal {st.rate_hz:g} samples/s), level = RMS of the last {self.model.window_s:g} s"
            )
            level_h, env_h = f"level [{st.unit}]", f"envelope [{st.unit}]"
            lw, ew = max(9, len(level_h)), max(9, len(env_h))
            lines.append(f"  {'channel':<10} {level_h:>{lw}} {env_h:>{ew}}  {'':<{BAR_WIDTH}}  health")
            shown = self.shown(st)
            for c in shown:
                label = st.labels[c]
                h: dict[str, Any] = st.health[c] if c < len(st.health) else {"state": "ok", "kinds": []}
                state = h["state"]
                code = self.GREEN if state == "ok" else self.YELLOW if state == "warning" else self.RED
                health = state + (f" ({', '.join(h['kinds'])})" if h["kinds"] else "")
                lines.append(
                    f"  {label:<10} {st.level[c]:{lw}.1f} {st.envelope[c]:{ew}.1f}  "
                    f"{_bar(float(st.envelope[c]), scale)}  {self._paint(health, code)}".replace("nan", "  -")
                )
            hidden = len(st.labels) - len(shown)
            if hidden:
                bad = sum(
                    1
                    for c in range(len(st.labels))
                    if c not in shown and c < len(st.health) and st.health[c]["state"] != "ok"
                )
                lines.append(f"  ... {hidden} more channel(s) not shown, {bad} of them not ok (--channels picks)")
        if stats is not None:
            lines.append(
                f"link: {stats.frames_ok} frames, {stats.lost_frames} lost, {stats.crc_errors} CRC "
                f"errors, {stats.cobs_errors + stats.malformed} malformed, "
                f"{stats.ring_overflow_bytes} bytes overflowed"
            )
        for e in self.model.events:
            lines.append(self._paint(f"  {e}", self.DIM))
        if status:
            lines.append(status)
        return "\n".join(lines)

    def draw(self, stats: Any = None, status: str = "") -> None:
        """Show the current view: over the previous one on a terminal, else after it."""
        text = self.render(stats, status)
        if not self.in_place:
            self.out.write(text + "\n\n")
            self.out.flush()
            return
        # back to the top of the previous drawing, then rewrite every line (erasing leftovers)
        up = f"\x1b[{self._lines}F" if self._lines else ""
        body = "\n".join(f"{line}\x1b[K" for line in text.split("\n"))
        extra = self._lines - text.count("\n") - 1
        tail = ("\n\x1b[K" * extra + f"\x1b[{extra}F") if extra > 0 else ""
        self.out.write(up + body + tail + "\n")
        self.out.flush()
        self._lines = text.count("\n") + 1


class PlotView:
    """Scrolling envelope traces per channel in a matplotlib window."""

    def __init__(self, model: LiveModel, channels: list[int] | None = None) -> None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in ("win32", "darwin")):
            raise SensorioError(
                Advice("no display for a plot window: use the terminal view (drop {window})", window=None)
            )
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            need = Advice("{window} needs matplotlib: pip install 'sensorio[plot]'", window=None)
            raise SensorioError(need) from None
        self.plt = plt
        self.model = model
        panels = [
            (sid, c)
            for sid, st in model.streams.items()
            for c in (range(min(len(st.labels), TERMINAL_ROWS)) if channels is None else channels)
            if c < len(st.labels)
        ]
        if not panels:
            raise SensorioError("none of the channels asked for exists")
        self.fig, axes = plt.subplots(
            len(panels), 1, sharex=True, squeeze=False, figsize=(10, min(1.2 * len(panels) + 1, 12))
        )
        self.lines = {}
        for ax, (sid, c) in zip(axes[:, 0], panels, strict=True):
            (self.lines[(sid, c)],) = ax.plot([], [], lw=1.0, color="tab:red")
            ax.set_ylabel(model.streams[sid].labels[c], fontsize=7)
            ax.set_xlim(0, 400)
        plt.ion()
        plt.show(block=False)

    def draw(self) -> None:
        for (sid, c), line in self.lines.items():
            hist = self.model.streams[sid].history
            if hist:
                y = np.array([h[c] for h in hist])
                line.set_data(np.arange(len(y)), y)
                ax = line.axes
                top = np.nanmax(y) if np.isfinite(y).any() else 1.0
                ax.set_ylim(0, max(top * 1.2, 1e-9))
        self.fig.canvas.draw_idle()
        self.fig.canvas.flush_events()
