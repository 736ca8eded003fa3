"""sensorio train / fit / control end to end: train on one emulator seed,
control on another, decisions scored against the emulator's gesture truth;
decisions to UDP and to a serial actuator; bad input is one line."""

from __future__ import annotations

import gc
import json
import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from support import ROOT

from sensorio.control import load_model
from sensorio.emulator import TruthLog
from sensorio.sinks.decisions import actuator_line, parse_host_port
from sensorio.training import recording_prompts, score_decisions

TRAIN_URL = "sim://gestures?seed=1&fast=1"


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SENSORIO_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "sensorio", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A model trained through the CLI on emulator seed 1 (2 repetitions)."""
    d = tmp_path_factory.mktemp("train")
    model = d / "m.npz"
    truth = d / "train_truth.jsonl"
    proc = _cli("train", f"{TRAIN_URL}&truth={truth}", "-o", str(model), "--reps", "2")
    assert proc.returncode == 0, proc.stderr
    assert "[ 21/21] relax" in proc.stdout  # the prompts went to the terminal
    return model


def test_train_records_prompts_as_markers_that_match_the_truth(trained: Path) -> None:
    rec = trained.with_suffix(".sior")
    stream, marks = recording_prompts(rec)
    truth = TruthLog.load(trained.parent / "train_truth.jsonl").gestures()
    rate = 2000.0
    # every prompt is a marker at the very row the emulated wearer began the gesture
    assert stream == 0 and marks[-1][1] is None
    assert [(row, label) for row, label in marks[:-1]] == [
        (int(round(g["start_s"] * rate)), g["label"]) for g in truth[: len(marks) - 1]
    ]
    assert [label for _, label in marks[:4]] == ["rest", "open", "rest", "close"]
    model = load_model(trained)
    assert model.classes == ("rest", "open", "close", "pronate", "supinate", "point")


def test_the_bdf_export_places_the_prompts_at_their_rows(trained: Path, tmp_path: Path) -> None:
    """Gesture markers were placed by the host's clock from the first bytes
    read (the handshake's): all ten of a fast recording fell within 0.3 s."""
    import pyedflib

    rec = trained.with_suffix(".sior")
    _, marks = recording_prompts(rec)
    proc = _cli("export", str(rec), "-o", str(tmp_path / "m.bdf"))
    assert proc.returncode == 0, proc.stderr
    reader = pyedflib.EdfReader(str(tmp_path / "m.bdf"))
    try:
        onsets, _, texts = reader.readAnnotations()
    finally:
        reader.close()
    placed = [(float(o), str(t)) for o, t in zip(onsets, texts, strict=True) if str(t).startswith("marker gesture")]
    assert len(placed) == len(marks)
    for (onset, text), (row, label) in zip(placed, marks, strict=True):
        assert onset == pytest.approx(row / 2000.0, abs=1e-3) and text.endswith(label or "end")


def test_fit_from_the_recording_gives_the_same_model(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "again.npz"
    proc = _cli("fit", str(trained.with_suffix(".sior")), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    with np.load(trained) as a, np.load(out) as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            if k != "meta":
                np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_train_refuses_to_replay_a_training_recording(trained: Path, tmp_path: Path) -> None:
    """A copy made through replay:// carries the recording's gesture markers,
    and train added its own: every row labelled twice, and a model fitted
    on both without a word."""
    rec = trained.with_suffix(".sior")
    out = tmp_path / "again.npz"
    proc = _cli("train", f"replay://{rec}?speed=max", "-o", str(out), "--reps", "1", "--quiet")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert f"{rec} is already a training recording" in line and f"sensorio fit {rec} -o MODEL" in line, line
    assert not out.exists() and not out.with_suffix(".sior").exists()


def test_fit_refuses_a_recording_given_twice(trained: Path, tmp_path: Path) -> None:
    """Its windows were counted twice ("rest (54 windows)" for 27)."""
    rec = trained.with_suffix(".sior")
    (tmp_path / "again.sior").symlink_to(rec)
    for twice in ([rec, rec], [rec, tmp_path / "again.sior"]):
        proc = _cli("fit", *map(str, twice), "-o", str(tmp_path / "m.npz"))
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"sensorio fit: error: the recording {twice[0]}"
            + ("" if twice[0] == twice[1] else f" (and as {twice[1]})")
            + " is given twice: give each recording once"
        ], proc.stderr
    assert not (tmp_path / "m.npz").exists()


def test_fit_counts_only_the_windows_a_damaged_recording_still_holds(trained: Path, tmp_path: Path) -> None:
    """Windows emptied by a damaged record were counted as training windows
    ("open (34 windows)" with half of them gone; the decoder left them out)."""
    from sensorio.control.decoders import complete_windows
    from sensorio.recording import DataChunk, RecordingReader
    from sensorio.training import label_recordings

    rec = trained.with_suffix(".sior")
    with RecordingReader(rec) as reader:
        chunks = [(i.offset, len(i.raw)) for i in reader.items() if isinstance(i, DataChunk)]
    # a bit flipped mid-way in every long record: one record alone may hold
    # only a pause between prompts, whose rows train no window (it did, now
    # and then, as the capture's reads cut the records)
    damaged = bytearray(rec.read_bytes())
    for offset, size in chunks:
        if size >= 4096:
            damaged[offset + 24 + size // 2] ^= 0x01
    bad = tmp_path / "damaged.sior"
    bad.write_bytes(bytes(damaged))
    with pytest.warns(Warning, match="damaged"):
        lab = label_recordings([bad])
    intact = label_recordings([rec])
    assert (lab.y >= 0).sum() < (intact.y >= 0).sum()  # the damage took windows
    assert complete_windows(lab.windows.features, lab.windows.valid)[lab.y >= 0].all()
    proc = _cli("fit", str(bad), "-o", str(tmp_path / "m.npz"))
    assert proc.returncode == 0, proc.stderr
    counts = dict(re.findall(r"(\w+) \((\d+) windows\)", proc.stderr))
    assert sum(map(int, counts.values())) == (lab.y >= 0).sum()


def test_a_stop_during_the_handshake_says_so(trained: Path, tmp_path: Path) -> None:
    """Ctrl-C while the device had not answered INFO yet: control said only
    "interrupted" (exit 130); now what it was doing, as record says it, and
    exit 0 as on a later stop."""
    from capture_support import PtyDevice, stop_in_the_handshake

    dev = PtyDevice()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SENSORIO_DEBUG", None)
    argv = [sys.executable, "-m", "sensorio", "control", dev.path, "--model", str(trained)]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        err = stop_in_the_handshake(proc, dev)
    finally:
        dev.close()
    assert proc.returncode == 0, err
    assert err.strip().splitlines() == [f"stopped by the user during the handshake with {dev.path}"]


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_stop_during_trains_handshake_says_so(tmp_path: Path, sig: str) -> None:
    """train opens its device through the training workflow, not the live
    commands' shared path: a stop before the device answered INFO said only
    "interrupted" (or "stopped by SIGTERM"), exit 130; now the live
    commands' line, with what became of the recording, and exit 0."""
    import signal

    from capture_support import PtyDevice, stop_in_the_handshake

    dev = PtyDevice()
    model = tmp_path / "m.npz"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SENSORIO_DEBUG", None)
    argv = [sys.executable, "-m", "sensorio", "train", dev.path, "-o", str(model), "--quiet"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        err = stop_in_the_handshake(proc, dev, getattr(signal, sig))
    finally:
        dev.close()
    assert proc.returncode == 0, err
    who = "the user" if sig == "SIGINT" else sig
    rec = model.with_suffix(".sior")
    kept = f"{rec} kept ({rec.stat().st_size} bytes)" if rec.exists() else "nothing recorded"
    assert err.strip().splitlines() == [f"stopped by {who} during the handshake with {dev.path}: {kept}"]
    assert not model.exists()


def _control(model: Path, url: str, *extra: str, seconds: float) -> list[dict]:
    proc = _cli("control", url, "--model", str(model), "--duration", str(seconds), *extra)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_control_on_another_seed_matches_the_truth(trained: Path, tmp_path: Path) -> None:
    truth = tmp_path / "t.jsonl"
    out = _control(trained, f"sim://gestures?seed=2&fast=1&truth={truth}", seconds=40)
    assert 39.5 <= out[-1]["t_s"] <= 40.5  # --duration: seconds of signal, from the stream's start
    segs = TruthLog.load(truth).gestures()
    score = score_decisions(np.array([d["t_s"] for d in out]), [d["class"] for d in out], segs, 0.2)
    assert score["scored"] > 400
    assert score["accuracy"] >= 0.9, score["confusion"]
    full = sum(d["channels"] == list(range(8)) for d in out)
    assert full >= 0.97 * len(out), f"{len(out) - full} of {len(out)} decisions left a healthy channel out"


def test_a_lifted_electrode_is_left_out_at_once_and_taken_back(trained: Path, tmp_path: Path) -> None:
    truth = tmp_path / "t.jsonl"
    url = f"sim://gestures?seed=3&fast=1&truth={truth}&fault=liftoff:channel=6,start=8,end=16"
    out = _control(trained, url, seconds=24)
    during = [d for d in out if 8.3 <= d["t_s"] <= 16.0]
    after = [d for d in out if d["t_s"] >= 17.0]
    assert during and all(5 not in d["channels"] for d in during)
    assert after and all(d["channels"] == list(range(8)) for d in after)
    segs = TruthLog.load(truth).gestures()
    score = score_decisions(np.array([d["t_s"] for d in out]), [d["class"] for d in out], segs, 0.2)
    assert score["accuracy"] >= 0.85, score["confusion"]


def test_the_safe_output_goes_out_when_the_device_disconnects(trained: Path) -> None:
    """A device unplugged in the middle of a gesture: the safe output (rest,
    speed 0) goes out at once, with one line on stderr, and nothing made of
    the data from before the unplug after it (the actuator held its last
    'open' while the device was away, and a stale decision came out after
    the replug)."""
    proc = _cli("control", "sim://gestures?seed=2&link=unplug:at=3,dur=2", "--model", str(trained), "--duration", "6")
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    lost = [k for k, d in enumerate(out) if d.get("reason") == "the device disconnected"]
    assert lost, proc.stdout[-2000:]
    k = lost[0]
    assert out[k]["class"] == "rest" and out[k]["speed"] == 0.0 and out[k]["safe"]
    assert out[k - 1]["class"] != "rest"  # it was moving when the device went
    assert all(d["row"] > out[k]["row"] for d in out[k + 1 :])  # nothing stale after it
    notices = [line for line in proc.stderr.splitlines() if line.startswith("control: ")]
    assert any("disconnected: safe output (rest)" in line for line in notices), proc.stderr
    assert any("is back" in line for line in notices), proc.stderr


def test_the_safe_output_goes_out_when_the_device_goes_silent(trained: Path) -> None:
    """A device that stops delivering (a stall of 3 s, then all at once):
    the safe output once, with its line on stderr, and deciding again on
    the new rows (the rule is the library's SignalWatch; this checks the
    command still says it as before)."""
    proc = _cli("control", "sim://gestures?seed=2&link=stall:at=2,dur=3", "--model", str(trained), "--duration", "5")
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    lost = [k for k, d in enumerate(out) if d.get("reason", "").startswith("no signal for")]
    assert lost, proc.stdout[-2000:]
    for k in lost:  # once each, and new rows after it
        assert out[k]["class"] == "rest" and out[k]["speed"] == 0.0 and out[k]["safe"]
        assert k + 1 < len(out) and not out[k + 1]["safe"]
        assert all(d["row"] > out[k]["row"] for d in out[k + 1 :])
    notices = [line for line in proc.stderr.splitlines() if line.startswith("control: ")]
    assert sum("no signal for" in line and "safe output (rest)" in line for line in notices) == len(lost), notices
    assert sum("is back: deciding again" in line for line in notices) == len(lost), notices


def test_a_finite_source_is_decided_to_its_end_and_duration_counts_signal(trained: Path) -> None:
    """The CLI left the pipeline's look-ahead undecided at a replay's end
    (one decision fewer than sensorio.control.run), and --duration counted
    from the first decision and only at decisions (--duration 1 of a fast
    source ran 4 s of signal with a long increment)."""
    from sensorio.capture import open as capture_open
    from sensorio.control import run

    rec = trained.with_suffix(".sior")
    proc = _cli("control", f"replay://{rec}?speed=max", "--model", str(trained))
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "0 frames lost" in proc.stderr  # the closing word only
    rows = [json.loads(line)["row"] for line in proc.stdout.splitlines()]
    with capture_open(f"replay://{rec}?speed=max") as cap:
        expected = [d.end_row for d in run(cap, load_model(trained))]
    assert rows == expected
    out = _control(trained, "sim://gestures?seed=2&fast=1", seconds=1)
    assert out and out[-1]["t_s"] == 1.0


def test_train_keeps_its_recording_whole_on_sigterm(tmp_path: Path) -> None:
    """SIGTERM (and SIGHUP) stop a training session as Ctrl-C does: the
    recording gets its END record (it was killed with none)."""
    import signal

    from sensorio.recording import RecordingReader

    model = tmp_path / "t.npz"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sensorio", "train", "sim://gestures?seed=1", "-o", str(model), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rec = model.with_suffix(".sior")
    try:
        deadline = time.monotonic() + 60
        while not (rec.exists() and rec.stat().st_size > 50_000) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and len(err.strip().splitlines()) == 1, err
    # the line names the recording kept and how to fit it
    assert f"stopped by SIGTERM: the recording so far is kept: fit it with sensorio fit {rec} -o MODEL" in err, err
    with RecordingReader(rec) as reader:
        for _ in reader.items():
            pass
        assert reader.report.complete


def test_decisions_to_udp_and_to_a_serial_actuator(trained: Path) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0)
    master, slave = os.openpty()
    os.set_blocking(master, False)
    actuator = os.ttyname(slave)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sensorio", "control", "sim://gestures?seed=2&fast=1", "--model",
         str(trained), "--duration", "6", "--quiet", "--udp", f"127.0.0.1:{sock.getsockname()[1]}",
         "--actuator", actuator],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    wire = bytearray()
    datagrams = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master, sock], [], [], 0.2)
        if master in ready:
            try:
                wire += os.read(master, 65536)
            except OSError:
                pass
        if sock in ready:
            datagrams.append(json.loads(sock.recv(65536)))
        if proc.poll() is not None and not ready:
            break
    out, err = proc.communicate(timeout=30)
    os.close(master)
    os.close(slave)
    sock.close()
    assert proc.returncode == 0, err
    assert out == ""  # --quiet: nothing on stdout
    lines = wire.decode().splitlines()
    # one MOVE line per decision, and a stop when control ends
    assert len(datagrams) >= 100 and len(lines) == len(datagrams) + 1
    for d, line in zip(datagrams, lines, strict=False):
        word, label, speed = line.split(" ")
        # the JSON speed has 4 decimals, the actuator line 3
        assert (word, label) == ("MOVE", d["class"]) and abs(float(speed) - d["speed"]) <= 6e-4
    assert lines[-1] == "MOVE rest 0.000"
    assert {d["class"] for d in datagrams} >= {"rest", "open"}


def test_udp_sends_to_a_broadcast_address_and_says_when_it_fails() -> None:
    """A broadcast address was refused (EACCES, no SO_BROADCAST) on every
    decision, and every failure of a send was swallowed: control ran on
    with nothing sent. Nobody listening stays ignored; other failures stop
    control with one line."""
    from types import SimpleNamespace

    from sensorio.errors import SensorioError
    from sensorio.sinks.decisions import UdpSender

    decision = SimpleNamespace(as_dict=lambda: {"class": "rest"})
    udp = UdpSender("255.255.255.255:9")
    try:
        assert udp.sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST)

        class Failing:
            def __init__(self, exc: OSError) -> None:
                self.exc = exc

            def sendto(self, data: bytes, address: object) -> int:
                raise self.exc

        real = udp.sock
        udp.sock = Failing(ConnectionRefusedError(111, "Connection refused"))  # type: ignore[assignment]
        udp.send(decision)  # nobody listening: ignored
        udp.sock = Failing(PermissionError(13, "Permission denied"))  # type: ignore[assignment]
        with pytest.raises(SensorioError, match="UDP to 255.255.255.255:9 failed: Permission denied"):
            udp.send(decision)
        udp.sock = real
    finally:
        udp.close()


def test_actuator_line_and_udp_address() -> None:
    assert actuator_line("open", 0.5) == b"MOVE open 0.500\n"
    assert actuator_line("close", 1.7) == b"MOVE close 1.000\n"
    assert parse_host_port("[::1]:9000") == ("::1", 9000)


@pytest.mark.parametrize(
    "args, words",
    [
        (("control", TRAIN_URL, "--model", "/nonexistent/m.npz"), "no such model file"),
        (("control", TRAIN_URL, "--model", "MODEL", "--udp", "nohost"), "HOST:PORT"),
        (("control", "sim://gestures?seed=1&fast=1&channels=4", "--model", "MODEL"), "8 channels"),
        (("control", "sim://arduino?format=ascii&fast=1", "--format", "ascii", "--model", "MODEL"), "sample rate"),
        (("train", "sim://arduino?format=ascii&fast=1", "--format", "ascii", "-o", "OUT", "--quiet"), "sample rate"),
        (
            ("control", TRAIN_URL, "--model", "MODEL", "--actuator", "/dev/nonexistent-tty"),
            "no such port",
        ),
        (("fit", "REC_NO_MARKERS", "-o", "OUT"), "no gesture markers"),
        (("fit", "/nonexistent.sior", "-o", "OUT"), "nonexistent"),
        (("fit", "REC", "-o", "MODEL"), "exists"),
        # a window longer than the recording: an internal error (a reshape of no windows)
        (("fit", "REC", "-o", "OUT", "--window-ms", "600000"), "longer than their holds"),
        (("train", TRAIN_URL, "-o", "OUT", "--reps", "0"), "reps"),
        (("train", TRAIN_URL, "-o", "OUT", "--pause", "0"), "no window of rest"),
        (("train", TRAIN_URL, "-o", "OUT", "--hold", "0.5"), "no window of a gesture"),
        (("train", TRAIN_URL, "-o", "OUT", "--reps", "100000000"), "hours"),
        (("train", TRAIN_URL, "-o", "OUT", "--gestures", "rest"), "besides rest"),
        # the dsp warns (no mains hum in a short recording): its warning, then one error line
        (("train", "sim://gestures?fast=1&script=open:1", "-o", "OUT"), "no clean windows of rest"),
    ],
)
def test_bad_input_is_one_line(args: tuple[str, ...], words: str, trained: Path, tmp_path: Path) -> None:
    no_marks = tmp_path / "plain.sior"
    if "REC_NO_MARKERS" in args:
        rec = _cli("record", "sim://emg8?fast=1&duration=1", "-o", str(no_marks), "--duration", "3")
        assert no_marks.exists(), rec.stderr
    names = {
        "MODEL": str(trained),
        "REC": str(trained.with_suffix(".sior")),
        "REC_NO_MARKERS": str(no_marks),
        "OUT": str(tmp_path / "out.npz"),
    }
    proc = _cli(*(names.get(a, a) for a in args), timeout=120)
    assert proc.returncode in (1, 2), proc.stderr
    assert "Traceback" not in proc.stderr
    # one error line, after the library's warnings (one line each) if any
    *warned, line = proc.stderr.strip().splitlines()
    assert words in line and ": error: " in line, proc.stderr
    assert all(": warning: " in w for w in warned), proc.stderr
    assert not (tmp_path / "out.npz").exists()


def test_a_lifted_electrode_is_named_not_the_holds(tmp_path: Path) -> None:
    """A masked channel throws every window away; the error blamed the
    holds ("no clean windows of rest, ...: record longer holds") and never
    named the electrode."""
    url = "sim://gestures?seed=1&fast=1&fault=liftoff:channel=2,start=0.5,end=100"
    proc = _cli("train", url, "-o", str(tmp_path / "x.npz"), "--reps", "1", "--hold", "1.5", "--pause", "1", "--quiet")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert (
        "no clean windows of rest, open" in line
        and "masked as faulty in them: emg2 (in 100% of them, lead-off);" in line
    ), line
    assert "record longer holds" not in line and "emg1" not in line, line
    assert (tmp_path / "x.sior").exists() and not (tmp_path / "x.npz").exists()


def test_train_checks_the_fit_options_before_its_session_and_names_what_it_kept(tmp_path: Path) -> None:
    """--reject 1 and --features foo failed only after the whole prompted
    session; a device that stopped early did not say the recording was kept."""
    out = tmp_path / "y.npz"
    for opt, words in (("--reject=1", "rejection threshold 1"), ("--features=foo", "unknown feature(s) foo")):
        proc = _cli("train", TRAIN_URL, "-o", str(out), "--quiet", "--reps", "1", opt)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and words in proc.stderr, proc.stderr
        assert not out.with_suffix(".sior").exists()  # no session was recorded
    proc = _cli("train", "sim://gestures?seed=1&fast=1&duration=3", "-o", str(out), "--quiet", "--reps", "1")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    rec = out.with_suffix(".sior")
    assert "stopped before the training sequence ended" in proc.stderr and rec.exists(), proc.stderr
    assert f"the recording so far is kept: fit it with sensorio fit {rec} -o MODEL" in proc.stderr


def test_a_failed_fit_still_says_what_it_was_warned_of(trained: Path, tmp_path: Path) -> None:
    """The warnings were printed only when the fit succeeded: a cut
    recording that left too few windows said only "LDA needs at least 2
    clean windows", not that the file was cut (a fit that succeeds says so)."""
    from sensorio.recording import DataChunk, RecordingReader

    rec = trained.with_suffix(".sior")
    # cut inside its last data record (whatever size the capture's reads made
    # it), and a settle time no hold outlasts: the fit fails once it has read
    # the file, whatever the cut left
    with RecordingReader(rec) as reader:
        last = [it for it in reader.items() if isinstance(it, DataChunk)][-1]
    cut = tmp_path / "cut.sior"
    cut.write_bytes(rec.read_bytes()[: last.offset + len(last.raw) // 2])
    proc = _cli("fit", str(cut), "-o", str(tmp_path / "m.npz"), "--settle", "100")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    *warned, line = proc.stderr.strip().splitlines()
    assert line.startswith("sensorio fit: error: "), proc.stderr
    assert any(w.startswith("sensorio fit: warning: ") and "cut inside a record" in w for w in warned), proc.stderr
    assert not (tmp_path / "m.npz").exists()


def test_control_to_lsl_prints_no_liblsl_info_line(trained: Path) -> None:
    """control --lsl let liblsl print its INFO lines (config loaded, its git
    build) among the decisions' summary; stream kept them off. Now both go
    through sinks.lsl.prepare_lsl: liblsl's warnings and errors only."""
    from support import require_or_skip

    try:
        import pylsl  # noqa: F401
    except (ImportError, RuntimeError):  # pragma: no cover - RuntimeError: liblsl missing
        require_or_skip(False, "pylsl/liblsl is not installed (pip install 'sensorio[lsl]')")
    proc = _cli("control", "sim://gestures?seed=2&fast=1", "--model", str(trained), "--lsl", "--duration", "1")
    assert proc.returncode == 0, proc.stderr
    assert not re.search(r"\bINFO\|", proc.stderr), proc.stderr
    (summary,) = proc.stderr.strip().splitlines()
    assert "decisions" in summary, summary
    # --verbose lets them through, as stream's does (control had no way to see them)
    proc = _cli(
        "control", "sim://gestures?seed=2&fast=1", "--model", str(trained), "--lsl", "--duration", "1", "--verbose"
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"\bINFO\|", proc.stderr), proc.stderr


def test_decisions_as_an_lsl_stream() -> None:
    from support import require_or_skip

    try:
        import pylsl
    except (ImportError, RuntimeError):  # pragma: no cover - RuntimeError: liblsl missing
        pylsl = None
    require_or_skip(pylsl is not None, "pylsl/liblsl is not installed (pip install 'sensorio[lsl]')")
    import uuid

    from sensorio.control.decoders import Decision
    from sensorio.sinks.decisions import LslDecisions

    source = f"sensorio-control-test:{uuid.uuid4().hex[:8]}"
    out = LslDecisions(["rest", "open", "close"], name="test control", source_id=source)
    found = pylsl.resolve_byprop("source_id", source, timeout=10)
    assert found
    inlet = pylsl.StreamInlet(found[0], max_buflen=60, processing_flags=0)
    inlet.open_stream(timeout=10)
    meta = inlet.info(timeout=5)
    assert meta.type() == "Control" and meta.channel_count() == 5
    assert meta.desc().child_value("classes") == "rest,open,close"
    assert out.outlet.wait_for_consumers(5)
    p = np.array([0.1, 0.7, 0.2])
    out.send(Decision(1, "open", p, False, (0, 1, 2), 0.25, False, 400, 0.2))
    sample, _ = inlet.pull_sample(timeout=10)
    np.testing.assert_allclose(sample, [1.0, 0.25, 0.1, 0.7, 0.2], rtol=1e-6)
    out.close()


def test_the_control_loop_starts_with_its_setup_out_of_the_collectors_reach(
    trained: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `sensorio control` built before its loop (numpy, scipy, the
    pipeline, the model) is frozen out of the garbage collector before the
    first decision: a full collection walking it held the GIL for 10-40 ms
    in the middle of the EMG-to-command path."""
    from sensorio.cli import main

    frozen: list[int] = []
    sent: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(len(sent)))  # (the test process stays unfrozen)
    from sensorio.sinks import decisions

    real = decisions.JsonLines.send
    monkeypatch.setattr(decisions.JsonLines, "send", lambda self, d: (sent.append(1), real(self, d)))
    assert main(["control", "sim://gestures?seed=2&fast=1", "--model", str(trained), "--duration", "1"]) == 0
    assert frozen == [0] and sent, (frozen, len(sent))
    assert capsys.readouterr().out.count("\n") == len(sent)


def test_train_on_an_emulated_cyton_given_its_format(tmp_path: Path) -> None:
    """train "sim://cyton" --format cyton said "profile 'cyton' does not speak
    sio: use it with --format cyton" (its plan probed the URL as sio), and
    emulate --profile cyton needed --format cyton as well."""
    from sensorio.emulator import config_from_options

    assert config_from_options({"profile": ["cyton"]}).format == "cyton"
    assert config_from_options({"profile": ["emg8"]}).format == "sio"
    out = tmp_path / "cy.npz"
    proc = _cli(
        "train", "sim://cyton?fast=1", "--format", "cyton", "-o", str(out), "--reps", "1", "--hold", "1.5",
        "--pause", "1", "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out.exists()


def test_attach_decides_to_the_end_of_a_finite_source_as_run_does(trained: Path) -> None:
    """attach() (callbacks) gave one decision fewer than run() (an iterator)
    on a source that ends: the pipeline's last window was never flushed."""
    from sensorio.capture import open as capture_open
    from sensorio.control import attach, load_model, run

    model = load_model(trained)
    url = "sim://gestures?seed=2&fast=1&duration=3&autostart=1"
    with capture_open(url) as s:
        iterated = list(run(s, model))
    called: list = []
    with capture_open(url) as s:
        attach(s, model, called.append)
        s.wait(60)
    assert len(called) == len(iterated) > 0
    assert called[-1].t_s == iterated[-1].t_s == pytest.approx(3.0)


def test_run_and_attach_take_the_info_that_comes_before_the_first_block(trained: Path) -> None:
    """run() and attach() built their pipeline from the stream's INFO when
    called; a capture that had not read it yet (a replay at full speed, on a
    loaded machine) gave a pipeline at the default 1000 Hz, and the 2000 Hz
    model refused every block. The INFO comes before the blocks it
    describes: the pipeline is built at the first block."""
    from sensorio.control import attach, load_model, run
    from sensorio.recording.source import read_source

    blocks, info, _, _ = read_source(trained.with_suffix(".sior"))
    model = load_model(trained)

    class InfoLate:
        """A stream whose INFO arrives as its blocks start."""

        info: dict | None = None

        def __iter__(self):
            self.info = info
            yield from blocks

        def add_callback(self, on_block):
            self.on_block = on_block

        def add_end_callback(self, on_end):
            self.on_end = on_end

    iterated = [d.end_row for d in run(InfoLate(), model)]
    assert iterated
    called: list = []
    late = InfoLate()
    attach(late, model, called.append)
    for b in late:
        late.on_block(b)
    late.on_end()
    assert [d.end_row for d in called] == iterated


@pytest.mark.parametrize(
    "args",
    [
        ("control", "sim://gestures?seed=1&fast=1&channels=4", "--model", "MODEL"),
        ("view", "sim://gestures?seed=1&fast=1", "--channels", "9"),
        ("stream", "sim://gestures?seed=1&fast=1", "--lsl", "--stream", "4"),
    ],
)
def test_a_setup_error_after_the_info_names_the_recording_kept(
    args: tuple[str, ...], trained: Path, tmp_path: Path
) -> None:
    """A check that needs the device's INFO (a model for another layout, a
    channel or stream the device lacks) fails after -o's recording has been
    created: the error said nothing of it, and a second run failed on 'FILE
    exists'. It names the file kept, in record's words."""
    if args[0] == "stream":
        from support import require_or_skip

        from sensorio.sinks.lsl import import_pylsl

        try:
            import_pylsl()
            have_lsl = True
        except Exception:  # noqa: BLE001 - pylsl or liblsl missing
            have_lsl = False
        require_or_skip(have_lsl, "pylsl/liblsl is not installed (pip install 'sensorio[lsl]')")
    out = tmp_path / "kept.sior"
    proc = _cli(*(str(trained) if a == "MODEL" else a for a in args), "-o", str(out), timeout=120)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert re.search(rf"\[{re.escape(str(out))}: \d+ bytes kept, \d+ frames\]$", lines[-1]), proc.stderr
    assert out.exists()


def test_control_ends_and_says_why_on_a_device_that_sends_no_data(trained: Path, tmp_path: Path) -> None:
    """A device that answers (INFO) but sends no data frames: control waited
    for ever, silently, --duration and all (it counted signal rows, and the
    signal watch says nothing before a first block). It stops within
    --duration, or at record's first-frame check without one, with record's
    and stream's diagnosis as its one-line error, and names the recording kept."""
    url = "sim://gestures?speed=1e-300"
    for extra in (("--duration", "1"), ("-o", str(tmp_path / "n.sior"))):
        proc = _cli("control", url, "--model", str(trained), *extra, timeout=60)
        assert proc.returncode == 1, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "the device answers" in lines[0] and "sends no data frames" in lines[0], lines
        assert proc.stdout == ""
    assert re.search(rf"\[{re.escape(str(tmp_path / 'n.sior'))}: \d+ bytes kept, 0 frames\]$", lines[0]), lines


def test_control_takes_records_first_frame_check_and_the_start_its_advice_names(trained: Path) -> None:
    """control's first-frame check was fixed at 5 s (a device that starts
    late was cut off, whatever --duration said), and its advice named
    --start, which control did not take."""
    url = "sim://gestures?seed=2&link=stall:at=0,dur=1.5"
    proc = _cli("control", url, "--model", str(trained), "--duration", "2.5", "--check-seconds", "1", "--quiet")
    assert proc.returncode == 1 and "sends no data frames" in proc.stderr and "--start" in proc.stderr, proc.stderr
    proc = _cli(
        "control", url, "--model", str(trained), "--duration", "2.5", "--check-seconds", "0", "--start", "START"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["t_s"] == pytest.approx(2.5, abs=0.1)


def test_train_and_control_say_the_frames_lost_and_control_the_recording_kept(tmp_path: Path) -> None:
    """train printed only its model line though 100 frames were lost;
    control (--quiet or not) had no closing word at all, and a Ctrl-C left
    it without naming the recording kept. Both now close as record does, on
    stderr (control's decisions have stdout)."""
    import signal

    model = tmp_path / "d.npz"
    url = "sim://gestures?seed=1&fast=1&link=drop:at=3,count=100"
    proc = _cli("train", url, "-o", str(model), "--reps", "1", "--hold", "1.5", "--pause", "1", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert re.search(
        rf"^{re.escape(str(model.with_suffix('.sior')))}: \d+ bytes recorded, .*, 100 frames lost", proc.stderr, re.M
    ), proc.stderr
    url = "sim://gestures?seed=2&fast=1&link=drop:at=0.5,count=30"
    proc = _cli("control", url, "--model", str(model), "--duration", "2", "--quiet")
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    assert ", 30 frames lost, " in proc.stderr, proc.stderr
    rec = tmp_path / "c.sior"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    ctl = subprocess.Popen(
        [sys.executable, "-m", "sensorio", "control", "sim://gestures?seed=2", "--model", str(model), "-o", str(rec)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        while not ctl.stdout.readline():  # a first decision: it is under way
            assert ctl.poll() is None, ctl.stderr.read()
        ctl.send_signal(signal.SIGINT)
        _, err = ctl.communicate(timeout=60)
    finally:
        ctl.kill()
    assert ctl.returncode == 0, err
    assert re.search(rf"^{re.escape(str(rec))}: \d+ bytes recorded, .* \(stopped by the user\)$", err, re.M), err


def test_the_signal_watch_counts_the_stale_decisions_it_drops() -> None:
    from sensorio.control.decoders import Decision
    from sensorio.control.watch import SignalWatch

    class Ctl:
        def settle(self) -> None:
            pass

        def safe_decision(self, row: int, why: str) -> Decision:
            return Decision(0, "rest", np.ones(1), False, (), 0.0, True, row, 0.0)

    sent: list = []
    watch = SignalWatch(Ctl(), lambda: 100, sent.append)
    watch.arrived()
    watch.lose("test")
    for end in (50, 100, 150):
        watch.send(Decision(1, "open", np.ones(1), False, (), 1.0, False, end, 0.0))
    assert watch.dropped == 2 and [d.end_row for d in sent] == [100, 150]
