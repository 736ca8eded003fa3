"""Static plots of an analysed capture (matplotlib, an optional extra: ``pip install 'sensorio[plot]'``).

A panel per channel shown: the calibrated signal (offset removed) in grey,
the filtered signal in blue and its envelope in red; detected faults as
shaded lanes, one lane per kind so that overlapping faults never mix their
colours; link gaps as dashed lines; and, when a ground truth is given (the
emulator's), the injected faults as hatched bars along the top of the panel
so that the two can be compared at a glance. The y range fits the valid raw
and filtered signal, so a saturated or lifted electrode shows as a trace
pinned to the panel's edge instead of squashing the EMG of every channel.

Above 16 channels (HD-EMG) the plot starts with an overview: a channel x
time heat map of the envelope with the fault spans marked on it, and, when
the device's INFO gives the electrode grid (a stream's ``"grid"``, see
:func:`sensorio.descriptor.electrode_grid`), the grid with each electrode's
mean envelope in its cell.
Then come the traces of the channels picked (default: the first 8, or up to
8 with faults). The image stays under about 2000 px high whatever the
channel count.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .descriptor import ElectrodeGrid, channel_labels, electrode_grid
from .errors import SensorioError
from .export.output import atomic_output

KIND_COLOURS = {
    "leadoff": "tab:purple",
    "liftoff": "tab:purple",
    "saturation": "tab:red",
    "stuck": "tab:brown",
    "flat": "tab:gray",
    "spikes": "tab:orange",
    "motion": "tab:olive",
    "noise": "tab:pink",
    "mains": "tab:cyan",
    "ramp": "goldenrod",
    "baseline_near_rail": "gold",
    "gain_drift": "khaki",
}
#: link gaps (dashed lines), on the heat map as on the traces
GAP_COLOUR = "tab:green"
#: above this many channels of a stream: an overview heat map, and traces only for the channels picked
OVERVIEW_ABOVE = 16
#: the empty row (in the height ratios' units, about inches) above an overview
#: that follows other axes: its heading would otherwise sit on the axes above
OVERVIEW_GAP_IN = 0.35
#: traces shown by default above OVERVIEW_ABOVE channels
DEFAULT_TRACES = 8
#: most traces in one image (more would be too thin to read)
MAX_TRACES = 32
#: the image's height bound in inches (at the default 100 dpi: pixels / 100)
MAX_HEIGHT_IN = 19.5
#: columns of the overview heat map (time buckets)
HEAT_COLUMNS = 1000
#: points per trace; longer traces are reduced to per-bucket min and max, which keeps spikes
MAX_POINTS = 8000


def need_matplotlib(what: str = "plotting") -> Any:
    """Import matplotlib for files (Agg backend), or fail with how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise SensorioError(f"{what} needs matplotlib: pip install 'sensorio[plot]' (or matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image_format(path: str | Path) -> str:
    """The image format matplotlib writes for path's suffix; SensorioError
    for a suffix it cannot write."""
    need_matplotlib()
    from matplotlib.backend_bases import FigureCanvasBase

    known = FigureCanvasBase.get_supported_filetypes()
    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in known:
        raise SensorioError(
            f"cannot write an image to {path}: the name must end in one of {', '.join('.' + k for k in sorted(known))}"
        )
    return kind


def minmax_reduce(t: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """t, y reduced to about max_points by keeping each bucket's min and max."""
    n = y.shape[0]
    if n <= max_points:
        return t, y
    bucket = int(np.ceil(n / (max_points // 2)))
    m = n // bucket * bucket
    yb = y[:m].reshape(-1, bucket)
    tb = t[:m].reshape(-1, bucket)
    with np.errstate(invalid="ignore"):
        lo = np.nanmin(np.where(np.isnan(yb), np.inf, yb), axis=1)
        hi = np.nanmax(np.where(np.isnan(yb), -np.inf, yb), axis=1)
    lo[~np.isfinite(lo)] = np.nan
    hi[~np.isfinite(hi)] = np.nan
    return np.repeat(tb[:, 0], 2), np.column_stack([lo, hi]).ravel()


def parse_channels(text: str, count: int | None = None) -> list[int]:
    """``"1-8,12"`` (1-based, as the labels emg1.. count) as 0-based channel indices, in order, once each.

    ``count``: the number of channels there are, to refuse channels beyond it.
    """
    picked: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo_s, sep, hi_s = part.partition("-")
        try:
            lo = int(lo_s)
            hi = int(hi_s) if sep else lo
        except ValueError:
            raise SensorioError(f"bad channel list {text!r}: use 1-based numbers and ranges, e.g. 1-8,12") from None
        if lo < 1 or hi < lo:
            raise SensorioError(f"bad channel range {part!r} in {text!r}: channels count from 1, ranges go up")
        if count is not None and hi > count:
            raise no_such_channel(hi, count)
        picked.extend(c - 1 for c in range(lo, hi + 1) if c - 1 not in picked)
    return picked


def no_such_channel(channel: int, most: int, streams: int = 1) -> SensorioError:
    """The error for a 1-based channel beyond the ``most`` channels of a
    stream; with several streams, that channels count within each (a rig
    of four 64-channel streams has channels 1-64 in each, picked by
    --stream), which a user counting to 256 needs to be told."""
    if streams > 1:
        return SensorioError(
            f"channel {channel} does not exist: channels count from 1 within each stream, and these "
            f"{streams} streams have at most {most} channels each (choose a stream with --stream)"
        )
    return SensorioError(f"channel {channel} does not exist: there are {most} channels")


def parse_time_range(text: str) -> tuple[float | None, float | None]:
    """``"START:END"`` in seconds (either side may be empty) as (start, end)."""
    lo_s, sep, hi_s = text.partition(":")
    try:
        lo = float(lo_s) if lo_s.strip() else None
        hi = float(hi_s) if hi_s.strip() else None
    except ValueError:
        lo = hi = float("nan")
    if (
        not sep
        or any(v is not None and not np.isfinite(v) for v in (lo, hi))
        or (lo or 0) < 0
        or (lo is not None and hi is not None and hi <= lo)
    ):
        raise SensorioError(f"bad time range {text!r}: use START:END in seconds, e.g. 2:5.5 or 10:")
    return lo, hi


def _light(colour: str, amount: float = 0.55) -> tuple[float, float, float]:
    """An opaque, lighter version of a colour (mixed with white): shadings that do not blend."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(colour)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


Spans = dict[int, dict[str, list[tuple[float, float]]]]


def _spans(
    items: Iterable[tuple[int, int, str, float, float | None]], sid: int, t0: float, t1: float, min_width: float
) -> Spans:
    """channel -> kind -> merged (start, end) inside [t0, t1]; an open end runs to t1."""
    raw: dict[int, dict[str, list[tuple[float, float]]]] = {}
    for stream, channel, kind, a, b in items:
        if stream != sid or kind == "dropout":
            continue
        b = t1 if b is None else b
        b = max(b, a + min_width)
        if b < t0 or a > t1:
            continue
        raw.setdefault(channel, {}).setdefault(kind, []).append((max(a, t0), min(b, t1)))
    return {c: {k: _merge(v) for k, v in sorted(kinds.items())} for c, kinds in raw.items()}


def _fit_limit(raw: np.ndarray, filtered: np.ndarray | None, valid: np.ndarray) -> float:
    """A y half-range that holds the valid raw (offset removed) and filtered signal."""
    parts = []
    for y in (raw, filtered):
        if y is None:
            continue
        ok = valid[: y.shape[0]] & np.isfinite(y)
        parts.append(np.abs(y[ok]) if ok.any() else np.abs(y[np.isfinite(y)]))
    values = np.concatenate(parts) if parts else np.zeros(0)
    if not values.size:
        return 1.0
    return float(max(np.percentile(values, 99.9) * 1.1, 1e-9))


def link_title(link: Mapping[str, Any]) -> str:
    return (
        f"{link.get('frames_ok', 0)} frames, {link.get('lost_frames', 0)} lost, "
        f"{link.get('crc_errors', 0)} CRC errors, {link.get('cobs_errors', 0)} COBS errors"
    )


def stream_grid(info: Mapping[str, Any] | None, sid: int, channels: int) -> ElectrodeGrid | None:
    """A stream's electrode grid when the device's INFO gives one (``"grid"``,
    see :func:`sensorio.descriptor.electrode_grid`; one it cannot read: none,
    as the analysis warned)."""
    for desc in (info or {}).get("streams", []):
        if int(desc.get("id", -1)) != sid:
            continue
        try:
            return electrode_grid(desc, channels)
        except SensorioError:
            return None
    return None


def pick_channels(analysis: Any, sid: int, channels: Iterable[int] | None = None) -> list[int]:
    """The channels (0-based) of a stream to draw as traces: those asked for that exist; else every
    channel up to OVERVIEW_ABOVE, and above it up to DEFAULT_TRACES with faults, or the first ones."""
    n = analysis.streams[sid].raw.shape[1]
    if channels is not None:
        return [c for c in channels if 0 <= c < n]
    if n <= OVERVIEW_ABOVE:
        return list(range(n))
    faulty = sorted(
        {ev.channel for ev in analysis.events if ev.stream == sid and ev.kind != "dropout" and 0 <= ev.channel < n}
    )
    return faulty[:DEFAULT_TRACES] if faulty else list(range(min(n, DEFAULT_TRACES)))


class _Legend:
    """Label -> handle, in the order first drawn; every colour drawn gets its entry."""

    def __init__(self) -> None:
        self.handles: dict[str, Any] = {}

    def add(self, label: str, handle: Any) -> None:
        self.handles.setdefault(label, handle)


def _start(st: Any) -> float:
    """Time of an analysis' first row (not 0 for the overview of a time window)."""
    return float(getattr(st, "start_s", 0.0))


def _length_s(st: Any) -> float:
    """The stream's length in seconds (also when its arrays are an overview)."""
    samples = getattr(st, "samples", st.raw.shape[0])
    return samples / getattr(st, "source_rate_hz", st.rate_hz)


def _window(st: Any, time: tuple[float | None, float | None] | None) -> tuple[int, int]:
    n = st.raw.shape[0]
    lo, hi = time or (None, None)
    first = _start(st)  # an overview of a time window starts there
    i0 = 0 if lo is None else min(n, max(0, int(round((lo - first) * st.rate_hz))))
    i1 = n if hi is None else min(n, max(i0, int(round((hi - first) * st.rate_hz))))
    return i0, i1


def _draw_overview(
    ax: Any, st: Any, i0: int, i1: int, found: Spans, injected: Spans, legend: _Legend, fig: Any
) -> None:
    from matplotlib.patches import Patch, Rectangle

    n_ch = st.raw.shape[1]
    if st.envelope is not None:
        env = st.envelope[i0:i1]
    else:
        base = st.filtered if st.filtered is not None else st.raw - np.nanmedian(st.raw, axis=0)
        env = np.abs(base[i0:i1])
    n = env.shape[0]
    bucket = max(1, int(np.ceil(n / HEAT_COLUMNS)))
    cols = int(np.ceil(n / bucket))
    whole = n // bucket * bucket  # full buckets as a view (no copy of a long recording), then the rest
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        parts = [np.nanmean(env[:whole].reshape(-1, bucket, n_ch), axis=1)] if whole else []
        if whole < n:
            parts.append(np.nanmean(env[whole:], axis=0)[None, :])
        img = np.concatenate(parts).T
    finite = img[np.isfinite(img)]
    vmax = float(np.percentile(finite, 99)) if finite.size else 1.0
    t0 = _start(st) + i0 / st.rate_hz
    t1 = _start(st) + (i0 + cols * bucket) / st.rate_hz
    im = ax.imshow(
        img,
        aspect="auto",
        interpolation="nearest",
        cmap="Greys",
        vmin=0,
        vmax=max(vmax, 1e-9),
        extent=(t0, t1, n_ch + 0.5, 0.5),
    )
    fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03).set_label(f"envelope [{st.unit}]", fontsize=8)
    # a channel's row: found faults in its first part, one lane per kind; injected ones after them
    share = 0.6 if injected else 1.0
    for marks, injected_marks in ((found, False), (injected, True)):
        for c, kinds in marks.items():
            if not 0 <= c < n_ch:
                continue
            for j, (kind, spans) in enumerate(kinds.items()):
                h = ((1.0 - share) if injected_marks else share) / len(kinds)
                y = c + 0.5 + (share if injected_marks else 0.0) + j * h
                colour = KIND_COLOURS.get(kind, "tab:gray")
                for a, b in spans:
                    if injected_marks:
                        rect = Rectangle(
                            (a, y),
                            b - a,
                            h,
                            facecolor="none",
                            edgecolor=colour,
                            hatch="////",
                            lw=0.8,
                            gid=f"injected:{kind}",
                        )
                        legend.add(f"injected: {kind}", Patch(facecolor="none", edgecolor=colour, hatch="////"))
                    else:
                        rect = Rectangle((a, y), b - a, h, facecolor=_light(colour), lw=0, gid=f"found:{kind}")
                        legend.add(f"found: {kind}", Patch(facecolor=_light(colour)))
                    ax.add_patch(rect)
    for a, _b in st.gaps_s:
        if t0 <= a <= t1:
            legend.add("gap (lost frames)", ax.axvline(a, color=GAP_COLOUR, ls="--", lw=1.0))
    step = max(1, int(np.ceil(n_ch / 16)))
    ticks = list(range(0, n_ch, step))
    ax.set_yticks([c + 1 for c in ticks])
    ax.set_yticklabels([channel_labels(st.labels, n_ch)[c] for c in ticks], fontsize=7)
    ax.set_ylabel("channel", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_xlim(t0, max(t1, t0 + 1 / st.rate_hz))


def _draw_grid(ax: Any, st: Any, i0: int, i1: int, grid: ElectrodeGrid, found: Spans, fig: Any) -> None:
    from matplotlib.patches import Rectangle

    rows, cols = grid.rows, grid.cols
    n_ch = st.raw.shape[1]
    env = st.envelope[i0:i1] if st.envelope is not None else np.abs(st.raw[i0:i1] - np.nanmedian(st.raw, axis=0))
    cells = np.full(rows * cols, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(env, axis=0)
    on_grid = [(c, cell) for c, cell in enumerate(grid.cells) if cell is not None]
    for c, cell in on_grid:
        cells[cell] = mean[c]
    img = cells.reshape(rows, cols)
    finite = img[np.isfinite(img)]
    im = ax.imshow(img, cmap="Greys", vmin=0, vmax=float(finite.max()) if finite.size else 1.0, interpolation="nearest")
    fig.colorbar(im, ax=ax, pad=0.02, fraction=0.06).set_label(f"mean envelope [{st.unit}]", fontsize=7)
    for c, kinds in found.items():
        at = grid.cells[c] if 0 <= c < n_ch else None
        if at is not None:
            kind = next(iter(kinds))
            ax.add_patch(
                Rectangle(
                    (at % cols - 0.5, at // cols - 0.5),
                    1,
                    1,
                    facecolor="none",
                    lw=2.0,
                    edgecolor=_light(KIND_COLOURS.get(kind, "tab:gray")),  # the legend's "found" colour
                    gid=f"found:{kind}",
                )
            )
    if rows * cols <= 64:
        for c, cell in on_grid:
            ax.text(cell % cols, cell // cols, str(c + 1), ha="center", va="center", fontsize=6, color="tab:blue")
    ax.set_title(f"electrode grid {rows} x {cols}", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_traces(
    ax: Any, st: Any, c: int, i0: int, i1: int, found: Spans, injected: Spans, legend: _Legend, prefix: str
) -> None:
    t = _start(st) + np.arange(i0, i1) / st.rate_hz
    valid = st.valid[i0:i1, c]
    raw = st.raw[i0:i1, c]
    whole_valid = st.valid[:, c]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        offset = np.nanmedian(st.raw[:, c][whole_valid]) if whole_valid.any() else np.nanmedian(st.raw[:, c])
    raw = raw - (offset if np.isfinite(offset) else 0.0)
    filtered = st.filtered[i0:i1, c] if st.filtered is not None else None
    if valid.any() or not whole_valid.any():
        limit = _fit_limit(raw, filtered, valid)
    else:  # the window is all fault: the channel's valid signal sets the scale, the fault is pinned to the edge
        whole_filtered = st.filtered[:, c] if st.filtered is not None else None
        limit = _fit_limit(st.raw[:, c] - (offset if np.isfinite(offset) else 0.0), whole_filtered, whole_valid)
    traces = [("raw", raw, "0.65", 0.5)]
    if filtered is not None:
        traces.append(("filtered", filtered, "tab:blue", 0.5))
    if st.envelope is not None:
        traces.append(("envelope", st.envelope[i0:i1, c], "tab:red", 1.0))
    for name, y, colour, lw in traces:
        tt, yy = minmax_reduce(t[: y.shape[0]], np.clip(y, -limit, limit))
        (line,) = ax.plot(tt, yy, lw=lw, color=colour, zorder=3)
        legend.add(name, line)
    # found faults: one lane per kind in the panel's lower part, opaque light colours (never blended)
    kinds = found.get(c, {})
    for j, (kind, spans) in enumerate(kinds.items()):
        h = 0.86 / len(kinds)
        for a, b in spans:
            span = ax.axvspan(
                a,
                b,
                ymin=j * h,
                ymax=(j + 1) * h,
                facecolor=_light(KIND_COLOURS.get(kind, "tab:gray")),
                lw=0,
                zorder=1,
                gid=f"found:{kind}",
            )
            legend.add(f"found: {kind}", span)
    kinds = injected.get(c, {})
    for j, (kind, spans) in enumerate(kinds.items()):
        h = 0.12 / len(kinds)
        for a, b in spans:
            bar = ax.axvspan(
                a,
                b,
                ymin=0.88 + j * h,
                ymax=0.88 + (j + 1) * h,
                facecolor="none",
                hatch="////",
                edgecolor=KIND_COLOURS.get(kind, "black"),
                lw=0.8,
                zorder=2,
                gid=f"injected:{kind}",
            )
            legend.add(f"injected: {kind}", bar)
    for a, b in st.gaps_s:
        if t.size and t[0] <= a <= t[-1]:
            legend.add("gap (lost frames)", ax.axvline(a, color=GAP_COLOUR, ls="--", lw=0.8, zorder=4))
            if b - a > 2 / st.rate_hz and b <= t[-1]:
                ax.axvline(b, color=GAP_COLOUR, ls="--", lw=0.8, zorder=4)
    # data in [-limit, limit] fills the panel's lower 86 %; the injected bars sit above it
    ax.set_ylim(-limit * 1.05, limit * 1.35)
    label = channel_labels(st.labels, c + 1)[c]
    ax.set_ylabel(f"{prefix}{label}\n[{st.unit}]", fontsize=8)
    ax.tick_params(labelsize=7)
    if t.size:
        ax.set_xlim(t[0], max(t[-1], t[0] + 1 / st.rate_hz))


def plot_analysis(
    path: str | Path,
    analysis: Any,
    *,
    truth: Iterable[Mapping[str, Any]] | None = None,
    title: str | None = None,
    streams: Iterable[int] | None = None,
    channels: Iterable[int] | None = None,
    time: tuple[float | None, float | None] | None = None,
    dpi: int = 100,
) -> Path:
    """Write a PNG (or any suffix matplotlib knows) of an analysis (sensorio.dsp's
    Analysis: ``streams`` of StreamAnalysis, ``events``, ``link``).

    ``truth``: injected faults (dicts with stream, channel, kind, start_s, end_s);
    ``channels``: 0-based channels to draw as traces (default: see pick_channels);
    ``time``: (start, end) in seconds, either None for the recording's edge.
    Above OVERVIEW_ABOVE channels a stream also gets its overview heat map.
    """
    plt = need_matplotlib()
    path = Path(path)
    wanted = None if streams is None else set(streams)
    chosen = None if channels is None else list(channels)
    if chosen:
        most = max(
            (st.raw.shape[1] for sid, st in analysis.streams.items() if wanted is None or sid in wanted), default=0
        )
        beyond = [c + 1 for c in chosen if c >= most]
        if beyond:
            shown = sum(1 for sid in analysis.streams if wanted is None or sid in wanted)
            raise no_such_channel(beyond[0], most, shown)
    plan = []
    for sid, st in sorted(analysis.streams.items()):
        if wanted is not None and sid not in wanted:
            continue
        if st.raw.shape[0] == 0:
            if getattr(st, "samples", 0):  # an overview of a window that holds none of them
                raise SensorioError(
                    f"nothing to plot: the time range is outside the recording (0 to {_length_s(st):.2f} s)"
                )
            continue
        i0, i1 = _window(st, time)
        if i1 <= i0:
            raise SensorioError(
                f"nothing to plot: the time range is outside the recording (0 to {_length_s(st):.2f} s)"
            )
        picked = pick_channels(analysis, sid, chosen)
        overview = st.raw.shape[1] > OVERVIEW_ABOVE
        if picked or overview:
            plan.append((sid, st, i0, i1, picked, overview))
    if not plan:
        raise SensorioError(
            "nothing to plot: no samples decoded"
            if chosen is None
            else "nothing to plot: none of the channels asked for exists"
        )
    n_traces = sum(len(p[4]) for p in plan)
    if n_traces > MAX_TRACES:
        raise SensorioError(
            f"{n_traces} channels picked: a plot shows at most {MAX_TRACES} traces "
            "(pick fewer channels; above 16 channels the overview shows them all)"
        )
    n_over = sum(1 for p in plan if p[5])
    # an overview below other axes gets an empty row above it, for its heading
    gapped = [i > 0 and p[5] for i, p in enumerate(plan)]
    fixed = 1.6 + 4.0 * n_over + OVERVIEW_GAP_IN * sum(gapped)
    trace_h = min(1.4, max(0.4, (MAX_HEIGHT_IN - fixed) / n_traces)) if n_traces else 0.0
    height = min(fixed + trace_h * n_traces, MAX_HEIGHT_IN)
    ratios: list[float] = []
    for p, gap in zip(plan, gapped, strict=True):
        ratios += ([OVERVIEW_GAP_IN] if gap else []) + ([4.0] if p[5] else []) + [trace_h] * len(p[4])
    fig = plt.figure(figsize=(13, height))
    gs = fig.add_gridspec(len(ratios), 5, height_ratios=ratios, hspace=0.15 if n_traces > 12 else 0.3)
    truth_items = [
        (
            int(f.get("stream", 0)),
            int(f["channel"]),
            str(f["kind"]),
            float(f["start_s"]),
            None if f.get("end_s") is None else float(f["end_s"]),
        )
        for f in (truth or [])
        if f.get("channel") is not None
    ]
    event_items = [(ev.stream, ev.channel, ev.kind, ev.start_s, ev.end_s) for ev in analysis.events]
    legend = _Legend()
    row = 0
    time_axes = []
    multi = len(analysis.streams) > 1
    for (sid, st, i0, i1, picked, overview), gap in zip(plan, gapped, strict=True):
        row += 1 if gap else 0
        t0, t1 = _start(st) + i0 / st.rate_hz, _start(st) + i1 / st.rate_hz
        found = _spans(event_items, sid, t0, t1, 2 / st.rate_hz)
        injected = _spans(truth_items, sid, t0, t1, 2 / st.rate_hz)
        prefix = f"s{sid} " if multi else ""
        if overview:
            grid = stream_grid(analysis.info, sid, st.raw.shape[1])
            ax = fig.add_subplot(gs[row, :4] if grid else gs[row, :])
            _draw_overview(ax, st, i0, i1, found, injected, legend, fig)
            ax.set_title(
                f"{prefix}all {st.raw.shape[1]} channels: envelope, faults marked"
                + (f"; traces below: {len(picked)}" if picked else ""),
                fontsize=9,
            )
            time_axes.append(ax)
            if grid:
                _draw_grid(fig.add_subplot(gs[row, 4]), st, i0, i1, grid, found, fig)
            row += 1
        for c in picked:
            ax = fig.add_subplot(gs[row, :])
            _draw_traces(ax, st, c, i0, i1, found, injected, legend, prefix)
            time_axes.append(ax)
            row += 1
    # one time axis for every panel (only the last is labelled): a stream that
    # began late or stopped early shows where its data is missing, instead
    # of filling the same width with less time
    lo = min(ax.get_xlim()[0] for ax in time_axes)
    hi = max(ax.get_xlim()[1] for ax in time_axes)
    for ax in time_axes:
        ax.set_xlim(lo, hi)
    for ax in time_axes[:-1]:
        ax.tick_params(labelbottom=False)
    time_axes[-1].set_xlabel("time [s]")
    # a file name that is not UTF-8 (surrogate escapes) cannot be drawn: show U+FFFD
    heading = (title or "sensorio").encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if time is not None and any(v is not None for v in time):
        lo, hi = time
        heading += f" ({0 if lo is None else lo:g} s to {'end' if hi is None else f'{hi:g} s'})"
    link = getattr(analysis, "link", None)
    if link:
        heading += "\n" + link_title(link)
    fig.suptitle(heading, fontsize=10)
    fig.legend(
        list(legend.handles.values()),
        list(legend.handles.keys()),
        loc="lower center",
        fontsize=7,
        ncol=min(6, max(1, len(legend.handles))),
        framealpha=0.9,
    )
    # room for the two-line title above and the legend rows below
    legend_rows = int(np.ceil(len(legend.handles) / 6))
    fig.subplots_adjust(
        left=0.07, right=0.94, top=1 - min(0.9 / height, 0.16), bottom=min((0.6 + 0.17 * legend_rows) / height, 0.35)
    )
    try:
        with atomic_output(path, overwrite=True) as tmp:  # callers decide about existing files
            fig.savefig(tmp, dpi=dpi, format=image_format(path))
    finally:
        plt.close(fig)
    return path
