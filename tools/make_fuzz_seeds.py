#!/usr/bin/env python3
"""Writes small seed inputs for the SIO-1 fuzz target into
tests/fuzz/corpus/sio1/ (the first byte of each input picks the chunk size
the harness feeds with). The shared conformance vectors are used as seeds
too, in place, by tools/fuzz.sh and the corpus replay test."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sensorio import sio1  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "fuzz" / "corpus" / "sio1"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    enc = sio1.DataEncoder()
    seeds: dict[str, bytes] = {}
    for name, code in sio1.ENCODINGS.items():
        lo, hi = sio1.ENC_RANGE[code]
        frames = [
            enc.encode(rng.integers(lo, hi, size=(3, 4), endpoint=True), enc=code, seq=s, stream=s % 2)
            for s in range(4)
        ]
        seeds[f"data_{name}"] = b"\x05\x00" + b"".join(frames)
    info = sio1.encode_info({"device": "x", "streams": []})
    seeds["messages"] = b"\x01" + info + sio1.encode_reply("OK") + sio1.encode_log("hi")
    wide = enc.encode(rng.integers(-100, 100, size=(2, 64)), enc=sio1.ENC_I32, seq=9)
    seeds["wide_leadoff"] = b"\x10" + wide
    good = enc.encode(np.zeros((5, 2)), seq=1)
    seeds["gap_restart"] = b"\x03" + good + enc.encode(np.ones((5, 2)), seq=7) + enc.encode(np.ones((5, 2)), seq=2)
    seeds["garbage_between"] = b"\x07" + good + b"\xde\xad\xbe\xef" + good + b"\x00\x00" + good[:-5]
    seeds["oversized"] = b"\x20" + b"\x55" * 1500 + b"\x00" + good
    seeds["long_run"] = b"\x02" + sio1.encode_frame(sio1.TYPE_LOG, b"x" * 600)
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
