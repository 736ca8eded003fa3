"""LSL outlet: a pylsl inlet on this machine receives the device stream with
the right channel count, rate, units and labels, the calibrated samples of the
same capture, and markers for the injected link faults and for sensor faults."""

from __future__ import annotations

import json
import time
import uuid
from types import SimpleNamespace

import numpy as np
import pytest
from emulator_util import run
from support import narrow_and_wide_device, require_or_skip

import sensorio

try:
    import pylsl
except (ImportError, RuntimeError):  # pragma: no cover - RuntimeError: liblsl missing
    pylsl = None


@pytest.fixture(autouse=True)
def _need_pylsl() -> None:
    require_or_skip(pylsl is not None, "pylsl/liblsl is not installed (pip install 'sensorio[lsl]')")


def captured(**kw):
    data, truth = run(autostart=True, **kw)
    parser = sensorio.Parser()
    parser.feed(data)
    blocks = parser.read()
    info = json.loads(next(m.text for m in parser.read_messages() if m.kind == "info"))
    return blocks, info, truth


def connect(source_id: str):
    found = pylsl.resolve_byprop("source_id", source_id, timeout=10)
    assert found, f"no LSL stream with source_id {source_id}"
    inlet = pylsl.StreamInlet(found[0], max_buflen=60, processing_flags=0)
    inlet.open_stream(timeout=10)
    return inlet


def pull_all(inlet, expected: int, timeout: float = 10.0):
    chunks, stamps, n = [], [], 0
    deadline = time.monotonic() + timeout
    while n < expected and time.monotonic() < deadline:
        data, ts = inlet.pull_chunk(timeout=0.2, max_samples=100_000)
        if data:
            chunks.append(np.asarray(data))
            stamps += ts
            n += len(data)
    return (np.concatenate(chunks) if chunks else np.zeros((0, 0))), np.asarray(stamps)


def channel_meta(info) -> list[dict[str, str]]:
    out = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty():
        out.append({k: ch.child_value(k) for k in ("label", "unit", "type")})
        ch = ch.next_sibling()
    return out


@pytest.mark.parametrize("calibrated", [True, False])
def test_inlet_receives_stream_metadata_samples_and_markers(calibrated: bool) -> None:
    from sensorio.sinks.lsl import LslOutlet

    serial = f"TEST-{uuid.uuid4().hex[:8]}"  # unique: other test runs may publish at the same time
    blocks, info, truth = captured(profile="emg8", seed=11, duration=1.5, serial=serial, link=["drop:at=0.5,count=2"])
    desc = info["streams"][0]
    outlet = LslOutlet(info, calibrated=calibrated)
    assert outlet.source_id == f"sensorio:{serial}:0"
    inlet = connect(outlet.source_id)
    markers = connect(outlet.source_id + ":markers")
    meta = inlet.info(timeout=5)
    assert meta.channel_count() == 8 and meta.nominal_srate() == desc["rate_hz"] and meta.type() == "EMG"
    assert [c["label"] for c in channel_meta(meta)] == desc["labels"]
    assert {c["unit"] for c in channel_meta(meta)} == {"microvolts" if calibrated else "counts"}
    assert outlet.outlet.wait_for_consumers(5) and outlet.marker_outlet.wait_for_consumers(5)

    for b in blocks:
        outlet.push_block(b)
    outlet.push_fault(SimpleNamespace(stream=0, channel=2, kind="leadoff", start_s=1.0, end_s=None))
    codes = sensorio.concat_blocks(blocks)[0]["samples"]
    got, stamps = pull_all(inlet, codes.shape[0])
    assert got.shape == codes.shape
    if calibrated:
        expected = ((codes - desc["zero"]) * desc["scale"]).astype(np.float32)
        np.testing.assert_array_equal(got.astype(np.float32), expected)
    else:
        np.testing.assert_array_equal(got, codes)
    # timestamps follow the device clock: 1/rate apart, one 2-frame jump at the gap
    steps = np.diff(stamps)
    assert np.allclose(np.median(steps), 1 / desc["rate_hz"], rtol=1e-3)
    assert np.sum(steps > 2 / desc["rate_hz"]) == 1
    texts = []
    deadline = time.monotonic() + 5
    while len(texts) < 2 and time.monotonic() < deadline:
        sample, _ = markers.pull_sample(timeout=0.2)
        if sample:
            texts.append(json.loads(sample[0]))
    gap = next(m for m in texts if m["event"] == "gap")
    assert gap["lost_frames"] == len(truth.touched("drop")) == 2
    fault = next(m for m in texts if m["event"] == "fault")
    assert fault["kind"] == "leadoff" and fault["label"] == desc["labels"][2] and fault["state"] == "start"
    outlet.close()


def test_host_times_map_onto_the_lsl_clock() -> None:
    from sensorio.sinks.lsl import LslOutlet

    blocks, info, _ = captured(profile="emg8", seed=1, duration=0.1, serial=f"T-{uuid.uuid4().hex[:8]}")
    outlet = LslOutlet(info, markers=False)
    now = time.time()
    assert abs(outlet.lsl_time(now) - pylsl.local_clock()) < 0.05
    outlet.close()


def test_calibrated_output_is_the_dsp_calibration_with_the_saved_user_calibration(tmp_path) -> None:
    from sensorio.dsp import Calibrate, Calibration, CalibrationStore
    from sensorio.sinks.lsl import LslOutlet

    serial = f"CAL-{uuid.uuid4().hex[:8]}"
    blocks, info, _ = captured(profile="emg8", seed=3, duration=0.3, serial=serial)
    cal = Calibration(serial=serial)
    cal.stream(0).offset = [float(i) for i in range(8)]
    cal.stream(0).gain = [1.0 + 0.1 * i for i in range(8)]
    CalibrationStore(tmp_path).save(cal)
    outlet = LslOutlet(info, calibration_dir=str(tmp_path))
    inlet = connect(outlet.source_id)
    assert inlet.info(timeout=5).desc().child("sensorio").child_value("user_calibration") == "true"
    assert outlet.outlet.wait_for_consumers(5)
    for b in blocks:
        outlet.push_block(b)
    got, _ = pull_all(inlet, sum(len(b) for b in blocks))
    reference = Calibrate(info, stream=0, calibration_dir=str(tmp_path))
    expected = np.concatenate([reference.to_physical(reference.stream_info(b), b.samples) for b in blocks])
    np.testing.assert_array_equal(got.astype(np.float32), expected.astype(np.float32))
    desc = info["streams"][0]
    plain = (sensorio.concat_blocks(blocks)[0]["samples"] - desc["zero"]) * desc["scale"]
    assert not np.allclose(got, plain)  # the user calibration was applied
    outlet.close()


def test_stream_command_publishes_a_live_capture_with_fault_markers(sensorio_emulator) -> None:
    import threading

    from sensorio.cli import main

    serial = f"LIVE-{uuid.uuid4().hex[:8]}"
    dev = sensorio_emulator(
        profile="emg8", seed=2, duration=4, serial=serial, fault=["saturation:channel=2,start=1.0,end=2.0"]
    )
    result = {}
    runner = threading.Thread(
        target=lambda: result.setdefault("code", main(["stream", dev.port, "--lsl", "--duration", "6", "--quiet"]))
    )
    runner.start()
    try:
        inlet = connect(f"sensorio:{serial}:0")
        markers = connect(f"sensorio:{serial}:0:markers")
        meta = inlet.info(timeout=5)
        assert meta.channel_count() == 8 and meta.nominal_srate() == 2000
        got, stamps = pull_all(inlet, 4000, timeout=8)
        assert got.shape[0] >= 4000 and got.shape[1] == 8
        # LSL time stamps from the fitted device clock, close to now
        assert abs(stamps[-1] - pylsl.local_clock()) < 2.0
        seen = []
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and not any(m.get("kind") == "saturation" for m in seen):
            sample, _ = markers.pull_sample(timeout=0.2)
            if sample:
                seen.append(json.loads(sample[0]))
        sat = next(m for m in seen if m.get("kind") == "saturation")
        assert sat["channel"] == 1 and sat["event"] == "fault"
        assert sat["start_s"] == pytest.approx(1.0, abs=0.1)
    finally:
        runner.join(timeout=15)
    assert result.get("code") == 0


def test_stream_name_applies_to_every_outlet_of_a_device_with_several_streams() -> None:
    """--name was dropped without a word when the device had several streams:
    the outlets kept the device model's name."""
    import threading

    from sensorio.cli import main

    serial = f"NAME-{uuid.uuid4().hex[:8]}"
    name = f"rig-{uuid.uuid4().hex[:6]}"
    port = f"sim://prosthesis?duration=4&serial={serial}"
    result = {}
    runner = threading.Thread(
        target=lambda: result.setdefault(
            "code", main(["stream", port, "--lsl", "--name", name, "--duration", "8", "--quiet", "--no-faults"])
        )
    )
    runner.start()
    try:
        names = {}
        for sid in range(4):
            found = pylsl.resolve_byprop("source_id", f"sensorio:{serial}:{sid}", timeout=10)
            assert found, f"stream {sid} was not published"
            names[sid] = found[0].name()
        markers = pylsl.resolve_byprop("source_id", f"sensorio:{serial}:1:markers", timeout=10)
        assert markers and markers[0].name() == f"{name} imu markers"
    finally:
        runner.join(timeout=15)
    assert result.get("code") == 0
    assert names == {0: f"{name} emg", 1: f"{name} imu", 2: f"{name} force", 3: f"{name} position"}


def test_stream_name_is_the_outlet_name_itself_when_one_stream_is_published() -> None:
    from sensorio.sinks.lsl import outlet_name

    info = {"device": "amp", "streams": [{"id": 0, "name": "emg"}, {"id": 1, "name": "imu"}]}
    assert outlet_name(info, 1, "X", alone=True) == "X"
    assert outlet_name(info, 1, "X") == "X imu"
    assert outlet_name(info, 1) == outlet_name(info, 1, alone=True) == "amp imu"


def test_fault_markers_are_stamped_at_the_onset_in_lsl_time() -> None:
    """The marker of a fault at 1.0 s carries the LSL time of the sample at 1.0 s
    (counting the samples a gap lost before it), not the time it was pushed."""
    from sensorio.sinks.lsl import LslOutlet

    serial = f"ONSET-{uuid.uuid4().hex[:8]}"
    blocks, info, _ = captured(profile="emg8", seed=12, duration=1.5, serial=serial, link=["drop:at=0.5,count=3"])
    rate = info["streams"][0]["rate_hz"]
    outlet = LslOutlet(info)
    inlet = connect(outlet.source_id)
    markers = connect(outlet.source_id + ":markers")
    assert outlet.outlet.wait_for_consumers(5) and outlet.marker_outlet.wait_for_consumers(5)
    for b in blocks:
        outlet.push_block(b)
    lost = sum(int(ev["lost_samples"]) for b in blocks for ev in b.events)
    assert lost > 0
    time.sleep(0.3)  # detection comes later than the onset
    outlet.push_fault(SimpleNamespace(stream=0, channel=1, kind="saturation", start_s=1.0, end_s=None))
    outlet.push_fault(SimpleNamespace(stream=0, channel=1, kind="saturation", start_s=1.0, end_s=1.25))
    n = sum(len(b) for b in blocks)
    _, stamps = pull_all(inlet, n)
    got = []
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        sample, ts = markers.pull_sample(timeout=0.2)
        if sample:
            got.append((json.loads(sample[0]), ts))
    faults = [(m, ts) for m, ts in got if m["event"] == "fault"]
    assert [m["state"] for m, _ in faults] == ["start", "end"]
    # stream sample 2000 (1.0 s) is row 2000 - lost of what was pushed: the gap came before it
    assert faults[0][1] == pytest.approx(stamps[int(round(1.0 * rate)) - lost], abs=1e-6)
    assert faults[1][1] == pytest.approx(stamps[int(round(1.25 * rate)) - lost], abs=1e-6)
    assert pylsl.local_clock() - faults[0][1] > 0.3
    outlet.close()


@pytest.mark.parametrize(("maker", "expected"), [("Acme Biosignals", "Acme Biosignals"), (None, "unknown")])
def test_acquisition_names_the_device_maker_and_model_from_its_info(maker, expected) -> None:
    from sensorio.sinks.lsl import LslOutlet

    blocks, info, _ = captured(profile="emg8", seed=1, duration=0.1, serial=f"MK-{uuid.uuid4().hex[:8]}")
    if maker:
        info["manufacturer"] = maker
    outlet = LslOutlet(info, markers=False)
    acq = connect(outlet.source_id).info(timeout=5).desc().child("acquisition")
    assert acq.child_value("manufacturer") == expected != "sensorio"
    assert acq.child_value("model") == info["device"]
    outlet.close()


def test_stream_that_publishes_nothing_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    """A device in another format than --format: stream ran to --duration,
    published empty outlets and exited 0; it now ends with the diagnosis."""
    from sensorio.cli import main

    code = main(["stream", "sim://emg8?fast=1", "--format", "cyton", "--lsl", "--duration", "1", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and "they are SIO-1 frames: try --format sio" in err[-1], err


def test_stream_ends_with_a_count_of_what_it_published_and_lost(tmp_path, capsys) -> None:
    """stream ended without a count (its status line comes every 5 s in a
    log), and the blocks decoded at the close were never published."""
    from sensorio.cli import main
    from sensorio.cli._describe import describe

    out = tmp_path / "s.sior"
    # a flood (fast=1) stopped by --duration: frames are still in the ring at the close
    port = f"sim://emg8?seed=4&fast=1&duration=600&serial=END-{uuid.uuid4().hex[:8]}&link=drop:at=0.4,count=3"
    code = main(["stream", port, "--lsl", "--duration", "0.3", "--quiet", "--no-faults", "-o", str(out)])
    assert code == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    kept = describe(out)
    frames, lost = kept["stats"]["frames_ok"], kept["stats"]["lost_frames"]
    assert frames > 300 and lost == 3
    # every frame decoded, the last ones too, went out: 8 samples of each
    assert line == (
        f"{out}: {kept['raw_bytes']} bytes recorded, {frames} frames, {8 * frames} samples published, "
        f"{lost} frames lost, 0 CRC errors"
    )


def test_stream_starts_a_cyton(capsys) -> None:
    """The live commands sent START to SIO-1 devices only: a Cyton, silent
    until it hears 'b', published nothing."""
    from sensorio.cli import main

    port = f"sim://cyton?fast=1&duration=1&serial=CYT-{uuid.uuid4().hex[:8]}"
    code = main(["stream", port, "--format", "cyton", "--lsl", "--duration", "30", "--quiet", "--no-faults"])
    assert code == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    # the accelerometer at its 25 Hz, in every tenth packet
    assert line.startswith("250 frames, samples per stream 0: 250, 1: 25 published, 0 frames lost")


def test_stream_publishes_an_ascii_device_once_its_first_line_counts_the_channels(capsys) -> None:
    """An ASCII-lines device tells its channel count only with its first line:
    stream failed with an internal error (int(None)), then with the
    calibration's need of rails the device does not have."""
    from sensorio.cli import main
    from sensorio.sinks.lsl import LslOutlet

    port = f"sim://arduino?duration=2&fast=1&serial=ASC-{uuid.uuid4().hex[:8]}"
    code = main(["stream", port, "--format", "ascii", "--lsl", "--no-faults"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "4 ch at 0 Hz" in err
    assert (
        out.strip()
        .splitlines()[-1]
        .startswith("1000 frames, 1000 samples published, frames lost: not counted (no frame counter)")
    )
    from sensorio.formats import resolve

    parser = sensorio.Parser("ascii")
    parser.feed(b"12,-3,7\n14,-2,9\n")
    parser.flush()
    block = parser.read()[0]
    info = resolve("ascii").descriptor()
    info = {**info, "streams": [{**info["streams"][0], "channels": 3}]}
    outlet = LslOutlet(info, 0, markers=False, time_scale_us=None)
    got = outlet.values(block)
    assert got.dtype == np.float32 and got.tolist() == [[12, -3, 7], [14, -2, 9]]
    outlet.close()


def test_a_device_without_a_serial_is_told_apart_by_its_port() -> None:
    """Two Cytons (no serial in their descriptor) published the same
    source_id, sensorio:unknown:0; an inlet could pick either."""
    from sensorio.formats import resolve
    from sensorio.sinks.lsl import LslOutlet

    info = dict(resolve("cyton").descriptor())
    info.pop("serial", None)
    ids = set()
    for port in ("/dev/ttyUSB0", "/dev/ttyUSB1"):
        outlet = LslOutlet(info, 0, port=port)
        ids.add(outlet.source_id)
        outlet.close()
    assert ids == {"sensorio:port=/dev/ttyUSB0:0", "sensorio:port=/dev/ttyUSB1:0"}


def test_codes_wider_than_24_bits_are_published_as_double64() -> None:
    """An int32 stream's neighbouring codes stay apart on the inlet (float32
    holds 24 bits and merged them); a 24-bit stream stays float32."""
    from sensorio import sio1
    from sensorio.sinks.lsl import LslOutlet

    desc, wide, want = narrow_and_wide_device(f"WIDE-{uuid.uuid4().hex[:8]}")
    parser = sensorio.Parser()
    parser.feed(b"\x00" + sio1.encode_info(desc))
    for i in range(0, 200, 10):
        parser.feed(sio1.encode_data(wide[i : i + 10], stream=1, enc=sio1.ENC_I32, seq=i // 10, t_us=i * 1000))
    blocks = [b for b in parser.read() if b.stream == 1]
    info = json.loads(next(m.text for m in parser.read_messages() if m.kind == "info"))
    narrow = LslOutlet(info, 0, markers=False)
    assert narrow.outlet.get_info().channel_format() == pylsl.cf_float32
    narrow.close()
    outlet = LslOutlet(info, 1, markers=False)
    inlet = connect(outlet.source_id)
    assert inlet.info(timeout=5).channel_format() == pylsl.cf_double64
    assert outlet.outlet.wait_for_consumers(5)
    for b in blocks:
        outlet.push_block(b)
    got, _ = pull_all(inlet, len(wide))
    np.testing.assert_array_equal(got, want)
    outlet.close()


def test_a_16_bit_clock_gives_lsl_times_that_go_on_across_its_wraps() -> None:
    """The outlet unwrapped frame times as a 32-bit clock: a spec's u16
    timestamp of ms, turning every 65.5 s, stepped the LSL times back 65.5 s
    at each turn (now ClockUnwrap, at Format.clock_modulus)."""
    from sensorio.blocks import Block
    from sensorio.sinks.lsl import LslOutlet

    info = {"device": "t", "serial": "W16", "streams": [{"id": 0, "name": "emg", "channels": 1, "rate_hz": 100.0}]}
    outlet = LslOutlet(info, 0, calibrated=False, markers=False, time_scale_us=1000.0, clock_modulus=1 << 16)
    start, times = (1 << 16) - 300, []
    for k in range(0, 1000, 50):  # 10 s of 10 ms frames, wrapping 0.3 s in
        t = (start + 10 * np.arange(k, k + 50)) % (1 << 16)
        n = len(t)
        block = Block(
            0, np.zeros((n, 1), np.int32), np.arange(k, k + n, dtype=np.uint32), t.astype(np.uint64),
            np.zeros(n, np.uint64), np.arange(n, dtype=np.uint32), first_row=k,
        )  # fmt: skip
        times.append(outlet._device_times(block))
    outlet.close()
    assert np.allclose(np.diff(np.concatenate(times)), 0.01, atol=1e-9)


@pytest.mark.parametrize("unit", ["uV", "µV", "μV"])
def test_a_stream_in_the_greek_mu_is_emg_in_microvolts(unit: str) -> None:
    """The Greek μV (U+03BC) is a voltage as the micro sign µV (U+00B5) is:
    it was published as type "emg" (its name) with the unit "μV", which the
    XDF conventions do not know, instead of type EMG in microvolts."""
    from sensorio.sinks.lsl import LslOutlet

    blocks, info, _ = captured(profile="emg8", seed=1, duration=0.1, serial=f"MU-{uuid.uuid4().hex[:8]}")
    info["streams"][0]["unit"] = unit
    info["streams"][0]["name"] = "forearm"  # a voltage unit alone makes it EMG
    outlet = LslOutlet(info, markers=False)
    meta = connect(outlet.source_id).info(timeout=5)
    assert meta.type() == "EMG"
    assert {c["unit"] for c in channel_meta(meta)} == {"microvolts"}
    outlet.close()
