"""One spelling for each shared option (sensorio/cli/_options.py); the old
spellings still work, hidden, with a one-line notice on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorio.cli import build_parser


def _parse(argv: list[str]) -> object:
    return build_parser().parse_args(argv)


@pytest.mark.parametrize(
    "argv, old",
    [
        (["demo", "{}"], "--out"),
        (["view", "sim://", "{}"], "--record"),
        (["stream", "sim://", "{}"], "--record"),
        (["control", "sim://", "--model", "m.npz", "{}"], "--record"),
    ],
    ids=["demo", "view", "stream", "control"],
)
def test_output_is_o_output_and_the_old_spelling_still_works(
    argv: list[str], old: str, capsys: pytest.CaptureFixture[str]
) -> None:
    new = _parse([a if a != "{}" else "-o" for a in argv] + ["x.out"])
    assert new.output == Path("x.out")  # type: ignore[attr-defined]
    assert capsys.readouterr().err == ""
    args = _parse([a if a != "{}" else old for a in argv] + ["x.out"])
    assert args.output == Path("x.out")  # type: ignore[attr-defined]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{old} is deprecated, use -o/--output" in err[0]


def test_old_spellings_are_hidden_from_help() -> None:
    text = build_parser()._subparsers._group_actions[0].choices["demo"].format_help()  # type: ignore[union-attr]
    assert "--output" in text and "--out " not in text and "--out," not in text


def test_train_names_its_recording_recording_and_the_old_spelling_still_works(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["train", "sim://", "-o", "m.npz"]
    assert _parse([*base, "--recording", "r.sior"]).recording == Path("r.sior")  # type: ignore[attr-defined]
    assert capsys.readouterr().err == ""
    assert _parse([*base, "--record", "r.sior"]).recording == Path("r.sior")  # type: ignore[attr-defined]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--record is deprecated, use --recording" in err[0]


def test_view_plot_switch_is_window(capsys: pytest.CaptureFixture[str]) -> None:
    assert _parse(["view", "sim://", "--window"]).window is True  # type: ignore[attr-defined]
    assert _parse(["view", "sim://", "--plot"]).window is True  # type: ignore[attr-defined]
    assert "--plot is deprecated, use --window" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["calibrate", "train", "control"])
def test_single_stream_commands_take_one_stream_id(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = {
        "calibrate": ["calibrate", "x.sior"],
        "train": ["train", "sim://", "-o", "m.npz"],
        "control": ["control", "sim://", "--model", "m.npz"],
    }[command]
    assert _parse(base).stream == 0  # type: ignore[attr-defined]
    assert _parse([*base, "--stream", "1"]).stream == 1  # type: ignore[attr-defined]
    with pytest.raises(SystemExit):
        _parse([*base, "--stream", "-1"])  # a stream id is 0 or above, in every command
    with pytest.raises(SystemExit):
        _parse([*base, "--stream", "1", "--stream", "2"])
    assert "give it once" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        ["record", "sim://", "-o", "x.sior"],
        ["view", "sim://"],
        ["stream", "sim://"],
        ["control", "sim://", "--model", "m.npz"],
    ],
)
def test_duration_is_checked_alike(command: list[str]) -> None:
    assert _parse([*command, "--duration", "2.5"]).duration == 2.5  # type: ignore[attr-defined]
    for bad in ("0", "-1", "nan", "inf"):
        with pytest.raises(SystemExit):
            _parse([*command, "--duration", bad])


def _options(command: str) -> set[str]:
    import argparse

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {s for a in sub.choices[command]._actions for s in a.option_strings if a.help != argparse.SUPPRESS}


def test_plot_is_analyze_plot_with_the_same_options() -> None:
    # one analysis behind both commands: plot takes every option of analyze
    # except its other outputs (events, summary), and names its image -o
    assert _options("analyze") - {"--events", "--plot", "--json"} == _options("plot") - {"-o", "--output"}


def test_plot_uses_the_pipeline_it_is_given(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    rec = tmp_path / "r.sior"
    run = [sys.executable, "-m", "sensorio"]
    subprocess.run(
        [*run, "record", "sim://emg8?seed=1&fast=1&duration=1", "-o", str(rec)], check=True, env=env, timeout=120
    )
    broken = tmp_path / "p.toml"
    broken.write_text("[[stage]]\ntype = 'no-such-stage'\n")
    proc = subprocess.run(
        [*run, "plot", str(rec), "--pipeline", str(broken)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode != 0 and "no-such-stage" in proc.stderr, proc.stderr
    assert not (tmp_path / "r.png").exists()


def test_channels_help_says_what_each_command_shows_of_a_big_stream() -> None:
    """view shows 16 channels of each stream (those with faults first); its
    help said the first 8, as plot's does."""
    import re

    def helped(command: str) -> str:
        sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
        return re.sub(r"\s+", " ", sub.format_help())

    assert "above, 16 of each stream, those with faults first" in helped("view")
    assert "above, the first 8 or those with faults" in helped("plot")
