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
