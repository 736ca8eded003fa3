"""cffi build script for sensorio._native (out-of-line, API mode).

The cdef is read from the blocks between ``/* CFFI_BEGIN */`` and
``/* CFFI_END */`` in the real headers, so the binding cannot drift from the
C declarations. Headers are ordered by their ``#include "..."`` lines; every
``csrc/*.c`` is compiled in. setup.py names this file in ``cffi_modules``.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from cffi import FFI

CSRC = Path(__file__).resolve().parent
ROOT = CSRC.parent
_BLOCK = re.compile(r"/\* CFFI_BEGIN \*/(.*?)/\* CFFI_END \*/", re.S)
_INCLUDE = re.compile(r'^#include "([^"]+)"', re.M)


def ordered_headers() -> list[Path]:
    """Headers in dependency order (each after the headers it includes)."""
    headers = {p.name: p for p in sorted(CSRC.glob("*.h"))}
    done: list[Path] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in headers:
            return
        seen.add(name)
        for dep in _INCLUDE.findall(headers[name].read_text()):
            visit(dep)
        done.append(headers[name])

    for name in headers:
        visit(name)
    return done


def cdef_text() -> str:
    parts = []
    for header in ordered_headers():
        for block in _BLOCK.findall(header.read_text()):
            parts.append(f"/* from {header.name} */\n{block}")
    return "\n".join(parts)


def _compile_args() -> list[str]:
    if sys.platform == "win32":
        return ["/O2", "/W4", "/std:c11", "/experimental:c11atomics"]
    return ["-std=c11", "-O3", "-Wall", "-Wextra"]


ffibuilder = FFI()
ffibuilder.cdef(cdef_text())
ffibuilder.set_source(
    "sensorio._native",
    "\n".join(f'#include "{h.name}"' for h in ordered_headers()),
    sources=[os.path.relpath(c, ROOT) for c in sorted(CSRC.glob("*.c"))],
    include_dirs=[os.path.relpath(CSRC, ROOT)],
    extra_compile_args=_compile_args(),
    libraries=[] if sys.platform == "win32" else ["m"],  # sqrt in sio_env.c
    py_limited_api=True,
)
