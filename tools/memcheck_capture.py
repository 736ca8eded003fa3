#!/usr/bin/env python3
"""valgrind memcheck on a real capture run: ``sensorio record`` against the
emulator (drops, bit flips, garbage) for a few seconds, then ``sensorio
decode`` of that recording, both under valgrind --leak-check=full.

    python3 tools/memcheck_capture.py [--seconds 4]

CPython, numpy and glibc report things of their own under valgrind (objects
alive at exit, os.urandom's bytes that valgrind cannot see being written, the
dynamic loader's word-sized string reads), so rather than a suppression file
that would have to follow every Python and numpy version, each error record is
attributed by its stack: any error (invalid access, uninitialised value, a
definite or indirect leak) with sensorio's native code (``_native*.so`` or a
``sio_`` function) on the stack fails the run. The C core itself never
allocates; its unit tests run under valgrind too (make -C tests/c valgrind).
Exits 0 when clean, 1 on a finding, 2 when valgrind is missing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = re.compile(r"_native[^ ]*\.so|\bsio_[a-z0-9_]+")
HEADER = re.compile(r"^==\d+== (\S.*)$")


def error_records(log: str) -> list[list[str]]:
    """valgrind's error and leak records: a header line and its stack, up to a blank line."""
    records: list[list[str]] = []
    current: list[str] | None = None
    for line in log.splitlines():
        m = HEADER.match(line)
        body = m.group(1) if m else ""
        if current is None:
            if m and (
                re.match(r"(Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and destination)", body)
                or re.search(r"are (definitely|indirectly) lost", body)
            ):
                current = [body]
        elif not m or not body.strip():
            records.append(current)
            current = None
        else:
            current.append(body)
    if current:
        records.append(current)
    return records


def memcheck(args: list[str], log_path: Path) -> tuple[int, list[list[str]], list[list[str]]]:
    """Run `python -m sensorio ARGS` under memcheck; (exit code, our records, other records)."""
    env = dict(os.environ, PYTHONMALLOC="malloc", PYTHONPATH=str(ROOT))
    cmd = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
           "--num-callers=40", f"--log-file={log_path}", sys.executable, "-m", "sensorio", *args]  # fmt: skip
    code = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, timeout=900).returncode
    records = error_records(log_path.read_text())
    ours = [r for r in records if any(OURS.search(line) for line in r)]
    return code, ours, [r for r in records if r not in ours]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="length of the recording")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        print("memcheck_capture: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="sensorio-memcheck-"))
    link, rec = work / "device", work / "run.sior"
    emulator = subprocess.Popen(
        [sys.executable, "-m", "sensorio", "emulate", "--format", "sio", "--profile", "prosthesis",
         "--seed", "5", "--link-path", str(link), "--quiet", "--link", "drop:rate=0.01",
         "--link", "bitflip:rate=0.01", "--link", "garbage:at=1,bytes=200"],
        cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    failed = False
    try:
        deadline = time.monotonic() + 20
        while not link.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        runs = [
            ("record", ["record", str(link), "-o", str(rec), "--duration", str(args.seconds), "--quiet"]),
            ("decode", ["decode", str(rec), "-o", str(work / "run.npz"), "--json"]),
        ]
        for name, cli in runs:
            code, ours, others = memcheck(cli, work / f"{name}.valgrind.txt")
            print(f"memcheck sensorio {name}: exit {code}, {len(ours)} error records in sensorio's "
                  f"native code, {len(others)} elsewhere (CPython/numpy/glibc, not counted)")  # fmt: skip
            for record in ours:
                print("\n".join(["  " + line for line in record[:25]]), file=sys.stderr)
            if code != 0 or ours:
                failed = True
    finally:
        emulator.send_signal(signal.SIGINT)
        try:
            emulator.wait(10)
        except subprocess.TimeoutExpired:
            emulator.kill()
    if failed:
        print(f"memcheck_capture: FINDING; valgrind logs kept in {work}", file=sys.stderr)
        return 1
    shutil.rmtree(work)
    print("memcheck_capture: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
