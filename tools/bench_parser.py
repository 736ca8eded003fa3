#!/usr/bin/env python3
"""Parser throughput, measured in one run on the same bytes:

* the C parser through the public Python API (Parser.feed + read), in MB/s
  and frames/s, median of repeats;
* the plain-Python reference decoder on a slice of the same stream (the
  baseline), and the ratio between the two;
* memory while parsing --gb gigabytes: resident set size before and after.

Targets (issue 2): >= 400 MB/s for 8-channel, 10-sample int16 frames on one
core, >= 200x the reference decoder, memory flat.

    python tools/bench_parser.py            # full run (1 GB memory check)
    python tools/bench_parser.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sensorio import Parser, sio1  # noqa: E402
from sensorio.reference import ReferenceDecoder  # noqa: E402


def sio_stream(megabytes: float, n_ch: int = 8, n_samp: int = 10, seed: int = 0) -> tuple[bytes, int]:
    """Realistic-looking int16 EMG codes (noise around zero, a few hundred
    counts), so COBS sees the zero bytes real data has."""
    rng = np.random.default_rng(seed)
    enc = sio1.DataEncoder()
    frame_len = len(enc.encode(np.zeros((n_samp, n_ch), dtype=np.int32)))
    n_frames = int(megabytes * 1e6 / frame_len)
    codes = (rng.standard_normal((n_frames, n_samp, n_ch)) * 300).astype(np.int32)
    parts = [enc.encode(codes[i], seq=i & 0xFFFF, t_us=i * 5000) for i in range(n_frames)]
    return b"".join(parts), n_frames


def rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_c(data: bytes, chunk: int, repeats: int, fmt="sio") -> tuple[list[float], list[float]]:
    """Wall and CPU seconds per run. On a shared machine the CPU time of this
    single-threaded process is the honest 'one core' figure; both are shown."""
    wall, cpu = [], []
    view = memoryview(data)
    for _ in range(repeats):
        parser = Parser(fmt)
        t0, c0 = time.perf_counter(), time.process_time()
        for off in range(0, len(data), chunk):
            parser.feed(view[off : off + chunk])
            parser.read()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def reference_mbs(data: bytes, runs: int = 3) -> float:
    """The Python reference decoder's MB/s per core on data (median of runs)."""
    cpu = []
    for _ in range(runs):
        ref = ReferenceDecoder()
        c0 = time.process_time()
        ref.feed(data)
        cpu.append(time.process_time() - c0)
    return len(data) / statistics.median(cpu) / 1e6


def sweep_channels(spec: str, mb: float, chunk: int, repeats: int, ref_kb: float) -> int:
    """SIO-1 throughput per channel count: MB/s and channel-samples/s of the C
    parser, and the reference decoder on a slice of the same bytes."""
    try:
        chans = [int(v) for v in spec.split(",")]
    except ValueError:
        chans = []
    if not chans or not all(1 <= c <= 64 for c in chans):
        print(f"bench_parser: --sweep-channels wants counts from 1 to 64, e.g. 8,64; got {spec!r}", file=sys.stderr)
        return 2
    print(f"{mb:g} MB per stream, feed chunk {chunk} B, medians of {repeats} (CPU time); int16 frames")
    print("channels  samples/frame  frame B |   MB/s   M channel-samples/s | reference MB/s   ratio")
    for ch in chans:
        # the most samples (10 at most, as the default stream) a 1024-byte frame holds
        n_samp = next(n for n in range(10, 0, -1) if sio1.data_frame_len(sio1.ENC_I16, ch, n))
        data, n_frames = sio_stream(mb, ch, n_samp)
        _, cpu = time_c(data, chunk, repeats)
        sec = statistics.median(cpu)
        ref = reference_mbs(data[: int(ref_kb * 1000)])
        print(
            f"{ch:8d}  {n_samp:13d}  {len(data) / n_frames:7.0f} | {len(data) / sec / 1e6:6.1f}   "
            f"{n_frames * n_samp * ch / sec / 1e6:19.1f} | {ref:14.3f}  {len(data) / sec / 1e6 / ref:6.0f}x",
            flush=True,
        )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=64, help="stream size for the speed runs (MB)")
    ap.add_argument("--chunk", type=int, default=1 << 20, help="bytes per feed() call")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--ref-kb", type=float, default=300, help="slice the reference decoder parses (kB)")
    ap.add_argument("--gb", type=float, default=1.0, help="total to parse for the memory check (GB)")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument(
        "--sweep-channels",
        metavar="N,N,...",
        help="SIO-1 throughput against channels per frame instead (int16, 1 to 64), each beside the reference decoder",
    )
    args = ap.parse_args()
    if args.quick:
        args.mb, args.repeats, args.ref_kb, args.gb = 8, 3, 60, 0.05
    if args.sweep_channels:
        return sweep_channels(args.sweep_channels, args.mb, args.chunk, args.repeats, args.ref_kb)

    data, n_frames = sio_stream(args.mb)
    frame_bytes = len(data) / n_frames
    print(
        f"stream: {len(data) / 1e6:.1f} MB, {n_frames} frames of 8 ch x 10 int16 "
        f"({frame_bytes:.0f} B on the wire), feed chunk {args.chunk} B"
    )

    wall, cpu = time_c(data, args.chunk, args.repeats)
    c_cpu = len(data) / statistics.median(cpu) / 1e6
    c_wall = len(data) / statistics.median(wall) / 1e6
    print(
        f"C parser (public API):    median {c_cpu:8.1f} MB/s per core (CPU time), "
        f"{n_frames / statistics.median(cpu) / 1e6:5.2f} M frames/s; wall clock {c_wall:.1f} MB/s "
        f"({args.repeats} runs)"
    )

    ref_slice = data[: int(args.ref_kb * 1000)]
    ref_mbs = reference_mbs(ref_slice)
    print(
        f"Python reference decoder: median {ref_mbs:8.3f} MB/s per core ({len(ref_slice) / 1e3:.0f} kB slice, 3 runs)"
    )
    ratio = c_cpu / ref_mbs
    print(f"ratio C / reference: {ratio:.0f}x   (targets: >= 400 MB/s, >= 200x)")

    # the other formats: streams built as their tests build them
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_formats_cyton import make_stream
    from test_formats_spec import imu_stream, loadcell_frame

    reps = max(1, int(args.mb * 1e6 / (3000 * 33)))
    cyton = b"".join(make_stream(3000, seed=1)[0]) * reps
    imu = b"".join(imu_stream(2000, seed=1)[0])
    imu *= max(1, int(args.mb * 1e6 / len(imu)))
    lc = b"".join(loadcell_frame(i, (1.5, -2.0, 3.25, 0.0)) for i in range(20000))
    lc *= max(1, int(args.mb * 1e6 / len(lc)))
    asc = "".join(f"{i % 1024},{(7 * i) % 1024},{(13 * i) % 1024},{i % 97}\n" for i in range(100000))
    asc_b = asc.encode() * max(1, int(args.mb * 1e6 / len(asc)))
    for fmt, stream, target in [
        ("cyton", cyton, 200),
        ("openbci-cyton", cyton, 200),
        ("example-imu-modbus", imu, 200),
        ("example-loadcell-f32", lc, 200),
        ("ascii", asc_b, None),
    ]:
        wall, cpu = time_c(stream, args.chunk, args.repeats, fmt)
        mbs = len(stream) / statistics.median(cpu) / 1e6
        goal = f"(target >= {target} MB/s)" if target else ""
        print(f"format {fmt:22s} median {mbs:8.1f} MB/s per core (CPU time) {goal}")

    # memory: parse --gb in total, discarding blocks as a consumer would
    parser = Parser()
    view = memoryview(data)
    total = 0
    target = args.gb * 1e9
    rss_start = None
    t0 = time.perf_counter()
    while total < target:
        for off in range(0, len(data), args.chunk):
            parser.feed(view[off : off + args.chunk])
            parser.read()
        total += len(data)
        if rss_start is None:
            rss_start = rss_mb()  # after the first pass: buffers allocated
    elapsed = time.perf_counter() - t0
    rss_end = rss_mb()
    s = parser.stats
    print(
        f"memory: parsed {total / 1e9:.2f} GB in {elapsed:.1f} s; RSS after first pass {rss_start:.1f} MB, "
        f"at the end {rss_end:.1f} MB (growth {rss_end - rss_start:+.1f} MB); "
        f"frames {s.frames_ok}, errors {s.crc_errors + s.cobs_errors + s.malformed}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
