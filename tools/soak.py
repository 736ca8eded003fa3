#!/usr/bin/env python3
"""Soak: the emulator at a high rate with every link fault enabled, through a
pseudo-terminal, recorded by sensorio's capture, checked against the truth.

    python3 tools/soak.py --minutes 1 --rate 4000        (CI)
    python3 tools/soak.py --minutes 10 --rate 8000        (the long run)

The device (``sensorio emulate``, a separate process, with --truth-codes) is
the 4-stream prosthesis profile with stream 0 at --rate Hz, random frame drops
and bit flips everywhere, and garbage, stalls, bursts and unplug/replug on a
schedule. The capture runs here (sensorio.capture.open with record=) and keeps
only running digests of what it accepted, so its memory can be watched.
Afterwards, per stream:
  - received + reported lost == sent, exactly, over the span received;
  - the frames accepted are exactly those the device put on the wire minus
    those the link spoiled, and their samples are the device's, bit for bit
    (no corrupted frame ever accepted);
  - RSS after the warm-up did not grow by more than --rss-slack-mb;
  - the recording decodes to the same Blocks (digests) and statistics.
Prints its figures; exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.lib.recfunctions as rfn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sensorio.capture import open as capture_open  # noqa: E402
from sensorio.emulator import TruthLog  # noqa: E402
from sensorio.recording import decode_recording  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def link_faults(seconds: float, drop_rate: float, flip_rate: float) -> list[str]:
    """Every kind of link fault: random drops and flips, the rest on a schedule (device seconds)."""
    specs = [f"drop:rate={drop_rate}", f"bitflip:rate={flip_rate}"]
    t = 2.0
    while t + 8 < seconds:
        stream = int(t) % 4
        specs += [
            f"garbage:at={t:.2f},bytes=300,stream={stream}",
            f"stall:at={t + 1.5:.2f},dur=0.4",
            f"burst:at={t + 3:.2f},dur=1.5,period=0.1",
            f"unplug:at={t + 5.5:.2f},dur=0.6",
        ]
        t += 12.0
    return specs


class Digest:
    """What the consumer accepted, per stream, in constant memory."""

    def __init__(self) -> None:
        self.hash: dict[tuple[int, str], hashlib._Hash] = {}
        self.frames: dict[int, int] = {}
        self.lost: dict[int, int] = {}

    def add(self, blocks: list) -> None:
        for b in blocks:
            # the fields only: the dtype's reserved bytes are not data, and
            # numpy need not copy them
            events = rfn.repack_fields(b.events)
            events["row"] += b.first_row  # rows within a block depend on how reads were chunked
            for part, array in (("samples", b.samples), ("seq", b.frame_seq), ("events", events)):
                self.hash.setdefault((b.stream, part), hashlib.sha256()).update(np.ascontiguousarray(array).tobytes())
            self.frames[b.stream] = self.frames.get(b.stream, 0) + len(b.frame_seq)
            self.lost[b.stream] = self.lost.get(b.stream, 0) + int(b.events["lost_frames"].sum())

    def hexdigests(self) -> dict[tuple[int, str], str]:
        return {k: h.hexdigest() for k, h in sorted(self.hash.items())}


class LeanTruth(TruthLog):
    """The truth log with each stream's frames held as numpy arrays: a long
    run at a high rate has hundreds of millions of sample codes, which as the
    JSON's Python lists would need gigabytes."""

    def __init__(self, path: Path) -> None:
        small: list[dict] = []
        seqs: dict[int, list[np.ndarray]] = {}
        codes: dict[int, list[np.ndarray]] = {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                record = json.loads(line)
                if record.get("type") != "frames":
                    small.append(record)
                    continue
                stream = record["stream"]
                seqs.setdefault(stream, []).append(np.asarray(record["seq"], dtype=np.int64))
                if "codes" in record:
                    rows = [np.asarray(fr, dtype=np.int32) for fr in record["codes"]]
                    codes.setdefault(stream, []).append(np.concatenate(rows))
        super().__init__(small)
        self._seq = {k: np.concatenate(v) for k, v in seqs.items()}
        self._codes = {k: np.concatenate(v) for k, v in codes.items()}

    def streams(self) -> list[int]:
        return sorted(self._seq)

    def frame_seq(self, stream: int = 0) -> np.ndarray:
        return self._seq.get(stream, np.zeros(0, dtype=np.int64))

    def codes(self, stream: int = 0) -> np.ndarray:
        return self._codes[stream]


def check_stream(stream: int, blocks: list, truth: TruthLog, lost_reported: int) -> list[str]:
    """received + lost == sent over the span, accepted frames and samples == the device's."""
    mine = [b for b in blocks if b.stream == stream]
    wire = truth.frame_seq(stream)
    if not mine or wire.size == 0:
        return [f"stream {stream}: nothing received"]
    seq16 = np.concatenate([b.frame_seq for b in mine]).astype(np.int64)
    # unwrap the 16-bit seq along the received order (gaps are far below 65536 frames)
    steps = np.diff(seq16, prepend=seq16[0]) % 65536
    got = int(wire[0]) + (seq16[0] - int(wire[0])) % 65536 + np.cumsum(steps)
    first, last = int(got[0]), int(got[-1])
    spoiled = {s for kind in ("bitflip", "garbage") for s in truth.touched(kind, stream)}
    # frames still in the pty when the device was unplugged: the emulator's
    # count is an upper bound (the reader may have taken some just before)
    unread = set(truth.touched("unread", stream))
    in_span = [s for s in wire.tolist() if first <= s <= last]
    allowed = np.array([s for s in in_span if s not in spoiled], dtype=np.int64)
    required = np.array([s for s in in_span if s not in spoiled and s not in unread], dtype=np.int64)
    problems = []
    sent = last - first + 1  # every seq the device made in the span (the truth's seq has no holes)
    received = got.size
    if received + lost_reported != sent:
        problems.append(f"stream {stream}: received {received} + reported lost {lost_reported} != sent {sent}")
    extra = np.setdiff1d(got, allowed)
    missing = np.setdiff1d(required, got)
    if extra.size or missing.size or np.any(np.diff(got) <= 0):
        problems.append(
            f"stream {stream}: accepted frames differ from the wire minus spoiled: "
            f"{extra.size} accepted that were spoiled or never sent (e.g. {extra[:5].tolist()}), "
            f"{missing.size} intact ones not accepted (e.g. {missing[:5].tolist()})"
        )
        return problems
    codes = truth.codes(stream)
    rows_per_frame = codes.shape[0] // wire.size
    keep = np.isin(wire, got)
    want = codes.reshape(wire.size, rows_per_frame, -1)[keep].reshape(-1, codes.shape[1])
    samples = np.concatenate([b.samples for b in mine])
    if not np.array_equal(samples, want):
        bad = int(np.any(samples != want, axis=1).sum()) if samples.shape == want.shape else -1
        problems.append(f"stream {stream}: accepted samples differ from the device's ({bad} rows)")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--rate", type=int, default=4000, help="stream 0 sample rate, Hz (8 ch int24)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--drop-rate", type=float, default=0.002)
    ap.add_argument("--flip-rate", type=float, default=0.002)
    ap.add_argument("--rss-slack-mb", type=float, default=16.0)
    ap.add_argument(
        "--lag-is-a-note",
        action="store_true",
        help="report the emulator falling behind real time without failing (a loaded machine, not a defect)",
    )
    ap.add_argument("--keep", type=Path, help="keep the recording and truth in this directory")
    args = ap.parse_args(argv)

    seconds = args.minutes * 60
    work = Path(args.keep or tempfile.mkdtemp(prefix="sensorio-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    truth_path, rec, link = work / "truth.jsonl", work / "soak.sior", work / "device"
    for p in (truth_path, rec, link):
        p.unlink(missing_ok=True)
    faults = link_faults(seconds, args.drop_rate, args.flip_rate)
    cmd = [sys.executable, "-m", "sensorio", "emulate", "--format", "sio", "--profile", "prosthesis",
           "--rate", str(args.rate), "--seed", str(args.seed), "--truth", str(truth_path),
           "--truth-codes", "--link-path", str(link), "--quiet"]  # fmt: skip
    for spec in faults:
        cmd += ["--link", spec]
    emulator = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    problems: list[str] = []
    try:
        deadline = time.monotonic() + 20
        while not link.exists():
            if emulator.poll() is not None or time.monotonic() > deadline:
                print(f"soak: the emulator did not start: {emulator.stderr.read()}", file=sys.stderr)
                return 1
            time.sleep(0.05)

        digest = Digest()
        rss: list[tuple[float, float]] = []
        cpu0 = time.process_time()
        started = time.monotonic()
        with capture_open(str(link), record=rec, start_command="START", flush_interval=0.5) as s:
            next_rss = 0.0
            while (now := time.monotonic() - started) < seconds:
                digest.add(s.read(0.1))
                if now >= next_rss:
                    rss.append((now, rss_mb()))
                    next_rss = now + 1.0
            s.command("STOP")
            time.sleep(0.3)
            digest.add(s.read(0.2))
            live_stats = s.stats
            events = [e.kind for e in s.events]
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - started
    finally:
        if emulator.poll() is None:
            emulator.send_signal(signal.SIGINT)
            try:
                emulator.wait(20)
            except subprocess.TimeoutExpired:
                emulator.kill()
                emulator.wait()

    truth = LeanTruth(truth_path)
    parser, blocks, _, reader = decode_recording(rec)
    replay = Digest()
    replay.add(blocks)

    print(f"soak: {seconds:.0f} s, stream 0 at {args.rate} Hz x 8 ch + IMU, force, angles; seed {args.seed}")
    touched = {k: len(truth.touched(k)) for k in ("drop", "bitflip", "garbage", "unplug", "unread", "overrun")}
    print(
        f"  link faults: {len(faults)} specs; frames hit: "
        + ", ".join(f"{k} {n}" for k, n in touched.items())
        + f"; stalls {len(truth.link_faults(kind='stall'))}, bursts {len(truth.link_faults(kind='burst'))}"
    )
    print(f"  capture events: {', '.join(f'{k} {events.count(k)}' for k in sorted(set(events)))}")
    st = live_stats
    print(f"  bytes {st.bytes_in}, frames ok {st.frames_ok}, lost {st.lost_frames}, crc {st.crc_errors}, "
          f"cobs {st.cobs_errors}, malformed {st.malformed}, overflow bytes {st.ring_overflow_bytes}, "
          f"resync bytes {st.bytes_resync}")  # fmt: skip
    print(f"  throughput {st.bytes_in / wall / 1e3:.1f} kB/s, capture CPU {100 * cpu / wall:.1f} % of a core")
    lags = truth.of("lag")
    if lags and args.lag_is_a_note:
        print(f"  note: the emulator fell behind real time {len(lags)} times (the accounting below still holds)")
    elif lags:
        problems.append(f"the emulator fell behind real time {len(lags)} times: lower --rate")

    for stream in truth.streams():
        made = truth.frames_generated(stream)
        print(f"  stream {stream}: made {made}, received {digest.frames.get(stream, 0)}, "
              f"reported lost {digest.lost.get(stream, 0)}")  # fmt: skip
        problems += check_stream(stream, blocks, truth, digest.lost.get(stream, 0))

    warm = [m for t, m in rss if t >= min(10.0, seconds / 4)]
    if warm:
        growth = max(warm) - warm[0]
        print(f"  RSS after warm-up {warm[0]:.1f} MB, max {max(warm):.1f} MB, growth {growth:.1f} MB")
        if growth > args.rss_slack_mb:
            problems.append(f"RSS grew by {growth:.1f} MB (> {args.rss_slack_mb} MB)")
    same_blocks = replay.hexdigests() == digest.hexdigests()
    same_stats = parser.stats == live_stats
    print(
        f"  replay of the recording: Blocks {'identical' if same_blocks else 'DIFFERENT'}, "
        f"statistics {'identical' if same_stats else 'DIFFERENT'}"
    )
    if not same_blocks:
        live, again = digest.hexdigests(), replay.hexdigests()
        differ = sorted({k for k in live.keys() | again.keys() if live.get(k) != again.get(k)})
        problems.append(f"the recording decodes to different Blocks than were captured live: {differ}")
    if not same_stats:
        problems.append(f"replay statistics differ: {parser.stats} != {live_stats}")
    if not reader.report.complete:
        problems.append(f"the recording is not complete: {reader.report.problems()}")
    for p in problems:
        print(f"VIOLATION: {p}", file=sys.stderr)
    print("soak: OK" if not problems else f"soak: {len(problems)} violation(s)")
    if not args.keep and not problems:
        for p in (truth_path, rec):
            p.unlink(missing_ok=True)
        link.unlink(missing_ok=True)
        os.rmdir(work)
    elif problems:
        print(f"  files kept in {work}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
