"""End to end: recording the emulator over a pseudo-terminal, with link faults
injected, checked frame by frame against the emulator's ground truth."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sensorio.emulator")
pytest.importorskip("sensorio.testing.plugin")

from sensorio.capture import open as capture_open  # noqa: E402
from sensorio.recording import Event, RecordingReader, decode_recording  # noqa: E402
from sensorio.testing.plugin import sensorio_emulator  # noqa: E402, F401 - the fixture


def _sensorio(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The command line in a process of its own, from the project's folder."""
    return subprocess.run(
        [sys.executable, "-m", "sensorio", *args],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _record(port: str, rec: Path, seconds: float, **options) -> tuple[list, object, list]:
    blocks: list = []
    with capture_open(port, record=rec, start_command="START", flush_interval=0.1, **options) as s:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            blocks += s.read(0.05)
        s.command("STOP")
        time.sleep(0.1)
        blocks += s.read(0.1)
        stats = s.stats
        events = list(s.events)
    return blocks, stats, events


def _received_seq(blocks: list, stream: int, near: int) -> np.ndarray:
    """Unwrapped seq of the frames received, unwrapped next to `near`."""
    seq = np.concatenate([b.frame_seq for b in blocks if b.stream == stream]).astype(np.int64)
    return near + (seq - near) % 65536


def _check_against_truth(blocks: list, stats, truth, stream: int = 0) -> tuple[int, int]:
    wire = truth.frame_seq(stream)
    got = _received_seq(blocks, stream, int(wire[0]))
    first, last = int(got[0]), int(got[-1])
    dropped = set(truth.touched("drop", stream)) | set(truth.touched("unplug", stream))
    spoiled = set(truth.touched("bitflip", stream)) | set(truth.touched("garbage", stream))
    # on the wire but still in the port's buffer when the device vanished (the
    # emulator reads those bytes off before it closes the port, so this is exact)
    in_flight = set(truth.touched("unread", stream))
    # what arrived is exactly what the device put on the wire, minus what the link spoiled
    expected = [int(s) for s in wire if first <= s <= last and int(s) not in spoiled | in_flight]
    assert got.tolist() == expected
    # and every frame in between is accounted for: received + reported lost == sent
    lost = [s for s in dropped | spoiled | in_flight if first <= s <= last]
    assert stats.frames_ok + stats.lost_frames == last - first + 1
    assert stats.lost_frames >= len(lost)
    return first, last


def test_recording_with_link_faults_accounts_for_every_frame(sensorio_emulator, tmp_path):  # noqa: F811
    dev = sensorio_emulator(
        format="sio",
        profile="emg8",
        seed=7,
        truth_codes=True,
        link=["drop:at=0.3,count=3", "bitflip:at=0.5", "garbage:at=0.7,bytes=40", "drop:at=0.9"],
    )
    rec = tmp_path / "faults.sior"
    blocks, stats, _ = _record(dev.port, rec, 1.4)
    truth = dev.stop()
    assert truth.touched("drop") and truth.touched("bitflip") and truth.touched("garbage")
    first, last = _check_against_truth(blocks, stats, truth)
    dropped = [s for s in truth.touched("drop", 0) if first <= s <= last]
    spoiled = [s for s in truth.touched("bitflip", 0) + truth.touched("garbage", 0) if first <= s <= last]
    assert stats.lost_frames == len(dropped) + len(spoiled)
    assert stats.crc_errors + stats.cobs_errors + stats.malformed >= len(spoiled)
    # samples are the device's, bit for bit
    wire = truth.frame_seq(0)
    codes = truth.codes(0)
    n_samp = codes.shape[0] // wire.size
    keep = np.isin(wire, _received_seq(blocks, 0, int(wire[0])))
    expected = codes.reshape(wire.size, n_samp, -1)[keep].reshape(-1, codes.shape[1])
    got = np.concatenate([b.samples for b in blocks if b.stream == 0])
    assert np.array_equal(got, expected)
    # the recording decodes to the same statistics, and so does its replay
    parser, _, _, _ = decode_recording(rec)
    assert parser.stats == stats
    with capture_open(f"replay://{rec}?speed=max", request_info=False, reconnect=False) as r:
        list(r)
        assert r.stats == stats


def test_unplug_during_recording_marks_the_gap_and_resumes(sensorio_emulator, tmp_path):  # noqa: F811
    dev = sensorio_emulator(format="sio", profile="emg8", seed=3, link=["unplug:at=0.5,dur=0.5"])
    rec = tmp_path / "unplug.sior"
    blocks, stats, events = _record(dev.port, rec, 2.5)
    truth = dev.stop()
    assert dev.replugs >= 1
    kinds = [e.kind for e in events]
    assert kinds.count("disconnect") == 1 and kinds.count("connect") == 1
    gone = next(e for e in events if e.kind == "disconnect").t_ns
    back = next(e for e in events if e.kind == "connect").t_ns
    assert (back - gone) * 1e-9 < 0.5 + 1.0  # the device was away 0.5 s; we were back within 1 s
    _check_against_truth(blocks, stats, truth)
    # one valid file, the gap marked where it happened
    reader = RecordingReader(rec)
    in_file = [i.kind for i in reader.items() if isinstance(i, Event)]
    assert in_file.count("disconnect") == 1 and in_file.count("connect") == 2
    assert reader.report.complete and not reader.report.problems()
    parser, decoded, _, _ = decode_recording(rec)
    assert parser.stats == stats
    events_rows = np.concatenate([b.events for b in decoded if b.stream == 0])
    assert events_rows.size >= 1  # the gap is in the stream, not silently joined


def test_record_command_against_the_emulator(sensorio_emulator, tmp_path):  # noqa: F811
    dev = sensorio_emulator(format="sio", profile="prosthesis", seed=11, link=["drop:at=0.4,count=2", "bitflip:at=0.8"])
    rec = tmp_path / "cli.sior"
    res = _sensorio("record", dev.port, "-o", str(rec), "--duration", "1.5", "--quiet", timeout=30)
    truth = dev.stop()
    assert res.returncode == 0, res.stderr
    parser, blocks, messages, reader = decode_recording(rec)
    assert reader.header["device_info"]["device"]  # INFO asked for and kept in the header
    assert reader.report.complete
    for stream in truth.streams():  # every stream of the prosthesis: EMG, IMU, force, angles
        wire = truth.frame_seq(stream)
        got = _received_seq(blocks, stream, int(wire[0]))
        first, last = int(got[0]), int(got[-1])
        spoiled = set(truth.touched("bitflip", stream)) | set(truth.touched("garbage", stream))
        assert got.tolist() == [int(s) for s in wire if first <= s <= last and int(s) not in spoiled]
    s = parser.stats
    assert s.lost_frames == len(truth.touched("drop")) + len(truth.touched("bitflip"))


def test_recording_carries_the_devices_saved_calibration(sensorio_emulator, tmp_path):  # noqa: F811
    from sensorio.dsp.analyze import analyze_file
    from sensorio.dsp.calibrate import Calibration, CalibrationStore, StreamCalibration

    cal_dir = tmp_path / "cal"
    gain = [2.0] + [1.0] * 7
    CalibrationStore(cal_dir).save(Calibration("EMU-SIO-0005", streams={0: StreamCalibration(gain=gain)}))
    dev = sensorio_emulator(format="sio", profile="emg8", seed=5)
    rec = tmp_path / "cal.sior"
    _record(dev.port, rec, 0.6, calibration_dir=cal_dir)
    dev.stop()
    header = RecordingReader(rec).header
    assert header["calibration"]["serial"] == "EMU-SIO-0005"
    assert header["calibration"]["streams"]["0"]["gain"] == gain
    # analysed elsewhere (no calibration files there), the recording's own applies
    empty = str(tmp_path / "elsewhere")
    mine = analyze_file(rec, calibration_dir=empty).streams[0].raw
    none = analyze_file(rec, calibration_dir=empty, calibration=None).streams[0].raw
    ok = ~np.isnan(mine[:, 0])
    np.testing.assert_allclose(mine[ok, 0], 2.0 * none[ok, 0])
    np.testing.assert_array_equal(mine[:, 1:], none[:, 1:])


def test_a_damaged_calibration_file_does_not_stop_a_recording(sensorio_emulator, tmp_path):  # noqa: F811
    cal_dir = tmp_path / "cal"
    cal_dir.mkdir()
    (cal_dir / "EMU-SIO-0006.json").write_text("{not json")
    dev = sensorio_emulator(format="sio", profile="emg8", seed=6)
    rec = tmp_path / "cal.sior"
    blocks, _, _ = _record(dev.port, rec, 0.4, calibration_dir=cal_dir)
    dev.stop()
    assert blocks
    reader = RecordingReader(rec)
    assert reader.header["calibration"] is None
    warnings = [it for it in reader.items() if isinstance(it, Event) and it.kind == "warning"]
    assert len(warnings) == 1 and "calibration not recorded" in warnings[0].detail["text"]


def test_calibrate_command_on_a_serial_port(sensorio_emulator, tmp_path):  # noqa: F811
    """`sensorio calibrate PORT` with PORT a path (a pty here, a /dev/tty* on
    a rig, or a link to one) opens the device: it was read as a recording
    file ("is a device, not a byte dump or recording")."""
    import json

    dev = sensorio_emulator(format="sio", profile="emg8", seed=7)
    cal_dir = tmp_path / "cal"
    res = _sensorio("calibrate", dev.port, "--yes", "--rest-s", "0.5", "--calibration-dir", str(cal_dir))
    dev.stop()
    assert res.returncode == 0, res.stderr
    saved = json.loads((cal_dir / "EMU-SIO-0007.json").read_text())
    assert len(saved["streams"]["0"]["offset"]) == 8


def test_a_device_that_answers_but_sends_no_data_is_diagnosed(sensorio_emulator, tmp_path):  # noqa: F811
    """--check-seconds: a device that answers INFO but was not started
    (--no-start) sends no data frames; the recording ran on forever with 0
    frames (the diagnosis gave up once a message had arrived)."""
    dev = sensorio_emulator(format="sio", profile="emg8", seed=8)
    rec = tmp_path / "idle.sior"
    res = _sensorio("record", dev.port, "-o", str(rec), "--no-start", "--check-seconds", "1", "--quiet")
    dev.stop()
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "sends no data frames" in lines[0] and "--start" in lines[0], res.stderr
    assert RecordingReader(rec).header["device_info"]["device"]  # what arrived (INFO) is kept


def test_a_lower_bound_of_lost_frames_is_said_to_be_one(sensorio_emulator, tmp_path):  # noqa: F811
    """A Cyton unplugged for a second loses more packets than its 8-bit
    counter can count: the parser knows the count is a lower bound
    (gaps_at_least), and record, info and decode now say "at least" (they
    printed "83 frames lost" for some 330)."""
    dev = sensorio_emulator(format="cyton", profile="cyton", seed=3, link=["unplug:at=1.0,dur=1.2"])
    rec = tmp_path / "cu.sior"

    def run(*args: str) -> str:
        res = _sensorio(*args)
        assert res.returncode == 0, res.stderr
        return res.stdout

    summary = run("record", dev.port, "--format", "cyton", "-o", str(rec), "--duration", "3.5", "--quiet")
    dev.stop()
    assert "at least" in summary and "frames lost" in summary, summary
    assert "at least" in run("info", str(rec))
    assert "at least" in run("decode", str(rec))


@pytest.mark.parametrize(("start", "step"), [(0.0, "the rest"), (2.3, "the MVC")])
def test_calibrate_refuses_a_lifted_electrode(tmp_path, start, step):
    """An electrode off during the rest gave an offset at the rail and a
    noise floor of 0, saved and applied to every later recording of the
    device, without a word. It is now a one-line error naming the step
    (the steps take 1 s of samples each: offset, noise floor, MVC), and
    nothing is saved."""
    cal_dir = tmp_path / "cal"
    url = f"sim://emg8?seed=1&fault=liftoff:channel=3,start={start},end=10"
    res = _sensorio("calibrate", url, "--yes", "--rest-s", "1", "--mvc-s", "1", "--calibration-dir", str(cal_dir))
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "emg3" in lines[0] and f"lead-off) during {step}:" in lines[0], res.stderr
    assert not list(cal_dir.glob("*.json"))


def test_a_dropout_longer_than_the_cyton_counter_says_at_least(sensorio_emulator, tmp_path):  # noqa: F811
    """300 packets vanish (1.2 s): the 8-bit counter sees a gap of 44. The
    reads' host times show that a whole turn may hide in it, so record and
    decode of its recording (which keeps each read's time) say "at least";
    they said "44 frames lost" as if exact."""
    dev = sensorio_emulator(format="cyton", profile="cyton", seed=4, link=["drop:at=1.0,count=300"])
    rec = tmp_path / "drop.sior"
    res = _sensorio("record", dev.port, "--format", "cyton", "-o", str(rec), "--duration", "3", "--quiet")
    dev.stop()
    assert res.returncode == 0, res.stderr
    assert "at least 44 frames lost" in res.stdout, res.stdout
    decoded = _sensorio("decode", str(rec), "--json")
    assert decoded.returncode == 0, decoded.stderr
    stats = json.loads(decoded.stdout)
    assert stats["lost_frames"] == 44 and stats["gaps_at_least"] == 1


def test_calibrate_refuses_what_is_no_test_signal_and_a_saturated_rest(tmp_path):
    """Two silent wrong numbers, saved and applied to every later recording:
    a rest recording taken for the TEST square wave gave gains of 22-79 (any
    signal has an upper and a lower half), and a channel at its rail through
    the rest step gave its offset as the rail (-187,500 uV)."""
    rest = tmp_path / "rest.sior"
    res = _sensorio("record", "sim://emg8?seed=5&fast=1&duration=10", "-o", str(rest), "--quiet")
    assert res.returncode == 0, res.stderr
    cal_dir = tmp_path / "cal"
    res = _sensorio("calibrate", str(rest), "--test", "--yes", "--calibration-dir", str(cal_dir))
    assert res.returncode == 1 and "no square wave on emg1" in res.stderr, res.stderr
    url = "sim://emg8?seed=5&fast=1&fault=saturation:channel=4,start=0.2,end=2.9"
    res = _sensorio("calibrate", url, "--yes", "--calibration-dir", str(cal_dir))
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1 and "emg4 (" in lines[0] and "at a rail" in lines[0], res.stderr
    assert not cal_dir.exists() or not list(cal_dir.glob("*.json"))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_calibrate_measures_neither_step_in_the_other_signal(seed):
    """A device that runs ahead (sim:// at full speed) had seconds of rest in
    flight after TEST ON and of the TEST signal after TEST OFF: the noise
    floor came out as the square wave's flat levels (0.0001 uV) in one run of
    three, and the gain from rest."""
    res = _sensorio("calibrate", f"sim://emg8?seed={seed}&fast=1", "--test", "--yes", "--dry-run")
    assert res.returncode == 0, res.stderr
    values = {
        name: [float(v) for v in rest.split()]
        for name, rest in re.findall(r"^\s*(gain|noise_floor): (.+)$", res.stdout, re.M)
    }
    assert np.allclose(values["gain"], 1.0, atol=0.02), values
    assert 2.0 < min(values["noise_floor"]) and max(values["noise_floor"]) < 20.0, values
    # what was skipped is said, as seconds and samples (it was skipped silently)
    for when in ("before TEST ON took effect", "until TEST OFF took effect"):
        said = re.search(rf"^   (\d+\.\d\d) s \((\d+) samples\) skipped {when}$", res.stdout, re.M)
        assert said and abs(int(said.group(2)) / 2000 - float(said.group(1))) <= 0.005, res.stdout


class _SlowEnter:
    """A terminal whose user presses Enter after `wait` s at the first prompt, at once at the others."""

    def __init__(self, wait: float) -> None:
        self.waits = [wait]

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        time.sleep(self.waits.pop() if self.waits else 0.0)
        return "\n"


def test_calibrate_measures_only_what_came_after_enter(monkeypatch, capsys):
    """Live, without --yes, the device streams while the prompt waits: the
    rest step measured what came before Enter was pressed (here a channel
    saturated for its first 0.8 s, refused as at a rail), the person not
    ready yet. What came during the prompt is dropped now, and said."""
    from sensorio.cli import main

    url = "sim://emg8?seed=3&fault=saturation:channel=4,start=0,end=0.8"
    monkeypatch.setattr(sys, "stdin", _SlowEnter(2.0))
    code = main(["calibrate", url, "--rest-s", "0.5", "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 0, err
    # (after the prompt: the fake terminal echoes no Enter)
    first = re.search(r" (\d+\.\d\d) s \((\d+) samples\) that came while waiting for Enter, dropped$", out, re.M)
    assert first, out
    seconds, samples = float(first.group(1)), int(first.group(2))
    assert seconds >= 1.5 and abs(samples / 2000 - seconds) <= 0.005, out
