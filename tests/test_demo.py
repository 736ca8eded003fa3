"""sensorio demo: runs in one command, in time, writes a PNG, and its table's faults
match the emulator's ground truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT, require_or_skip

from sensorio.cli import main


def test_demo_command_outputs_match_ground_truth(tmp_path: Path) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        require_or_skip(False, "matplotlib is not installed (pip install 'sensorio[plot]')")
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "sensorio", "demo", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout
    png = out / "demo.png"
    assert png.stat().st_size > 20_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    truth = [json.loads(line) for line in (out / "truth.jsonl").read_text().splitlines()]
    injected = [r for r in truth if r["type"] == "fault"]
    assert {f["kind"] for f in injected} >= {"liftoff", "saturation"}
    from sensorio.demo import DETECTED_AS as detected_as

    checked = set(detected_as)
    channels = {c["channel"]: c for c in summary["channels"]}
    for f in injected:
        if f["kind"] not in checked:
            continue
        found = [e for e in channels[f["channel"]]["faults"] if e["kind"] == detected_as[f["kind"]]]
        assert found, f"{f['kind']} on channel {f['channel']} not found: {channels[f['channel']]}"
        # found where the ground truth says: starting within 0.1 s of the fault (spikes: of the
        # first spike), and ending after it started
        begins = min(f["times_s"]) if f["kind"] == "spikes" else f["start_s"]
        assert any(abs(e["start_s"] - begins) < 0.1 and (e["end_s"] or 1e9) > begins for e in found), found
        assert channels[f["channel"]]["health"] == "FAULTY"
    faulted = {f["channel"] for f in injected}
    for c, ch in channels.items():
        if c not in faulted:
            assert ch["faults"] == [] and ch["health"] == "ok", ch
            assert 10 < ch["rms_uv"] < 500  # EMG-like, not rails or zeros
    # link faults: 3 dropped frames and one bit flip (one more frame lost to its CRC)
    link, inj = summary["link"], summary["injected_link"]
    assert inj == {"drop": 3, "bitflip": 1}
    assert link["crc_errors"] == 1 and link["lost_frames"] == 4
    # the table printed is the one saved
    table = (out / "summary.txt").read_text()
    assert table.splitlines()[0].split()[:2] == ["channel", "health"]
    assert table.strip() in proc.stdout
    assert f"ground truth: {len(injected)} of {len(injected)} injected sensor faults found, 0 false" in table


def test_demo_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert main(["demo", "--out", str(out), "--no-plot"]) != 0
    assert "not empty" in capsys.readouterr().err
    assert (out / "mine.txt").read_text() == "keep me" and len(list(out.iterdir())) == 1


def test_demo_default_directory_is_new(tmp_path: Path) -> None:
    from sensorio.demo import default_out_dir

    first = default_out_dir(tmp_path)
    first.mkdir()
    second = default_out_dir(tmp_path)
    assert second != first and not second.exists() and second.parent == tmp_path


def test_demo_force_writes_over_its_own_earlier_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--force into a folder that holds an earlier demo's outputs failed on
    its capture.sior ("exists: pass --force") although --force was given."""
    out = tmp_path / "again"
    assert main(["demo", "--out", str(out), "--no-plot"]) == 0
    capsys.readouterr()
    assert main(["demo", "--out", str(out), "--no-plot", "--force"]) == 0, capsys.readouterr().err
