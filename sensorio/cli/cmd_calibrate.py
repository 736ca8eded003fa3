"""sensorio calibrate SOURCE: guided offset / gain / noise-floor / MVC
calibration, saved per device serial and applied automatically afterwards.

SOURCE is a port (live capture) or a recording / byte dump: the steps then
take consecutive stretches of it (rest, test signal, rest, contraction), so a
calibration session can be recorded once and replayed."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..blocks import Block, Pushback, split_block
from ..errors import SensorioError, UsageError
from . import non_negative_number, positive_number
from ._options import add_format, add_stream


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="guided offset/gain/MVC calibration, saved per device serial")
    p.add_argument("source", help="serial port / URL of the device, or a recording / byte dump")
    add_format(p, port=False)
    add_stream(p, repeatable=False, help="stream to calibrate (default: 0)")
    p.add_argument("--rest-s", type=positive_number, default=3.0, help="seconds at rest for the offset (default: 3)")
    p.add_argument(
        "--test",
        action="store_true",
        help="measure the gain with the device's TEST signal (test_uv in INFO)",
    )
    p.add_argument(
        "--known-uv",
        type=positive_number,
        metavar="UV",
        help="measure the gain from an external signal of this peak amplitude",
    )
    p.add_argument("--gain-s", type=positive_number, default=2.0, help="seconds of test/known signal (default: 2)")
    p.add_argument(
        "--mvc-s",
        type=non_negative_number,
        default=0.0,
        help="seconds of maximal contraction for MVC normalisation (default: skip)",
    )
    p.add_argument(
        "--calibration-dir",
        metavar="DIR",
        help="where calibration files go (default: the user's config dir)",
    )
    p.add_argument("--serial", help="device serial to save under (default: from the device's INFO)")
    p.add_argument("--yes", "-y", action="store_true", help="do not wait for Enter between steps")
    p.add_argument("--dry-run", action="store_true", help="print the result, save nothing")
    p.set_defaults(func=run)


class BlockSource(Pushback):
    """Consecutive Blocks of one stream, shared by the calibration steps:
    the rows of a block past a step's end are the next step's (unread).
    Live (``read``: the device's read(timeout), ``ended`` its end), what
    arrived while a prompt waited can be dropped (drop_arrived)."""

    def __init__(
        self,
        blocks: Iterable[Block],
        info: dict[str, Any],
        stream: int,
        command: Callable[[str], Any] | None = None,
        read: Callable[[float], list[Block]] | None = None,
    ) -> None:
        super().__init__(blocks)
        self.info = info
        self.stream = stream
        self.command = command
        self._read = read
        #: the channels (bit c: channel c) whose lead-off flag a frame handed out had set
        self.leadoff = 0
        self._last: Block | None = None  # the last block handed out
        self._leadoff_before = 0  # leadoff before it

    def __iter__(self) -> Iterator[Block]:
        for b in super().__iter__():
            if b.stream == self.stream:
                self._last, self._leadoff_before = b, self.leadoff
                self.leadoff |= _leadoff_bits(b.frame_leadoff)
                yield b

    def unread(self, rest: Block) -> None:
        """Hand back the rows of the last block not used: only the lead-off
        of the rows used is the step's (the rest's is the next step's)."""
        last = self._last
        if last is not None and len(rest) < len(last):
            used = last.frame_leadoff[last.frame_row.astype(np.int64) < len(last) - len(rest)]
            self.leadoff = self._leadoff_before | _leadoff_bits(used)
        self._last = None
        super().unread(rest)

    def drop_arrived(self) -> int:
        """Live, after a prompt: drop what the device had sent by now (it
        came while the user was not ready) and return its rows of the
        stream; a recording's rows are all kept (0)."""
        if self._read is None:
            return 0
        dropped = self.drop_unread() + self._read(0.0)
        return sum(len(b) for b in dropped if b.stream == self.stream)

    def skip_test_signal(self, scale: float, rate_hz: float, test_hz: float, gone: np.ndarray | None = None) -> int:
        """Live, drop what the device sent before TEST ON or TEST OFF took
        effect: windows of two test periods (0.25 s at least) until every
        channel shows a square wave, or (gone: the amplitudes measured) until
        none shows one of its amplitude. A device that runs ahead (an emulator
        at full speed) had seconds of the old signal in flight: the gain step
        measured rest taken for the TEST signal, and the noise floor the TEST
        signal's flat levels (0.0001 uV). A recording (no commands) has
        nothing in flight. Returns the rows skipped."""
        if self.command is None:
            return 0
        from ..dsp.calibrate import SQUARE_ON_LEVELS, square_wave_levels

        window = int(max(2.0 / max(test_hz, 1e-3), 0.25) * rate_hz)
        parts: list[np.ndarray] = []
        rows = skipped = 0
        for b in self:
            parts.append(b.samples)
            rows += len(b)
            if rows < window:
                continue
            amp, on_levels = square_wave_levels(np.concatenate(parts).astype(float) * scale)
            skipped += rows
            parts, rows = [], 0
            square = on_levels >= SQUARE_ON_LEVELS
            if gone is None and square.all():
                return skipped
            if gone is not None and not (square & (np.abs(amp) >= np.abs(gone) / 2)).any():
                return skipped
            if skipped > 10 * rate_hz:
                what = "never came in 10 s after TEST ON" if gone is None else "went on for 10 s after TEST OFF"
                raise SensorioError(f"the TEST signal {what}")
        return skipped + rows

    @contextlib.contextmanager
    def measuring(self, what: str, labels: tuple[str, ...]) -> Iterator[None]:
        """Around a calibration step: check_contact after it, and also when it
        failed (a lifted electrode sits at a rail: the lead-off says why)."""
        try:
            yield
        except SensorioError:
            self.check_contact(what, labels)
            raise
        self.check_contact(what, labels)

    def check_contact(self, what: str, labels: tuple[str, ...]) -> None:
        """A SensorioError naming the channels whose electrode was off during
        what (the calibration step since the last check), so that no value
        measured on a lifted electrode is saved and applied to every later
        recording."""
        off = [labels[c] if c < len(labels) else f"channel {c + 1}" for c in range(64) if self.leadoff >> c & 1]
        self.leadoff = 0
        if off:
            raise SensorioError(
                f"{', '.join(off)}: the electrode was off (lead-off) during {what}: "
                "fix the contact and calibrate again (nothing saved)"
            )


def _leadoff_bits(frame_leadoff: np.ndarray) -> int:
    """The channels (bit c: channel c) with lead-off set in any of these frames."""
    return int(np.bitwise_or.reduce(frame_leadoff)) if frame_leadoff.any() else 0


def _live_blocks(dev: Any, batch: deque[Block]) -> Iterator[Block]:
    """The device's blocks one at a time, read in batches into ``batch``
    (the caller's: what it holds can be dropped)."""
    while True:
        if batch:
            yield batch.popleft()
            continue
        got = dev.read(0.1)
        if not got and dev.ended:
            return
        batch.extend(got)


def open_source(source: str, format: str | None, stream: int) -> BlockSource:
    """A recording / dump on disk, else a live device via sensorio.open()
    (a URL, or a path that is a character device: a serial port, a pty)."""
    from ..capture.ports import names_a_file

    if names_a_file(source):  # (one not there is said so by the reading, as info and replay say it)
        from ..recording.source import read_source

        blocks, info, _, _ = read_source(Path(source), format)
        if info is None:
            raise SensorioError(f"{source} holds no device descriptor (INFO): cannot calibrate")
        rows = max(1, int(0.1 * _rate(info, stream)))
        return BlockSource((p for b in blocks for p in split_block(b, rows)), info, stream)
    import sensorio

    opener = getattr(sensorio, "open", None)
    if opener is None:
        raise SensorioError(
            f"{source}: no such file, and live capture is not available in this "
            "build: record the session and calibrate from the recording"
        )
    dev = opener(source, format=format or "sio")
    info = getattr(dev, "info", None)
    if callable(info):
        info = info()
    if not info:
        raise SensorioError(f"{source}: the device sent no INFO descriptor: cannot calibrate")
    command = getattr(dev, "command", None)
    if command is not None:
        command("START")
    read = getattr(dev, "read", None)
    if read is None or not hasattr(dev, "ended"):
        return BlockSource(iter(dev), dict(info), stream, command)
    batch: deque[Block] = deque()

    def read_all(timeout: float) -> list[Block]:
        # what the batch held, then what had arrived
        out = list(batch)
        batch.clear()
        return out + read(timeout)

    return BlockSource(_live_blocks(dev, batch), dict(info), stream, command, read_all)


def _rate(info: dict[str, Any], stream: int) -> float:
    from ..dsp.calibrate import StreamInfo

    return StreamInfo.from_descriptor(info, stream).rate_hz


def run(args: argparse.Namespace) -> int:
    from ..dsp.calibrate import (
        Calibration,
        CalibrationStore,
        StreamInfo,
        measure_envelope_level,
        measure_gain_from_test,
        measure_known_reference,
        measure_rest,
    )

    if args.test and args.known_uv is not None:
        raise UsageError("choose one gain reference: --test or --known-uv")
    src = open_source(args.source, args.format, args.stream)
    info = src.info
    si = StreamInfo.from_descriptor(info, args.stream)
    serial = args.serial or info.get("serial")
    if not serial:
        raise SensorioError("the device descriptor has no serial: pass --serial NAME")
    store = CalibrationStore(args.calibration_dir)
    cal = Calibration(serial=str(serial), device=str(info.get("device", "")))
    sc = cal.stream(args.stream)

    def step(text: str) -> None:
        print(f"\n== {text}", flush=True)
        if not args.yes and sys.stdin.isatty():
            input("   press Enter to start ")
            # the step measures what comes after Enter only: the device went
            # on sending while the prompt waited (the person not ready yet)
            said(src.drop_arrived(), "that came while waiting for Enter, dropped")

    def said(rows: int, what: str) -> None:
        if rows:
            print(f"   {rows / si.rate_hz:.2f} s ({rows} samples) {what}", flush=True)

    print(
        f"calibrating {info.get('device', 'device')} serial {serial}, stream {args.stream} "
        f"({si.channels} channels at {si.rate_hz:g} Hz, {si.unit})"
    )
    step(f"offset: relax completely for {args.rest_s:g} s")
    with src.measuring("the rest", si.labels):
        offset, rest_level = measure_rest(src, info, args.stream, args.rest_s)
    sc.offset = [float(v) for v in offset]
    if args.test or args.known_uv is not None:
        test_hz = float(info.get("test_hz", 1.0))
        if args.test:
            step(f"gain: the device's TEST signal for {args.gain_s:g} s")
            with src.measuring("the gain step", si.labels):
                if src.command is not None:
                    src.command("TEST ON")
                try:
                    said(src.skip_test_signal(si.scale, si.rate_hz, test_hz), "skipped before TEST ON took effect")
                    gain, amp = measure_gain_from_test(src, info, args.stream, args.gain_s)
                finally:
                    if src.command is not None:
                        src.command("TEST OFF")
                skipped = src.skip_test_signal(si.scale, si.rate_hz, test_hz, gone=amp)
                said(skipped, "skipped until TEST OFF took effect")
            sc.test_amplitude = [float(v) for v in amp]
        else:
            step(f"gain: apply the {args.known_uv:g} uV reference signal for {args.gain_s:g} s")
            with src.measuring("the gain step", si.labels):
                ref = measure_known_reference(src, info, args.known_uv, args.stream, args.gain_s, rest_level=rest_level)
            gain = ref.gain
            if ref.frequency_hz is not None:
                # what was measured: the user sees that it is the reference they connected
                sc.reference_hz = [float(v) for v in ref.frequency_hz]
        sc.gain = [float(v) for v in gain]
    step(f"noise floor: relax again for {args.rest_s:g} s")
    with src.measuring("the rest", si.labels):
        floor = measure_envelope_level(src, info, args.stream, args.rest_s, calibration=cal, quantile=0.1)
    sc.noise_floor = [float(v) for v in floor]
    if args.mvc_s > 0:
        step(f"MVC: contract as hard as you can for {args.mvc_s:g} s")
        with src.measuring("the MVC", si.labels):
            mvc = measure_envelope_level(src, info, args.stream, args.mvc_s, calibration=cal, quantile=0.95)
        sc.mvc = [float(v) for v in mvc]
    print()
    for name in ("offset", "gain", "reference_hz", "noise_floor", "mvc"):
        values = getattr(sc, name)
        if values is not None:
            print(f"{name:>12}: " + " ".join(f"{v:.4g}" for v in np.asarray(values)))
    if args.dry_run:
        print(json.dumps(cal.to_json(), indent=2))
        return 0
    path = store.save(cal)
    print(f"saved {path}; it is applied automatically whenever this device's INFO is seen")
    return 0
