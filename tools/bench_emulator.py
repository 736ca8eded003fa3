#!/usr/bin/env python3
"""CPU share of the emulator keeping real time, 64 channels at 4 kHz (int24).

Each run starts a child process that serves the emulated device on a pseudo-
terminal and measures its own CPU time while streaming; this process reads the
port (as a capture program would) and checks every frame arrived. The baseline,
measured in the same run, is a bare pacer in a child process that writes the
same number of bytes at the same pace from a ready-made buffer: the cost of
just being a real-time byte source in Python. Figures are medians over runs.

    python3 tools/bench_emulator.py [--seconds 5] [--runs 3]
Target: emulator < 25 % of one core, and no "fell behind" report.

    python3 tools/bench_emulator.py --fast [--seconds 60] [--runs 3]
Bytes per CPU second of each wire format generated as fast as possible
(the --fast path: Emulator.step_fast, in process, no pseudo-terminal), against
a baseline in the same run: os.urandom of the same number of bytes. Target
10 MB/s for every format.

    python3 tools/bench_emulator.py --fast --pty [--seconds 600] [--runs 3]
The same served on a pseudo-terminal (as `sensorio emulate --fast`), read
by this process: bytes per CPU second of the serving process.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CHANNELS, RATE, ENC = 64, 4000.0, "i24"


def child_emulator(seconds: float, profile: str = "") -> None:
    from sensorio.emulator import Emulator, Truth, config_from_options
    from sensorio.emulator.pty import PtyServer

    if profile:
        opts = {
            "profile": [profile],
            "format": [profile_format(profile)],
            "autostart": ["1"],
            "duration": [str(seconds)],
            "seed": ["1"],
        }
    else:
        opts = {
            "format": ["sio"],
            "channels": [str(CHANNELS)],
            "rate": [str(RATE)],
            "enc": [ENC],
            "autostart": ["1"],
            "duration": [str(seconds)],
            "seed": ["1"],
        }
    cfg = config_from_options(opts)
    emu = Emulator(cfg, Truth(keep=False))
    server = PtyServer(emu)
    print(server.port, flush=True)
    sys.stdin.readline()  # the reader has the port open
    cpu0, wall0 = time.process_time(), time.monotonic()
    emu.input(b"")  # the device clock starts now
    emu.clock.set_running(False, wall0)
    emu.clock.set_running(True, wall0)
    server.serve()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    frames = sum(emu.frames_delivered.values())
    server.stop()
    print(
        json.dumps(
            {
                "cpu": cpu,
                "wall": wall,
                "frames": frames,
                "bytes": emu.bytes_delivered,
                "lag_count": emu.lag_count,
                "max_lag_s": emu.max_lag_s,
            }
        ),
        flush=True,
    )


def child_fast_pty(seconds: float, fmt: str) -> None:
    """Serves `seconds` of device time of one format in fast mode on a pty
    (as `sensorio emulate --fast`); reports its CPU time and bytes delivered."""
    from sensorio.emulator import Emulator, Truth, config_from_options
    from sensorio.emulator.pty import PtyServer

    cfg = config_from_options(
        {"format": [fmt], "autostart": ["1"], "duration": [str(seconds)], "seed": ["3"], "speed": ["0"]}
    )
    emu = Emulator(cfg, Truth(keep=False))
    # the reader opens the port with os.open and flushes nothing: no need to
    # hold output back after the open (fast mode would discard megabytes there)
    PtyServer.OPEN_GRACE_S = 0.0
    server = PtyServer(emu)
    print(server.port, flush=True)
    sys.stdin.readline()  # the reader has the port open
    cpu0, wall0 = time.process_time(), time.monotonic()
    server.serve()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    server.stop()
    print(json.dumps({"cpu": cpu, "wall": wall, "bytes": emu.bytes_delivered}), flush=True)


def child_baseline(seconds: float, byte_rate: float, frame_bytes: int) -> None:
    """Writes byte_rate bytes/s in frame_bytes pieces with the same pacing, nothing else."""
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.close(slave)
    print(path, flush=True)
    sys.stdin.readline()
    frame = b"\x55" * (frame_bytes - 1) + b"\x00"
    period = frame_bytes / byte_rate
    cpu0, t0 = time.process_time(), time.monotonic()
    sent = 0
    n = 0
    while True:
        now = time.monotonic()
        if now - t0 >= seconds:
            break
        due = int((now - t0) / period)
        while n < due:
            sent += os.write(master, frame)
            n += 1
        time.sleep(max(0.002, t0 + (n + 1) * period - time.monotonic()))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    time.sleep(0.2)
    os.close(master)
    print(json.dumps({"cpu": cpu, "wall": wall, "frames": n, "bytes": sent}), flush=True)


def read_port(proc: subprocess.Popen) -> tuple[dict, int]:
    """Open the child's pty, drain it until the child reports; returns (report, bytes read)."""
    path = proc.stdout.readline().strip()
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    got = 0
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    poller.register(proc.stdout, select.POLLIN)
    while True:
        events = dict(poller.poll(100))
        if fd in events:
            try:
                data = os.read(fd, 1 << 16)
            except OSError:  # the child closed its side
                poller.unregister(fd)
                data = b""
            got += len(data)
        if proc.stdout.fileno() in events or proc.stdout in events:
            line = proc.stdout.readline()
            if line:
                os.close(fd)
                return json.loads(line), got


def run(kind: str, seconds: float, extra: list[str]) -> tuple[dict, int]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", kind, "--seconds", str(seconds), *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        return read_port(proc)
    finally:
        proc.wait(10)


def fast_rates(seconds: float, runs: int) -> int:
    """Bytes per CPU second of every format in fast mode (median of runs)."""
    from sensorio.emulator import config_from_options
    from sensorio.emulator.engine import render

    print(f"fast mode, {seconds:g} device seconds per format, CPU time, median of {runs} (target 10 MB/s)")
    worst = float("inf")
    for fmt, cmd in (("sio", b"START\n"), ("cyton", b"b"), ("ascii", b"")):
        cfg = config_from_options({"format": [fmt], "duration": [str(seconds)], "seed": ["3"]})
        rates, base = [], []
        size = 0
        for _ in range(runs):
            t = time.process_time()
            data, _truth = render(cfg, cmd)
            rates.append(len(data) / (time.process_time() - t))
            size = len(data)
            t = time.process_time()
            os.urandom(size)
            base.append(size / max(1e-9, time.process_time() - t))
        r = statistics.median(rates)
        worst = min(worst, r)
        print(
            f"  {fmt:<6} {size / 1e6:7.2f} MB  {r / 1e6:7.2f} MB/s   "
            f"(baseline os.urandom {statistics.median(base) / 1e6:.0f} MB/s)"
        )
    return 0 if worst >= 10e6 else 1


def fast_pty_rates(seconds: float, runs: int) -> int:
    """Bytes per CPU second of the emulator serving each format in fast mode
    on a pty, read by this process as fast as it comes (median of runs)."""
    print(
        f"fast mode on a pty (sensorio emulate --fast), {seconds:g} device seconds per format, "
        f"the server's CPU time, median of {runs} (target 10 MB/s)"
    )
    worst = float("inf")
    for fmt in ("sio", "cyton", "ascii"):
        rates, walls, size, complete = [], [], 0, True
        for _ in range(runs):
            rep, got = run("fastpty", seconds, ["--format", fmt])
            rates.append(rep["bytes"] / max(1e-9, rep["cpu"]))
            walls.append(rep["bytes"] / max(1e-9, rep["wall"]))
            size = rep["bytes"]
            complete = complete and got == rep["bytes"]
        r = statistics.median(rates)
        worst = min(worst, r)
        print(
            f"  {fmt:<6} {size / 1e6:7.2f} MB  {r / 1e6:7.2f} MB/s of server CPU, "
            f"{statistics.median(walls) / 1e6:6.2f} MB/s wall, {'all read' if complete else 'NOT ALL READ'}"
        )
    return 0 if worst >= 10e6 else 1


def profile_format(profile: str) -> str:
    """The first wire format the profile speaks."""
    from sensorio.emulator import config_from_options
    from sensorio.errors import UsageError

    for fmt in ("sio", "cyton", "ascii"):
        try:
            config_from_options({"profile": [profile], "format": [fmt]})
        except UsageError:
            continue
        return fmt
    raise UsageError(f"profile {profile!r} speaks none of sio, cyton, ascii")


def profile_runs(seconds: float) -> int:
    """Every built-in profile in real time on a pty, read as fast as it comes."""
    from sensorio.emulator.profiles import PROFILES

    print(f"built-in profiles in real time, {seconds:g} s each (target: never fell behind)")
    behind = 0
    for name in PROFILES:
        rep, got = run("emulator", seconds, ["--profile", name])
        behind += rep["lag_count"]
        ok = "all read" if got == rep["bytes"] else f"READ {got} OF {rep['bytes']} BYTES"
        print(
            f"  {name:<11} {profile_format(name):<6} {100 * rep['cpu'] / rep['wall']:5.1f} % of a core, "
            f"{rep['bytes'] / rep['wall'] / 1e3:6.1f} kB/s, fell behind {rep['lag_count']} times "
            f"(max {rep['max_lag_s'] * 1000:.0f} ms), {ok}"
        )
    return 0 if behind == 0 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child", choices=("emulator", "baseline", "fastpty"))
    ap.add_argument("--format", default="sio", help=argparse.SUPPRESS)
    ap.add_argument("--pty", action="store_true", help="with --fast: served on a pty, read by this process")
    ap.add_argument("--byte-rate", type=float, default=0.0)
    ap.add_argument("--frame-bytes", type=int, default=0)
    ap.add_argument("--fast", action="store_true", help="bytes per CPU second of each format in fast mode")
    ap.add_argument(
        "--profiles", action="store_true", help="each built-in profile in real time: CPU share and falling behind"
    )
    ap.add_argument("--profile", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fast and args.pty:
        return fast_pty_rates(args.seconds, args.runs)
    if args.fast:
        return fast_rates(args.seconds, args.runs)
    if args.profiles:
        return profile_runs(args.seconds)
    if args.child == "emulator":
        child_emulator(args.seconds, args.profile)
        return 0
    if args.child == "fastpty":
        child_fast_pty(args.seconds, args.format)
        return 0
    if args.child == "baseline":
        child_baseline(args.seconds, args.byte_rate, args.frame_bytes)
        return 0

    emu_share, base_share, lags, max_lag = [], [], [], 0.0
    print(
        f"emulator: SIO-1, {CHANNELS} ch x {RATE:g} Hz {ENC}, real time, {args.seconds:g} s per run, {args.runs} runs"
    )
    for i in range(args.runs):
        rep, got = run("emulator", args.seconds, [])
        share = rep["cpu"] / rep["wall"]
        emu_share.append(share)
        lags.append(rep["lag_count"])
        max_lag = max(max_lag, rep["max_lag_s"])
        ok = "all read" if got == rep["bytes"] else f"READ {got} OF {rep['bytes']} BYTES"
        print(
            f"  run {i + 1}: emulator {100 * share:5.1f} % of a core, "
            f"{rep['frames'] / rep['wall']:.0f} frames/s, "
            f"{rep['bytes'] / rep['wall'] / 1e3:.0f} kB/s, fell behind {rep['lag_count']} times "
            f"(max {rep['max_lag_s'] * 1000:.0f} ms), {ok}"
        )
        brep, _ = run(
            "baseline",
            args.seconds,
            [
                "--byte-rate",
                str(rep["bytes"] / rep["wall"]),
                "--frame-bytes",
                str(max(1, rep["bytes"] // max(1, rep["frames"]))),
            ],
        )
        base_share.append(brep["cpu"] / brep["wall"])
        print(f"         baseline pacer {100 * base_share[-1]:5.1f} % of a core")
    e, b = statistics.median(emu_share), statistics.median(base_share)
    print(
        f"median: emulator {100 * e:.1f} % of one core (target < 25 %), "
        f"baseline pacer {100 * b:.1f} %, "
        f"ratio {e / b if b else float('inf'):.1f}x; fell behind {sum(lags)} times in all runs, "
        f"max lag {max_lag * 1000:.0f} ms"
    )
    return 0 if e < 0.25 else 1


if __name__ == "__main__":
    sys.exit(main())
