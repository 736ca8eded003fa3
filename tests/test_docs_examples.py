"""Every fenced shell and Python example in README.md and docs/*.md runs.

Blocks of one file run in order in one scratch directory (a later example may
use a file an earlier one wrote), with ``sensorio`` on PATH as this checkout.
Python blocks that define ``test_`` functions run under pytest with sensorio's
plugin. A block preceded by ``<!-- doctest: skip (reason) -->`` is not run:
for examples that need real hardware or never end (the reason is required).
Blocks that ``pip install`` are skipped: installing is the job of .ci/run, which
runs the README's commands itself. Languages other than sh/bash/console/shell/python
are not examples to run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import ROOT, pytest_plugin_args

RUN = {"sh": "sh", "bash": "sh", "shell": "sh", "console": "sh", "python": "python", "py": "python"}
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
SKIP = re.compile(r"<!--\s*doctest:\s*skip\s*\(([^)]+)\)\s*-->\s*$")
TIMEOUT = 90


@dataclass
class Example:
    doc: Path
    line: int
    kind: str
    code: str
    skip: str | None


def examples(doc: Path) -> list[Example]:
    text = doc.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        kind = RUN.get(m.group(1).lower())
        if kind is None:
            continue
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        reason = skip.group(1) if skip else None
        if reason is None and re.search(r"^\s*pip install", m.group(2), re.M):
            reason = "installs the package"
        out.append(Example(doc, text.count("\n", 0, m.start()) + 1, kind, m.group(2), reason))
    return out


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_doc_has_its_examples_found() -> None:
    found = {d.name: len(examples(d)) for d in DOCS}
    assert found["tour.md"] >= 8 and found["sio1.md"] >= 1 and found["troubleshooting.md"] >= 2


def _env(tmp: Path) -> dict[str, str]:
    shim = tmp / "bin"
    shim.mkdir(exist_ok=True)
    (shim / "sensorio").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m sensorio "$@"\n')
    (shim / "sensorio").chmod(0o755)
    (shim / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (shim / "python").chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{shim}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["MPLBACKEND"] = "Agg"
    env.pop("DISPLAY", None)
    return env


def run_example(ex: Example, cwd: Path, env: dict[str, str], n: int) -> subprocess.CompletedProcess:
    if ex.kind == "sh":
        cmd = ["bash", "-e", "-o", "pipefail", "-c", ex.code]
    elif re.search(r"^def test_", ex.code, re.M):
        path = cwd / f"test_doc_example_{n}.py"
        path.write_text(ex.code)
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            *pytest_plugin_args(),
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(cwd),
            str(path),
        ]
    else:
        path = cwd / f"doc_example_{n}.py"
        path.write_text(ex.code)
        cmd = [sys.executable, str(path)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)


@pytest.mark.slow
# pages without examples (reference text only) have nothing to run
@pytest.mark.parametrize("doc", [d for d in DOCS if examples(d)], ids=lambda d: d.name)
def test_doc_examples_run(doc: Path, tmp_path: Path) -> None:
    todo = examples(doc)
    env = _env(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    for n, ex in enumerate(todo):
        if ex.skip is not None:
            continue
        res = run_example(ex, work, env, n)
        assert res.returncode == 0, (
            f"{doc.name}:{ex.line}: example failed ({ex.kind}):\n{ex.code}\n--- stdout\n{res.stdout[-2000:]}"
            f"\n--- stderr\n{res.stderr[-3000:]}"
        )
