"""``sensorio demo``: the whole chain on an emulated device, no hardware.

An emulated 8-channel EMG device (``sim://``) with injected sensor faults
(an electrode lift-off, an amplifier saturation, spikes) and link faults
(lost frames, a flipped bit) streams 10 s of EMG faster than real time;
sensorio captures it, analyses it (calibration, filters, fault detection),
and writes a summary table, a PNG plot with the detected faults shaded and
the ground truth drawn above them, the raw capture, the ground truth and a
BDF file to a fresh output directory.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .descriptor import channel_labels
from .errors import Advice, SensorioError
from .faultkinds import DETECTED_AS as DETECTED_AS  # the emulated kinds by their detected names
from .faultkinds import matches


@dataclass(frozen=True)
class DemoScenario:
    """What the emulated device does. Times are device seconds; the fault specs
    name channels from 1, as the labels (``channel=3`` is emg3)."""

    profile: str = "emg8"
    seed: int = 1
    duration_s: float = 10.0
    faults: tuple[str, ...] = (
        "liftoff:channel=3,start=2,end=3.5",
        "saturation:channel=6,start=5,end=6",
        "spikes:channel=1,start=7,end=8.5,rate=6",
    )
    link: tuple[str, ...] = ("drop:at=4,count=3", "bitflip:at=6.5")

    def options(self) -> dict[str, list[str]]:
        """The emulator's options (as ``sensorio emulate`` takes them)."""
        return {
            "profile": [self.profile],
            "seed": [str(self.seed)],
            "duration": [str(self.duration_s)],
            "fast": ["1"],
            "fault": list(self.faults),
            "link": list(self.link),
        }


@dataclass
class ChannelSummary:
    channel: int
    label: str
    valid_share: float
    rms_uv: float
    faults: list[dict[str, Any]] = field(default_factory=list)
    injected: list[dict[str, Any]] = field(default_factory=list)

    @property
    def health(self) -> str:
        return "FAULTY" if self.faults else "ok"


@dataclass
class DemoResult:
    out_dir: Path
    files: dict[str, Path]
    channels: list[ChannelSummary]
    link: dict[str, int]
    injected_link: dict[str, int]
    seconds: dict[str, float]
    analysis: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "files": {k: str(v) for k, v in self.files.items()},
            "channels": [
                {
                    "channel": c.channel,
                    "label": c.label,
                    "health": c.health,
                    "valid_share": c.valid_share,
                    "rms_uv": c.rms_uv,
                    "faults": c.faults,
                    "injected": c.injected,
                }
                for c in self.channels
            ],
            "link": self.link,
            "injected_link": self.injected_link,
            "seconds": self.seconds,
        }


def default_out_dir(base: Path | None = None) -> Path:
    """A new folder in base (default: the current directory, or the temp dir if that is read-only)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = base if base is not None else Path.cwd()
    if not os.access(base, os.W_OK):
        base = Path(tempfile.gettempdir())
    path = base / f"sensorio-demo-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = base / f"sensorio-demo-{stamp}-{n}"
    return path


def prepare_out_dir(path: Path, force: bool = False) -> Path:
    """The demo's output folder, made (SensorioError: something else is there)."""
    if path.exists() and not path.is_dir():
        # --force cannot help: the demo writes several files into a folder
        raise SensorioError(Advice(f"{path} is not a folder: choose another {{out_dir}}", out_dir=None))
    if path.exists() and any(path.iterdir()) and not force:
        raise SensorioError(
            Advice(
                f"{path} exists and is not empty: choose another {{out_dir}} or pass {{force}}",
                out_dir=None,
                force=True,
            )
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SensorioError(f"cannot create {path}: {exc.strerror or exc}") from None
    return path


# -- capture --------------------------------------------------------------------------------


def capture(
    scenario: DemoScenario, recording: Path, truth_path: Path, overwrite: bool = False
) -> tuple[list[Any], dict[str, Any], dict[str, int]]:
    """Serve the emulated device on a pseudo-terminal and record it with sensorio.capture,
    as a real device would be; returns the Blocks, the device INFO and the link statistics."""
    from .capture import open as open_capture
    from .emulator import Emulator, Truth, config_from_options
    from .emulator.pty import PtyServer

    truth = Truth(truth_path, keep=False)
    server = PtyServer(Emulator(config_from_options(scenario.options()), truth)).start()
    blocks: list[Any] = []
    try:
        with open_capture(server.port, record=recording, overwrite=overwrite, start_command="START") as cap:
            # until the device has sent its duration and everything sent has been read
            while True:
                got = cap.read(0.3)
                blocks.extend(got)
                server.check()
                if not got and server.emulator.idle:
                    break
            info, link = cap.info, cap.stats.as_dict()
    finally:
        server.stop()
        truth.close()
    if info is None or not blocks:
        raise SensorioError("the emulated device sent no INFO or no samples: the demo cannot go on")
    return blocks, info, link


# -- analysis -------------------------------------------------------------------------------


def analyze(blocks: list[Any], info: Mapping[str, Any], link: dict[str, int]) -> Any:
    """sensorio.dsp's offline analysis: calibrate, filter, detect faults."""
    from .workflows.analyze import analyze_blocks

    return analyze_blocks(blocks, info, link=link)


# -- summary --------------------------------------------------------------------------------


def summarise(analysis: Any, truth: Any) -> tuple[list[ChannelSummary], dict[str, int]]:
    """Per channel of stream 0: health, faults found, faults injected, RMS of the
    (filtered, when available) signal over its valid samples."""
    st = analysis.streams[0]
    signal = st.filtered if st.filtered is not None else st.raw - np.nanmedian(st.raw, axis=0)
    out = []
    for c in range(st.raw.shape[1]):
        ok = st.valid[: signal.shape[0], c] & np.isfinite(signal[:, c])
        rms = float(np.sqrt(np.mean(signal[ok, c] ** 2))) if ok.any() else float("nan")
        found = [
            {
                "kind": ev.kind,
                "start_s": round(float(ev.start_s), 3),
                "end_s": None if ev.end_s is None else round(float(ev.end_s), 3),
            }
            for ev in analysis.events
            if ev.stream == 0 and ev.channel == c and ev.kind != "dropout"  # dropouts are link gaps
        ]
        injected = [
            {"kind": f["kind"], "start_s": f["start_s"], "end_s": f["end_s"]} for f in truth.faults(stream=0, channel=c)
        ]
        label = channel_labels(st.labels, c + 1)[c]
        out.append(ChannelSummary(c, label, round(float(st.valid[:, c].mean()), 4), round(rms, 2), found, injected))
    injected_link: dict[str, int] = {}
    for rec in truth.link_faults():
        if rec["kind"] in ("port_closed", "unread", "flushed", "overrun"):
            continue  # the emulator's bookkeeping of bytes nobody read, not injected faults
        injected_link[rec["kind"]] = injected_link.get(rec["kind"], 0) + len(rec.get("frames", []))
    return out, injected_link


def _spans(items: list[dict[str, Any]]) -> str:
    if not items:
        return "-"
    parts = []
    for f in items:
        end = "…" if f["end_s"] is None else f"{f['end_s']:.2f}"
        parts.append(f"{f['kind']} {f['start_s']:.2f}-{end} s")
    return ", ".join(parts)


def score(channels: list[ChannelSummary]) -> tuple[int, int, int]:
    """(injected faults found on their channel, injected faults, found faults that match none)."""
    hits = total = false = 0
    for c in channels:
        total += len(c.injected)
        hits += sum(1 for f in c.injected if any(matches(e["kind"], f["kind"]) for e in c.faults))
        false += sum(1 for e in c.faults if not any(matches(e["kind"], f["kind"]) for f in c.injected))
    return hits, total, false


def format_table(result: DemoResult) -> str:
    rows = [("channel", "health", "valid", "RMS uV", "faults found", "injected (ground truth)")]
    for c in result.channels:
        rows.append(
            (c.label, c.health, f"{100 * c.valid_share:.1f}%", f"{c.rms_uv:.1f}", _spans(c.faults), _spans(c.injected))
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    link = result.link
    inj = result.injected_link
    lines.append("")
    hits, total, false = score(result.channels)
    lines.append(f"ground truth: {hits} of {total} injected sensor faults found, {false} false alarm(s)")
    lines.append(
        f"link: {link.get('frames_ok', 0)} frames ok, {link.get('lost_frames', 0)} lost "
        f"({inj.get('drop', 0)} dropped by the emulator), {link.get('crc_errors', 0)} CRC error(s) "
        f"({inj.get('bitflip', 0)} bit flip(s) injected)"
    )
    return "\n".join(lines)


# -- the whole run --------------------------------------------------------------------------


def run_demo(
    out_dir: Path,
    scenario: DemoScenario | None = None,
    *,
    plot: bool = True,
    progress: Callable[[str], None] | None = None,
    overwrite: bool = False,
) -> DemoResult:
    """Capture, analyse, summarise and plot; every output goes to out_dir
    (which must exist; overwrite: replace the outputs of an earlier run there)."""
    scenario = scenario or DemoScenario()
    say = progress or (lambda _msg: None)
    files = {
        "recording": out_dir / "capture.sior",
        "truth": out_dir / "truth.jsonl",
        "summary": out_dir / "summary.txt",
        "json": out_dir / "summary.json",
    }
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    say(f"capturing {scenario.duration_s:g} s from an emulated {scenario.profile} device (faster than real time)")
    blocks, info, link = capture(scenario, files["recording"], files["truth"], overwrite)
    seconds["capture"] = time.perf_counter() - t0

    from .emulator import TruthLog

    truth = TruthLog.load(files["truth"])
    t1 = time.perf_counter()
    say("analysing: calibration, filters, fault detection")
    analysis = analyze(blocks, info, link)
    channels, injected_link = summarise(analysis, truth)
    seconds["analysis"] = time.perf_counter() - t1
    result = DemoResult(out_dir, files, channels, link, injected_link, seconds, analysis)

    if plot:
        t2 = time.perf_counter()
        say("plotting")
        files["plot"] = out_dir / "demo.png"
        from .plotting import plot_analysis

        plot_analysis(files["plot"], analysis, truth=truth.faults(), title="sensorio demo: emulated EMG with faults")
        seconds["plot"] = time.perf_counter() - t2
    if importlib.util.find_spec("pyedflib") is not None:  # an optional extra: the demo stands without it
        from .export import write_edf
        from .parser import concat_blocks

        write_edf(out_dir / "capture.bdf", concat_blocks(blocks), info, faults=analysis.events, overwrite=overwrite)
        files["bdf"] = out_dir / "capture.bdf"
    seconds["total"] = time.perf_counter() - t0
    files["summary"].write_text(format_table(result) + "\n", encoding="utf-8")
    files["json"].write_text(json.dumps(result.as_dict(), indent=1) + "\n", encoding="utf-8")
    return result
