"""Benchmark of the default dsp pipeline (calibrate, faults, drift, notch,
band-pass, envelope).

Prints, as medians over repeats:
- throughput on big blocks, in channel-samples per second (target >= 10 M on
  one core) once the pipeline runs (after a 2 s warm-up: filter design and
  mains detection happen once per stream; the figure from a cold start is
  printed too), against a baseline measured in the same run: plain
  scipy.signal.sosfilt of a 4th-order 20-450 Hz band-pass over the same data;
- the cost of one 10 ms block of 16 channels at 4 kHz (target < 0.3 ms),
  against the same baseline on that block;
- the pipeline's total added latency (group delays and look-ahead), per stage.
The block-by-block figures are split by the block's place in the fault
detector's 50 ms hop too: the block completing a hop carries its decisions.

Times are CPU time of this process (time.process_time; the machine is shared,
so wall time is noisy), every thread's: numeric libraries keep the thread
pools a user's program has (the pipeline holds its own big matrix products
to one BLAS thread, sensorio/dsp/_blas.py), so CPU that idle BLAS threads
burn counts; the wall-clock medians are printed alongside. The minor page
faults of the timed loops are printed too (per 1000 blocks one by one, per
big block for throughput): fresh memory the kernel zeroes is system time
inside those figures, and the set-up's (the signal made here, the first
blocks) is not.

With --sweep, instead: a table over channel counts (8 to 256 by default) of
the steady-state cost per channel-sample on big blocks and of one 10 ms block
(median and p99 block by block), each against the plain sosfilt baseline
measured in the same run (targets: 256 ch within 1.2x the per channel-sample
cost of 64 ch; a 10 ms block of 256 ch x 4 kHz at most 1 ms p99).
``--sweep CHANNELS:RATES`` (e.g. 8,64,256:1000,4000,16000) prints that
table at each rate.

With --stuck N, N channels hold one code throughout: a lasting fault, masked
all along (what one faulty channel costs the others).

With --grid ROWSxCOLS, the channels sit on that electrode grid, row by row,
as a device's INFO can say: the fault detector compares each with its
neighbours as well (what that costs).

With --parts, instead: where a 10 ms block's CPU time goes, by the block's
place in the detector's hop: the mean per block of each stage's call, of
running ahead, and of the fault detector's steps (its front end and hop sums
in C, its features, learnt levels and hysteresis, its output mask), each
timed around the call (nested parts are inside their callers' figures).

Usage: python3 tools/bench_dsp.py [--channels 16] [--rate 4000] [--seconds 20] [--repeats 5] [--stuck N]
                                  [--block-seconds 12] [--grid ROWSxCOLS]
       python3 tools/bench_dsp.py --parts [--channels 256] [--seconds 12] [--grid ROWSxCOLS]
       python3 tools/bench_dsp.py --sweep [8,16,32,64,65,128,256] [--seconds 6] [--repeats 3]
       python3 tools/bench_dsp.py --sweep 8,64,256:1000,4000,16000 [--seconds 6] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import signal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sensorio.blocks import Block  # noqa: E402
from sensorio.cli._realtime import freeze_setup  # noqa: E402
from sensorio.dsp import Pipeline, _blas  # noqa: E402
from sensorio.emulator.config import parse_grid  # noqa: E402

SCALE = 0.5


def descriptor(channels: int, rate: float, grid: tuple[int, int] | None = None) -> dict:
    """The bench device's INFO; with grid (rows, cols), its channels on that
    electrode grid row by row (the detector then compares neighbours)."""
    info: dict = {
        "device": "bench",
        "serial": "BENCH",
        "streams": [
            {
                "id": 0,
                "name": "emg",
                "channels": channels,
                "rate_hz": rate,
                "enc": 1,
                "unit": "uV",
                "scale": SCALE,
                "zero": 0,
                "min_code": -32768,
                "max_code": 32767,
            }
        ],
    }
    if grid is not None:
        info["streams"][0]["grid"] = list(grid)
    return info


def emg_codes(n: int, channels: int, rate: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sos = signal.butter(2, [20, min(450, 0.45 * rate)], "bandpass", fs=rate, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal((n, channels)), axis=0)
    # rest and contraction with smooth ramps, as real EMG (no fault in it)
    level = 5 + 200 * np.clip(np.sin(2 * np.pi * np.arange(n) / rate / 3.0), 0, None) ** 2
    x = x / x.std() * level[:, None] + 20 * np.sin(2 * np.pi * 50 * np.arange(n) / rate)[:, None]
    return np.rint(x / SCALE).astype(np.int32)


def blocks_of(codes: np.ndarray, rows: int, offset: int = 0) -> list[Block]:
    """Blocks of `rows` rows; offset: the stream row of codes[0]."""
    out = []
    for j in range(0, len(codes), rows):
        part = codes[j : j + rows]
        i = j + offset
        out.append(
            Block(
                0,
                part,
                np.array([i // rows], np.uint32),
                np.zeros(1, np.uint64),
                np.zeros(1, np.uint64),
                np.zeros(1, np.uint32),
                first_row=i,
            )
        )
    return out


class Clock:
    """CPU and wall seconds of a stretch of code."""

    def __enter__(self) -> Clock:
        self._c, self._w = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self._c
        self.wall = time.perf_counter() - self._w


def minor_faults() -> int:
    """This process's minor page faults so far (pages the kernel mapped in,
    zeroed when fresh)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def run_pipeline(pipe: Pipeline, blocks: list[Block], faults: list[int] | None = None) -> Clock:
    """The blocks through pipe, timed; faults: given, the minor page faults
    of the loop are appended to it."""
    f0 = minor_faults()
    with Clock() as clk:
        for b in blocks:
            pipe.process(b)
    if faults is not None:
        faults.append(minor_faults() - f0)
    return clk


def time_each(pipe: Pipeline, blocks: list[Block], faults: list[int] | None = None) -> np.ndarray:
    """The CPU time of each block through pipe, one by one (s). First, as
    the long-running commands do before their signal path starts, what is
    built by now (the blocks to time among it) is put out of the garbage
    collector's reach (and back in it afterwards): it lives through the
    timing, and a full collection walking it (30-40 ms) is not the
    pipeline's time. faults: given, the minor page faults of the whole
    loop are appended to it (counted around the loop, not each block)."""
    each = np.empty(len(blocks))
    freeze_setup()
    try:
        f0 = minor_faults()
        for i, b in enumerate(blocks):
            t0 = time.process_time()
            pipe.process(b)
            each[i] = time.process_time() - t0
        if faults is not None:
            faults.append(minor_faults() - f0)
    finally:
        gc.unfreeze()
    return each


def blas_threads() -> str:
    """numpy's BLAS and its thread count as this program has it, the line
    the default and --sweep modes print (the pipeline holds its big products
    to one thread)."""
    libs = _blas._blas_libraries()
    found = ", ".join(f"{lib.internal_api} {lib.get_num_threads()}" for lib in libs) or "none found"
    return (
        f"numpy's BLAS threads as this program has them: {found} "
        f"(the pipeline's products of {_blas.SPLIT_FROM} multiply-adds or more run on one)"
    )


def baseline(x: np.ndarray, sos: np.ndarray, zi: np.ndarray) -> Clock:
    with Clock() as clk:
        signal.sosfilt(sos, x, axis=0, zi=zi)
    return clk


def sweep(channel_counts: list[int], fs: float, seconds: float, repeats: int, big_rows: int) -> None:
    """Print the cost per channel-sample and per 10 ms block against the channel count."""
    rows = max(1, int(round(0.01 * fs)))
    warm_rows = int(2 * fs)
    n = max(int(seconds * fs), warm_rows + rows * 10)
    print(
        f"default pipeline at {fs:g} Hz, steady state after a 2 s warm-up, CPU time, median of {repeats} "
        f"(baseline: scipy sosfilt 20-450 Hz band-pass over the same data, same run)"
    )
    print(
        f"{'ch':>4} {'ns/ch-sample':>12} {'baseline':>9} {'x64ch':>6} {'faults':>7} | "
        f"{'10 ms block: mean':>17} {'p50':>7} {'p99':>7} {'max':>7} {'baseline':>9}  (ms) {'faults/1000':>11}"
    )
    print(
        "  (faults: minor page faults, median of the repeats: of the big block's run, "
        "and per 1000 blocks of the 10 ms blocks' run)"
    )
    per_cs: dict[int, float] = {}
    for ch in channel_counts:
        codes = emg_codes(n, ch, fs)
        info = descriptor(ch, fs)
        x = codes.astype(np.float64) * SCALE
        sos = signal.butter(2, [20, 450], "bandpass", fs=fs, output="sos")
        zi = np.zeros((sos.shape[0], 2, ch))
        warm = blocks_of(codes[:warm_rows], warm_rows)
        # the 10 ms blocks' pipeline warms up in 10 ms blocks too, as the
        # default mode's does: after one 2 s block, its first small blocks
        # set up what small blocks use (the first took 1-5 ms, and made
        # 800 of 64 channels' minor page faults), set-up counted as steady
        warm_small = blocks_of(codes[:warm_rows], rows)
        big = blocks_of(codes[warm_rows:], big_rows, offset=warm_rows)
        small = blocks_of(codes[warm_rows:], rows, offset=warm_rows)
        n_steady = n - warm_rows
        cs, base_cs, blk_mean, base_blk = [], [], [], []
        each_all: list[np.ndarray] = []
        big_faults: list[int] = []
        blk_faults: list[int] = []
        xb = x[:rows]
        for _ in range(repeats):
            pipe = Pipeline.default(info, auto=False)
            run_pipeline(pipe, warm)
            cs.append(run_pipeline(pipe, big, big_faults).cpu / (n_steady * ch))
            base_cs.append(baseline(x, sos, zi).cpu / (n * ch))
            pipe = Pipeline.default(info, auto=False)
            run_pipeline(pipe, warm_small)
            each = time_each(pipe, small, blk_faults)
            each_all.append(each)
            blk_mean.append(float(each.mean()))
            with Clock() as bclk:
                for _ in range(len(small)):
                    signal.sosfilt(sos, xb, axis=0, zi=zi)
            base_blk.append(bclk.cpu / len(small))
        per_cs[ch] = statistics.median(cs)
        each = np.concatenate(each_all)
        p50, p99 = np.percentile(each, [50, 99])
        rel = f"{per_cs[ch] / per_cs[64]:6.2f}" if 64 in per_cs else f"{'':6}"
        print(
            f"{ch:>4} {per_cs[ch] * 1e9:12.1f} {statistics.median(base_cs) * 1e9:9.1f} {rel} "
            f"{statistics.median(big_faults):7.0f} | "
            f"{statistics.median(blk_mean) * 1e3:17.3f} {p50 * 1e3:7.3f} {p99 * 1e3:7.3f} {each.max() * 1e3:7.3f} "
            f"{statistics.median(base_blk) * 1e3:9.3f}      "
            f"{statistics.median(blk_faults) * 1000 / len(small):11.0f}",
            flush=True,
        )


#: what --parts times: (label, the object's attribute path from the
#: pipeline, the method), in the order printed
PARTS = (
    ("pipeline (the whole block)", "", "process"),
    ("calibrate", "stage:calibrate", "process_raw"),
    ("faults", "stage:faults", "process"),
    ("  front end and hop sums (C)", "stage:faults._native", "run"),
    ("  features and verdicts", "stage:faults", "_features"),
    ("    of which: hop features (C)", "stage:faults._native", "hop_features"),
    ("    of which: learnt levels", "stage:faults", "_learn"),
    ("  hysteresis and events", "stage:faults", "_hysteresis"),
    ("  output (decisions of a hop)", "stage:faults", "_decide"),
    ("    of which: output mask (C)", "stage:faults._native", "hop_mask"),
    ("run ahead: taking its output", "_ahead", "outputs"),
    ("run ahead: filtering ahead", "_ahead", "advance"),
    ("notch", "stage:notch", "process"),
    ("bandpass", "stage:bandpass", "process"),
    ("drift", "stage:drift", "process"),
    ("envelope", "stage:envelope", "process"),
)


def parts(ch: int, fs: float, seconds: float, grid: tuple[int, int] | None = None) -> None:
    """Print the mean CPU time per block of each of PARTS, by the block's
    place in the fault detector's hop (after a 2 s warm-up)."""
    rows = max(1, int(round(0.01 * fs)))
    codes = emg_codes(int(seconds * fs), ch, fs)
    blocks = blocks_of(codes, rows)
    pipe = Pipeline.default(descriptor(ch, fs, grid), auto=False)
    warm = int(2 * fs) // rows
    for b in blocks[:warm]:
        pipe.process(b)
    det = next(st for st in pipe.stages if st.kind == "faults")
    per_hop = det.hop // rows
    spent = np.zeros((len(PARTS), per_hop))
    timing = [False]

    def owner(path: str) -> object | None:
        obj: object | None = pipe
        for part in path.split(".") if path else []:
            if part.startswith("stage:"):
                obj = next((st for st in pipe.stages if st.kind == part[6:]), None)
            else:
                obj = getattr(obj, part, None)
            if obj is None:
                return None
        return obj

    place = [0]
    wrapped = []
    for i, (_, path, name) in enumerate(PARTS):
        obj = owner(path)
        if obj is None or not hasattr(obj, name):
            continue  # a part this pipeline does not have (no C core, a stage left out)
        wrapped.append(i)
        method = getattr(obj, name)

        def timed(*a: object, _m=method, _i=i, **k: object) -> object:
            if not timing[0]:
                return _m(*a, **k)
            t0 = time.process_time()
            try:
                return _m(*a, **k)
            finally:
                spent[_i, place[0]] += time.process_time() - t0

        setattr(obj, name, timed)  # on this instance only
    timed_blocks = blocks[warm:]
    for j, b in enumerate(timed_blocks):
        place[0] = (warm + j) % per_hop
        timing[0] = True
        pipe.process(b)
        timing[0] = False
    counts = np.bincount((warm + np.arange(len(timed_blocks))) % per_hop, minlength=per_hop)
    mean = spent / counts[None, :] * 1e3
    print(
        f"where a {rows}-row block of {ch} ch at {fs:g} Hz spends its CPU time, by its place in the "
        f"{per_hop}-block hop (mean ms per block over {len(timed_blocks)} blocks; nested rows are inside the row above)"
    )
    head = " ".join(f"{k + 1:>7}" for k in range(per_hop))
    print(f"  {'':34} {head}   ({per_hop}: completes a hop)")
    for i in wrapped:
        print(f"  {PARTS[i][0]:<34} " + " ".join(f"{v:7.3f}" for v in mean[i]))


def grid_option(text: str) -> tuple[int, int]:
    """--grid's ROWSxCOLS (argparse's one-line error for anything else)."""
    try:
        return parse_grid(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--rate", type=float, default=4000.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--big-rows", type=int, default=1 << 16, help="rows per block for throughput")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--block-seconds",
        type=float,
        default=12.0,
        help="seconds of 10 ms blocks timed one by one (the drift monitor's floor needs 60)",
    )
    ap.add_argument(
        "--sweep",
        nargs="?",
        const="8,16,32,64,65,128,256",
        default=None,
        help="table over channel counts (comma-separated; default 8,16,32,64,65,128,256), "
        "or CHANNELS:RATES for one table per rate (e.g. 8,64,256:1000,4000,16000)",
    )
    ap.add_argument(
        "--stuck",
        type=int,
        default=0,
        help="this many channels hold one code throughout (a lasting fault, masked all along)",
    )
    ap.add_argument("--parts", action="store_true", help="where a block's time goes, by its place in the hop")
    ap.add_argument(
        "--grid",
        type=grid_option,
        metavar="ROWSxCOLS",
        help="the channels on this electrode grid, row by row: the detector compares neighbours too",
    )
    args = ap.parse_args(argv)
    if args.grid and args.grid[0] * args.grid[1] < args.channels:
        ap.error(f"--grid: {args.grid[0]} x {args.grid[1]} cells hold fewer than {args.channels} channels")
    if args.grid and args.sweep:
        ap.error("--grid and --sweep: one grid does not hold every channel count of the table")
    if args.parts or args.sweep:
        # the notch warns once per pipeline when its start-up finds no hum; these modes build many
        warnings.filterwarnings("ignore", message="no mains hum")
    if args.parts:
        parts(args.channels, args.rate, args.seconds, args.grid)
        return 0
    if not 0 <= args.stuck <= args.channels:
        ap.error(f"--stuck: give 0 to {args.channels} channels")
    if args.sweep:
        chans, _, rates = args.sweep.partition(":")
        try:
            counts = [int(c) for c in chans.split(",")]
            fss = [float(r) for r in rates.split(",")] if rates else [args.rate]
        except ValueError:
            ap.error(f"--sweep {args.sweep}: give channel counts, then optionally ':' and rates in Hz")
        if min(counts) < 1 or min(fss) < 1000:
            ap.error("--sweep: channels from 1, rates from 1000 Hz (the baseline's band-pass reaches 450 Hz)")
        print(blas_threads())
        for fs in fss:
            sweep(counts, fs, args.seconds, args.repeats, args.big_rows)
        return 0
    ch, fs = args.channels, args.rate
    n = int(args.seconds * fs)
    codes = emg_codes(n, ch, fs)
    codes[:, : args.stuck] = 1234  # stuck ADCs (spread over the block's channels or not, the cost is the same)
    info = descriptor(ch, fs, args.grid)
    x = codes.astype(np.float64) * SCALE
    sos = signal.butter(2, [20, 450], "bandpass", fs=fs, output="sos")
    zi = np.zeros((sos.shape[0], 2, ch))

    # throughput on big blocks, in steady state: the first 2 s go through
    # untimed (filter design, the notch's mains detection: once per stream);
    # from a cold start as well, for comparison
    warm_rows = int(2 * fs)
    warm = blocks_of(codes[:warm_rows], warm_rows)
    big = blocks_of(codes[warm_rows:], args.big_rows, offset=warm_rows)
    cold = blocks_of(codes, args.big_rows)
    n_steady = n - warm_rows
    tp, base_tp, tp_wall, tp_cold = [], [], [], []
    tp_faults: list[int] = []
    for _ in range(args.repeats):
        pipe = Pipeline.default(info, auto=False)
        run_pipeline(pipe, warm)
        clk = run_pipeline(pipe, big, tp_faults)
        tp.append(n_steady * ch / clk.cpu)
        tp_wall.append(n_steady * ch / clk.wall)
        base_tp.append(n * ch / baseline(x, sos, zi).cpu)
        pipe = Pipeline.default(info, auto=False)
        tp_cold.append(n * ch / run_pipeline(pipe, cold).cpu)
    med_tp, med_base = statistics.median(tp), statistics.median(base_tp)
    print(blas_threads())
    print(
        f"throughput, default pipeline, {ch} ch at {fs:g} Hz, blocks of {args.big_rows} rows "
        f"(CPU time, median of {args.repeats}):"
    )
    print(
        f"  pipeline        {med_tp / 1e6:8.2f} M channel-samples/s   (target >= 10; "
        f"wall {statistics.median(tp_wall) / 1e6:.2f}; after a 2 s warm-up; "
        f"{statistics.median(tp_faults):.0f} minor page faults a run)"
    )
    print(
        f"  from cold       {statistics.median(tp_cold) / 1e6:8.2f} M channel-samples/s   "
        "(set-up and mains detection included)"
    )
    print(
        f"  baseline sosfilt{med_base / 1e6:8.2f} M channel-samples/s   (pipeline = {med_tp / med_base:.2f} x baseline)"
    )

    # cost of one 10 ms block, steady state (after the notch's start-up listening);
    # over --block-seconds, the first 12 s of the signal played again and
    # again (the stream's rows run on): what a stage does once a minute shows
    rows = max(1, int(round(0.01 * fs)))
    loop = int(min(n, 12 * fs)) // rows * rows
    small = []
    for k in range(int(np.ceil(args.block_seconds * fs / loop))):
        small.extend(blocks_of(codes[:loop], rows, offset=k * loop))
    small = small[: max(int(args.block_seconds * fs) // rows, int(2 * fs) // rows + 10)]
    warm = int(2 * fs) // rows
    per_block, base_block, wall_block = [], [], []
    spread: list[np.ndarray] = []
    spread_faults: list[int] = []
    xb = x[:rows]
    for _ in range(args.repeats):
        pipe = Pipeline.default(info, auto=False)
        for b in small[:warm]:
            pipe.process(b)
        timed = small[warm:]
        clk = run_pipeline(pipe, timed)
        per_block.append(clk.cpu / len(timed))
        wall_block.append(clk.wall / len(timed))
        # one by one too: the detector works once per 50 ms hop, so blocks differ
        pipe = Pipeline.default(info, auto=False)
        for b in small[:warm]:
            pipe.process(b)
        spread.append(time_each(pipe, timed, spread_faults))
        with Clock() as bclk:
            for _ in range(len(timed)):
                signal.sosfilt(sos, xb, axis=0, zi=zi)
        base_block.append(bclk.cpu / len(timed))
    med_blk, med_bblk = statistics.median(per_block), statistics.median(base_block)
    stuck = f", {args.stuck} of them stuck" if args.stuck else ""
    print(f"one 10 ms block ({rows} rows x {ch} ch{stuck}), steady state (CPU time):")
    print(
        f"  pipeline        {med_blk * 1e3:8.3f} ms per block          (target < 0.3; "
        f"wall {statistics.median(wall_block) * 1e3:.3f})"
    )
    print(
        f"  baseline sosfilt{med_bblk * 1e3:8.3f} ms per block          "
        f"(pipeline = {med_blk / med_bblk:.1f} x baseline)"
    )
    each = np.concatenate(spread)
    p50, p99, p999 = np.percentile(each, [50, 99, 99.9])
    print(
        f"  block by block  p50 {p50 * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms, p99.9 {p999 * 1e3:.3f} ms, "
        f"max {each.max() * 1e3:.3f} ms over {args.block_seconds:g} s (the detector decides once per 50 ms hop)"
    )
    print(
        "  minor page faults per 1000 blocks (the block-by-block runs): "
        + ", ".join(f"{f * 1000 / len(timed):.0f}" for f in spread_faults)
    )
    # by the block's place in the detector's hop (hops start at stream row 0,
    # as the blocks do): the block completing one carries the hop's decisions
    hop_rows = next(st.hop for st in pipe.stages if st.kind == "faults")
    per_hop = hop_rows // rows
    if per_hop > 1 and hop_rows % rows == 0:
        place = (warm + np.arange(len(timed))) % per_hop
        by_place = [np.concatenate([e[place == k] for e in spread]) for k in range(per_hop)]
        print(
            f"  by place in the hop ({per_hop} blocks; mean, p99): "
            + ", ".join(
                f"{k + 1}{' (completes it)' if k == per_hop - 1 else ''} {b.mean() * 1e3:.3f} / "
                f"{np.percentile(b, 99) * 1e3:.3f} ms"
                for k, b in enumerate(by_place)
            )
        )

    pipe = Pipeline.default(info, auto=False)
    lat = pipe.latency(fs)
    print("added latency:")
    for item in lat:
        print(f"  {item.stage:<10} {item.samples:8.1f} samples  {item.seconds * 1e3:7.2f} ms")
    print(
        f"  {'total':<10} {'':8} {'':7}  {pipe.total_latency_s(fs) * 1e3:7.2f} ms "
        f"(plus a one-off {pipe.stages[2].detect_s:g} s of mains detection at start-up)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
