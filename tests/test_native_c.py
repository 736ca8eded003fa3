"""The C side, run from the ordinary test suite: the C unit tests under
AddressSanitizer + UndefinedBehaviorSanitizer, and every libFuzzer target
replaying its corpus, its regression inputs and (for SIO-1) the shared
conformance vectors, built with a plain main() instead of libFuzzer."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from support import ROOT, VECTORS, require_or_skip

FUZZ = ROOT / "tests" / "fuzz"
TARGETS = sorted(p.stem.removeprefix("fuzz_") for p in FUZZ.glob("fuzz_*.c"))
SAN = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def _cc() -> str:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    require_or_skip(cc is not None, "no C compiler (cc) on PATH")
    return cc  # type: ignore[return-value]


def test_c_unit_tests_under_sanitizers() -> None:
    require_or_skip(shutil.which("make") is not None, "make is not installed")
    proc = subprocess.run(
        ["make", "-C", str(ROOT / "tests" / "c"), "check", f"CC={_cc()}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " 0 failed" in proc.stdout


@pytest.fixture(scope="session")
def replay_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-replay")


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_corpus_replays_clean(target: str, replay_dir: Path) -> None:
    exe = replay_dir / f"replay_{target}"
    csrc = sorted(str(p) for p in (ROOT / "csrc").glob("*.c"))
    build = subprocess.run(
        [
            _cc(),
            "-std=c11",
            "-O1",
            "-g",
            "-Wall",
            "-Wextra",
            *SAN,
            f"-I{ROOT / 'csrc'}",
            str(FUZZ / "replay_main.c"),
            str(FUZZ / f"fuzz_{target}.c"),
            *csrc,
            "-o",
            str(exe),
            "-lm",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    inputs = [d for d in (FUZZ / "corpus" / target, FUZZ / "regressions" / target) if d.is_dir()]
    if target == "sio1":
        inputs += sorted(VECTORS.glob("*.bin"))
    assert inputs, f"no corpus for fuzz target {target}"
    run = subprocess.run([str(exe), *map(str, inputs)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "replayed" in run.stdout
