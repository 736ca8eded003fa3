"""How often `sensorio record`'s main thread wakes to take the parsed blocks:
less often for a slow device (fewer wake-ups, less CPU), every
STATUS_POLL_S for a fast one, and never past --duration. Run on a fake
clock and a fake stream: no time passes and no port is opened."""

from __future__ import annotations

import argparse
import dataclasses
from types import SimpleNamespace

import pytest

from sensorio.cli import cmd_record
from sensorio.formats import SIO
from sensorio.parser import Stats


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.t += max(seconds, 1e-6)  # (a sleep takes some time, however short)


class _Device:
    """A stream whose parser has seen rate bytes a second since it opened."""

    def __init__(self, clock: _Clock, rate: float) -> None:
        self.clock, self.rate, self.t0 = clock, rate, clock.t
        self.stats = Stats()
        self.reads = 0
        self.ended = self.source_ended = False
        self.events: list = []
        self.recorder = None
        self.ring_fill = 0.0
        self.connected = True
        self.format = SIO

    def read(self, timeout: float) -> list:
        self.reads += 1
        got = int(self.rate * (self.clock.t - self.t0))
        self.stats = dataclasses.replace(self.stats, bytes_in=got, bytes_ok=got, frames_ok=got // 33)
        return []

    def diagnose(self) -> str | None:
        return None

    def close(self) -> None:
        pass


def _record(monkeypatch: pytest.MonkeyPatch, rate: float, duration: float) -> tuple[_Device, float]:
    clock = _Clock()
    dev = _Device(clock, rate)
    monkeypatch.setattr(cmd_record, "time", SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep))
    monkeypatch.setattr(cmd_record, "Stream", lambda *a, **k: dev)
    args = argparse.Namespace(
        port="/dev/fake",
        format="cyton",
        baud=115200,
        output="unused.sior",
        force=False,
        flush_interval=0.25,
        no_fsync=False,
        no_start=True,
        start=None,
        no_info=False,
        no_reconnect=False,
        stall_timeout=0,
        duration=duration,
        check_seconds=0,
        quiet=True,
    )
    start = clock.t
    assert cmd_record._record(args) == 0
    return dev, clock.t - start


def test_a_slow_device_wakes_the_recorder_about_every_4_kb(monkeypatch: pytest.MonkeyPatch) -> None:
    # a 250 Hz Cyton: 33-byte packets, 8250 bytes a second
    dev, took = _record(monkeypatch, 8250.0, 20.0)
    per_s = dev.reads / 20.0
    assert 1.9 <= per_s <= 2.6  # 4096 / 8250 s = 0.5 s a poll, after a first one at STATUS_POLL_S
    assert took == pytest.approx(20.0, abs=1e-6)


@pytest.mark.parametrize("rate", [200_000.0, 0.0])
def test_a_fast_or_silent_device_is_polled_every_status_poll_s(monkeypatch: pytest.MonkeyPatch, rate: float) -> None:
    # a fast device must be taken before its bytes fill the parser's ring; a
    # silent one shows its stall on the status line at once
    dev, took = _record(monkeypatch, rate, 10.0)
    assert dev.reads == pytest.approx(10.0 / cmd_record.STATUS_POLL_S, abs=1)
    assert took == pytest.approx(10.0, abs=1e-6)


def test_a_recording_never_runs_past_its_duration(monkeypatch: pytest.MonkeyPatch) -> None:
    # slow polls, a duration between two of them
    dev, took = _record(monkeypatch, 1000.0, 3.3)
    assert took == pytest.approx(3.3, abs=1e-6)
    assert dev.reads <= 10


def test_the_pace_follows_the_byte_rate() -> None:
    pace = cmd_record.StatusPace(0.0)
    assert pace.next(800, 0.1) == pytest.approx(cmd_record.STATUS_POLL_MAX_S)  # 8 kB/s: at most the longest
    assert pace.next(800 + 20480, 0.6) == pytest.approx(0.1)  # 40 kB/s: 4096 bytes in 0.1 s
    assert pace.next(800 + 20480 + 4800, 0.9) == pytest.approx(0.256)  # 16 kB/s: 4096 bytes in 0.256 s
    assert pace.next(26080, 1.0, remaining=0.05) == pytest.approx(0.05)
