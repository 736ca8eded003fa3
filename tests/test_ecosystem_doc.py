"""docs/ecosystem.md: every row of its table names at least one test, and
every test it names exists (so a renamed or deleted test breaks the table)."""

from __future__ import annotations

import ast
import re

from support import ROOT

DOC = ROOT / "docs" / "ecosystem.md"


def _rows() -> list[str]:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    return [ln for ln in lines if ln.startswith("| ") and not ln.startswith("| tool") and "---" not in ln]


def _tests(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def test_every_row_names_tests_that_exist() -> None:
    rows = _rows()
    assert len(rows) >= 10
    for row in rows:
        cell = row.rstrip("|").split("|")[-1]
        refs = re.findall(r"`(tests/[\w/]+\.py)?::(test_\w+)`", cell)
        assert refs, f"no test named in: {row}"
        current = None
        for path, name in refs:
            current = path or current
            assert current, f"a test without its file in: {row}"
            assert name in _tests(current), f"{current}::{name} does not exist ({row[:60]}...)"
