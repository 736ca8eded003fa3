"""Static plots of an analysed capture (matplotlib, an optional extra: ``pip install 'sensorio[plot]'``).

One panel per channel: the calibrated signal (offset removed) in grey, the
filtered signal in blue and its envelope in red; detected faults shaded by
kind; link gaps as dashed lines; and, when a ground truth is given (the
emulator's), the injected faults as hatched bars along the top of the panel
so that the two can be compared at a glance. The y range follows the valid
signal, so a saturated or lifted electrode shows as a trace pinned to the
panel's edge instead of squashing the EMG of every channel to a line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SensorioError
from .export.output import atomic_output

KIND_COLOURS = {
    "leadoff": "tab:purple", "liftoff": "tab:purple", "saturation": "tab:red", "stuck": "tab:brown",
    "flat": "tab:gray", "spikes": "tab:orange", "motion": "tab:olive", "noise": "tab:pink",
    "mains": "tab:cyan", "baseline_near_rail": "gold", "gain_drift": "khaki",
}
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
            f"cannot write an image to {path}: the name must end in one of "
            f"{', '.join('.' + k for k in sorted(known))}"
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


def _robust_limit(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    if not finite.size:
        return 1.0
    return float(max(np.percentile(finite, 99.5) * 1.6, 1e-9))


def link_title(link: Mapping[str, Any]) -> str:
    return (f"{link.get('frames_ok', 0)} frames, {link.get('lost_frames', 0)} lost, "
            f"{link.get('crc_errors', 0)} CRC errors, {link.get('cobs_errors', 0)} COBS errors")


def plot_analysis(path: str | Path, analysis: Any, *, truth: Iterable[Mapping[str, Any]] | None = None,
                  title: str | None = None, streams: Iterable[int] | None = None, dpi: int = 100) -> Path:
    """Write a PNG (or any suffix matplotlib knows) of an analysis (sensorio.dsp's
    Analysis: ``streams`` of StreamAnalysis, ``events``, ``link``). ``truth``:
    injected faults (dicts with stream, channel, kind, start_s, end_s)."""
    plt = need_matplotlib()
    path = Path(path)
    wanted = None if streams is None else set(streams)
    panels = [(sid, c) for sid, st in sorted(analysis.streams.items())
              if wanted is None or sid in wanted for c in range(st.raw.shape[1])]
    if not panels:
        raise SensorioError("nothing to plot: no samples decoded")
    truth = list(truth or [])
    height = min(1.5 * len(panels) + 1.2, 40)
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, height), sharex=True, squeeze=False)
    legend: dict[str, Any] = {}
    for ax, (sid, c) in zip(axes[:, 0], panels, strict=True):
        st = analysis.streams[sid]
        t = np.arange(st.raw.shape[0]) / st.rate_hz
        raw = st.raw[:, c] - np.nanmedian(st.raw[:, c][st.valid[:, c]]) if st.valid[:, c].any() else st.raw[:, c]
        shown = st.filtered[:, c] if st.filtered is not None else raw
        ok = st.valid[: shown.shape[0], c]
        limit = _robust_limit(shown[ok] if ok.any() else shown)
        traces = [("raw", raw, "0.65", 0.5)]
        if st.filtered is not None:
            traces.append(("filtered", st.filtered[:, c], "tab:blue", 0.5))
        if st.envelope is not None:
            traces.append(("envelope", st.envelope[:, c], "tab:red", 1.0))
        for name, y, colour, lw in traces:
            tt, yy = minmax_reduce(t[: y.shape[0]], np.clip(y, -limit, limit))
            (line,) = ax.plot(tt, yy, lw=lw, color=colour)
            legend.setdefault(name, line)
        for ev in analysis.events:
            if ev.stream != sid or ev.channel != c or ev.kind == "dropout":
                continue
            end = ev.end_s if ev.end_s is not None else t[-1]
            span = ax.axvspan(ev.start_s, max(end, ev.start_s + 2 / st.rate_hz), ymax=0.86,
                              color=KIND_COLOURS.get(ev.kind, "tab:gray"), alpha=0.25, lw=0)
            legend.setdefault(f"found: {ev.kind}", span)
        for f in truth:
            if f.get("stream", 0) != sid or f.get("channel") != c:
                continue
            end = f["end_s"] if f.get("end_s") is not None else t[-1]
            bar = ax.axvspan(f["start_s"], end, ymin=0.88, ymax=1.0, facecolor="none", hatch="////",
                             edgecolor=KIND_COLOURS.get(f["kind"], "black"), lw=0.8)
            legend.setdefault(f"injected: {f['kind']}", bar)
        for a, b in st.gaps_s:
            line = ax.axvline(a, color="black", ls="--", lw=0.8)
            if b - a > 2 / st.rate_hz:
                ax.axvline(b, color="black", ls="--", lw=0.8)
            legend.setdefault("gap (lost frames)", line)
        ax.set_ylim(-limit * 1.2, limit * 1.6)
        label = st.labels[c] if c < len(st.labels) else f"ch{c}"
        prefix = f"s{sid} " if len(analysis.streams) > 1 else ""
        ax.set_ylabel(f"{prefix}{label}\n[{st.unit}]", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.margins(x=0)
    axes[-1, 0].set_xlabel("time [s]")
    # a file name that is not UTF-8 (surrogate escapes) cannot be drawn: show U+FFFD
    heading = (title or "sensorio").encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    link = getattr(analysis, "link", None)
    if link:
        heading += "\n" + link_title(link)
    fig.suptitle(heading, fontsize=10)
    fig.legend(list(legend.values()), list(legend.keys()), loc="lower center", fontsize=7,
               ncol=min(6, len(legend)), framealpha=0.9)
    # room for the two-line title above and the legend below
    fig.tight_layout(rect=(0, min(0.7 / height, 0.1), 1, 1 - min(0.6 / height, 0.1)))
    try:
        with atomic_output(path, overwrite=True) as tmp:  # callers decide about existing files
            fig.savefig(tmp, dpi=dpi, format=image_format(path))
    finally:
        plt.close(fig)
    return path
