"""Replay the fuzz corpus of tools/fuzz_recording.py through its one_input,
plus random mutations of each corpus file (a short in-process fuzz run)."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = sorted((ROOT / "tests" / "corpus" / "recording").iterdir())


def _harness():
    spec = importlib.util.spec_from_file_location("fuzz_recording", ROOT / "tools" / "fuzz_recording.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.one_input


one_input = _harness()


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_corpus(path: Path) -> None:
    one_input(path.read_bytes())


def test_mutations_of_the_corpus() -> None:
    rng = random.Random(1234)
    seeds = [p.read_bytes() for p in CORPUS]
    for _ in range(2000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            op = rng.randrange(4)
            pos = rng.randrange(len(data) + 1)
            if op == 0 and data:
                data[pos % len(data)] = rng.randrange(256)
            elif op == 1:
                data[pos:pos] = rng.randbytes(rng.randint(1, 16))
            elif op == 2:
                del data[pos : pos + rng.randint(1, 32)]
            else:
                other = rng.choice(seeds)
                start = rng.randrange(len(other))
                data[pos:pos] = other[start : start + rng.randint(1, 64)]
        one_input(bytes(data))
