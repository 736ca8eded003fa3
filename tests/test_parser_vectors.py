"""Every shared conformance vector decodes exactly to its .expect.npz, fed
whole, one byte at a time and in random chunk sizes."""

from __future__ import annotations

import random
import re
import shutil
import subprocess

import numpy as np
import pytest
from support import ROOT, VECTOR_NAMES, VECTORS

from sensorio import Parser, concat_blocks
from sensorio.parser import BYTE_REASONS


def test_vectors_are_part_of_the_project() -> None:
    """A user's clone has nothing beside it: the vectors must be inside the
    project and tracked, so the README's test command passes from a bare clone."""
    assert VECTORS.resolve().is_relative_to(ROOT.resolve())
    names = {p.name for p in VECTORS.iterdir()}
    for name in VECTOR_NAMES:
        assert {f"{name}.bin", f"{name}.expect.npz"} <= names, name
    if shutil.which("git") and (ROOT / ".git").exists():
        tracked = subprocess.run(
            ["git", "ls-files", str(VECTORS.relative_to(ROOT))], cwd=ROOT, capture_output=True, text=True
        ).stdout.split()
        assert len(tracked) >= 2 * len(VECTOR_NAMES), tracked


def feed_in_chunks(parser: Parser, data: bytes, mode: str) -> list:
    blocks = []
    if mode == "whole":
        parser.feed(data)
    elif mode == "bytewise":
        for i in range(len(data)):
            parser.feed(data[i : i + 1])
            if i % 4096 == 0:
                blocks += parser.read()
    else:
        rng = random.Random(mode)
        i = 0
        while i < len(data):
            n = rng.choice([1, 2, 3, 17, 100, 999, 4096, 65536])
            parser.feed(data[i : i + n])
            i += n
            if rng.random() < 0.3:
                blocks += parser.read()
    return blocks + parser.read()


@pytest.mark.parametrize("mode", ["whole", "bytewise", "random-1", "random-2"])
@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector(vectors_dir, name: str, mode: str) -> None:
    data = (vectors_dir / f"{name}.bin").read_bytes()
    expect = np.load(vectors_dir / f"{name}.expect.npz")
    # small blocks so that hand-over between blocks is exercised too
    parser = Parser("sio", block_rows=97)
    streams = concat_blocks(feed_in_chunks(parser, data, mode))
    expected_streams = {0} | {int(m[1]) for k in expect.files if (m := re.match(r"s(\d+)_", k))}
    assert set(streams) == expected_streams
    for sid, arrays in streams.items():
        prefix = "" if sid == 0 else f"s{sid}_"
        np.testing.assert_array_equal(arrays["samples"], expect[prefix + "samples"])
        np.testing.assert_array_equal(arrays["frame_seq"], expect[prefix + "seq"])
        np.testing.assert_array_equal(arrays["frame_t_us"], expect[prefix + "t_us"])
        np.testing.assert_array_equal(arrays["frame_leadoff"], expect[prefix + "leadoff"])
    stats = parser.stats
    assert stats.lost_frames == int(expect["lost_frames"])
    assert stats.bytes_in == len(data)
    assert sum(getattr(stats, r) for r in BYTE_REASONS) == len(data)


def test_gap_events_match_lost_frames(vectors_dir) -> None:
    """Gaps are reported where they happened: the events' lost frames add up
    to the statistics, and each sits at the row where the stream resumed."""
    data = (vectors_dir / "corrupt_i16.bin").read_bytes()
    parser = Parser()
    streams = concat_blocks(parser.parse(data))
    events = streams[0]["events"]
    gaps = events[events["kind"] == 1]
    assert int(gaps["lost_frames"].sum()) == parser.stats.lost_frames == 70
    seq = streams[0]["frame_seq"].astype(np.int64)
    rows_per_frame = streams[0]["samples"].shape[0] // seq.size
    for ev in gaps:
        frame = int(ev["row"]) // rows_per_frame
        assert seq[frame] == ev["seq_after"]
        assert seq[frame - 1] == ev["seq_before"]
        assert (seq[frame] - seq[frame - 1] - 1) % 65536 == ev["lost_frames"]


def test_messages(vectors_dir) -> None:
    parser = Parser()
    parser.feed((vectors_dir / "multistream.bin").read_bytes())
    messages = parser.read_messages()
    assert [m.kind for m in messages] == ["info"]
    import json

    info = json.loads(messages[0].text)
    assert [s["id"] for s in info["streams"]] == [0, 1, 2]
