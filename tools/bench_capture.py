#!/usr/bin/env python3
"""Capture benchmarks over real pseudo-terminals, each against a baseline
measured in the same run on the same pty (a plain poll + os.read loop):

  throughput  highest rate sustained with zero loss (target >= 20 MB/s);
              the device side (another process) writes as fast as the pty takes
  cpu         CPU share of one core while recording 16 ch x 4 kHz int24 to a
              file (target at most 1.5 x a plain read + write loop's, issue
              15's baseline; a plain read loop's, which writes nothing, is
              printed beside it)
  latency     device-side write -> Block in a callback, p50/p99 (targets 1 / 5 ms)
  memory      RSS over a long run at a high rate (must stay flat)

    python3 tools/bench_capture.py                      # all, full length (30 s, 10 min)
    python3 tools/bench_capture.py --seconds 5 --minutes 0.5
    python3 tools/bench_capture.py --only latency
Figures are medians of --repeat runs (ratios: the median of each run's own
ratio, sensorio and its baselines measured one after the other); the machine
is shared, so they are noisy.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import pty
import resource
import select
import statistics
import sys
import tempfile
import time
import tty
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sensorio import Parser  # noqa: E402
from sensorio.capture import open as capture_open  # noqa: E402
from sensorio.capture.stream import RECORDING_MAX_READ_INTERVAL, RECORDING_READ_INTERVAL  # noqa: E402
from sensorio.cli.cmd_record import STATUS_POLL_S, StatusPace  # noqa: E402
from sensorio.sio1 import ENC_I24, DataEncoder, data_frame_len  # noqa: E402


def _pty() -> tuple[int, str]:
    master, slave = pty.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.close(slave)
    return master, path


def _cycle(n_ch: int, n_samp: int, frames: int = 65536) -> bytes:
    """A whole seq cycle of DATA frames, so repeating it never skips a seq."""
    enc = DataEncoder()
    rng = np.random.default_rng(1)
    base = rng.integers(-(1 << 23), 1 << 23, size=(64, n_samp, n_ch))
    return b"".join(enc.encode(base[i % 64], enc=ENC_I24, seq=i, t_us=i * 1000) for i in range(frames))


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


# -- device-side writers (child processes) -----------------------------------------
def _blast(master: int, cycle: bytes, seconds: float, out: mp.Queue) -> None:
    view = memoryview(cycle)
    sent = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for off in range(0, len(view), 1 << 16):
            piece = view[off : off + (1 << 16)]
            _write_all(master, piece)
            sent += len(piece)
            if time.monotonic() >= end:
                break
    out.put(sent)


def _paced(
    master: int, seconds: float, n_ch: int, rate: int, frames_per_s: int, stamp: bool, streams: int, out: mp.Queue
) -> None:
    """Frames at a steady rate, one per stream each tick (streams of n_ch
    channels: SIO-1 carries at most 64 a frame); with stamp, channel 0/1 of
    each frame's first sample carry the write time (CLOCK_MONOTONIC µs,
    shared by all processes). Ticks that fall behind are written at once."""
    enc = DataEncoder()
    n_samp = rate // frames_per_s
    samples = np.zeros((n_samp, n_ch), dtype=np.int32)
    period = 1.0 / frames_per_s
    t0 = time.monotonic()
    seq = 0
    while True:
        due = t0 + seq * period
        now = time.monotonic()
        if now - t0 >= seconds:
            break
        if due > now:
            time.sleep(due - now)
        if stamp:
            us = time.monotonic_ns() // 1000
            samples[0, 0] = us & 0x7FFFFF
            samples[0, 1] = (us >> 23) & 0x7FFFFF
        tick = b"".join(
            enc.encode(samples, stream=k, enc=ENC_I24, seq=seq & 0xFFFF, t_us=seq * 1000) for k in range(streams)
        )
        _write_all(master, memoryview(tick))
        seq += 1
    out.put(seq)


def frame_shape(channels: int, rate: int) -> tuple[int, int, int]:
    """How a device of this many channels at rate Hz sends int24 SIO-1: its
    streams (64 channels each at most), channels per stream, and samples per
    frame (at most a millisecond's, and what a 1024-byte frame holds)."""
    streams = -(-channels // 64)
    per = -(-channels // streams)
    fits = [n for n in (16, 8, 4, 2, 1) if data_frame_len(ENC_I24, per, n) and n <= max(1, rate // 1000)]
    n_samp = next(n for n in fits if rate % n == 0)
    return streams, per, n_samp


def _start(target, *args) -> tuple[mp.Process, mp.Queue]:
    q: mp.Queue = mp.get_context("fork").Queue()
    p = mp.get_context("fork").Process(target=target, args=(*args, q), daemon=True)
    p.start()
    return p, q


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# -- baseline readers ---------------------------------------------------------------------
def _baseline_read(path: str, until: mp.Process, parse: Parser | None = None, on_data=None, sink=None) -> int:
    """A plain poll + os.read loop until `until` ends; each read parsed
    (parse, on_data) or written to the file sink, as a hand-written
    recorder would, if given."""
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    got = 0
    try:
        while True:
            if not poller.poll(100):
                if not until.is_alive():
                    break
                continue
            try:
                data = os.read(fd, 1 << 20)
            except BlockingIOError:
                continue
            got += len(data)
            if sink is not None:
                sink.write(data)
            if parse is not None:
                parse.feed(data)
                if on_data is not None:
                    on_data(parse.read())
    finally:
        os.close(fd)
    return got


# -- benchmarks -----------------------------------------------------------------------------
def bench_throughput(seconds: float, cycle: bytes) -> tuple[float, float, bool]:
    master, path = _pty()
    proc, q = _start(_blast, master, cycle, seconds)
    t0 = time.monotonic()
    got = _baseline_read(path, proc)
    base = got / (time.monotonic() - t0 - 0.1)
    sent = q.get()
    os.close(master)
    assert got == sent

    master, path = _pty()
    with capture_open(path, request_info=False, ring_size=1 << 24, stall_timeout=0) as s:
        proc, q = _start(_blast, master, cycle, seconds)
        t0 = time.monotonic()
        rows = 0
        sent = None
        last = t0
        while True:
            for b in s.read(0.1):
                rows += len(b)
            st = s.stats
            if sent is None and not proc.is_alive():
                sent = q.get()
            if sent is not None and st.bytes_in >= sent:
                last = time.monotonic()
                break
            if time.monotonic() - t0 > seconds + 30:
                break
            last = time.monotonic()
        st = s.stats
    os.close(master)
    lossless = (
        st.bytes_in == sent
        and st.lost_frames == 0
        and st.crc_errors == 0
        and st.cobs_errors == 0
        and st.ring_overflow_bytes == 0
    )
    rate = st.bytes_in / (last - t0)
    return base, rate, lossless


def _baseline_cpu(seconds: float, channels: int, rate: int, write: bool) -> float:
    """The share of a core a plain read loop (and write, if write: to a
    file, as a hand-written recorder does) takes on this device."""
    streams, n_ch, n_samp = frame_shape(channels, rate)
    master, path = _pty()
    proc, q = _start(_paced, master, seconds, n_ch, rate, rate // n_samp, False, streams)
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "plain.bin", "wb") as sink:
        c0, t0 = _cpu(), time.monotonic()
        _baseline_read(path, proc, sink=sink if write else None)
        share = (_cpu() - c0) / (time.monotonic() - t0)
    q.get()
    os.close(master)
    return share


def bench_cpu(seconds: float, channels: int = 16, rate: int = 4000) -> tuple[float, float, float]:
    """CPU shares of a core: the plain read loop, the plain read + write
    loop, and `sensorio record`'s way of recording the same device."""
    # 16 ch x 4 kHz: 4 samples per frame, a frame every ms
    streams, n_ch, n_samp = frame_shape(channels, rate)
    fps = rate // n_samp
    base_read = _baseline_cpu(seconds, channels, rate, write=False)
    base_rw = _baseline_cpu(seconds, channels, rate, write=True)

    master, path = _pty()
    with tempfile.TemporaryDirectory() as tmp:
        # configured as `sensorio record` is: small reads gathered for 10 ms
        # (up to 100 ms at a low byte rate), the blocks taken at its pace
        with capture_open(
            path,
            request_info=False,
            record=Path(tmp) / "cpu.sior",
            stall_timeout=0,
            read_interval=RECORDING_READ_INTERVAL,
            max_read_interval=RECORDING_MAX_READ_INTERVAL,
        ) as s:
            proc, q = _start(_paced, master, seconds, n_ch, rate, fps, False, streams)
            c0, t0 = _cpu(), time.monotonic()
            rows = 0
            pace, wait = StatusPace(t0), STATUS_POLL_S
            while proc.is_alive():
                time.sleep(wait)
                for b in s.read(0):
                    rows += len(b)
                wait = pace.next(s.stats.bytes_in, time.monotonic())
            share = (_cpu() - c0) / (time.monotonic() - t0)
            frames = q.get()
            for b in s.read(0.3):
                rows += len(b)
            assert s.stats.lost_frames == 0 and rows >= (frames - 2) * n_samp * streams, (rows, frames)
    os.close(master)
    return base_read, base_rw, share


def _cpu_medians(runs: list[tuple[float, float, float]]) -> tuple[float, float, float, float, float]:
    """Medians of bench_cpu's runs: the plain read loop's share, the read +
    write loop's, sensorio's, and of each run's ratios to those two."""
    med = [statistics.median(r[k] for r in runs) for k in range(3)]
    ratio_read = statistics.median(r[2] / max(r[0], 1e-9) for r in runs)
    ratio_rw = statistics.median(r[2] / max(r[1], 1e-9) for r in runs)
    return med[0], med[1], med[2], ratio_read, ratio_rw


def _latencies(blocks, now_us: int, out: list[float]) -> None:
    for b in blocks:
        first = b.frame_row
        stamps = (b.samples[first, 0].astype(np.int64) & 0x7FFFFF) | (
            (b.samples[first, 1].astype(np.int64) & 0x7FFFFF) << 23
        )
        out.extend(((now_us - stamps) / 1000.0).tolist())


def bench_latency(seconds: float, channels: int = 16, rate: int = 4000) -> tuple[list[float], list[float]]:
    streams, n_ch, n_samp = frame_shape(channels, rate)
    fps = rate // n_samp
    master, path = _pty()
    base: list[float] = []
    proc, q = _start(_paced, master, seconds, n_ch, rate, fps, True, streams)
    _baseline_read(
        path,
        proc,
        Parser("sio"),
        on_data=lambda blocks: _latencies(blocks, time.monotonic_ns() // 1000, base),
    )
    q.get()
    os.close(master)

    master, path = _pty()
    lat: list[float] = []
    with capture_open(
        path,
        request_info=False,
        stall_timeout=0,
        on_block=lambda b: _latencies([b], time.monotonic_ns() // 1000, lat),
    ) as s:
        proc, q = _start(_paced, master, seconds, n_ch, rate, fps, True, streams)
        proc.join()
        q.get()
        time.sleep(0.2)
        s.wait(0)
    os.close(master)
    return base, lat


def bench_memory(minutes: float) -> list[tuple[float, float]]:
    """RSS (MB) over time while capturing ~2 MB/s and recording."""
    master, path = _pty()
    seconds = minutes * 60
    samples: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        with capture_open(path, request_info=False, record=Path(tmp) / "mem.sior", stall_timeout=0) as s:
            proc, q = _start(_paced, master, seconds, 16, 32000, 2000, False, 1)
            t0 = time.monotonic()
            next_sample = t0 + min(5.0, seconds / 20)
            while proc.is_alive():
                s.read(0.1)
                now = time.monotonic()
                if now >= next_sample:
                    samples.append((now - t0, _rss_mb()))
                    next_sample = now + min(5.0, seconds / 20)
            q.get()
    os.close(master)
    return samples


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _pct(values: list[float], p: float) -> float:
    return float(np.percentile(values, p)) if values else float("nan")


def sweep(spec: str, seconds: float, repeat: int) -> int:
    """One table row per (channels, rate): recording CPU and callback
    latency, each beside its baseline from the same run on the same pty."""
    try:
        chans, rates = ([int(v) for v in part.split(",")] for part in spec.split(":"))
    except ValueError:
        print(f"bench_capture: --sweep wants CHANNELS:RATES, e.g. 8,64:1000,4000; got {spec!r}", file=sys.stderr)
        return 2
    print(f"{seconds:g} s per run, medians of {repeat}; int24 SIO-1, a tick of frames every ms or faster")
    print(
        "channels    rate  streams x ch x samples  MB/s | CPU sensorio  read+write ratio  read ratio | "
        "latency p50 / p99 ms sensorio  baseline"
    )
    for ch in chans:
        for rate in rates:
            streams, per, n_samp = frame_shape(ch, rate)
            base, base_rw, share, ratio_read, ratio_rw = _cpu_medians(
                [bench_cpu(seconds, ch, rate) for _ in range(repeat)]
            )
            base_lat: list[float] = []
            lat: list[float] = []
            for _ in range(repeat):
                b, x = bench_latency(seconds, ch, rate)
                base_lat += b
                lat += x
            wire = len(DataEncoder().encode(np.zeros((n_samp, per), dtype=np.int32), enc=ENC_I24))
            mbs = streams * wire * rate / n_samp / 1e6
            print(
                f"{ch:8d} {rate:7d}  {streams:3d} x {per:2d} x {n_samp:2d}       {mbs:6.2f} | "
                f"{share * 100:9.2f} %  {base_rw * 100:6.2f} % {ratio_rw:5.2f}  "
                f"{base * 100:5.2f} % {ratio_read:5.2f} | "
                f"{_pct(lat, 50):8.3f} / {_pct(lat, 99):6.3f}  {_pct(base_lat, 50):6.3f} / {_pct(base_lat, 99):6.3f}",
                flush=True,
            )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the throughput run (default 30)")
    ap.add_argument("--cpu-seconds", type=float, default=10.0, help="length of the CPU and latency runs")
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the memory run (default 10)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per figure (medians are printed)")
    ap.add_argument("--only", choices=["throughput", "cpu", "latency", "memory"], action="append")
    ap.add_argument(
        "--sweep",
        metavar="CHANNELS:RATES",
        help="CPU and latency against channels and rate instead, e.g. 8,64,256:1000,4000,16000 "
        "(int24; above 64 channels the device sends several streams of 64)",
    )
    args = ap.parse_args()
    if args.sweep:
        return sweep(args.sweep, args.cpu_seconds, args.repeat)
    only = set(args.only or ["throughput", "cpu", "latency", "memory"])

    if "throughput" in only:
        cycle = _cycle(16, 8)
        runs = [bench_throughput(args.seconds, cycle) for _ in range(args.repeat)]
        base = statistics.median(r[0] for r in runs)
        rate = statistics.median(r[1] for r in runs)
        ok = all(r[2] for r in runs)
        print(
            f"throughput  sensorio {rate / 1e6:7.1f} MB/s  zero loss: {'yes' if ok else 'NO'}  "
            f"({args.seconds:g} s)  baseline os.read {base / 1e6:7.1f} MB/s  "
            f"ratio {rate / base:.2f}  "
            f"target >= 20 MB/s: {'met' if rate >= 20e6 and ok else 'NOT met'}"
        )
    if "cpu" in only:
        base, base_rw, share, ratio_read, ratio_rw = _cpu_medians(
            [bench_cpu(args.cpu_seconds) for _ in range(args.repeat)]
        )
        print(
            f"cpu         sensorio {share * 100:6.2f} % of a core recording 16 ch x 4 kHz int24  "
            f"baseline os.read + write {base_rw * 100:6.2f} %  ratio {ratio_rw:.2f}  "
            f"target <= 1.5 x baseline: {'met' if ratio_rw <= 1.5 else 'NOT met'}  "
            f"(os.read alone {base * 100:6.2f} %, ratio {ratio_read:.2f})"
        )
    if "latency" in only:
        base_all: list[float] = []
        lat_all: list[float] = []
        for _ in range(args.repeat):
            b, lat = bench_latency(args.cpu_seconds)
            base_all += b
            lat_all += lat
        p50, p99 = _pct(lat_all, 50), _pct(lat_all, 99)
        b50, b99 = _pct(base_all, 50), _pct(base_all, 99)
        print(
            f"latency     sensorio p50 {p50:6.3f} ms  p99 {p99:6.3f} ms  ({len(lat_all)} frames)  "
            f"baseline os.read+parse p50 {b50:6.3f} ms  p99 {b99:6.3f} ms  "
            f"ratio p50 {p50 / b50:.2f}  p99 {p99 / b99:.2f}  "
            f"targets 1 / 5 ms: {'met' if p50 <= 1 and p99 <= 5 else 'NOT met'}"
        )
    if "memory" in only:
        samples = bench_memory(args.minutes)
        if len(samples) >= 4:
            half = len(samples) // 2
            first = statistics.median(m for _, m in samples[1:half])
            last = statistics.median(m for _, m in samples[half:])
            t = np.array([s[0] for s in samples[1:]])
            m = np.array([s[1] for s in samples[1:]])
            slope = float(np.polyfit(t / 60, m, 1)[0])
            print(
                f"memory      RSS first half {first:7.1f} MB  second half {last:7.1f} MB  "
                f"ratio {last / first:.3f}  slope {slope:+.2f} MB/min over {args.minutes:g} min "
                f"at 2 MB/s  flat: {'yes' if abs(last - first) < 0.05 * first + 2 else 'NO'}"
            )
        else:
            print("memory      run too short for a trend (use --minutes >= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
