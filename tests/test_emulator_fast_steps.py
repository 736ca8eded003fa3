"""Fast mode sizes its steps by bytes (Emulator.FAST_STEP_BYTES): the bytes on
the wire and the ground truth do not depend on the step size."""

from __future__ import annotations

import pytest

from sensorio.emulator import Truth, config_from_options
from sensorio.emulator.engine import Emulator, render


def _run(fmt: str, commands: bytes, step_bytes: int, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, list]:
    """The wire bytes, and the truth with frame records flattened (a record
    lists the frames one step delivered: its grouping follows the step)."""
    monkeypatch.setattr(Emulator, "FAST_STEP_BYTES", step_bytes)
    cfg = config_from_options({"format": [fmt], "duration": ["6"], "seed": ["5"]})
    data, truth = render(cfg, commands)
    assert isinstance(truth, Truth)
    # the end record's device_s is where the device clock stopped: within one
    # FAST_CHUNK_S past the duration whatever the step, not at one place
    other = [
        {k: v for k, v in r.items() if k != "device_s"}
        for r in truth.records
        if r.get("type") not in ("start", "frames")
    ]
    ends = [r["device_s"] for r in truth.records if r.get("type") == "end"]
    assert ends and all(6.0 <= e <= 6.0 + Emulator.FAST_CHUNK_S + 0.01 for e in ends)
    frames = [
        (r["stream"], seq, t)
        for r in truth.records
        if r.get("type") == "frames"
        for seq, t in zip(r["seq"], r["t_us"], strict=True)
    ]
    return data, [other, frames]


@pytest.mark.parametrize(("fmt", "commands"), [("sio", b"START\n"), ("cyton", b"b"), ("ascii", b"")])
def test_fast_output_does_not_depend_on_step_size(fmt: str, commands: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fixed, fixed_truth = _run(fmt, commands, 0, monkeypatch)  # 0: FAST_CHUNK_S steps, as before
    sized, sized_truth = _run(fmt, commands, 128 * 1024, monkeypatch)
    small, _ = _run(fmt, commands, 5000, monkeypatch)
    assert len(fixed) > 1000
    assert sized == fixed
    assert small == fixed
    assert sized_truth == fixed_truth


@pytest.mark.parametrize(
    ("options", "commands"),
    [
        ({"format": "sio", "profile": "emg8"}, b"START\n"),
        ({"format": "sio", "profile": "prosthesis"}, b"START\n"),  # four streams, interleaved in time
        ({"format": "cyton"}, b"b"),
        ({"format": "ascii"}, b""),
        ({"format": "ascii", "labels": "1", "counter": "1"}, b""),
        ({"format": "ascii", "counter": "1", "channels": "3"}, b""),
    ],
)
def test_fast_batches_give_the_same_bytes_and_truth_as_frames(
    options: dict, commands: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames handed on in batches (one object per stream and step) are the
    bytes and the ground truth of frames handed on one by one."""
    cfg = config_from_options(
        {k: [v] for k, v in {**options, "duration": "3", "seed": "2", "truth_codes": "1"}.items()}
    )
    monkeypatch.setattr(Emulator, "FAST_BATCHES", False)
    one_by_one, truth_frames = render(cfg, commands)
    monkeypatch.setattr(Emulator, "FAST_BATCHES", True)
    batched, truth_batches = render(cfg, commands)
    assert len(one_by_one) > 1000
    assert batched == one_by_one

    def records(t: Truth) -> list:
        return [{k: v for k, v in r.items() if k != "wall_time"} for r in t.records]

    assert records(truth_batches) == records(truth_frames)
    assert any(r["type"] == "frames" and r.get("codes") for r in truth_batches.records)
