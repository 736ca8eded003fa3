"""Benchmark of myoelectric control on emulated gestures (not a timed test:
it prints figures, with baselines measured in the same run).

1. Accuracy: a model trained through sensorio.training (prompts, recording,
   fit) on the emulated 8-channel, 6-class gesture device (seed 1) decodes
   other sessions (other seeds); decisions are scored against the emulator's
   gesture truth, transitions left out (a window counts when it lies in one
   gesture and starts 0.5 s or more after the gesture began).
2. Faults: with 1, 2 and 3 of the 8 channels faulted from mid-run to the end
   (lift-off, saturation, motion, noise, cycling; channels drawn at random per
   trial), the decisions during the faults, for: the tolerant decoder (fault
   detector masks, the LDA uses its marginal), the same model without
   masking (no fault detector, every channel used), and the clean baseline
   (the same session and interval without faults).
3. Delay end to end: ``sensorio control`` on a pseudo-terminal served by the
   emulator in real time; delay from the moment the bytes of a window's last
   sample were written to the pty to the moment its decision line is read
   from the command's stdout. Baseline from the same run: a plain capture
   (sensorio.capture) on the same kind of pty, bytes written to block read.
4. Compute per decision (16 channels) and switching to a channel subset:
   sensorio.control.bench.measure_compute.

    PYTHONPATH=. python tools/bench_control.py [--trials N] [--seconds S] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sensorio.control import Controller, control_pipeline  # noqa: E402
from sensorio.emulator import TruthLog, config_from_options, render  # noqa: E402
from sensorio.parser import Parser  # noqa: E402
from sensorio.training import fit_recordings, plan_prompts, record_training, score_decisions  # noqa: E402

KINDS = ("liftoff", "saturation", "motion", "noise")


def train(tmp: Path, reps: int) -> Any:
    plan = plan_prompts("sim://gestures?seed=1&fast=1", reps=reps)
    rec = tmp / "train.sior"
    record_training(plan, rec, overwrite=True)
    return fit_recordings([rec])


def session(seed: int, seconds: float, faults: list[str]) -> tuple[list[Any], dict[str, Any], list[dict[str, Any]]]:
    """Blocks, INFO and gesture truth of an emulated session, rendered at once."""
    opts: dict[str, list[str]] = {
        "profile": ["gestures"],
        "seed": [str(seed)],
        "duration": [str(seconds)],
        "autostart": ["1"],
        "fault": faults,
    }
    data, truth = render(config_from_options(opts))
    log = TruthLog(truth.records)
    p = Parser("sio")
    p.feed(data)
    blocks = p.read()
    return blocks, log.start["info"], log.gestures()


def decide(blocks: list[Any], info: dict[str, Any], model: Any, masking: bool) -> tuple[np.ndarray, list[str], int]:
    """Decisions (t_s, labels) and how many used fewer than all channels."""
    if masking:
        pipe = control_pipeline(info, 0, config=model.pipeline)
    else:  # no fault detector: every channel goes to the decoder as it is
        from sensorio.dsp import BandPass, Calibrate, Notch, Pipeline

        pipe = Pipeline([Calibrate(info, stream=0), Notch(), BandPass()], policy="hold")
    ctl = Controller(model)
    t, labels, partial = [], [], 0
    for b in blocks:
        if b.stream != 0:
            continue
        for sig in pipe.process(b):
            if not masking:
                sig = dataclasses.replace(sig, valid=np.ones_like(sig.valid))
            for d in ctl.process_signal(sig):
                t.append(d.t_s)
                labels.append(d.label)
                partial += len(d.channels_used) < model.n_channels
    return np.array(t), labels, partial


def accuracy(t: np.ndarray, labels: list[str], segs: list[dict[str, Any]], after_s: float = 0.0) -> float:
    keep = t >= after_s
    return score_decisions(t[keep], [labels[i] for i in np.flatnonzero(keep)], segs, 0.2)["accuracy"]


def bench_accuracy(model: Any, args: argparse.Namespace) -> dict[str, Any]:
    clean = []
    for seed in (2, 3):
        blocks, info, segs = session(seed, args.seconds, [])
        t, lab, _ = decide(blocks, info, model, True)
        s = score_decisions(t, lab, segs, 0.2)
        clean.append(s["accuracy"])
        print(
            f"clean, seed {seed}: {100 * s['accuracy']:.1f} % of {s['scored']} windows "
            f"({s['excluded']} in transitions left out)"
        )
    out: dict[str, Any] = {"clean": float(np.mean(clean)), "faults": {}}
    onset = args.seconds / 3
    print(
        f"\nfaults from {onset:g} s to the end; decisions from {onset + 0.5:g} s scored "
        f"({args.trials} trials per count, channels at random, kinds {'/'.join(KINDS)})"
    )
    print(
        f"{'faulted':>8} {'clean':>8} {'tolerant':>9} {'unmasked':>9} {'loss tol.':>10} {'loss unm.':>10}"
        f" {'worst tol.':>11}"
    )
    for k in (1, 2, 3):
        rows = []
        for trial in range(args.trials):
            seed = 100 + 10 * k + trial
            rng = np.random.default_rng(seed)
            chans = rng.choice(8, k, replace=False)
            faults = [
                f"{KINDS[(trial + i) % len(KINDS)]}:channel={int(c) + 1},start={onset},end={args.seconds + 1}"
                for i, c in enumerate(chans)
            ]
            blocks0, info, segs = session(seed, args.seconds, [])
            blocks1, _, _ = session(seed, args.seconds, faults)
            t0, l0, _ = decide(blocks0, info, model, True)
            t1, l1, _ = decide(blocks1, info, model, True)
            t2, l2, _ = decide(blocks1, info, model, False)
            a = onset + 0.5
            rows.append((accuracy(t0, l0, segs, a), accuracy(t1, l1, segs, a), accuracy(t2, l2, segs, a)))
        r = np.array(rows)
        c, tol, unm = r.mean(axis=0)
        out["faults"][k] = {"clean": c, "tolerant": tol, "unmasked": unm, "trials": r.tolist()}
        print(
            f"{k:>8} {100 * c:>7.1f}% {100 * tol:>8.1f}% {100 * unm:>8.1f}% "
            f"{100 * (c - tol):>9.1f}  {100 * (c - unm):>9.1f}  {100 * (r[:, 0] - r[:, 1]).max():>10.1f}"
        )
    return out


def _serve(seconds: float, seed: int) -> tuple[Any, dict[int, float]]:
    """The gesture device on a pty in real time; the write time of each frame's end row."""
    from sensorio.emulator import Emulator
    from sensorio.emulator.pty import PtyServer

    emu = Emulator(config_from_options({"profile": ["gestures"], "seed": [str(seed)], "duration": [str(seconds)]}))
    sent: dict[int, float] = {}
    delivered = emu.delivered

    def note(items: list[Any]) -> None:
        now = time.monotonic()
        for it in items:
            if it.frame is not None and it.frame.stream == 0:
                sent[it.frame.sample0 + it.frame.n_samp] = now
        delivered(items)

    emu.delivered = note  # type: ignore[method-assign]
    server = PtyServer(emu).start()
    return server, sent


def _delay_of(rows: list[int], arrivals: list[float], sent: dict[int, float]) -> np.ndarray:
    ends = np.array(sorted(sent))
    times = np.array([sent[e] for e in ends])
    out = []
    for row, t in zip(rows, arrivals, strict=True):
        i = int(np.searchsorted(ends, row))  # the frame holding row - 1 ends at or after row
        if i < len(ends):
            out.append(t - times[i])
    return np.array(out) * 1e3


#: seconds of signal at the start left out of the steady-state delay
WARMUP_S = 2.0


def model_rate(path: Path) -> float:
    from sensorio.control import load_model

    return load_model(path).rate_hz


def bench_delay(model_path: Path, seconds: float) -> dict[str, Any]:
    # the controller, as a user runs it
    server, sent = _serve(seconds + 5, 7)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sensorio",
            "control",
            server.port,
            "--model",
            str(model_path),
            "--duration",
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        bufsize=1,
    )
    assert proc.stdout is not None
    rows, arrivals = [], []
    for line in proc.stdout:
        arrivals.append(time.monotonic())
        rows.append(json.loads(line)["row"])
    proc.wait(timeout=60)
    server.stop()
    ctl = _delay_of(rows, arrivals, sent)
    ctl_rows = rows[: len(ctl)]
    # baseline: capture only, the same device and pty
    from sensorio.capture import open as open_capture

    server, sent = _serve(seconds + 5, 7)
    rows, arrivals = [], []
    with open_capture(server.port, start_command="START") as cap:
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            for b in cap.read(0.2):
                if b.stream == 0:
                    arrivals.append(time.monotonic())
                    rows.append(b.first_row + len(b))
    server.stop()
    base = _delay_of(rows, arrivals, sent)
    out: dict[str, Any] = {}
    # the first WARMUP_S of signal: the fault detector learns each channel
    # before it releases samples (reported apart, once per start)
    steady = np.array(ctl_rows) >= WARMUP_S * model_rate(model_path)
    out["startup_ms"] = float(ctl[~steady].max()) if (~steady).any() else 0.0
    for name, d in (("control", ctl[steady]), ("capture", base)):
        p50, p99 = np.percentile(d, [50, 99])
        out[name] = {"n": len(d), "p50_ms": p50, "p99_ms": p99, "max_ms": float(d.max())}
    lat = control_pipeline(None, 0).latency(model_rate(model_path))
    print(
        f"\ndelay, bytes written to the pty -> decision line on stdout (sensorio control), after "
        f"the first {WARMUP_S:g} s: p50 {out['control']['p50_ms']:.1f} ms, p99 {out['control']['p99_ms']:.1f} ms, "
        f"max {out['control']['max_ms']:.1f} ms over {out['control']['n']} decisions; first decisions "
        f"(start-up) up to {out['startup_ms']:.0f} ms"
    )
    print("  pipeline latency by stage: " + ", ".join(f"{x.stage} {1e3 * x.seconds:.1f} ms" for x in lat))
    print(
        f"baseline, bytes written -> block read (sensorio.capture, same run): "
        f"p50 {out['capture']['p50_ms']:.1f} ms, p99 {out['capture']['p99_ms']:.1f} ms, "
        f"max {out['capture']['max_ms']:.1f} ms over {out['capture']['n']} blocks"
    )
    return out


def bench_compute() -> dict[str, Any]:
    from sensorio.control.bench import measure_compute

    r = measure_compute(n_channels=16)
    print(f"\ncompute (16 channels, sensorio.control.bench.measure_compute): {json.dumps(r, default=float)}")
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=4, help="fault trials per faulted-channel count (default 4)")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds per emulated session (default 60)")
    ap.add_argument("--reps", type=int, default=3, help="training repetitions (default 3)")
    ap.add_argument("--delay-s", type=float, default=20.0, help="seconds of the delay run (default 20)")
    ap.add_argument("--skip", action="append", default=[], choices=("accuracy", "delay", "compute"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        model = train(Path(tmp), args.reps)
        from sensorio.control import save_model

        path = Path(tmp) / "m.npz"
        save_model(path, model)
        print(
            f"trained on seed 1 ({args.reps} repetitions) in {time.monotonic() - t0:.1f} s: "
            f"{', '.join(model.classes)}\n"
        )
        if "accuracy" not in args.skip:
            bench_accuracy(model, args)
        if "delay" not in args.skip:
            bench_delay(path, args.delay_s)
        if "compute" not in args.skip:
            bench_compute()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
