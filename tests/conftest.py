"""Fixtures shared by the tests; plain helpers live in support.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import VECTORS


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    if not VECTORS.is_dir():
        pytest.fail(f"conformance vectors not found at {VECTORS} (part of the project: is the clone complete?)")
    return VECTORS
