#!/usr/bin/env python3
"""Peak memory of the file commands against the recording's length (issue 15).

Writes sensorio recordings of 64 channels x 4 kHz int24 (HD-EMG) of several
lengths (or other channel counts: above 64, as streams of at most 64 channels
each, the way an SIO-1 rig of 128 or 256 channels sends them) into a
temporary folder (never into the repository), runs each command on them
in a child process and prints the child's peak resident set
size (``ru_maxrss`` of the child, from ``os.wait4``), next to the baseline of
the same run: ``python -c 'import sensorio'`` alone, and (where it is cheap
enough) the old path that held every block in memory (``decode_any``).

    python tools/bench_memory.py --quick            # 10 s, 1 min (a minute or two)
    python tools/bench_memory.py                    # 1 min, 10 min, 1 h (2.8 GB; over an hour on 2 cores)
    python tools/bench_memory.py --lengths 60,600 --commands decode,info

Target: every command at most 300 MB whatever the length.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sensorio import sio1  # noqa: E402
from sensorio.recording import RecordingWriter  # noqa: E402

#: samples per DATA frame: 5 x 64 channels x 3 bytes fits sio1.MAX_FRAME
SAMPLES_PER_FRAME = 5
#: channels of one SIO-1 stream at most (PROTOCOL.md: n_ch 1..64)
STREAM_CHANNELS = 64
COMMANDS = ("info", "decode", "analyze", "plot", "replay", "export-csv", "export-npz", "export-bdf", "export-bids")


def descriptor(channels: int, rate_hz: float) -> dict:
    """An INFO descriptor of int24 EMG in microvolts: one stream, or streams
    of STREAM_CHANNELS channels (the last one the rest) above that, then
    without labels (optional; 256 of them overflow the 1024-byte frame)."""
    widths = [min(STREAM_CHANNELS, channels - c0) for c0 in range(0, channels, STREAM_CHANNELS)]
    desc: dict = {
        "device": "bench-hdemg",
        "serial": "BENCH0001",
        "fw": "1.0",
        "streams": [
            {
                "id": sid,
                "name": "emg" if len(widths) == 1 else f"emg{sid + 1}",
                "channels": width,
                "rate_hz": rate_hz,
                "enc": sio1.ENC_I24,
                "unit": "uV",
                "scale": 0.0223517,
                "zero": 0,
                "min_code": -(1 << 23),
                "max_code": (1 << 23) - 1,
            }
            for sid, width in enumerate(widths)
        ],
    }
    if len(widths) == 1:
        desc["streams"][0]["labels"] = [f"ch{i + 1}" for i in range(channels)]
    return desc


def make_recording(
    path: Path, seconds: float, channels: int = 64, rate_hz: float = 4000.0, *, enc: int = sio1.ENC_I24
) -> int:
    """Write a recording of ``seconds`` of noise-like EMG codes (plus a flat
    channel for a while, which the fault detector finds); returns its size."""
    rng = np.random.default_rng(1)
    desc = descriptor(channels, rate_hz)
    lo, hi = sio1.ENC_RANGE[enc]
    for st in desc["streams"]:
        st["enc"], st["min_code"], st["max_code"] = enc, lo, hi
    n_frames = int(seconds * rate_hz) // SAMPLES_PER_FRAME
    # one second of codes, reused with a per-second shift (cheap, not periodic per frame)
    pool = (rng.standard_normal((int(rate_hz), channels)) * 400).astype(np.int32)
    pool = np.clip(pool, max(lo, -30000), min(hi, 30000))
    enc_ = sio1.DataEncoder()
    header = {"format": "sio", "device_info": desc, "port": "bench", "software": "tools/bench_memory.py"}
    t0 = time.time_ns()
    w = RecordingWriter(path, header, overwrite=True, fsync=False)
    try:
        w.add(b"\x00" + sio1.encode_info(desc), t0)
        per_sec = int(rate_hz) // SAMPLES_PER_FRAME
        t_us_step = int(SAMPLES_PER_FRAME * 1e6 / rate_hz)
        for second in range(0, n_frames, per_sec):
            shift = (second // per_sec * 37) % int(rate_hz)
            codes = np.roll(pool, shift, axis=0)
            if 2 <= second // per_sec < 4:
                codes = codes.copy()
                codes[:, 3] = 1234  # a flat channel for 2 s
            parts = []
            for k in range(min(per_sec, n_frames - second)):
                i = second + k
                rows = codes[k * SAMPLES_PER_FRAME : (k + 1) * SAMPLES_PER_FRAME]
                for sid, c0 in enumerate(range(0, channels, STREAM_CHANNELS)):
                    parts.append(
                        enc_.encode(
                            rows[:, c0 : c0 + STREAM_CHANNELS],
                            stream=sid,
                            enc=enc,
                            seq=i,
                            t_us=i * t_us_step,
                        )
                    )
            w.add(b"".join(parts), t0 + int(second / per_sec * 1e9))
            while len(w._raw) > 64 << 20:  # let the writer thread keep up (bounded memory here too)
                time.sleep(0.01)
    finally:
        w.close()
    return path.stat().st_size


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(peak RSS MB, seconds, exit code, last stderr line) of a child process."""
    t = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=env["BENCH_CWD"])
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    return usage.ru_maxrss / 1024, time.monotonic() - t, proc.returncode, last


def command_argv(cmd: str, rec: Path, out: Path) -> list[str]:
    py = [sys.executable, "-m", "sensorio"]
    if cmd == "info":
        return py + ["info", str(rec)]
    if cmd == "decode":
        return py + ["decode", str(rec), "-o", str(out / "d.npz"), "--force"]
    if cmd == "analyze":
        return py + ["analyze", str(rec), "--events", str(out / "e.jsonl"), "--force"]
    if cmd == "plot":
        return py + ["plot", str(rec), "-o", str(out / "p.png"), "--force"]
    if cmd == "replay":
        return py + ["replay", str(rec), "--speed", "max"]
    if cmd == "export-bids":  # BIDS-EMG: analysis, mains, channel health, BDF
        return py + ["export", str(rec), "--bids", str(out / "bids"), "--subject", "01", "--task", "bench", "--force"]
    if cmd.startswith("export-"):  # export-csv, export-npz, export-bdf (with fault detection)
        return py + ["export", str(rec), "-o", str(out / f"x.{cmd.split('-', 1)[1]}"), "--force"]
    if cmd == "old-decode":  # every block in memory at once (decode_any + concat_blocks, as before issue 15)
        code = (
            "import sys; from sensorio.recording import decode_any; from sensorio.parser import concat_blocks; "
            "p, b, m, r = decode_any(sys.argv[1]); s = concat_blocks(b)"
        )
        return [sys.executable, "-c", code, str(rec)]
    raise ValueError(cmd)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10 s and 1 min only")
    ap.add_argument("--lengths", help="comma-separated lengths in seconds (default 60,600,3600)")
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--rate", type=float, default=4000.0)
    ap.add_argument("--commands", default=",".join(COMMANDS), help=f"comma-separated, of {', '.join(COMMANDS)}")
    ap.add_argument("--old", action="store_true", help="also the old all-in-memory decode (up to 10 min)")
    ap.add_argument("--dir", type=Path, help="where to write the recordings (default: a temporary folder)")
    ap.add_argument("--json", action="store_true", help="one JSON object per measurement")
    args = ap.parse_args()
    default = [10, 60] if args.quick else [60, 600, 3600]
    lengths = [float(x) for x in args.lengths.split(",")] if args.lengths else default
    commands = [c for c in args.commands.split(",") if c]
    env = dict(os.environ, PYTHONPATH=str(ROOT), BENCH_CWD=str(ROOT))
    env.pop("SENSORIO_DEBUG", None)
    base = run_child([sys.executable, "-c", "import sensorio, sensorio.cli"], env)[0]
    print(f"# baseline: python -c 'import sensorio' peaks at {base:.0f} MB")
    streams = -(-args.channels // STREAM_CHANNELS)
    layout = f"{args.channels} ch ({streams} stream{'s' if streams > 1 else ''})"
    print(f"# {layout} x {args.rate:g} Hz int24, peak RSS of each command (MB) and wall time (s)")
    print(f"{'length':>8} {'file MB':>8} {'command':>12} {'peak MB':>8} {'- base':>7} {'s':>7}  exit")
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="sensorio-bench-mem-") as tmp:
        out = Path(tmp)
        for seconds in lengths:
            rec = out / f"rec_{int(seconds)}s.sior"
            size = make_recording(rec, seconds, args.channels, args.rate)
            runs = list(commands)
            if args.old and seconds <= 600:
                runs.append("old-decode")
            for cmd in runs:
                peak, wall, rc, last = run_child(command_argv(cmd, rec, out), env)
                row = {
                    "seconds": seconds,
                    "file_mb": size / 1e6,
                    "command": cmd,
                    "peak_mb": peak,
                    "baseline_mb": base,
                    "wall_s": wall,
                    "exit": rc,
                }
                if args.json:
                    print(json.dumps(row))
                else:
                    note = "" if rc == 0 else f"  ({last[:80]})"
                    print(
                        f"{seconds / 60:>7.1f}m {size / 1e6:>8.0f} {cmd:>12} {peak:>8.0f} {peak - base:>7.0f} "
                        f"{wall:>7.1f}  {rc}{note}",
                        flush=True,
                    )
            rec.unlink()
            for f in out.iterdir():
                shutil.rmtree(f) if f.is_dir() else f.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
