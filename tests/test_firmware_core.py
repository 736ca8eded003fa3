"""The firmware core's unit tests, natively on the host port (firmware/host/).

The C test bench checks the scheduler, frame builder and command parser
check by check; here it also dumps every byte the core sent, and sensorio's
own Parser must accept all of it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sensorio import Parser

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
REQUIRE = os.environ.get("SENSORIO_REQUIRE_FIRMWARE") == "1"

pytestmark = pytest.mark.firmware


def _need(ok: bool, reason: str) -> None:
    if not ok:
        if REQUIRE:
            pytest.fail(f"SENSORIO_REQUIRE_FIRMWARE=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def host_test_bin() -> Path:
    _need(shutil.which("make") is not None, "make is not installed")
    _need(shutil.which("cc") is not None, "no C compiler (cc) for the firmware host tests")
    build = subprocess.run(["make", "-C", str(FIRMWARE), "build/host/fw_host_test"], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    return FIRMWARE / "build" / "host" / "fw_host_test"


def test_core_unit_tests_pass(host_test_bin: Path, tmp_path: Path) -> None:
    dump = tmp_path / "session.bin"
    run = subprocess.run([str(host_test_bin), "--dump", str(dump)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "all checks passed" in run.stdout

    data = dump.read_bytes()
    assert data[0] == 0  # the start-up delimiter
    parser = Parser()
    parser.feed(data)
    stats = parser.stats
    # everything the core built is valid SIO-1; the only frames missing are
    # the two the back-pressure test makes the core drop (seq gap of 2)
    assert stats.crc_errors == stats.cobs_errors == stats.malformed == stats.oversized == 0
    assert stats.bytes_resync == 0 and stats.bytes_pending == 0
    assert stats.lost_frames == 2
    assert stats.bytes_ok + stats.bytes_idle == len(data)

    messages = parser.read_messages()
    info = json.loads(messages[0].payload)
    assert messages[0].kind == "info"
    (stream,) = info["streams"]
    assert stream["enc"] == 4 and stream["unit"] == "uV"
    assert stream["zero"] == 512 and (stream["min_code"], stream["max_code"]) == (0, 1023)
    gain = stream["gain"]
    assert stream["scale"] == pytest.approx(5e6 / 1024 / gain, rel=1e-9)
    assert info["test_uv"] == pytest.approx(100 * 5e6 / 1024 / gain, rel=1e-9)
    replies = [m.text for m in messages if m.kind == "reply"]
    assert "ERR unknown command" in replies and "ERR line too long" in replies
    assert all(r == "OK" or r.startswith("ERR ") for r in replies)
