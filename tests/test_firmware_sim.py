"""Firmware in the loop: the AVR image built by `make -C firmware` runs in
simavr behind tools/simavr_bridge, and sensorio talks to it over the bridge's
pseudo-terminal exactly as to a real board.

The ADC expectation comes from the ATmega328P datasheet (ADC = Vin * 1024 /
Vref, truncated, 0..1023, AVcc = 5 V), applied to the pin voltage the bridge
logged for each conversion (--truth). Without avr-gcc/avr-libc/libsimavr
these tests skip; with SENSORIO_REQUIRE_FIRMWARE=1 they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import serial

from sensorio import Block, Message, Parser

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
ELF = FIRMWARE / "build" / "sensorio_fw.elf"
BRIDGE = ROOT / "tools" / "bin" / "simavr_bridge"
REQUIRE = os.environ.get("SENSORIO_REQUIRE_FIRMWARE") == "1"

VREF_UV = 5_000_000
N_CH = 6
F_CPU = 16_000_000
TIMER_TICK_US = 0.5  # Timer1 at 16 MHz / 8
TEST_COUNTS, TEST_HZ = 100, 10

pytestmark = pytest.mark.firmware


def datasheet_code(uv: np.ndarray) -> np.ndarray:
    """ATmega328P single-ended conversion: floor(Vin * 1024 / Vref), 0..1023."""
    return np.clip(np.floor_divide(np.asarray(uv, dtype=np.int64) * 1024, VREF_UV), 0, 1023)


def _need(ok: bool, reason: str) -> None:
    if not ok:
        if REQUIRE:
            pytest.fail(f"SENSORIO_REQUIRE_FIRMWARE=1 but {reason}")
        pytest.skip(reason)


def _avr_libc_present() -> bool:
    probe = subprocess.run(
        ["avr-gcc", "-mmcu=atmega328p", "-E", "-x", "c", "-", "-o", os.devnull],
        input="#include <avr/io.h>\n",
        capture_output=True,
        text=True,
    )
    return probe.returncode == 0


def _simavr_present() -> bool:
    if shutil.which("pkg-config"):
        if subprocess.run(["pkg-config", "--exists", "simavr"]).returncode == 0:
            return True
    return Path("/usr/include/simavr/sim_avr.h").exists()


@pytest.fixture(scope="module")
def built() -> str:
    """Builds the image and the bridge; returns the firmware build's output."""
    _need(shutil.which("make") is not None, "make is not installed")
    _need(shutil.which("avr-gcc") is not None, "avr-gcc is not installed (Debian: gcc-avr)")
    _need(_avr_libc_present(), "avr-libc is not installed (no <avr/io.h>)")
    _need(shutil.which("cc") is not None, "no host C compiler for the simulator bridge")
    _need(_simavr_present(), "libsimavr is not installed (Debian: simavr, libsimavr-dev)")
    fw = subprocess.run(["make", "-C", str(FIRMWARE)], capture_output=True, text=True)
    assert fw.returncode == 0, fw.stdout + fw.stderr
    bridge = subprocess.run(["make", "-C", str(ROOT / "tools" / "simavr_bridge")], capture_output=True, text=True)
    assert bridge.returncode == 0, bridge.stdout + bridge.stderr
    return fw.stdout


class Board:
    """The simulated board: a bridge process and a pyserial port on its pty."""

    def __init__(self, tmp: Path, *signal: str, fast: bool = False, elf: Path = ELF) -> None:
        self.truth_path = tmp / "truth.jsonl"
        self.link = tmp / "board"
        args = [str(BRIDGE), "--truth", str(self.truth_path), "--link", str(self.link), *signal]
        if fast:
            args.append("--fast")
        args.append("--report-pauses")
        self.proc = subprocess.Popen([*args, str(elf)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.path = self.proc.stdout.readline().strip()
        if not self.path:
            raise AssertionError(f"bridge did not start: {self.proc.communicate()[1]}")
        self.paused = threading.Event()  # the bridge paused the board for the host
        threading.Thread(target=self._watch_stdout, daemon=True).start()
        self.parser = Parser()
        self.port: serial.Serial | None = None
        self.messages: list[Message] = []
        self.held: list[Block] = []  # parsed, not yet taken by segment()
        self.boot: bytes | None = None

    def _watch_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip() == "paused":
                self.paused.set()

    def read_boot(self) -> bytes:
        """The power-up output (one 0x00, then an INFO frame), read before any
        port is opened. Opening the port (pyserial flushes its input) while the
        board is still sending it would leave a partial frame, so every board
        is opened only after this."""
        if self.boot is None:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOCTTY)
            boot = b""
            try:
                end = time.monotonic() + 60
                while boot.count(0) < 2 and time.monotonic() < end:
                    boot += os.read(fd, 4096)
            finally:
                os.close(fd)
            assert boot.count(0) == 2 and boot.endswith(b"\0"), boot
            self.boot = boot
        return self.boot

    def open(self) -> None:
        self.read_boot()
        self.port = serial.Serial(str(self.link), timeout=0.05)

    def pump(self, seconds: float) -> None:
        assert self.port is not None
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.parser.feed(self.port.read(max(1, self.port.in_waiting)))
        self.messages += self.parser.read_messages()

    def command(self, line: str, timeout: float = 5.0) -> str:
        """Sends one command line; returns the REPLY text."""
        assert self.port is not None
        self.messages += self.parser.read_messages()
        seen = len(self.messages)
        self.port.write(line.encode() + b"\n")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.parser.feed(self.port.read(max(1, self.port.in_waiting)))
            self.messages += self.parser.read_messages()
            for m in self.messages[seen:]:
                if m.kind == "reply":
                    return m.text
        raise AssertionError(f"no reply to {line!r} within {timeout} s")

    def segment(self) -> dict[str, np.ndarray]:
        """Stream 0 since the last call: samples (rows, ch), and per frame
        seq, t_us and rows."""
        blocks = [b for b in self.held + self.parser.read() if b.stream == 0]
        self.held = []
        if not blocks:
            return {
                "samples": np.zeros((0, N_CH), np.int64),
                "seq": np.zeros(0, np.int64),
                "t_us": np.zeros(0, np.int64),
                "rows": np.zeros(0, np.int64),
            }
        samples = np.concatenate([b.samples for b in blocks]).astype(np.int64)
        starts = np.concatenate([b.frame_row.astype(np.int64) + b.first_row for b in blocks])
        starts -= blocks[0].first_row
        return {
            "samples": samples,
            "seq": np.concatenate([b.frame_seq for b in blocks]).astype(np.int64),
            "t_us": np.concatenate([b.frame_t_us for b in blocks]).astype(np.int64),
            "rows": np.diff(np.append(starts, len(samples))),
        }

    def rows_received(self) -> int:
        """Rows of stream 0 received since the last segment()."""
        self.held += self.parser.read()
        return sum(len(b) for b in self.held if b.stream == 0)

    def close(self) -> tuple[list[dict], str]:
        """Stops the bridge; returns the conversions it logged and its stderr."""
        if self.port is not None:
            self.port.close()
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=10)
        lines = self.truth_path.read_text().splitlines()
        header = json.loads(lines[0])
        assert header["freq"] == F_CPU and header["vref_uv"] == VREF_UV
        return [json.loads(x) for x in lines[1:]], err


@pytest.fixture
def board_factory(built: str, tmp_path: Path) -> Iterator:
    boards: list[Board] = []

    def make(*signal: str, fast: bool = False, elf: Path = ELF) -> Board:
        board = Board(tmp_path, *signal, fast=fast, elf=elf)
        boards.append(board)
        return board

    yield make
    for b in boards:
        if b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait()


def row_times(seg: dict[str, np.ndarray], period_us: float) -> np.ndarray:
    """Device time of every sample row: its frame's t_us + k periods."""
    return np.concatenate([t0 + period_us * np.arange(n) for t0, n in zip(seg["t_us"], seg["rows"], strict=True)])


def check_period(seg: dict[str, np.ndarray], rate_hz: int) -> None:
    """Frames follow each other by exactly their samples times the period
    (within one timer tick), so the device clock keeps the set rate."""
    period_us = 1e6 / rate_hz
    assert len(seg["t_us"]) >= 3
    gaps = np.diff(seg["t_us"]) - seg["rows"][:-1] * period_us
    assert np.all(np.abs(gaps) <= TIMER_TICK_US), gaps
    assert np.all(np.diff(seg["seq"]) == 1)


def check_codes(seg: dict[str, np.ndarray], conv: list[dict]) -> None:
    """Each sample is the datasheet code of the voltage the bridge applied for
    that conversion; conversions come in channel order, one row per tick."""
    assert len(conv) == seg["samples"].size, (len(conv), seg["samples"].shape)
    ch = np.array([c["ch"] for c in conv])
    assert np.array_equal(ch, np.tile(np.arange(N_CH), len(seg["samples"])))
    uv = np.array([c["uv"] for c in conv]).reshape(-1, N_CH)
    expected = datasheet_code(uv)
    bad = np.argwhere(seg["samples"] != expected)
    assert len(bad) == 0, f"{len(bad)} codes differ, first at row/ch {bad[0]}"


def conversion_clock_offsets(seg: dict[str, np.ndarray], conv: list[dict], rate_hz: int) -> np.ndarray:
    """Simulated time of each row's first conversion minus its device time, in
    microseconds: constant up to interrupt latency if the clock does not drift."""
    cycles = np.array([c["cycle"] for c in conv[::N_CH]], dtype=np.float64)
    return cycles / (F_CPU / 1e6) - row_times(seg, 1e6 / rate_hz)


# ---------------------------------------------------------------- the tests


def test_build_fits_the_budget(built: str) -> None:
    m = re.search(r"flash (\d+) of 32768 bytes .*RAM (\d+) of 2048 bytes", built)
    assert m, built
    flash, ram = int(m.group(1)), int(m.group(2))
    assert flash < 16 * 1024 and ram < 1024


def test_session_commands_codes_and_timing(board_factory) -> None:
    # a sine from below 0 V to above 5 V: mid-scale codes and both rails
    board = board_factory("--sine", "2500,2700,13")
    # power-up: one 0x00, then an INFO frame, before anyone asks
    boot = board.read_boot()
    assert boot[0] == 0
    boot_parser = Parser()
    boot_parser.feed(boot)
    (boot_info,) = boot_parser.read_messages()
    assert boot_info.kind == "info"

    board.open()
    assert board.command("INFO") == "OK"
    info = json.loads(next(m for m in board.messages if m.kind == "info").payload)
    assert info == json.loads(boot_info.payload)
    (stream,) = info["streams"]
    gain = stream["gain"]
    assert stream["channels"] == N_CH and stream["rate_hz"] == 1000 and stream["enc"] == 4
    assert stream["scale"] == pytest.approx(VREF_UV / 1024 / gain, rel=1e-9)
    assert stream["zero"] == 512 and (stream["min_code"], stream["max_code"]) == (0, 1023)
    assert info["test_uv"] == pytest.approx(TEST_COUNTS * stream["scale"], rel=1e-9)
    assert info["test_hz"] == TEST_HZ

    assert board.command("HELLO") == "ERR unknown command"
    # several commands in one write are answered in order
    seen = len(board.messages)
    board.port.write(b"TEST OFF\r\nFOO\nRATE 1000\n")
    end = time.monotonic() + 5
    while len([m for m in board.messages[seen:] if m.kind == "reply"]) < 3:
        assert time.monotonic() < end, board.messages[seen:]
        board.pump(0.05)
    assert [m.text for m in board.messages[seen:]] == ["OK", "ERR unknown command", "OK"]
    assert board.command("RATE 7").startswith("ERR unsupported rate")
    assert board.command("RATE 999").startswith("ERR unsupported rate")  # not exact

    # default rate
    assert board.command("START") == "OK"
    board.pump(1.0)
    assert board.command("STOP") == "OK"  # answered after the last frame
    seg1 = board.segment()
    # the fastest rate the ADC allows for 6 channels
    assert board.command("RATE 1250") == "OK"
    assert board.command("START") == "OK"
    board.pump(0.6)
    assert board.command("RATE 250").startswith("ERR")  # not while streaming
    assert board.command("STOP") == "OK"
    seg2 = board.segment()
    # the test signal, at a slower rate
    assert board.command("RATE 500") == "OK"
    assert board.command("TEST ON") == "OK"
    assert board.command("START") == "OK"
    board.pump(0.45)
    assert board.command("STOP") == "OK"
    seg3 = board.segment()
    assert board.command("TEST OFF") == "OK"
    assert board.command("RATE 1000") == "OK"
    assert board.command("START") == "OK"
    board.pump(0.3)
    assert board.command("STOP") == "OK"
    seg4 = board.segment()

    conv, err = board.close()
    stats = board.parser.stats
    assert stats.crc_errors == stats.cobs_errors == stats.malformed == 0, stats
    assert stats.lost_frames == 0 and stats.restarts == 0 and stats.bytes_resync == 0, stats
    # seq runs on across START/STOP
    seqs = np.concatenate([s["seq"] for s in (seg1, seg2, seg3, seg4)])
    assert np.all(np.diff(seqs) == 1)

    for seg, rate in ((seg1, 1000), (seg2, 1250), (seg3, 500), (seg4, 1000)):
        check_period(seg, rate)
    # (fewer rows than wall time suggests when the machine is busy: the
    # bridge never lets simulated time race ahead to catch up)
    assert len(seg1["samples"]) >= 200 and len(seg2["samples"]) >= 100

    # TEST rows need no conversions; the others map one to one, in order
    n1, n2 = seg1["samples"].size, seg2["samples"].size
    c1, c2, c4 = conv[:n1], conv[n1 : n1 + n2], conv[n1 + n2 :]
    check_codes(seg1, c1)
    check_codes(seg2, c2)
    check_codes(seg4, c4)
    codes = np.concatenate([seg1["samples"], seg2["samples"], seg4["samples"]])
    assert codes.min() == 0 and codes.max() == 1023  # the rails, as INFO says
    assert len(np.unique(codes)) > 500

    # the device clock is the simulated clock: same offset, no drift, across
    # rates, over the whole session (spread = interrupt latency only). The
    # first row is left out: the ADC's first conversion after it is enabled
    # is 12 ADC clocks longer, and simavr >= 1.7 samples at the
    # sample-and-hold instant, which moves with it.
    offsets = np.concatenate(
        [
            conversion_clock_offsets(seg1, c1, 1000),
            conversion_clock_offsets(seg2, c2, 1250),
            conversion_clock_offsets(seg4, c4, 1000),
        ]
    )
    assert offsets.min() >= 0 and np.ptp(offsets[1:]) < 20, (offsets.min(), np.ptp(offsets[1:]))

    # TEST mode: a square wave of +-100 counts at 10 Hz on the device clock
    t = row_times(seg3, 2000.0)
    high = (t // (500_000 // TEST_HZ)) % 2 == 0
    want = np.where(high, 512 + TEST_COUNTS, 512 - TEST_COUNTS)
    assert np.array_equal(seg3["samples"], np.repeat(want[:, None], N_CH, axis=1))
    assert high.any() and (~high).any()


def test_no_loss_when_the_host_stalls(board_factory) -> None:
    """Fast simulation, a host that stops reading for a while: the bridge
    pauses the board instead of dropping bytes."""
    volts = "0,1,2500,4999.9,5000,5100"
    board = board_factory("--mv", volts, "--queue", "2048", fast=True)
    board.open()
    assert board.command("START") == "OK"
    # nobody reads until the pty (~64 KB) and the bridge's queue have filled
    # up and the bridge has paused the board: however slow the machine is
    assert board.paused.wait(120), "the bridge never paused the board"
    # read until 4000 rows are in; on a loaded machine the simulation may
    # crawl, so give up only when rows stop coming at all
    rows, last_progress = board.rows_received(), time.monotonic()
    while rows < 4000 and time.monotonic() - last_progress < 60:
        board.pump(0.1)
        now_rows = board.rows_received()
        if now_rows > rows:
            rows, last_progress = now_rows, time.monotonic()
    assert board.command("STOP") == "OK"
    seg = board.segment()
    conv, err = board.close()
    assert re.search(r"paused [1-9]\d* times", err), err
    stats = board.parser.stats
    assert stats.lost_frames == 0 and stats.crc_errors == 0 and stats.bytes_resync == 0, stats
    assert stats.bytes_in == stats.bytes_ok + stats.bytes_idle, stats  # every byte read was good
    assert len(seg["samples"]) >= 4000, err
    check_period(seg, 1000)
    check_codes(seg, conv)
    mv = np.array([float(v) for v in volts.split(",")])
    want = datasheet_code(np.round(mv * 1000))
    assert np.array_equal(want, [0, 0, 512, 1023, 1023, 1023])
    assert np.all(seg["samples"] == want)


def test_waveform_file_at_code_boundaries(board_factory, tmp_path: Path) -> None:
    """A waveform file (mV per channel per line) stepping across code edges,
    where simavr's own Vin * 1023 / Vref scaling would give other codes."""
    edges = np.array([1, 2, 100, 511, 512, 513, 700, 1000, 1022, 1023])
    edge_uv = -(-edges * VREF_UV // 1024)  # first microvolt of each code
    levels = np.concatenate([edge_uv - 1, edge_uv, edge_uv + 7])
    rows = np.stack([np.roll(levels, k) for k in range(N_CH)], axis=1)
    wave = tmp_path / "steps.txt"
    np.savetxt(wave, rows / 1000.0, fmt="%.3f", header="mV per channel, one line per ms")
    board = board_factory("--wave", str(wave), "--wave-rate", "1000", fast=True)
    board.open()
    assert board.command("START") == "OK"
    board.pump(0.3)
    assert board.command("STOP") == "OK"
    seg = board.segment()
    conv, _ = board.close()
    check_codes(seg, conv)
    uv = {c["uv"] for c in conv}
    assert uv <= set(levels.tolist()) and len(uv) == len(levels)
    got = set(seg["samples"].ravel().tolist())
    assert got == set(datasheet_code(levels).tolist())
    # simavr's native scaling would disagree on these, so the bridge's
    # datasheet transfer is what the firmware saw
    assert np.any(datasheet_code(levels) != levels * 1023 // VREF_UV)


def test_arduino_sketch_builds_the_same_core(board_factory) -> None:
    """The Arduino sketch, built as the IDE would, runs the same firmware."""
    build = subprocess.run(["make", "-C", str(FIRMWARE), "sketch-check"], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    board = board_factory("--mv", "1234.5", fast=True, elf=FIRMWARE / "build/sketch/sensorio_fw.elf")
    board.open()
    assert board.command("INFO") == "OK"
    assert json.loads(board.messages[0].payload)["streams"][0]["rate_hz"] == 1000
    assert board.command("START") == "OK"
    board.pump(0.2)
    assert board.command("STOP") == "OK"
    seg = board.segment()
    conv, _ = board.close()
    check_codes(seg, conv)
    assert np.all(seg["samples"] == 1234500 * 1024 // VREF_UV)
