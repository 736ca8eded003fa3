"""A short run of the link-fault soak (tools/soak.py): exact accounting per
stream against the emulator's truth, no corrupted frame accepted, flat
memory, and the recording replays to the same Blocks and statistics. The
emulator falling behind real time on a loaded machine is reported, not a
failure: it is the machine's speed, not a defect (CI's own soak run keeps it
strict)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_soak_briefly(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "soak.py"), "--minutes", "0.4", "--rate", "4000",
         "--lag-is-a-note", "--keep", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert "soak: OK" in res.stdout
    assert "Blocks identical, statistics identical" in res.stdout
