"""Every option of every ``sensorio`` command, given values a user (or a
script gone wrong) might pass: NaN, infinities, negative, huge and tiny
numbers, empty strings, names that are not UTF-8, missing files,
directories. Whatever the values, the command must end with exit 0, 1 or 2,
at most one line of error on stderr, never an internal error (70), never a
traceback, never a hang, and never leave a partial output file behind.

The commands and their options are read from the real parser, so a new
option is covered without touching this file. Most runs are in-process
(``sensorio.cli.main``), each bounded by an alarm; a sample runs as real
subprocesses, where the process's own streams and encodings apply.

SENSORIO_BAD_OPTIONS_EXAMPLES sets the examples per command (default 10);
SENSORIO_BAD_OPTIONS_RANDOM=1 explores new examples instead of the fixed,
reproducible ones.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from emulator_util import run
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sensorio.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("SENSORIO_BAD_OPTIONS_EXAMPLES", "10"))
RANDOM = os.environ.get("SENSORIO_BAD_OPTIONS_RANDOM") == "1"
#: wall-clock bound of one run: a hang, not a slow machine, trips it
HANG_S = 60

# Options left out of the property test, with the reason (a case of each is
# tested on its own below).
ELSEWHERE: dict[tuple[str, str], str] = {
    ("replay", "--pty"): "replay --pty waits for a reader to open its pty: tests/test_capture_pty.py",
}


#: fewer examples for commands that take seconds per run
SLOW = {"demo": 2}

NUMBERS = [
    "nan", "NaN", "inf", "-inf", "infinity", "-1", "-0", "0", "0.0", "1e-320", "1e-9",
    "0.5", "1", "2", "3", "250", "1e6", "1e9", "1e308", "1e400", "-1e308",
    "99999999999999999999999999", "-99999999999999999999", "0x10", "1_000", " 7 ", "",
]  # fmt: skip
TEXT = ["", " ", "x", "-", "--", "?", "\u00e9", "a\nb", "%s", "{}", "sio", "START", "b"]


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return dict(sub.choices)


COMMANDS = _commands()


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that main() cannot turn it into an exit code."""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The input files, made once; each run works on its own copies."""
    base = tmp_path_factory.mktemp("inputs")
    files = {
        "dump": base / "run.bin",
        "rec": base / "valid.sior",
        "spec": base / "one.toml",
        "bad_spec": base / "zero.toml",
        "pipeline": base / "pipe.json",
        "bad_pipeline": base / "deep.json",
        "empty": base / "empty.bin",
        "text": base / "notes.txt",
        "dir": base / "folder",
        "non_utf8": Path(os.fsdecode(bytes(base) + b"/caf\xe9.bin")),
        "npy": base / "src.npy",
    }
    # two channels: plots (analyze --plot, plot) take seconds per channel panel
    files["dump"].write_bytes(run(autostart=True, duration=0.4, channels=2)[0])
    shutil.copy(ROOT / "tests" / "corpus" / "recording" / "valid.sior", files["rec"])
    spec = 'name = "one"\nrate_hz = {}\n[frame]\nsync = "AA"\nsize = 4\n'
    spec += '[[streams]]\nstart = 1\nchannels = 1\ntype = "i16"\n'
    files["spec"].write_text(spec.format(250))
    files["bad_spec"].write_text(spec.format(0))
    files["pipeline"].write_text('{"stage": [{"type": "calibrate"}, {"type": "bandpass"}]}')
    files["bad_pipeline"].write_text('{"stage": ' + "[" * 3000 + "]" * 3000 + "}")
    files["empty"].write_bytes(b"")
    files["text"].write_text("hello\nworld\n")
    files["dir"].mkdir()
    shutil.copy(files["dump"], files["non_utf8"])
    import numpy as np

    np.save(files["npy"], np.zeros((100, 8)))
    return files


def _copies(inputs: dict[str, Path], work: Path) -> dict[str, Path]:
    """The inputs copied into a run's directory (a run may overwrite or remove them)."""
    into = work / "in"
    into.mkdir()
    out = {}
    for key, path in inputs.items():
        target = Path(os.fsdecode(bytes(into) + b"/" + os.fsencode(path.name)))
        if path.is_dir():
            target.mkdir()
        else:
            shutil.copy(path, target)
        out[key] = target
    return out


def _existing(inputs: dict[str, Path]) -> st.SearchStrategy[str]:
    return st.sampled_from([str(p) for p in inputs.values()])


def _paths(inputs: dict[str, Path], work: Path) -> st.SearchStrategy[str]:
    """Input files (good and bad), and fresh output names in the run's own
    directory: plain, odd suffixes, in a missing directory, not UTF-8."""
    fresh = st.sampled_from(
        [
            "out.npz", "out.csv", "out.edf", "out.bdf", "out.png", "out.svg", "out.jsonl", "out.sior",
            "out.json", "out.toml", "out", "out.", ".hidden", "no/such/dir/out.sior",
        ]
    ).map(lambda name: str(work / name))  # fmt: skip
    weird = st.sampled_from([os.fsdecode(bytes(work) + b"/out\xff.sior"), str(work), "", " ", "/", "/dev/null", "-"])
    return st.one_of(_existing(inputs), fresh, weird)


def _ports(inputs: dict[str, Path], work: Path) -> st.SearchStrategy[str]:
    """Ports that fail fast: missing devices, files, directories, bad URLs."""
    return st.sampled_from(
        [
            "/dev/ttyNOPE_sensorio", str(work / "ttyMISSING"), str(inputs["dir"]), str(inputs["text"]),
            "", "sim://nope", "sim://emg8?rate=nan", "sim://emg8?channels=0", "sim://emg8?seed=-1",
            "sim://emg8?duration=-1", "replay://" + str(work / "missing.sior"), "nope://x",
            os.fsdecode(b"/dev/tty\xff"),
        ]
    )  # fmt: skip


def _value(action: argparse.Action, inputs: dict[str, Path], work: Path) -> st.SearchStrategy[str]:
    numbers = st.one_of(
        st.sampled_from(NUMBERS),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
    )
    if action.choices:
        return st.one_of(st.sampled_from(sorted(action.choices)), st.sampled_from(["", "nope", "SIO"]))
    if action.dest == "format":
        return st.one_of(
            st.sampled_from(["sio", "cyton", "ascii", "openbci-cyton", "nope", "", "SIO"]),
            st.sampled_from([str(inputs["spec"]), str(inputs["bad_spec"]), str(work / "missing.toml")]),
            _existing(inputs),
        )
    if action.dest in ("fault", "link"):
        kinds = ["liftoff", "saturation", "spikes", "motion", "stuck", "noise"]
        if action.dest == "link":
            kinds = ["drop", "bitflip", "garbage", "stall", "burst", "unplug"]
        return st.builds(
            lambda kind, key, value: f"{kind}:{key}={value}",
            st.sampled_from([*kinds, "melt", ""]),
            st.sampled_from(["ch", "start", "end", "at", "count", "rate", "dur", "bytes", "x", ""]),
            numbers,
        )
    pathlike = action.type is Path or action.dest in (
        "truth", "link_path", "source", "calibration_dir", "out", "record", "file",
    )  # fmt: skip
    if pathlike:
        return _paths(inputs, work)
    if action.type is not None and action.type is not str:
        return st.one_of(numbers, st.sampled_from(TEXT))
    return st.one_of(st.sampled_from(TEXT), numbers, _existing(inputs))


@st.composite
def _argv(draw: st.DrawFn, command: str, inputs: dict[str, Path], work: Path) -> list[str]:
    parser = COMMANDS[command]
    argv = [command]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.option_strings:
            continue
        if action.dest == "port":
            argv.append(draw(_ports(inputs, work)))
        elif action.dest == "source" and command == "calibrate":
            argv.append(draw(st.one_of(_ports(inputs, work), _paths(inputs, work))))
        else:
            argv.append(draw(_paths(inputs, work)))
    options = [
        a
        for a in parser._actions
        if a.option_strings
        and not isinstance(a, argparse._HelpAction)
        and (command, a.option_strings[-1]) not in ELSEWHERE
    ]
    chosen = draw(st.lists(st.sampled_from(options), max_size=5, unique_by=id))
    required = [a for a in options if a.required and a not in chosen]
    for action in chosen + required:
        flag = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            argv.append(flag)
        else:
            argv += [flag, draw(_value(action, inputs, work))]
    if command == "emulate":
        argv += ["--timeout", "1"]  # a generated --timeout is still checked; this one ends the run
    if command == "calibrate":
        argv.append("--yes")  # no prompts waiting for Enter
    return argv


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise Hang(f"no exit within {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _run_in_process(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """main(argv) with the process's streams as a user's terminal has them:
    strict UTF-8 stdout, backslash-escaping stderr, an empty stdin."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True)
    term = signal.getsignal(signal.SIGTERM)
    here = os.getcwd()
    stdin = sys.stdin
    os.chdir(cwd)
    sys.stdin = io.StringIO("")
    try:
        with redirect_stdout(out), redirect_stderr(err), warnings.catch_warnings(), _alarm(HANG_S):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
            except Hang:
                raise AssertionError(f"hangs: {argv} gave no exit within {HANG_S} s") from None
    finally:
        sys.stdin = stdin
        os.chdir(here)
        signal.signal(signal.SIGTERM, term)
        gc.unfreeze()  # emulate freezes its objects for the life of its process
    return code, _text(out), _text(err)


def _text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8", "replace")  # type: ignore[attr-defined]


def _check(argv: list[str], code: int, err: str, work: Path, before: set[str]) -> None:
    shown = " ".join(repr(a) for a in argv)
    assert "Traceback" not in err, f"{shown}\n{err}"
    assert "internal error" not in err and code != 70, f"{shown}\n{err}"
    assert code in (0, 1, 2), f"{shown}: exit {code}\n{err}"
    errors = [line for line in err.splitlines() if ": error:" in line]
    assert len(errors) <= 1, f"{shown}\n{err}"
    if code != 0:
        assert len(errors) == 1, f"{shown}: exit {code} without one line of error\n{err}"
        left = sorted(set(_listing(work)) - before)
        assert not left, f"{shown}: failed and left {left}"


def _listing(work: Path) -> list[str]:
    return [str(p.relative_to(work)) for p in work.rglob("*")]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_of_every_command(command: str, inputs: dict[str, Path]) -> None:
    base = Path(tempfile.mkdtemp(prefix=f"bad-{command}-"))

    @settings(
        max_examples=SLOW.get(command, EXAMPLES),
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no line tracing
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        work = Path(tempfile.mkdtemp(dir=base))
        try:
            argv = data.draw(_argv(command, _copies(inputs, work), work), label="argv")
            before = set(_listing(work))
            code, _, err = _run_in_process(argv, work)
            _check(argv, code, err, work, before)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    try:
        check()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _subprocess(argv: list[str], cwd: Path) -> tuple[int, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8:strict")
    env.pop("SENSORIO_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-m", "sensorio", *argv],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=HANG_S + 30,  # interpreter start-up on a loaded machine
    )
    return done.returncode, done.stderr.decode("utf-8", "replace")


def test_a_sample_as_real_processes(inputs: dict[str, Path], tmp_path: Path) -> None:
    """The process's own streams: a name that is not UTF-8 printed to a
    strict UTF-8 stdout, bad values in each kind of command."""
    inputs = _copies(inputs, tmp_path)
    odd = inputs["non_utf8"]
    cases = [
        ["analyze", str(odd), "--stream", "99"],
        ["analyze", str(odd), "--json", "--pipeline", str(inputs["bad_pipeline"])],
        ["analyze", str(odd)],
        ["info", str(inputs["rec"])],
        ["decode", str(odd), "--format", str(inputs["bad_spec"]), "-o", str(tmp_path / "o.npz")],
        ["emulate", "--rate", "nan", "--timeout", "1"],
        ["emulate", "--quiet", "--timeout", "1", "--link-path", str(inputs["text"])],
        ["emulate", "--quiet", "--timeout", "1", "--source", str(odd)],
        ["record", "sim://emg8?rate=inf", "-o", str(tmp_path / "r.sior"), "--duration", "0.5"],
        ["stream", "/dev/ttyNOPE_sensorio", "--duration", "nan"],
        ["calibrate", str(inputs["dump"]), "--rest-s", "-1", "--yes"],
    ]
    for argv in cases:
        before = set(_listing(tmp_path))
        code, err = _subprocess(argv, tmp_path)
        _check(argv, code, err, tmp_path, before)


@pytest.mark.parametrize(
    "argv",
    [
        ["replay", "{rec}", "--speed", "nan"],
        ["replay", "{rec}", "--pty", "--wait", "-1"],
        ["plot", ""],
        ["plot", "/"],
        ["plot", "{rec}", "-o", "x.jpg2"],
        ["analyze", "{rec}", "--plot", "x.jpg2"],
        ["record", "sim://?fast=1&duration=1", "-o", "r.sior", "--stall-timeout", "-1"],
        ["record", "sim://?fast=1&duration=1", "-o", "r.sior", "--check-seconds", "inf"],
        ["record", "sim://?fast=1&duration=1", "-o", "r.sior", "--baud", "0"],
        ["stream", "sim://?fast=1&duration=1", "--baud", "nan"],
    ],
)
def test_values_once_left_out(argv: list[str], inputs: dict[str, Path], tmp_path: Path) -> None:
    """Bad values that were left out of the property test while their fixes
    were made elsewhere: each is refused in one line, leaving nothing."""
    rec = _copies(inputs, tmp_path)["rec"]
    argv = [a.format(rec=rec) for a in argv]
    before = set(_listing(tmp_path))
    code, _, err = _run_in_process(argv, tmp_path)
    assert code in (1, 2), (argv, code, err)
    _check(argv, code, err, tmp_path, before)
