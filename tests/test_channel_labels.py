"""A channel without a label is named as people count, from 1 (ch1, ch2, ...),
by every part that names it: one rule (sensorio.descriptor.channel_labels)."""

from __future__ import annotations

from sensorio.descriptor import channel_labels
from sensorio.dsp.calibrate import StreamInfo
from sensorio.export.units import stream_calibration

UNLABELLED = {
    "device": "x",
    "streams": [{"id": 0, "name": "emg", "channels": 3, "rate_hz": 1000.0, "enc": 2, "unit": "uV", "scale": 0.5,
                 "zero": 0, "min_code": -32768, "max_code": 32767, "labels": ["a"]}],
}  # fmt: skip


def test_missing_labels_count_from_1() -> None:
    assert channel_labels(None, 3) == ("ch1", "ch2", "ch3")
    assert channel_labels(["a"], 3) == ("a", "ch2", "ch3")
    assert channel_labels(["a", "b", "c", "d"], 2) == ("a", "b")


def test_the_calibration_and_the_exports_name_channels_alike() -> None:
    desc = UNLABELLED["streams"][0]
    assert StreamInfo.from_descriptor(UNLABELLED, 0).labels == ("a", "ch2", "ch3")
    assert stream_calibration(desc, 3).labels == ("a", "ch2", "ch3")


def test_the_lsl_outlet_names_channels_alike() -> None:
    from sensorio.sinks.lsl import LslOutlet

    outlet = LslOutlet(UNLABELLED, stream=0, name="labels-test")
    try:
        assert outlet.labels == ["a", "ch2", "ch3"]
    finally:
        outlet.close()
