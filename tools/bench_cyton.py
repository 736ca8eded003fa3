#!/usr/bin/env python3
"""Benchmark: an OpenBCI Cyton at 250 Hz through a pty, read by sensorio and,
in the same run, by BrainFlow's own Cyton driver (the baseline).

A device process answers the BrainFlow handshake (v, d, b, s) and writes
33-byte packets at 250 Hz; each packet carries its write time (CLOCK_REALTIME
in µs, 23 bits in each of channels 1-3), so the reader's latency is
"device write -> sample handed to the user": for sensorio the on_block
callback, for BrainFlow the timestamp its driver gives the sample when it
parses it. Also the reader process's CPU time while it streams (sensorio's
reader thread, or BrainFlow's, both inside this process; for both from the
port opened and the stream started to the device's end: neither's set-up
nor tear-down).

Not a test: it prints medians over --repeat runs and the ratios to BrainFlow.

    python3 tools/bench_cyton.py                 # 20 s per reader, 3 repeats
    python3 tools/bench_cyton.py --seconds 5 --repeat 1
    python3 tools/bench_cyton.py --read-interval default,record,0.004,0.01,0.05
        # sensorio once per read_interval (s; "default": the Stream's own;
        # "record": into a file, as `sensorio record` reads (no callback, the
        # blocks taken at cmd_record.StatusPace's pace): RECORDING_READ_INTERVAL,
        # up to RECORDING_MAX_READ_INTERVAL at low byte rates), to see what
        # reading by time trades: wake-ups (CPU) for latency
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing as mp
import os
import select
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_capture import _cpu, _pty  # noqa: E402  (the same pty and CPU clock as the capture benchmark)

from sensorio.capture import open as capture_open  # noqa: E402
from sensorio.capture.stream import RECORDING_MAX_READ_INTERVAL, RECORDING_READ_INTERVAL  # noqa: E402
from sensorio.cli.cmd_record import STATUS_POLL_S, StatusPace  # noqa: E402
from sensorio.urlhandler.protocol_brainflow import load_brainflow  # noqa: E402

RATE = 250
VERSION = b"OpenBCI V3 8-16 channel\nOn Board ADS1299 Device ID: 0x3E\nLIS3DH Device ID: 0x33\nFirmware: v3.1.2\n$$$"


def _packet(n: int, us: int) -> bytes:
    chans = [(us >> (23 * k)) & 0x7FFFFF for k in range(3)] + [0] * 5
    body = b"".join(v.to_bytes(3, "big") for v in chans)
    return bytes([0xA0, n & 0xFF]) + body + bytes(6) + bytes([0xC0])


def _device(master: int, seconds: float, out: mp.Queue) -> None:
    """Answers commands; streams from 'b' to 's' (or for `seconds`)."""
    os.set_blocking(master, False)
    streaming_since: float | None = None
    sent = 0
    poller = select.poll()
    poller.register(master, select.POLLIN)
    period = 1.0 / RATE
    end = time.monotonic() + seconds + 30  # the reader's set-up time included
    while time.monotonic() < end:
        due = None if streaming_since is None else streaming_since + sent * period
        timeout_ms = 50 if due is None else max(0.0, (due - time.monotonic()) * 1000)
        if poller.poll(timeout_ms):
            try:
                cmds = os.read(master, 256)
            except BlockingIOError:
                cmds = b""
            except OSError:  # EIO: no reader has the port open (yet, or any more)
                time.sleep(0.01)
                if streaming_since is not None:
                    break
                continue
            for c in cmds:
                if c == ord("v"):
                    os.write(master, VERSION)
                elif c == ord("d"):
                    os.write(master, b"updating channel settings to default$$$")
                elif c == ord("b") and streaming_since is None:
                    streaming_since = time.monotonic()
                elif c == ord("s"):
                    streaming_since = None
        if streaming_since is not None:
            while streaming_since + sent * period <= time.monotonic():
                try:
                    os.write(master, _packet(sent, time.time_ns() // 1000))
                except OSError:
                    out.put(sent)
                    return
                sent += 1
            if time.monotonic() - streaming_since > seconds:
                break
    out.put(sent)


def _start_device(master: int, seconds: float) -> tuple[mp.Process, mp.Queue]:
    q: mp.Queue = mp.get_context("fork").Queue()
    p = mp.get_context("fork").Process(target=_device, args=(master, seconds, q), daemon=True)
    p.start()
    return p, q


def _stamps(rows: np.ndarray) -> np.ndarray:
    """Write times (µs) from channels 1-3 of each sample (codes or µV)."""
    v = rows.astype(np.int64) & 0x7FFFFF
    return v[:, 0] | (v[:, 1] << 23) | (v[:, 2] << 46)


def run_sensorio(seconds: float, read_interval: float | str | None = None) -> tuple[list[float], float, int]:
    """read_interval: None the Stream's default, a number, or "record": into
    a recording file, read as `sensorio record` reads."""
    master, path = _pty()
    # the callback only notes the arrival time: the stamps are decoded after
    # the run (as BrainFlow's are), so the reader's CPU is sensorio's own
    arrivals: list[tuple[int, np.ndarray]] = []

    def on_block(block) -> None:  # noqa: ANN001
        if block.stream == 0:
            arrivals.append((time.time_ns() // 1000, block.samples))

    proc, q = _start_device(master, seconds)
    tmp = tempfile.TemporaryDirectory()
    opts: dict = {}
    if read_interval == "record":
        opts = {
            "record": os.path.join(tmp.name, "cyton.sior"),
            "read_interval": RECORDING_READ_INTERVAL,
            "max_read_interval": RECORDING_MAX_READ_INTERVAL,
        }
    elif read_interval is not None:
        opts = {"read_interval": read_interval}
    # CPU from the moment the port is open and the stream started until the
    # device ends, as for BrainFlow (its prepare_session and release are
    # not counted either): the readers' steady state, not their set-up
    if read_interval == "record":
        # as `sensorio record` (cli/cmd_record.py) runs: no block callback,
        # the main thread takes what was parsed at the pace of StatusPace
        with capture_open(path, format="cyton", start_command="b", stall_timeout=0, **opts) as st:
            cpu0 = _cpu()
            pace = StatusPace(time.monotonic())
            wait = STATUS_POLL_S
            while proc.is_alive():
                time.sleep(wait)
                for block in st.read(0):
                    on_block(block)
                wait = pace.next(st.stats.bytes_in, time.monotonic())
            cpu = _cpu() - cpu0
            time.sleep(RECORDING_MAX_READ_INTERVAL)  # the last bytes (the reader gathers up to this long)
            for block in st.read(0):
                on_block(block)
    else:
        with capture_open(path, format="cyton", start_command="b", stall_timeout=0, on_block=on_block, **opts):
            cpu0 = _cpu()
            proc.join()
            cpu = _cpu() - cpu0
    tmp.cleanup()
    sent = q.get()
    os.close(master)
    lat: list[float] = []
    for now, samples in arrivals:
        if samples.shape[0]:
            lat.extend(((now - _stamps(samples[:, :3])) / 1000.0).tolist())
    return lat, 100.0 * cpu / seconds, sent


def run_brainflow(seconds: float) -> tuple[list[float], float, int]:
    board_shim = load_brainflow()
    BoardIds, BoardShim, BrainFlowInputParams = (
        board_shim.BoardIds,
        board_shim.BoardShim,
        board_shim.BrainFlowInputParams,
    )
    BoardShim.disable_board_logger()
    master, path = _pty()
    proc, q = _start_device(master, seconds)
    params = BrainFlowInputParams()
    params.serial_port = path
    board_id = BoardIds.CYTON_BOARD.value
    board = BoardShim(board_id, params)
    board.prepare_session()
    cpu0 = _cpu()
    board.start_stream(450000)
    proc.join()
    cpu = _cpu() - cpu0
    data = board.get_board_data()
    board.stop_stream()
    board.release_session()
    sent = q.get()
    os.close(master)
    eeg = BoardShim.get_eeg_channels(board_id)
    ts = data[BoardShim.get_timestamp_channel(board_id)]
    # BrainFlow hands out µV: back to the codes that carry the stamp
    scale = 4.5 / 24 / (2**23 - 1) * 1e6
    codes = np.rint(data[eeg[:3]].T / scale).astype(np.int64)
    lat = ((ts * 1e6 - _stamps(codes)) / 1000.0).tolist()
    return lat, 100.0 * cpu / seconds, sent


def _pct(values: list[float], p: float) -> float:
    return float(np.percentile(values, p)) if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="streaming time per reader and repeat")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--read-interval",
        default="default",
        help="comma-separated read_interval values for sensorio (one row each): seconds, 'default' "
        "(the Stream's), or 'record' (into a file, read as `sensorio record` reads)",
    )
    ap.add_argument("--no-brainflow", action="store_true", help="sensorio only (no baseline: for quick looks)")
    args = ap.parse_args()
    intervals: list[float | str | None] = [
        None if v.strip() == "default" else v.strip() if v.strip() == "record" else float(v)
        for v in args.read_interval.split(",")
        if v.strip()
    ]
    readers: list[tuple[str, Callable[[float], tuple[list[float], float, int]]]] = []
    if not args.no_brainflow:
        readers.append(("brainflow", run_brainflow))
    for ri in intervals:
        name = "sensorio" if ri is None else "sensorio record" if ri == "record" else f"sensorio ri={ri:g}"
        readers.append((name, functools.partial(run_sensorio, read_interval=ri)))
    rows: dict[str, list[tuple[float, float, float, int, int]]] = {name: [] for name, _ in readers}
    for _ in range(args.repeat):
        for name, fn in readers:
            lat, cpu, sent = fn(args.seconds)
            rows[name].append((_pct(lat, 50), _pct(lat, 99), cpu, len(lat), sent))
    print(f"Cyton 250 Hz through a pty, {args.seconds:g} s x {args.repeat} (medians); load {os.getloadavg()[0]:.1f}")
    med = {}
    for name, r in rows.items():
        p50, p99, cpu = (statistics.median(x[i] for x in r) for i in range(3))
        got, sent = sum(x[3] for x in r), sum(x[4] for x in r)
        med[name] = (p50, p99, cpu)
        print(
            f"  {name:18s} latency p50 {p50:7.3f} ms  p99 {p99:7.3f} ms  CPU {cpu:5.2f} % of a core"
            f"  ({got} of {sent} packets)"
        )
    if "brainflow" not in med:
        return 0
    b = med["brainflow"]
    for name, s in med.items():
        if name != "brainflow":
            print(f"  ratio {name}/brainflow: p50 {s[0] / b[0]:.2f}x  p99 {s[1] / b[1]:.2f}x  CPU {s[2] / b[2]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
