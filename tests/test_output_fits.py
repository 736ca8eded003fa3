"""Output that fits where it goes: off a terminal no carriage returns or escape codes, status
lines only every few seconds (none with --quiet), no rate claimed before it can be measured,
units on the figures, liblsl quiet unless --verbose; names that say what the device is."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def sensorio(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The command as a user runs it, stdout and stderr to pipes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "sensorio", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def assert_plain(text: str) -> None:
    assert "\r" not in text and "\x1b[" not in text, repr(text[:300])


def test_record_into_a_pipe_has_no_control_codes_and_claims_no_rate_it_has_not_measured(tmp_path: Path) -> None:
    proc = sensorio("record", "sim://emg8?seed=1", "-o", str(tmp_path / "r.sior"), "--duration", "1.5")
    assert proc.returncode == 0, proc.stderr
    assert_plain(proc.stderr + proc.stdout)
    assert "0.0 Hz" not in proc.stderr
    assert "bytes recorded" in proc.stdout
    quiet = sensorio("record", "sim://emg8?seed=1", "-o", str(tmp_path / "q.sior"), "--duration", "1", "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_record_status_rate_counts_from_the_start() -> None:
    from sensorio.cli.cmd_record import _Status

    stream = SimpleNamespace(
        stats=SimpleNamespace(
            frames_ok=0,
            lost_frames=0,
            crc_errors=0,
            cobs_errors=0,
            oversized=0,
            malformed=0,
            unknown_type=0,
            ring_overflow_bytes=0,
            restarts=0,
        ),
        ring_fill=0.0,
        recorder=None,
        source_ended=False,
        connected=True,
    )
    blocks = [type("B", (), {"stream": 0, "n_channels": 8, "__len__": lambda self: 1000})()]
    early = _Status(time.monotonic())
    early.add(blocks)
    assert "Hz" not in early.line(stream, 0.05)  # too soon: no rate, rather than "0.0 Hz"
    status = _Status(time.monotonic() - 1.0)  # one second in, 1000 rows: about 1000 Hz
    status.add(blocks)
    rate = float(status.line(stream, 1.0).split("8ch")[1].split("Hz")[0])
    assert 500 < rate <= 1000


class _FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_status_line_in_place_only_on_a_terminal() -> None:
    from sensorio.cli._status import StatusLine

    pipe = io.StringIO()
    line = StatusLine(pipe, pipe_interval=5.0, started=0.0)
    assert not line.due(1.0) and line.due(5.0) and not line.due(6.0) and line.due(10.5)
    line.show("a")
    line.show("b")
    line.finish()
    assert pipe.getvalue() == "a\nb\n"
    tty = _FakeTty()
    line = StatusLine(tty, tty_interval=0.5, started=0.0)
    assert line.due(0.5)
    line.show("a")
    line.finish()
    assert tty.getvalue() == "\ra\x1b[K\n"
    quiet = io.StringIO()
    line = StatusLine(quiet, quiet=True, started=0.0)
    assert not line.due(100.0)
    line.show("a")
    line.finish()
    assert quiet.getvalue() == ""


def test_view_into_a_file_is_plain_text_with_units() -> None:
    proc = sensorio(
        "view",
        "sim://emg8?seed=3&channels=32&fault=spikes:channel=1,start=0.2,end=2",
        "--duration",
        "1.5",
        "--channels",
        "1-4,20",
    )
    assert proc.returncode == 0, proc.stderr
    assert_plain(proc.stdout + proc.stderr)
    assert "level [uV]" in proc.stdout and "envelope [uV]" in proc.stdout
    assert "(nominal 2000 samples/s)" in proc.stdout
    rows = [ln.split()[0] for ln in proc.stdout.splitlines() if ln.startswith("  emg")]
    assert rows == ["emg1", "emg2", "emg3", "emg4", "emg20"]  # one snapshot at the end: 1.5 s < 5 s
    bad = sensorio("view", "sim://emg8?seed=3", "--duration", "0.5", "--channels", "9")
    assert bad.returncode == 1 and "channel 9 does not exist: there are 8 channels" in bad.stderr


def test_view_shows_at_most_16_rows_unless_told() -> None:
    from sensorio.live import LiveModel, TerminalView

    info = {
        "device": "x",
        "streams": [
            {
                "id": 0,
                "name": "emg",
                "kind": "emg",
                "channels": 64,
                "rate_hz": 2000,
                "unit": "uV",
                "scale": 0.02,
                "min_code": -8388608,
                "max_code": 8388607,
                "labels": [f"emg{i + 1}" for i in range(64)],
            }
        ],
    }
    model = LiveModel(info)
    st = model.streams[0]
    st.health[40] = {"channel": 40, "state": "faulty", "kinds": ["leadoff"]}
    text = TerminalView(model, io.StringIO()).render()
    rows = [ln.split()[0] for ln in text.splitlines() if ln.startswith("  emg")]
    assert len(rows) == 16 and "emg41" in rows
    assert "48 more channel(s) not shown, 0 of them not ok" in text


def test_stream_quiet_keeps_liblsl_quiet_unless_verbose() -> None:
    try:
        from sensorio.sinks.lsl import import_pylsl

        import_pylsl()
    except Exception:  # noqa: BLE001
        pytest.skip("pylsl/liblsl not installed")
    quiet = sensorio("stream", "sim://emg8?seed=1", "--lsl", "--duration", "1", "--quiet")
    assert quiet.returncode == 0, quiet.stderr
    assert_plain(quiet.stdout + quiet.stderr)
    # (--quiet: errors and warnings only; the outlets' "LSL: ..." lines came through)
    assert "INFO|" not in quiet.stderr and "LSL:" not in quiet.stderr, quiet.stderr
    told = sensorio("stream", "sim://emg8?seed=1", "--lsl", "--duration", "1")
    assert told.returncode == 0 and "LSL: " in told.stderr, told.stderr  # without --quiet, said
    verbose = sensorio("stream", "sim://emg8?seed=1", "--lsl", "--duration", "1", "--quiet", "--verbose")
    assert "INFO|" in verbose.stderr  # liblsl's own lines: the quiet above is our doing


def test_an_emulated_device_is_named_after_its_channel_count() -> None:
    from sensorio.emulator.profiles import resolve_profile

    assert resolve_profile("emg8", "sio").device == "sensorio-emu EMG8"
    assert resolve_profile("emg8", "sio", channels=64).device == "sensorio-emu EMG64"
    assert resolve_profile("emg8", "sio", channels=8, rate_hz=1000).device == "sensorio-emu EMG8"
    assert resolve_profile("prosthesis", "sio", channels=4).device.endswith("4 channels")


def test_event_times_print_as_plain_numbers() -> None:
    from sensorio.dsp.stages import DspEvent

    ev = DspEvent(np.int64(0), np.int64(1), "saturation", np.float64(0.5), np.float64(1.0), np.float64(0.6))
    assert repr((ev.kind, ev.channel, round(ev.start_s, 2))) == "('saturation', 1, 0.5)"
    assert type(ev.end_s) is float and type(ev.detected_s) is float


def test_quiet_liblsl_keeps_the_users_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        from sensorio.sinks.lsl import import_pylsl, quiet_liblsl

        pylsl = import_pylsl()
    except Exception:  # noqa: BLE001
        pytest.skip("pylsl/liblsl not installed")
    given: list[str] = []
    monkeypatch.setattr(pylsl, "set_config_content", given.append)
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "mine.cfg"
    cfg.write_text("[multicast]\nResolveScope = link\n")
    monkeypatch.setenv("LSLAPICFG", str(cfg))
    quiet_liblsl()
    assert len(given) == 1 and "ResolveScope = link" in given[0] and "[log]\nlevel = -1" in given[0]
    cfg.write_text("[log]\nlevel = 0\n")  # the user asked for liblsl's INFO lines: theirs wins
    quiet_liblsl()
    assert len(given) == 1


def test_view_time_range_shows_start_to_end_and_stops_there() -> None:
    import re

    proc = sensorio(
        "view", "sim://emg8?seed=3&fault=liftoff:channel=2,start=0.2,end=0.6", "--time", "1:1.6", "--duration", "30"
    )
    assert proc.returncode == 0, proc.stderr
    frames = int(re.search(r"link: (\d+) frames", proc.stdout).group(1))
    assert 300 <= frames <= 600, frames  # 1.6 s of 2000 samples/s in frames of 8, not 30 s
    assert "leadoff" not in proc.stdout  # over before 1 s: not listed
    rows = {ln.split()[0]: ln for ln in proc.stdout.splitlines() if ln.startswith("  emg")}
    assert float(rows["emg1"].split()[1]) > 0  # the filters settled on the second before


def test_view_time_range_of_a_fast_source_shows_that_range() -> None:
    """A fast source's blocks are long: the range was checked per block, so
    the levels shown were those of the stream's last 0.25 s whatever --time
    said; a range the source never reaches showed levels too."""
    url = "sim://emg8?seed=3&fast=1&duration=3"

    def levels(*extra: str) -> list[float]:
        proc = sensorio("view", url, *extra)
        assert proc.returncode == 0, proc.stderr
        return [float(ln.split()[1]) for ln in proc.stdout.splitlines() if ln.startswith("  emg")]

    rest, burst = levels("--time", "0.5:1.0"), levels("--time", "2:3")
    assert max(rest) < 20 < min(burst), (rest, burst)  # the emulated wearer rests, then contracts
    assert levels() == pytest.approx(burst, rel=0.1)  # the whole stream: its last 0.25 s
    proc = sensorio("view", url, "--time", "5:6")
    assert proc.returncode == 1 and "before --time's start" in proc.stderr
    # stopped before the range (--duration here, Ctrl-C alike): no error
    proc = sensorio("view", "sim://emg8?seed=3", "--time", "5:6", "--duration", "1")
    assert proc.returncode == 0 and not proc.stderr, proc.stderr


def test_record_status_says_losses_only_where_there_are_some() -> None:
    """The status line said "losses: lost 0" on every line (the lost-frame
    figure is a string, and "0" counted as a loss); now "none" until a frame
    is lost, and a format without a frame counter says its losses are not
    counted."""
    from sensorio.cli.cmd_record import _Status

    def stream(lost: int, counted: bool = True) -> SimpleNamespace:
        stats = SimpleNamespace(
            frames_ok=10, lost_frames=lost, gaps_at_least=0, crc_errors=0, cobs_errors=0, oversized=0,
            malformed=0, unknown_type=0, ring_overflow_bytes=0, restarts=0,
        )  # fmt: skip
        return SimpleNamespace(
            stats=stats, ring_fill=0.0, recorder=None, source_ended=False, connected=True,
            format=SimpleNamespace(counts_lost_frames=counted),
        )  # fmt: skip

    status = _Status(time.monotonic())
    assert "losses: none" in status.line(stream(0), 1.0)
    assert "losses: lost 3" in status.line(stream(3), 1.0)
    assert "losses: lost frames not counted (no frame counter)" in status.line(stream(0, counted=False), 1.0)
