"""The run-ahead (dsp/runahead.py) keeps a row-major copy of the validity
it ran on, to compare with the output's: the copy is that validity, and a
piece whose validity the output changed is not taken."""

from __future__ import annotations

from typing import Any

import dsp_synth
import numpy as np
import pytest
from support import contractions_under_hum

from sensorio import Parser

FS = 2000.0


def test_run_ahead_keeps_the_validity_row_major(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run-ahead keeps a row-major copy of the validity it ran on, equal
    to it (dsp/runahead.py: compared with the output's without a strided
    copy on the block that completes a hop)."""
    from sensorio.dsp import Pipeline, runahead

    monkeypatch.setattr(runahead, "RUN_AHEAD_MIN", 0)
    data, info, _faults, _ = dsp_synth.recording(4.0, 4, 2000.0, seed=1, n_faults=6)
    parser = Parser()
    seen = []
    run_ = runahead.RunAhead._run

    def spy(self: runahead.RunAhead, *a: Any) -> None:
        run_(self, *a)
        seen.extend(self._valid)

    monkeypatch.setattr(runahead.RunAhead, "_run", spy)
    pipe = Pipeline.default(info, auto=False)
    for i in range(0, len(data), 37 * 8):
        parser.feed(data[i : i + 37 * 8])
        for b in parser.read():
            pipe.process(b)
    assert len(seen) > 50
    for _, given, row_major in seen:
        assert row_major.flags.c_contiguous
        np.testing.assert_array_equal(row_major, given)


def test_run_ahead_takes_no_piece_whose_validity_the_output_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lone spikes masked in the middle of a hop, a few rows of one block
    of it: the pieces run ahead over them are not taken (each piece's
    validity is compared with the output's on its own rows), the others are,
    and the output is the one without running ahead."""
    from sensorio.blocks import Block
    from sensorio.dsp import Pipeline, runahead

    monkeypatch.setattr(runahead, "RUN_AHEAD_MIN", 0)
    ch, n, size = 4, int(6 * FS), 20
    info = {
        "device": "t",
        "serial": "T",
        "streams": [
            {
                "id": 0,
                "name": "emg",
                "channels": ch,
                "rate_hz": FS,
                "enc": 1,
                "unit": "uV",
                "scale": 0.5,
                "zero": 0,
                "min_code": -32768,
                "max_code": 32767,
            }  # fmt: skip
        ],
    }
    x = contractions_under_hum(6.0, FS, ch, np.random.default_rng(9)) * 0.2
    for row in range(int(2.5 * FS) + 47, n, 1733):  # (never at a block's or a hop's first rows)
        x[row, row % ch] += 3000.0
    codes = np.rint(x / 0.5).astype(np.int32)
    z = np.zeros(1, np.uint64)

    def run(ahead: bool) -> tuple[list[tuple[bytes, bytes]], Pipeline]:
        pipe = Pipeline.default(info, auto=False)
        pipe.run_ahead = ahead
        out = []
        for j in range(0, n, size):
            seq = np.array([j // size], np.uint32)
            blk = Block(0, codes[j : j + size], seq, z, z, np.zeros(1, np.uint32), first_row=j)
            out.extend((b.data.tobytes(), b.valid.tobytes()) for b in pipe.process(blk))
        return out, pipe

    ref, _ = run(False)
    got, pipe = run(True)
    assert got == ref
    assert any(e.kind == "spikes" for e in pipe.events)
    assert pipe._ahead is not None and pipe._ahead.rejected > 0 and pipe._ahead.accepted > 0
