"""tools/bench_dsp.py --parts: every part is timed on the blocks where it runs
and on no other (what it prints is read to find where a block's time goes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import bench_dsp  # noqa: E402


def test_parts_times_each_part_where_it_runs(capsys: pytest.CaptureFixture[str]) -> None:
    # blocks of 40 x 128 samples: big enough for the filters to run ahead
    # (sensorio.dsp.runahead.RUN_AHEAD_MIN)
    assert bench_dsp.main(["--parts", "--channels", "128", "--rate", "4000", "--seconds", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = {}
    for line in lines[2:]:
        label, *cells = line.rsplit(None, 5)
        table[label.strip()] = [float(c) for c in cells]
    assert len(table) == len(bench_dsp.PARTS)  # the C core is there in the tests
    assert all(len(v) == 5 for v in table.values())  # a 50 ms hop of five 10 ms blocks
    # the hop's decisions and the output's own stages run on the block completing it only
    for label in ("features and verdicts", "output (decisions of a hop)", "run ahead: taking its output", "drift"):
        assert table[label][4] > 0 and table[label][:4] == [0.0] * 4, (label, table[label])
    # the filters run ahead on the others (the completing block has enough to do)
    for label in ("run ahead: filtering ahead", "bandpass", "envelope"):
        assert table[label][4] == 0.0 and all(v > 0 for v in table[label][:4]), (label, table[label])
    # a part is inside its caller's time
    whole = table["pipeline (the whole block)"]
    for label in ("faults", "calibrate", "run ahead: filtering ahead"):
        assert all(p <= w for p, w in zip(table[label], whole, strict=True))


def test_blocks_are_timed_with_the_setup_out_of_the_collectors_reach() -> None:
    # as the long-running commands run their signal path (cli._realtime):
    # a full collection walking the benchmark's own blocks (30-40 ms) is
    # not the pipeline's time; the collector is as before afterwards
    import gc

    seen: list[int] = []

    class Pipe:
        def process(self, block: object) -> None:
            seen.append(gc.get_freeze_count())

    before = gc.get_freeze_count()  # (a CLI test in this process may have frozen its own)
    each = bench_dsp.time_each(Pipe(), [object()] * 3)  # type: ignore[arg-type]
    assert len(each) == 3 and (each >= 0).all()
    assert len(seen) == 3 and min(seen) > before
    assert gc.get_freeze_count() == 0


def test_sweep_warms_its_10ms_blocks_pipeline_in_10ms_blocks_and_counts_faults(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the 10 ms blocks are timed in steady state: their pipeline's warm-up
    # is in 10 ms blocks too (after one 2 s block, the first small blocks set
    # up what small blocks use); the timed loops' minor page faults are counted
    calls: list[tuple[str, set[int], list[int] | None]] = []
    run, each = bench_dsp.run_pipeline, bench_dsp.time_each

    def spy_run(pipe, blocks, faults=None):  # type: ignore[no-untyped-def]
        calls.append(("run", {len(b.samples) for b in blocks}, faults))
        return run(pipe, blocks, faults)

    def spy_each(pipe, blocks, faults=None):  # type: ignore[no-untyped-def]
        calls.append(("each", {len(b.samples) for b in blocks}, faults))
        return each(pipe, blocks, faults)

    monkeypatch.setattr(bench_dsp, "run_pipeline", spy_run)
    monkeypatch.setattr(bench_dsp, "time_each", spy_each)
    bench_dsp.sweep([4], 4000.0, 2.5, 1, 1 << 16)
    kinds = [c[0] for c in calls]
    assert kinds == ["run", "run", "run", "each"]  # warm-up, big block; warm-up, 10 ms blocks
    assert calls[2][1] == {40} and calls[3][1] == {40}
    assert calls[0][1] == {8000} and calls[1][2] is not None and calls[3][2] is not None
    assert len(calls[1][2]) == len(calls[3][2]) == 1 and min(calls[1][2] + calls[3][2]) >= 0
    assert "faults/1000" in capsys.readouterr().out
