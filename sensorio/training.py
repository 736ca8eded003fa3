"""Gesture training: prompt a person through a gesture sequence while
recording, then fit a control model from the recording's markers.

The prompts run on the device's sample clock: prompt i is due when the EMG
stream reaches row ``row0 + start_s * rate`` (row0: the first row seen), and
its marker in the recording carries that row, so labels are exact to the
sample whatever the host's timing. A marker is an event ``{"kind": "marker",
"text": "gesture open", "gesture": "open", "stream": 0, "row": 12000}``; the
end of the sequence is a marker with ``"gesture": null``.

With an emulated gesture device (``sim://gestures?...``) the emulated wearer
plays the person: the prompts are the emulator's own scripted sequence (the
one its ground truth records), with the training options put into the URL.

Fitting (``fit_recordings``) runs each recording's EMG stream through the
control pipeline (calibrate, fault detection, notch, band-pass), extracts
feature windows, labels each window by the prompt it lies in (windows that
touch the first ``settle_s`` after a prompt, the person's reaction and the
gesture's onset, are left out) and fits the model (sensorio.control).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .control import FeatureExtractor, Model, control_pipeline, fit_model, label_windows
from .control.decoders import LDA, complete_windows
from .descriptor import capture_descriptor, timed_stream
from .emulator.gestures import DEFAULT_GESTURES, REST, GestureConfig
from .errors import SensorioError, UsageError, same_file

#: a marker's text starts with this
MARKER_PREFIX = "gesture"


@dataclass(frozen=True)
class Prompt:
    """One prompt: do ``label`` from start_s to end_s (seconds from the start)."""

    label: str
    start_s: float
    end_s: float


@dataclass
class PromptPlan:
    """The prompts and the port to open (a sim:// URL gets the plan's options)."""

    port: str
    prompts: list[Prompt]
    emulated: bool = False

    @property
    def duration_s(self) -> float:
        """Seconds from the first prompt's start to the last one's end (0 without prompts)."""
        return self.prompts[-1].end_s if self.prompts else 0.0

    @property
    def classes(self) -> list[str]:
        """The class labels, rest first, then the gestures in the order they are first prompted."""
        return list(dict.fromkeys([REST, *(p.label for p in self.prompts)]))


def _timeline(items: Sequence[tuple[str, float]]) -> list[Prompt]:
    out, t = [], 0.0
    for label, dur in items:
        out.append(Prompt(label, t, t + dur))
        t += dur
    return out


def plan_prompts(
    port: str,
    gestures: Sequence[str] = DEFAULT_GESTURES,
    reps: int = 3,
    hold_s: float = 3.0,
    pause_s: float = 2.0,
    order: str = "cycle",
    seed: int = 0,
) -> PromptPlan:
    """The prompt sequence: a pause, then each gesture once per repetition
    (listed order, or shuffled per repetition with ``order="random"``), each
    followed by a pause. For a sim:// gesture device the emulator's sequence
    (see the module text)."""
    cfg = GestureConfig(tuple(gestures), reps, hold_s, pause_s, order)  # checks the values
    if port.startswith("sim://"):
        plan = _emulated_plan(port, cfg)
        if plan is not None:
            return plan
    return PromptPlan(port, _timeline(cfg.sequence(np.random.default_rng([seed, 0x7A1]))))


def _emulated_plan(url: str, cfg: GestureConfig) -> PromptPlan | None:
    from .emulator import config_from_options
    from .emulator.gestures import OPTION_NAMES, GestureSchedule

    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    probe = dict(query)
    if parts.netloc:
        probe.setdefault("profile", [parts.netloc])
    probe.pop("truth", None)
    emu = config_from_options(probe)
    if emu.gestures is None:
        return None
    given = {k.replace("-", "_") for k in query} & set(OPTION_NAMES)
    # the training options shape the emulated wearer's sequence, unless the URL sets it
    if not given & {"gestures", "reps", "hold_s", "pause_s", "order", "script"}:
        query.update(
            gestures=[",".join(cfg.gestures)],
            reps=[str(cfg.reps)],
            hold_s=[f"{cfg.hold_s:g}"],
            pause_s=[f"{cfg.pause_s:g}"],
            order=[cfg.order],
        )
        probe = {**probe, **{k: query[k] for k in ("gestures", "reps", "hold_s", "pause_s", "order")}}
        emu = config_from_options(probe)
    assert emu.gestures is not None
    n_ch = next(s.channels for s in emu.device_profile().streams if s.kind == "emg")
    sched = GestureSchedule(emu.gestures, emu.seed, n_ch)
    one_pass = emu.gestures.duration_s()
    segs = [s for s in sched.segments(one_pass) if s["end_s"] <= one_pass + 1e-9]
    prompts = [Prompt(s["label"], s["start_s"], s["end_s"]) for s in segs]
    new_url = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, doseq=True)))
    return PromptPlan(new_url, prompts, emulated=True)


@dataclass
class Labelled:
    """Feature windows with a class index each (-1: left out)."""

    windows: Any
    y: np.ndarray
    classes: list[str]
    extractor: FeatureExtractor
    pipeline: dict[str, Any] | None = None
    sources: list[str] = field(default_factory=list)


def recording_prompts(path: str | Path) -> tuple[int, list[tuple[int, str | None]]]:
    """The gesture markers of a recording: (stream, [(row, label or None)])."""
    from .recording import RecordingReader
    from .recording.reader import Event

    marks: list[tuple[int, str | None]] = []
    stream = 0
    try:
        with RecordingReader(path) as reader:
            for item in reader:
                if isinstance(item, Event) and item.kind == "marker" and "gesture" in item.detail:
                    d = item.detail
                    try:
                        marks.append((int(d["row"]), None if d["gesture"] is None else str(d["gesture"])))
                        stream = int(d.get("stream", 0))
                    except (KeyError, TypeError, ValueError):
                        raise SensorioError(f"{path}: a gesture marker without a valid row: {d}") from None
    except OSError as exc:
        raise SensorioError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not marks:
        raise SensorioError(f"{path} has no gesture markers: record it with `sensorio train`")
    return stream, sorted(marks, key=lambda m: m[0])


def _signal(
    path: Path, stream: int
) -> tuple[np.ndarray, np.ndarray, float, dict[str, Any] | None, Any, tuple[str, ...], int]:
    """A recording's stream through the control pipeline: data and validity
    indexed by stream row (rows never seen are invalid), rate, INFO,
    pipeline, channel labels, and the channels (bit c: channel c) whose
    lead-off flag was ever set."""
    from .dsp.calibrate import Calibration
    from .recording.source import read_source

    blocks, info, _, header = read_source(path)
    pipe = control_pipeline(info, stream, calibration=Calibration.of_recording(header, path))
    sig = [s for b in blocks if b.stream == stream for s in pipe.process(b)] + pipe.flush()
    if not sig:
        raise SensorioError(f"{path}: no samples of stream {stream}")
    n_rows = max(s.start + len(s) for s in sig)
    n_ch = sig[0].n_channels
    data = np.zeros((n_rows, n_ch))
    valid = np.zeros((n_rows, n_ch), dtype=bool)
    leadoff = 0
    for s in sig:
        data[s.start : s.start + len(s)] = s.data
        valid[s.start : s.start + len(s)] = s.valid
        if s.leadoff is not None and s.leadoff.size:
            leadoff |= int(np.bitwise_or.reduce(s.leadoff))
    describe = getattr(pipe, "describe", None)
    labels = tuple(sig[0].labels) or tuple(f"ch{c + 1}" for c in range(n_ch))
    return data, valid, float(sig[0].rate_hz), info, describe() if describe else None, labels, leadoff


def label_recordings(
    paths: Sequence[str | Path],
    *,
    settle_s: float = 0.5,
    window_ms: float = 200.0,
    increment_ms: float = 50.0,
    features: Sequence[str] | None = None,
) -> Labelled:
    """Feature windows of the recordings, labelled from their gesture markers."""
    if not paths:
        raise UsageError("give at least one recording")
    if settle_s < 0:
        raise UsageError("settle time must be at least 0 s")
    for i, a in enumerate(paths):
        for b in paths[i + 1 :]:
            if same_file(a, b):  # its windows would count twice
                named = f"{a}" if str(a) == str(b) else f"{a} (and as {b})"
                raise UsageError(f"the recording {named} is given twice: give each recording once")
    feats: list[np.ndarray] = []
    valids: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    classes: list[str] = [REST]
    fx: FeatureExtractor | None = None
    rate = None
    pipeline = None
    #: per label, its longest hold after the settle time (s)
    longest_hold_s: dict[str, float] = {}
    labels: tuple[str, ...] = ()
    leadoff = 0  # the channels whose lead-off flag any recording set
    for path in map(Path, paths):
        stream, marks = recording_prompts(path)
        data, valid, r, _, describe, labels, off = _signal(path, stream)
        leadoff |= off
        if rate is None:
            rate, pipeline = r, describe
        elif r != rate or (fx is not None and data.shape[1] != fx.n_channels):
            raise SensorioError(f"{path}: {data.shape[1]} channels at {r:g} Hz, unlike the recordings before it")
        kw: dict[str, Any] = {"window_ms": window_ms, "increment_ms": increment_ms}
        if features is not None:
            kw["features"] = tuple(features)
        if fx is None:
            # noise thresholds (ZC, SSC, WAMP) from the first recording's rest
            rest_rows = _rows_of(marks, REST, data.shape[0], int(settle_s * r))
            fx0 = FeatureExtractor(r, data.shape[1], **kw)
            thresholds = _rest_thresholds(data, valid, rest_rows)
            fx = FeatureExtractor(r, data.shape[1], thresholds_uv=thresholds, **kw) if thresholds else fx0
        for _, label in marks:
            if label is not None and label not in classes:
                classes.append(label)
        row_labels = np.full(data.shape[0], -1, dtype=np.int64)
        settle = int(round(settle_s * r))
        for (row, label), nxt in zip(marks, [*marks[1:], (data.shape[0], None)], strict=True):
            if label is None:
                continue
            a, b = min(row + settle, data.shape[0]), min(nxt[0], data.shape[0])
            row_labels[a:b] = classes.index(label)
            longest_hold_s[label] = max(longest_hold_s.get(label, 0.0), (b - a) / r)
        ext = FeatureExtractor(r, data.shape[1], thresholds_uv=fx.thresholds, **kw)
        win = ext.process(data, valid)
        feats.append(win.features)
        valids.append(win.valid)
        ends.append(win.end_row)
        ys.append(label_windows(win.end_row, ext.window, row_labels))
    assert fx is not None
    from .control import Windows

    windows = Windows(np.concatenate(feats), np.concatenate(valids), np.concatenate(ends))
    y = np.concatenate(ys)
    # a window with a sample lost or masked on any channel is no training window
    labelled = y.copy()
    y[~complete_windows(windows.features, windows.valid)] = -1
    missing = [c for i, c in enumerate(classes) if not (y == i).any()]
    if missing:
        _refuse_masked(missing, classes, labelled, windows.valid, labels, leadoff)
        hold = max((longest_hold_s.get(c, 0.0) for c in missing), default=0.0)
        if 0 < hold < window_ms / 1000.0:
            raise SensorioError(
                f"no windows of {', '.join(missing)}: the {window_ms:g} ms window is longer than their holds "
                f"({hold:.2f} s at most after the {settle_s:g} s settle time): use a shorter window or "
                "record longer holds"
            )
        raise SensorioError(f"no clean windows of {', '.join(missing)}: record longer holds")
    return Labelled(windows, y, classes, fx, pipeline, [str(p) for p in paths])


def _refuse_masked(
    missing: list[str],
    classes: list[str],
    labelled: np.ndarray,
    valid: np.ndarray,
    labels: tuple[str, ...],
    leadoff: int,
) -> None:
    """SensorioError naming the channels whose masking left classes that had
    windows with no clean one (a lifted electrode: "record longer holds"
    blamed the holds); nothing when their windows were not masked."""
    masked = [c for c in missing if (labelled == classes.index(c)).any()]
    if not masked:
        return
    had = np.isin(labelled, [classes.index(c) for c in masked])
    # a window invalid on every channel lost its samples (a gap): no channel's fault
    some = valid.any(axis=1)
    if not (had & some).any():
        raise SensorioError(
            f"no clean windows of {', '.join(masked)}: their samples were lost (a gap in the recording, "
            "see sensorio info): record again"
        )
    share = (~valid[had & some]).sum(axis=0) / had.sum()
    bad = np.flatnonzero(share > 0)
    if not bad.size:
        return  # windows lost to non-finite features, not to a mask
    names = ", ".join(
        f"{labels[c] if c < len(labels) else f'ch{c + 1}'} (in {share[c]:.0%} of them"
        + (", lead-off)" if leadoff >> c & 1 else ")")
        for c in bad
    )
    which = "that electrode" if bad.size == 1 else "those electrodes"
    raise SensorioError(
        f"no clean windows of {', '.join(masked)}: a channel was masked as faulty in them: {names}; "
        f"a model is fitted on every channel, so fix the contact of {which} and record again "
        "(longer holds do not help)"
    )


def _rows_of(marks: list[tuple[int, str | None]], label: str, n_rows: int, settle: int) -> np.ndarray:
    rows = np.zeros(n_rows, dtype=bool)
    for (row, lab), nxt in zip(marks, [*marks[1:], (n_rows, None)], strict=True):
        if lab == label:
            rows[min(row + settle, n_rows) : min(nxt[0], n_rows)] = True
    return rows


def _rest_thresholds(data: np.ndarray, valid: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray] | None:
    from .control import noise_thresholds

    sel = rows & valid.all(axis=1)
    if sel.sum() < 100:
        return None
    return noise_thresholds(data[sel])


def fit_recordings(
    paths: Sequence[str | Path],
    *,
    settle_s: float = 0.5,
    window_ms: float = 200.0,
    increment_ms: float = 50.0,
    features: Sequence[str] | None = None,
    shrinkage: float | str = "auto",
    reject_below: float = 0.0,
    vote: int = 1,
) -> Model:
    """A model fitted on recordings made by ``sensorio train`` (see the module text)."""
    lab = label_recordings(paths, settle_s=settle_s, window_ms=window_ms, increment_ms=increment_ms, features=features)
    counts = {c: int((lab.y == i).sum()) for i, c in enumerate(lab.classes)}
    return fit_model(
        lab.windows,
        lab.y,
        lab.classes,
        lab.extractor,
        decoder=LDA(shrinkage=shrinkage),
        rest=REST,
        reject_below=reject_below,
        vote=vote,
        pipeline=lab.pipeline,
        info={"recordings": lab.sources, "windows_per_class": counts, "settle_s": settle_s},
    )


PromptCallback = Callable[[int, Prompt | None], None]


def open_training(
    plan: PromptPlan,
    recording: str | Path,
    *,
    format: str = "sio",
    baudrate: int = 115200,
    overwrite: bool = False,
) -> Any:
    """The capture a training session runs on (run_training), recording to
    ``recording``: the device's handshake (its INFO, the start command)
    happens here, so a caller can tell a stop during it from one during the
    prompts. Refuses a replay of a recording that already has gesture markers."""
    from .capture import open as open_capture
    from .formats import default_start_command
    from .urlhandler import replay_file

    source = replay_file(plan.port)
    if source is not None and Path(source).is_file():
        try:
            _, marks = recording_prompts(source)
        except SensorioError:  # no markers (or not readable: the replay says so)
            marks = []
        if marks:
            raise UsageError(
                f"{source} is already a training recording ({len(marks)} gesture markers): fit it with "
                f"`sensorio fit {source} -o MODEL`; replayed into train, its markers and the new prompts' "
                "would label its rows twice"
            )
    start = default_start_command(format)  # (START only to sio left a Cyton silent)
    return open_capture(
        plan.port, format, baudrate=baudrate, record=recording, overwrite=overwrite, start_command=start
    )


def run_training(
    cap: Any,
    plan: PromptPlan,
    *,
    stream: int = 0,
    on_prompt: PromptCallback | None = None,
    timeout_s: float = 5.0,
) -> Any:
    """Prompt plan's gestures on an open capture (open_training), marking
    each in its recording; returns the capture, closed (its ``stats``: the
    frames lost; its ``recorder``: the file's size). The prompt callback
    gets (index, prompt) when each is due, (n, None) at the end.
    ``timeout_s``: give up when no samples arrive for this long."""
    import time

    with cap:
        info = capture_descriptor(cap)
        rate = float(timed_stream(info, stream, plan.port)["rate_hz"])
        pipe = control_pipeline(info, stream)
        row0: int | None = None
        given = 0
        last_data = time.monotonic()
        while given <= len(plan.prompts):
            blocks = cap.read(0.2)
            now = time.monotonic()
            if not blocks:
                if cap.ended:
                    raise SensorioError(f"{plan.port} stopped before the training sequence ended")
                if now - last_data > timeout_s:
                    raise SensorioError(f"no samples from {plan.port} for {timeout_s:g} s")
                continue
            last_data = now
            for b in blocks:
                if b.stream != stream:
                    continue
                for sig in pipe.process(b):
                    if row0 is None:
                        row0 = sig.start
                    reached = sig.start + len(sig)
                    while given <= len(plan.prompts):
                        p = plan.prompts[given] if given < len(plan.prompts) else None
                        due = row0 + int(round((p.start_s if p else plan.duration_s) * rate))
                        if reached <= due:
                            break
                        cap.marker(
                            f"{MARKER_PREFIX} {p.label if p else 'end'}",
                            gesture=p.label if p else None,
                            stream=stream,
                            row=due,
                        )
                        if on_prompt is not None:
                            on_prompt(given, p)
                        given += 1
    return cap


def record_training(
    plan: PromptPlan,
    recording: str | Path,
    *,
    format: str = "sio",
    baudrate: int = 115200,
    overwrite: bool = False,
    stream: int = 0,
    on_prompt: PromptCallback | None = None,
    timeout_s: float = 5.0,
) -> Any:
    """Capture while prompting (open_training, then run_training); returns
    the capture, closed (its ``stats``: the frames lost; its ``recorder``:
    the file's size). The prompt callback gets (index, prompt) when each is
    due, (n, None) at the end. ``timeout_s``: give up when no samples arrive
    for this long."""
    cap = open_training(plan, recording, format=format, baudrate=baudrate, overwrite=overwrite)
    return run_training(cap, plan, stream=stream, on_prompt=on_prompt, timeout_s=timeout_s)


def score_decisions(
    t_s: np.ndarray, labels: Sequence[str], segments: Sequence[dict[str, Any]], window_s: float, settle_s: float = 0.5
) -> dict[str, Any]:
    """Accuracy of decisions against the true gesture segments (an emulator's
    truth ``gesture`` records: label, start_s, end_s). A decision at t_s
    (its window's end) counts when its window [t_s - window_s, t_s) lies in
    one segment and starts ``settle_s`` or more after the segment began
    (transitions are left out). Returns accuracy, counts and a confusion table."""
    t = np.asarray(t_s, dtype=float)
    starts = np.array([s["start_s"] for s in segments], dtype=float)
    ends = np.array([np.inf if s["end_s"] is None else s["end_s"] for s in segments], dtype=float)
    i = np.searchsorted(starts, t - window_s, side="right") - 1
    ok = (i >= 0) & (t - window_s >= starts[np.maximum(i, 0)] + settle_s) & (t <= ends[np.maximum(i, 0)] + 1e-9)
    truth = [segments[int(k)]["label"] for k in i[ok]]
    said = [labels[int(k)] for k in np.flatnonzero(ok)]
    confusion: dict[str, dict[str, int]] = {}
    for a, b in zip(truth, said, strict=True):
        confusion.setdefault(a, {}).setdefault(b, 0)
        confusion[a][b] += 1
    hits = sum(a == b for a, b in zip(truth, said, strict=True))
    return {
        "accuracy": hits / len(truth) if truth else float("nan"),
        "scored": len(truth),
        "excluded": int((~ok).sum()),
        "confusion": confusion,
    }


__all__ = [
    "MARKER_PREFIX",
    "Labelled",
    "Prompt",
    "PromptPlan",
    "fit_recordings",
    "label_recordings",
    "plan_prompts",
    "open_training",
    "record_training",
    "run_training",
    "recording_prompts",
    "score_decisions",
]
