"""Chunk invariance of every dsp stage and of the whole pipeline: the same
output whatever the chunking, equal to one run over the whole signal."""

from __future__ import annotations

import dsp_synth
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sensorio import Parser
from sensorio.blocks import Block, SignalBlock
from sensorio.dsp import (
    BandPass,
    Decimate,
    DriftMonitor,
    Envelope,
    FaultDetector,
    HighPass,
    LowPass,
    Normalise,
    Notch,
    Pipeline,
)
from sensorio.dsp.stages import concat_signal, slice_signal

RATE = 1000.0


def whole_signal(seed: int = 0, n: int = 3000, ch: int = 3, invalid: bool = True) -> SignalBlock:
    rng = np.random.default_rng(seed)
    x = dsp_synth.emg(n, ch, RATE, rng)
    valid = np.ones((n, ch), dtype=bool)
    if invalid:
        # a short hold-able gap and a long one that forces re-priming
        valid[700:720, 0] = False
        valid[1500:1800, 1] = False
        valid[:50, 2] = False
    x = np.where(valid, x, np.nan)
    codes = np.rint(np.nan_to_num(x) / 0.5).astype(np.int32)
    return SignalBlock(
        stream=0,
        data=x,
        valid=valid,
        rate_hz=RATE,
        start=0,
        units=("uV",) * ch,
        codes=codes,
        code_range=(-32768, 32767),
        leadoff=np.zeros(n, np.uint64),
    )


def run_chunked(make_stage, block: SignalBlock, cuts: list[int], policy: str = "nan"):
    stage = make_stage()
    stage.policy = policy
    outs = []
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(block))), len(block)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        out = stage.process(slice_signal(block, a, b))
        if len(out):
            outs.append(out)
    tail = stage.flush()
    if tail is not None and len(tail):
        outs.append(tail)
    events = sorted({(e.channel, e.kind, e.start_s, e.end_s) for e in stage.take_events()})
    return concat_signal(outs), events


STAGES = {
    "highpass": lambda: HighPass(20.0),
    "lowpass": lambda: LowPass(10.0),
    "bandpass": lambda: BandPass(20, 450),
    "notch": lambda: Notch("auto", detect_s=0.5),
    "envelope_rms": lambda: Envelope("rms", 0.05),
    "envelope_rectify": lambda: Envelope("rectify", cutoff_hz=6),
    "decimate": lambda: Decimate(3),
    "faults": lambda: FaultDetector(),
    "drift": lambda: DriftMonitor(window_s=0.2, trend_s=1.0, floor_s=1.0),
    "normalise": lambda: Normalise(tau_s=1.0),
}


@pytest.mark.parametrize("policy", ["nan", "hold", "zero"])
@pytest.mark.parametrize("name", sorted(STAGES))
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(1, 2999), max_size=12), single=st.booleans())
# a first block of 41 rows, all of them invalid on the channel whose stream
# starts with a gap: its noise floor started from another first hop figure
@example(cuts=[41], single=False)
def test_stage_chunk_invariance(name: str, policy: str, cuts: list[int], single: bool) -> None:
    block = whole_signal()
    if single:  # includes one-sample chunks around a random point
        c = cuts[0] if cuts else 1000
        cuts = cuts + list(range(c, min(c + 7, 2999)))
    ref, ref_ev = run_chunked(STAGES[name], block, [], policy)
    got, got_ev = run_chunked(STAGES[name], block, cuts, policy)
    assert got.start == ref.start and len(got) == len(ref)
    np.testing.assert_array_equal(got.valid, ref.valid)
    np.testing.assert_allclose(got.data, ref.data, rtol=1e-9, atol=1e-7, equal_nan=True)
    assert got_ev == ref_ev


def test_policies_set_invalid_samples() -> None:
    block = whole_signal()
    for policy in ("nan", "hold", "zero"):
        out, _ = run_chunked(lambda: BandPass(20, 450), block, [1000], policy)
        bad = ~out.valid
        assert bad[1500:1800, 1].all()
        if policy == "nan":
            assert np.isnan(out.data[bad]).all()
        elif policy == "zero":
            assert (out.data[bad] == 0).all()
        else:
            # held: the last valid output before the run
            assert (out.data[1500:1800, 1] == out.data[1499, 1]).all()
        assert np.isfinite(out.data[out.valid]).all()


def test_gap_does_not_corrupt_filter_state() -> None:
    """After a long invalid stretch the filter re-primes: the output equals a
    fresh filter started at the first valid sample after the gap."""
    block = whole_signal(invalid=False)
    block.valid[1500:1800, 1] = False
    out, _ = run_chunked(lambda: HighPass(20.0), block, [])
    fresh, _ = run_chunked(lambda: HighPass(20.0), slice_signal(block, 1800, 3000), [])
    np.testing.assert_allclose(out.data[1800:, 1], fresh.data[:, 1], rtol=1e-9, atol=1e-9)


@settings(max_examples=6, deadline=None)
@given(chunks=st.lists(st.integers(1, 5000), min_size=1, max_size=30).filter(lambda c: sum(c) > 200))
def test_default_pipeline_chunk_invariance_from_bytes(chunks: list[int]) -> None:
    """Bytes fed in any chunking give the same pipeline output and events."""
    data, info, _faults, _ = dsp_synth.recording(6.0, 3, 2000.0, seed=3, n_faults=4)

    def run(sizes: list[int]):
        parser = Parser()
        pipe = Pipeline.default(info, auto=False)
        outs = []
        pos, i = 0, 0
        while pos < len(data):
            size = sizes[i % len(sizes)]
            parser.feed(data[pos : pos + size])
            pos += size
            i += 1
            for b in parser.read():
                outs.extend(pipe.process(b))
        outs.extend(pipe.flush())
        whole = concat_signal(outs)
        return whole, sorted((e.channel, e.kind, e.start_s, e.end_s) for e in pipe.events)

    ref, ref_ev = run([len(data)])
    got, got_ev = run(chunks)
    assert len(got) == len(ref) and got.start == ref.start
    np.testing.assert_array_equal(got.valid, ref.valid)
    np.testing.assert_allclose(got.data, ref.data, rtol=1e-9, atol=1e-7, equal_nan=True)
    assert got_ev == ref_ev


@pytest.mark.parametrize("ch,rows", [(4, 8192), (64, 8192), (256, 2048)])
def test_a_big_block_goes_through_in_pieces_of_bounded_size(ch: int, rows: int) -> None:
    """A block of many rows goes through the stages in pieces of at most
    PIECE_ROWS rows and PIECE_SAMPLES samples (a block of 256 channels went
    in pieces of 8192 rows, four times the bytes of 64 channels', its
    arrays out of the CPU cache: 256 channels cost 1.2-1.4 x 64's per
    sample), consecutive, with the output of the block whole."""
    from sensorio.dsp import stages

    block = whole_signal(n=20000, ch=ch, invalid=False)
    seen: list[int] = []
    pipe = Pipeline([HighPass(20.0), Notch(50.0)], tap=lambda k, st, b: seen.append(len(b)) if k == 0 else None)
    out = pipe.process(block)
    assert max(seen) == rows and max(seen) * ch <= stages.PIECE_SAMPLES and sum(seen) == 20000
    whole = concat_signal(out)
    ref = Pipeline([HighPass(20.0), Notch(50.0)])
    expect = concat_signal([b for a in range(0, 20000, 1000) for b in ref.process(slice_signal(block, a, a + 1000))])
    np.testing.assert_array_equal(whole.valid, expect.valid)
    np.testing.assert_allclose(whole.data, expect.data, rtol=1e-9, atol=1e-9)


def test_pipeline_from_config_files(tmp_path) -> None:
    toml = tmp_path / "p.toml"
    toml.write_text(
        'policy = "hold"\n[[stage]]\ntype = "calibrate"\n[[stage]]\ntype = "bandpass"\n'
        'low_hz = 30\nhigh_hz = 300\n[[stage]]\ntype = "envelope"\nmethod = "rectify"\n'
    )
    pipe = Pipeline.from_config(toml)
    assert [s.kind for s in pipe.stages] == ["calibrate", "bandpass", "envelope"]
    assert pipe.policy == "hold" and pipe.stages[1].low_hz == 30
    js = tmp_path / "p.json"
    js.write_text('{"stage": [{"type": "calibrate"}, {"type": "notch", "mains": 60}]}')
    assert Pipeline.from_config(js).stages[1].detected == 60.0
    from sensorio.errors import SensorioError

    with pytest.raises(SensorioError, match="unknown type"):
        Pipeline.from_config({"stage": [{"type": "nope"}]})
    with pytest.raises(SensorioError, match="bandpass"):
        Pipeline.from_config({"stage": [{"type": "bandpass", "nope": 1}]})
    # no stage at all: raw blocks need a calibrate stage (it was an IndexError)
    empty = Pipeline.from_config({"stages": []})
    with pytest.raises(SensorioError, match="calibrate"):
        empty.process(
            Block(
                0,
                np.zeros((4, 2), np.int32),
                np.zeros(1, np.uint32),
                np.zeros(1, np.uint64),
                np.zeros(1, np.uint64),
                np.zeros(1, np.uint32),
            )
        )
    # a hop of no length divided by zero when the first block came
    for hop in (0, -0.05):
        with pytest.raises(SensorioError, match="faults.*hop_s must be above 0"):
            Pipeline.from_config({"stage": [{"type": "calibrate"}, {"type": "faults", "hop_s": hop}]})


@pytest.mark.parametrize(
    ("stage", "words"),
    [
        ({"type": "faults", "bogus": 1}, "faults.*no setting 'bogus'; it has hop_s, "),
        ({"type": "faults", "spike_k": -5}, "spike_k must be above 0"),
        ({"type": "faults", "spike_gap_s": -1}, "spike_gap_s must be 0 or more"),
        ({"type": "faults", "blank_s": -1}, "blank_s must be 0 or more"),
        ({"type": "faults", "merge_s": -1}, "merge_s must be 0 or more"),
        ({"type": "faults", "flat_uv": -1}, "flat_uv must be 0 or more"),
        ({"type": "faults", "mains_share": 1.5}, "mains_share is a share"),
        ({"type": "envelope", "window_s": 0}, "envelope.*window_s must be above 0"),
        ({"type": "envelope", "window_s": -1}, "envelope.*window_s must be above 0"),
        ({"type": "decimate", "factor": 2.5}, "decimate.*whole number"),
        ({"type": "normalise", "tau_s": 0}, "normalise.*tau_s must be above 0"),
        ({"type": "normalise", "tau_s": -1}, "normalise.*tau_s must be above 0"),
        ({"type": "normalise", "mvc": [-1, 2]}, "normalise.*mvc must be a level, or one per channel, of 0 or more"),
        ({"type": "notch", "q": -3}, "notch.*q must be above 0"),
        # a notch at 55 Hz was built and a hum at 50 or 60 Hz went through it
        ({"type": "notch", "mains": 55}, r"notch\): mains is 50 or 60 Hz, not 55 \(or 'auto': found in the signal\)"),
        ({"type": "notch", "mains": 0}, r"notch\): mains is 50 or 60 Hz, not 0 "),
        ({"type": "notch", "mains": None}, r"notch\): mains is a frequency in Hz or 'auto', not None"),
        ({"type": "bandpass", "low_hz": -5}, "bandpass.*low_hz must be above 0"),
        ({"type": "bandpass", "low_hz": 300, "high_hz": 100}, "bandpass.*high_hz 100 must be above low_hz 300"),
        ({"type": "envelope", "method": "rectify", "cutoff_hz": -1}, r"envelope\): cutoff_hz must be above 0"),
        ({"type": "highpass", "cutoff_hz": 0}, "highpass.*cutoff_hz must be above 0"),
        ({"type": "lowpass", "cutoff_hz": -1}, "lowpass.*cutoff_hz must be above 0"),
    ],
)
def test_a_setting_out_of_its_range_is_refused_by_name(stage: dict, words: str) -> None:
    """Each was taken quietly (spike_k -5: a spike event every few hops;
    an envelope of no window), gave an internal error later (normalise
    tau_s 0: ZeroDivisionError) or a message that named the wrong thing
    (an unknown setting: "FaultDetector.__init__() got an unexpected
    keyword argument")."""
    from sensorio.errors import SensorioError

    with pytest.raises(SensorioError, match=f"pipeline stage 2 .*{words}"):
        Pipeline.from_config({"stage": [{"type": "calibrate"}, stage]})


def test_settings_that_fit_the_stream_only_when_it_comes() -> None:
    """A single mask kind is that kind (it was masked as its letters: "unknown
    kinds ['e', 'i', 'k', 'p', 's']"); MVC levels for 2 channels on a stream of 3
    are one line when the stream comes (a broadcast error before)."""
    from sensorio.errors import SensorioError

    pipe = Pipeline.from_config({"stage": [{"type": "calibrate"}, {"type": "faults", "mask": "spikes"}]})
    assert pipe.stages[1].mask_kinds == ("spikes",)
    # what stays allowed: a ratio of 0 (its test off), a gap of 0, one MVC
    # level for every channel, a level of 0 (a flat channel's, raised to min_level)
    Pipeline.from_config({"stage": [{"type": "faults", "mains_ratio": 0, "spike_gap_s": 0}]})
    one = Pipeline.from_config({"stage": [{"type": "normalise", "mvc": 2.0}]}).stages[0]
    block1 = SignalBlock(
        stream=0, data=np.ones((4, 3)), valid=np.ones((4, 3), dtype=bool), rate_hz=1000.0, start=0, units=("uV",) * 3
    )
    assert np.allclose(one.process(block1).data, 0.5)
    Pipeline.from_config({"stage": [{"type": "normalise", "mvc": [0.0, 1.0, 1.0]}]})
    norm = Pipeline.from_config({"stage": [{"type": "normalise", "mvc": [1.0, 2.0]}]}).stages[0]
    block = SignalBlock(
        stream=0, data=np.ones((4, 3)), valid=np.ones((4, 3), dtype=bool), rate_hz=1000.0, start=0, units=("uV",) * 3
    )
    with pytest.raises(SensorioError, match="mvc gives 2 levels for 3 channels"):
        norm.process(block)


def test_latency_reported_per_stage() -> None:
    pipe = Pipeline.default(None)
    lat = pipe.latency(2000.0)
    assert [x.stage for x in lat] == [
        "calibrate",
        "faults",
        "notch",
        "bandpass",
        "drift",
        "envelope",
    ]
    by = {x.stage: x for x in lat}
    assert by["faults"].samples == 100  # one 50 ms hop of look-ahead
    assert by["envelope"].samples == pytest.approx(49.5)
    assert 0 < by["bandpass"].samples < 40
    assert pipe.total_latency_s(2000.0) == pytest.approx(sum(x.seconds for x in lat))


@pytest.mark.parametrize("policy", ["nan", "hold"])
@pytest.mark.parametrize("frame", [37, 64, 1000])
def test_run_ahead_gives_the_same_output(policy: str, frame: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stages after the fault detector run ahead of it (dsp/runahead.py):
    the same output blocks, masks and events as without, through faults that
    make it go back and run again, in any block size; and it does run ahead
    (on every block that lets no rows out: 4 channels are below its minimum)."""
    from sensorio.dsp import runahead

    monkeypatch.setattr(runahead, "RUN_AHEAD_MIN", 0)
    data, info, _faults, _ = dsp_synth.recording(8.0, 4, 2000.0, seed=1, n_faults=6)
    parser = Parser()
    blocks = []
    for i in range(0, len(data), frame * 8):
        parser.feed(data[i : i + frame * 8])
        blocks.extend(parser.read())

    def run(ahead: bool):
        pipe = Pipeline.default(info, auto=False, policy=policy)
        pipe.run_ahead = ahead
        outs = []
        for b in blocks:
            outs.extend(pipe.process(b))
        outs.extend(pipe.flush())
        events = [(e.channel, e.kind, e.start_s, e.end_s, e.detected_s) for e in pipe.events]
        return outs, events, pipe

    ref, ref_ev, _ = run(False)
    got, got_ev, pipe = run(True)
    assert [(b.start, len(b)) for b in got] == [(b.start, len(b)) for b in ref]
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_array_equal(g.valid, r.valid)
        np.testing.assert_array_equal(g.data, r.data)
        np.testing.assert_array_equal(g.events, r.events)
    assert got_ev == ref_ev and len(ref_ev) > 0
    # (blocks that each let rows out leave no call to run ahead in)
    assert pipe._ahead is not None and pipe._ahead.rejected > 0 and (pipe._ahead.accepted > 0 or frame == 1000)


def _stream_with_a_long_gap(ch: int = 64, rate: float = 4000.0) -> tuple[list, dict]:
    """4 s of ch channels in 64-row blocks (64 ch: at the run-ahead's default
    minimum), about 1.16 s of frames lost from 2 s: longer than Calibrate's
    max_fill_s, so a block with reset=True follows the gap."""
    from sensorio import sio1

    n, frame = int(4 * rate), 64
    rng = np.random.default_rng(0)
    codes = np.rint(dsp_synth.emg(n, ch, rate, rng) / dsp_synth.SCALE).astype(np.int64)
    info = dsp_synth.info(ch, rate)
    enc = sio1.DataEncoder()
    lost = set(range(2 * int(rate) // frame, 3 * int(rate) // frame + 10))
    parser = Parser()
    parser.feed(b"\x00" + sio1.encode_info(info))
    blocks = []
    for k, i in enumerate(range(0, n, frame)):
        if k in lost:
            continue
        parser.feed(
            b"".join(
                enc.encode(
                    codes[j : j + 2],
                    enc=info["streams"][0]["enc"],
                    seq=(j // 2) & 0xFFFF,
                    leadoff=0,
                    t_us=int(j * 1e6 / rate),
                )
                for j in range(i, i + frame, 2)
            )
        )
        blocks.extend(parser.read())
    return blocks, info


def _outputs(blocks: list, info: dict, ahead: bool, edit=None) -> list:
    pipe = Pipeline.default(info, auto=False)
    pipe.run_ahead = ahead
    outs = []
    for k, b in enumerate(blocks):
        if edit is not None:
            edit(k, pipe)
        outs.extend(pipe.process(b))
    outs.extend(pipe.flush())
    return outs


def _assert_same(got: list, ref: list) -> None:
    assert [(b.start, len(b), b.reset) for b in got] == [(b.start, len(b), b.reset) for b in ref]
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_array_equal(g.valid, r.valid)
        np.testing.assert_array_equal(g.data, r.data)


def test_run_ahead_through_a_reset() -> None:
    """A gap longer than max_fill_s starts a new segment (reset=True): the
    fault detector flushes the old one's tail first. Run-ahead raised
    "a gap in the rows taken" there."""
    blocks, info = _stream_with_a_long_gap()
    ref = _outputs(blocks, info, False)
    assert any(b.reset for b in ref[1:])
    _assert_same(_outputs(blocks, info, True), ref)


@pytest.mark.parametrize("switch", ["run_ahead", "tap"])
def test_run_ahead_switched_off_and_on_mid_stream(switch: str) -> None:
    """Run-ahead off for a while (the flag, or a tap set), then on again:
    the rows the detector took meanwhile were not followed and it raised."""
    blocks, info = _stream_with_a_long_gap()

    def edit(k: int, pipe: Pipeline) -> None:
        if k in (20, 60):
            if switch == "run_ahead":
                pipe.run_ahead = k == 60
            else:
                pipe.tap = (lambda *a: None) if k == 20 else None

    _assert_same(_outputs(blocks, info, True, edit), _outputs(blocks, info, False))


@pytest.mark.parametrize("how", ["item", "list"])
def test_run_ahead_follows_stages_edited_after_the_pipeline_was_built(how: str) -> None:
    """A stage replaced between calls: run-ahead kept filtering with the old
    one (or restored the old one's state into the new)."""
    from sensorio.dsp import BandPass

    blocks, info = _stream_with_a_long_gap()

    def edit(k: int, pipe: Pipeline) -> None:
        if k == 40:
            j = [s.kind for s in pipe.stages].index("bandpass")
            if how == "item":
                pipe.stages[j] = BandPass(30, 300)
            else:
                pipe.stages = [*pipe.stages[:j], BandPass(30, 300), *pipe.stages[j + 1 :]]

    _assert_same(_outputs(blocks, info, True, edit), _outputs(blocks, info, False, edit))


def test_a_pipeline_for_a_stream_the_descriptor_lacks_is_refused() -> None:
    """Pipeline.default(info, 5) on a device of streams 0-3 was made, and
    then gave nothing for every Block, without a word."""
    from sensorio.dsp import Pipeline
    from sensorio.errors import SensorioError

    info = {
        "streams": [
            {"id": s, "channels": 2, "rate_hz": 1000.0, "scale": 1.0, "min_code": -100, "max_code": 100}
            for s in range(4)
        ]
    }
    with pytest.raises(SensorioError, match=r"no stream 5 \(its streams: 0, 1, 2, 3\)"):
        Pipeline.default(info, 5)
    assert Pipeline.default(info, 3).stages[0].stream == 3
    info["streams"][2]["id"] = "2"  # a loose descriptor: the calibration reads it as 2
    assert Pipeline.default(info, 2).stages[0].stream == 2
    assert Pipeline.default(None, 7).stages  # no descriptor: nothing to check against
