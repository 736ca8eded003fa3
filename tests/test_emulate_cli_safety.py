"""Bad values that used to destroy a file, fail with an internal error, hang
or give silent nonsense: `emulate --link-path` over an existing file,
non-UTF-8 or deeply nested spec and pipeline files, a spec rate of 0 or NaN,
emulator options out of range, `analyze --stream` of a stream that is not
there, and an emulator rate that outgrew memory and ignored --timeout.
Each must now be one line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from emulator_util import run

from sensorio.cli import build_parser, main
from sensorio.dsp.stages import Pipeline
from sensorio.emulator import Emulator, Truth, config_from_options
from sensorio.errors import FormatError, SensorioError, UsageError
from sensorio.formats.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]

SPEC = """name = "one-channel"
rate_hz = {rate}
[frame]
sync = "AA"
size = 4
[[streams]]
start = 1
channels = 1
type = "i16"
"""


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SENSORIO_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "sensorio", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def _one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _fails_in_one_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str]:
    """Run the command line in-process: a non-zero exit (1 or 2, whether from
    argparse or from the command) and exactly one line on stderr."""
    try:
        code = main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code in (1, 2), (code, err)
    return code, _one_line(err)


# -- emulate --link-path ---------------------------------------------------------
def test_link_path_never_replaces_an_existing_file(tmp_path: Path) -> None:
    precious = tmp_path / "f.txt"
    precious.write_text("data\n")
    elsewhere = tmp_path / "target"
    elsewhere.write_text("t")
    other_link = tmp_path / "other"
    other_link.symlink_to(elsewhere)
    folder = tmp_path / "dir"
    folder.mkdir()
    for path in (precious, other_link, folder):
        truth = tmp_path / "truth.jsonl"
        done = _cli("emulate", "--quiet", "--timeout", "2", "--link-path", str(path), "--truth", str(truth))
        assert done.returncode in (1, 2)
        line = _one_line(done.stderr)
        assert str(path) in line and "exists" in line
        assert not truth.exists()  # refused before anything was written
    assert precious.read_text() == "data\n"
    assert other_link.is_symlink() and os.readlink(other_link) == str(elsewhere)
    assert folder.is_dir()


def test_no_truth_file_is_left_when_the_emulator_cannot_start(tmp_path: Path, capsys) -> None:
    truth = tmp_path / "t.jsonl"
    _, line = _fails_in_one_line(
        capsys,
        ["emulate", "--quiet", "--timeout", "1", "--source", str(tmp_path / "no.npy"), "--truth", str(truth)],
    )
    assert "no.npy" in line and not truth.exists()
    same = tmp_path / "same"
    _, line = _fails_in_one_line(
        capsys, ["emulate", "--quiet", "--timeout", "1", "--link-path", str(same), "--truth", str(same)]
    )
    assert "--truth" in line and not os.path.lexists(same)


def test_an_existing_truth_file_is_kept_without_force(tmp_path: Path, capsys) -> None:
    truth = tmp_path / "run.sior"
    truth.write_bytes(b"a recording")
    for extra in ([], ["--source", str(truth), "--force"]):
        _, line = _fails_in_one_line(capsys, ["emulate", "--quiet", "--timeout", "1", "--truth", str(truth), *extra])
        assert str(truth) in line
        assert truth.read_bytes() == b"a recording"


@pytest.mark.parametrize("content", ["empty", "nan", "text", "npz"])
def test_a_source_that_is_not_a_finite_array_is_refused(tmp_path: Path, content: str, capsys) -> None:
    import numpy as np

    source = tmp_path / "src.npy"
    if content == "empty":
        source.write_bytes(b"")
    elif content == "nan":
        np.save(source, np.array([[1.0, np.nan], [2.0, 3.0]]))
    elif content == "text":
        np.save(source, np.array(["a", "b"]))
    else:
        np.savez(tmp_path / "src", a=np.zeros(3))
        source = tmp_path / "src.npz"
    _, line = _fails_in_one_line(capsys, ["emulate", "--quiet", "--timeout", "1", "--source", str(source)])
    assert str(source) in line


def test_link_path_in_a_missing_directory_names_the_link(tmp_path: Path) -> None:
    link = tmp_path / "no" / "such" / "dir" / "emg"
    done = _cli("emulate", "--quiet", "--timeout", "1", "--link-path", str(link))
    assert done.returncode in (1, 2)
    line = _one_line(done.stderr)
    assert str(link) in line and "/dev/pts" not in line


def test_link_path_is_made_while_serving_and_removed_after(tmp_path: Path) -> None:
    link = tmp_path / "emg"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sensorio", "emulate", "--quiet", "--timeout", "3", "--link-path", str(link)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        printed = proc.stdout.readline().strip()  # printed once the link exists
        assert printed == str(link) and link.is_symlink()
        assert os.readlink(link).startswith("/dev/")
        assert proc.wait(60) == 0
    finally:
        proc.kill()
        proc.communicate()
    assert not os.path.lexists(link)


# -- spec and pipeline files --------------------------------------------------------
def _bad_text_files(tmp_path: Path, suffix: str) -> dict[str, Path]:
    files = {
        "non-utf8": tmp_path / f"latin1{suffix}",
        "deep": tmp_path / f"deep{suffix}",
    }
    files["non-utf8"].write_bytes(b'name = "caf\xe9"\n' if suffix == ".toml" else b'{"name": "caf\xe9"}')
    if suffix == ".toml":
        files["deep"].write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    else:
        files["deep"].write_text('{"stage": ' + "[" * 5000 + "]" * 5000 + "}")
    return files


@pytest.mark.parametrize("kind", ["non-utf8", "deep"])
def test_spec_file_that_is_not_usable_toml(tmp_path: Path, kind: str, capsys) -> None:
    spec = _bad_text_files(tmp_path, ".toml")[kind]
    with pytest.raises(FormatError, match=spec.name):
        load_spec(spec)
    dump = tmp_path / "d.bin"
    dump.write_bytes(b"\xaa\x01\x00\x00" * 10)
    out = tmp_path / "d.npz"
    _, line = _fails_in_one_line(capsys, ["decode", str(dump), "--format", str(spec), "-o", str(out)])
    assert spec.name in line
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".toml", ".json"])
@pytest.mark.parametrize("kind", ["non-utf8", "deep"])
def test_pipeline_file_that_is_not_usable(tmp_path: Path, kind: str, suffix: str, capsys) -> None:
    pipe = _bad_text_files(tmp_path, suffix)[kind]
    with pytest.raises(SensorioError, match=pipe.name):
        Pipeline.from_config(pipe)
    dump = tmp_path / "run.bin"
    dump.write_bytes(run(autostart=True, duration=0.5)[0])
    events = tmp_path / "ev.jsonl"
    _, line = _fails_in_one_line(capsys, ["analyze", str(dump), "--pipeline", str(pipe), "--events", str(events)])
    assert pipe.name in line
    assert not events.exists()


@pytest.mark.parametrize(
    "config, words",
    [
        ([{"type": "calibrate"}], "table"),
        ({"stage": 5}, "stage"),
        ({"stage": [5]}, "stage 1"),
        ({"stage": [{"type": ["calibrate"]}]}, "unknown type"),
        ({"stage": [{"type": "calibrate"}, {"type": "bandpass", "low_hz": float("nan")}]}, "low_hz"),
        ({"stage": [{"type": "calibrate"}, {"type": "bandpass", "low_hz": "x"}]}, "bandpass"),
        ({"stage": [{"type": "calibrate"}], "policy": 5}, "policy"),
    ],
    ids=["list", "stage-not-list", "stage-not-table", "type-not-text", "nan", "text-number", "policy"],
)
def test_pipeline_file_with_wrong_structure(tmp_path: Path, config, words: str, capsys) -> None:
    pipe = tmp_path / "p.json"
    pipe.write_text(json.dumps(config))  # json writes NaN for nan, as a user's file may hold
    with pytest.raises(SensorioError, match=words):
        Pipeline.from_config(pipe)
    dump = tmp_path / "run.bin"
    dump.write_bytes(run(autostart=True, duration=0.5)[0])
    _, line = _fails_in_one_line(capsys, ["analyze", str(dump), "--pipeline", str(pipe)])
    assert words in line


@pytest.mark.parametrize("where", ["top", "stream"])
@pytest.mark.parametrize("rate", ["0", "-250", "nan", "inf", "-inf"])
def test_spec_rate_must_be_a_finite_number_above_zero(tmp_path: Path, rate: str, where: str, capsys) -> None:
    text = SPEC.format(rate=rate if where == "top" else 250)
    if where == "stream":
        text += f"rate_hz = {rate}\n"
    spec = tmp_path / "one.toml"
    spec.write_text(text)
    field = "rate_hz" if where == "top" else "streams[0].rate_hz"
    with pytest.raises(FormatError, match=re.escape(f"one.toml: {field}:")):
        load_spec(spec)
    dump = tmp_path / "d.bin"
    dump.write_bytes(b"".join(b"\xaa" + (i % 100).to_bytes(2, "little") + b"\x00" for i in range(2000)))
    for cmd in (["analyze", str(dump), "--json"], ["decode", str(dump), "--json"]):
        _, line = _fails_in_one_line(capsys, [*cmd, "--format", str(spec)])
        assert field in line


def test_spec_numbers_must_be_finite(tmp_path: Path) -> None:
    for key in ("scale", "offset", "min_code", "max_code"):
        spec = tmp_path / "one.toml"
        spec.write_text(SPEC.format(rate=250) + f"{key} = nan\n")
        with pytest.raises(FormatError, match=rf"streams\[0\]\.{key}: must be a finite number"):
            load_spec(spec)


# -- emulator options ---------------------------------------------------------------
BAD_EMULATE = [
    ("--rate", "nan"),
    ("--rate", "inf"),
    ("--rate", "0"),
    ("--rate", "-5"),
    ("--seed", "-1"),
    ("--channels", "0"),
    ("--channels", "-3"),
    ("--duration", "-5"),
    ("--duration", "nan"),
    ("--duration", "inf"),
    ("--speed", "nan"),
    ("--speed", "inf"),
    ("--random-faults", "-1"),
    ("--mains-hz", "nan"),
    ("--mains-hz", "55"),  # mains is 50 or 60 Hz (0: none)
    ("--contraction-uv", "-1"),
]


@pytest.mark.parametrize("flag, value", BAD_EMULATE, ids=[f"{f}={v}" for f, v in BAD_EMULATE])
def test_emulate_refuses_bad_numbers_in_one_line(flag: str, value: str, capsys) -> None:
    code, line = _fails_in_one_line(capsys, ["emulate", "--quiet", "--timeout", "1", flag, value])
    assert code == 2 and flag in line and value in line


@pytest.mark.parametrize(
    "key, value",
    [
        ("rate", "nan"),
        ("rate", "0"),
        ("seed", "-1"),
        ("channels", "0"),
        ("duration", "-5"),
        ("duration", "inf"),
        ("speed", "nan"),
        ("mains_hz", "inf"),
        ("noise_uv", "-1"),
        ("noise_uv", "1e300"),
        ("gain_drift", "1e308"),
        ("random_faults", str(10**9)),
    ],
)
def test_sim_url_options_are_checked_the_same(key: str, value: str) -> None:
    with pytest.raises(UsageError, match=key):
        config_from_options({key: [value]})


@pytest.mark.parametrize("fmt", ["sio", "ascii"])
def test_emulator_channel_count_zero_is_not_the_profile_default(fmt: str) -> None:
    with pytest.raises(UsageError, match="channels"):
        config_from_options({"format": [fmt], "channels": ["0"]})


def test_timeout_must_be_finite() -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["emulate", "--timeout", "inf"])
    assert exc.value.code == 2


def test_duration_is_checked_alike_in_every_command() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    with_duration = [
        name for name, p in sub.choices.items() if any("--duration" in a.option_strings for a in p._actions)
    ]
    assert {"emulate", "record", "stream"} <= set(with_duration)
    for name in with_duration:
        args = [name] + (["sim://emg8"] if name != "emulate" else [])
        if name == "record":
            args += ["-o", "x.sior"]
        if name == "control":
            args += ["--model", "m.npz"]
        for value in ("nan", "inf", "-5", "0", "soon"):
            with pytest.raises(SystemExit) as exc:
                parser.parse_args([*args, "--duration", value])
            assert exc.value.code == 2, (name, value)
        ok = parser.parse_args([*args, "--duration", "1.5"])
        assert ok.duration == 1.5


# -- analyze --stream ---------------------------------------------------------------
def test_analyze_of_a_stream_that_is_not_there_names_those_that_are(tmp_path: Path, capsys) -> None:
    dump = tmp_path / "run.bin"
    dump.write_bytes(run(autostart=True, duration=0.5, profile="prosthesis")[0])
    events = tmp_path / "ev.jsonl"
    _, line = _fails_in_one_line(capsys, ["analyze", str(dump), "--stream", "99", "--events", str(events)])
    assert "99" in line and "0, 1, 2, 3" in line
    assert not events.exists()
    _, line = _fails_in_one_line(capsys, ["analyze", str(dump), "--stream", "-1"])
    assert "--stream" in line


# -- emulator memory and --timeout at a rate it cannot serve in real time -----------
def test_emulator_step_is_bounded_when_far_behind_real_time() -> None:
    cfg = config_from_options({"format": ["sio"], "autostart": ["1"], "rate": ["100000"]})
    emu = Emulator(cfg, Truth(keep=False))
    t0 = time.monotonic()
    for k in range(3):
        frames = [it.frame for it in emu.step(t0 + 2.0 + k) if it.frame is not None]
        samples = sum(f.n_samp for f in frames if f.stream == 0)
        # two device seconds are due (200,000 samples); one step makes at most its share
        assert 0 < samples <= Emulator.MAX_STEP_SAMPLES + frames[0].n_samp
    assert emu.lag_count > 0  # and says it is behind
    emu.close()


@pytest.mark.parametrize("rate, shown", [("1e7", "1e+07"), ("10", "10"), ("1e-320", "e-321")])
def test_emulator_rate_outside_what_it_can_emulate_is_refused(rate: str, shown: str, capsys) -> None:
    code, line = _fails_in_one_line(capsys, ["emulate", "--quiet", "--timeout", "1", "--rate", rate])
    assert f"{shown} Hz" in line and "100 Hz" in line


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_emulate_at_a_rate_it_cannot_keep_up_with_stays_bounded_and_times_out() -> None:
    """1 MHz x 8 channels streaming to no one: the emulator falls behind real
    time; it used to generate the whole lag at once (2.4 GB after 20 s) and
    overran --timeout. Now its memory stays flat and --timeout ends it."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sensorio", "emulate", "--quiet", "--autostart", "--rate", "1e6", "--timeout", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    peak = 0
    limit_kib = 600 * 1024
    deadline = time.monotonic() + 90  # a hang bound, not a timing assertion
    try:
        proc.stdout.readline()  # serving
        while proc.poll() is None and time.monotonic() < deadline and peak < limit_kib:
            try:
                peak = max(peak, _rss_kib(proc.pid))
            except OSError:
                break
            time.sleep(0.1)
        assert peak < limit_kib, f"RSS reached {peak // 1024} MB"
        assert proc.wait(max(1.0, deadline - time.monotonic())) == 0
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert b"Traceback" not in err
