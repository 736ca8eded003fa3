"""EDF+/BDF+ export: a round trip through pyedflib gives back the codes, the
calibrated values within one digital step, the rates, labels, units and the
annotations for gaps, faults and markers."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from emulator_util import decode, run
from support import require_or_skip

from sensorio.errors import SensorioError

try:
    import pyedflib
except ImportError:  # pragma: no cover
    pyedflib = None


@pytest.fixture(autouse=True)
def _need_pyedflib() -> None:
    require_or_skip(pyedflib is not None, "pyedflib is not installed (pip install 'sensorio[edf]')")


def capture(**kw):
    data, truth = run(autostart=True, **kw)
    parser, streams = decode(data)
    info = json.loads(next(m.text for m in parser.read_messages() if m.kind == "info"))
    return streams, info, truth


def read_back(path: Path):
    reader = pyedflib.EdfReader(str(path))
    try:
        n = reader.signals_in_file
        out = {
            "labels": reader.getSignalLabels(),
            "rates": list(reader.getSampleFrequencies()),
            "headers": [reader.getSignalHeader(i) for i in range(n)],
            "physical": [reader.readSignal(i) for i in range(n)],
            "digital": [reader.readSignal(i, digital=True) for i in range(n)],
            "annotations": reader.readAnnotations(),
            "type": reader.filetype,
        }
    finally:
        reader.close()
    return out


@pytest.mark.parametrize("rail_uv", [187499.649, 187500.0224, 4687.5])
def test_bdf_of_24_bit_codes_has_no_offset(tmp_path: Path, rail_uv: float) -> None:
    """The 8-character header cannot hold a 24-bit stream's rails to its
    step (-187499.649 uV became -187500), and the reader's line through them
    put every sample 8 steps (0.19 uV) off; the maximum is now chosen to put
    that line through 0 at the zero code (edf.physical_range)."""
    from sensorio.export import write_edf

    streams, info, _ = capture(profile="emg8", seed=2, duration=0.5)
    desc = next(d for d in info["streams"] if d["id"] == 0)
    desc["scale"] = rail_uv / 8388608
    out = tmp_path / "run.bdf"
    write_edf(out, {0: streams[0]}, info)
    back = read_back(out)
    codes = streams[0]["samples"]
    for c in range(codes.shape[1]):
        expected = (codes[:, c] - desc["zero"]) * desc["scale"]
        got = back["physical"][c][: len(expected)]
        assert np.max(np.abs(got - expected)) <= 0.6 * desc["scale"], (c, np.max(np.abs(got - expected)))


def test_a_stream_that_stopped_early_is_annotated_where_the_file_holds_zeros(tmp_path: Path) -> None:
    """One stream of a rig ends 0.5 s before the others (a board that
    stopped): the file runs to the longest stream, so the short one's
    channels hold zeros there, annotated BAD_no_data with the stream's
    name. Before, the zeros read as a signal at 0 uV with nothing to say
    so; streams that end together get no such annotation."""
    from sensorio.export import write_edf

    streams, info, _ = capture(profile="prosthesis", seed=4, duration=2.5)
    assert {sid: a["samples"].shape[0] for sid, a in streams.items()} == {0: 5000, 1: 250, 2: 1250, 3: 1250}
    whole = tmp_path / "whole.bdf"
    write_edf(whole, streams, info)
    assert not any(t.startswith("BAD_no_data") for t in read_back(whole)["annotations"][2])
    # streams stopped together end a frame or so apart (here 2-6 ms): no fault
    odd, odd_info, _ = capture(profile="prosthesis", seed=4, duration=2.507)
    write_edf(tmp_path / "odd.bdf", odd, odd_info)
    assert not any(t.startswith("BAD_no_data") for t in read_back(tmp_path / "odd.bdf")["annotations"][2])
    a = streams[2]
    keep = a["frame_t_us"] < a["frame_t_us"][0] + 2_000_000
    rows = int(np.count_nonzero(keep)) * (a["samples"].shape[0] // len(keep))
    streams[2] = dict(a, samples=a["samples"][:rows], frame_t_us=a["frame_t_us"][keep])
    out = tmp_path / "short.bdf"
    write_edf(out, streams, info)
    back = read_back(out)
    onsets, durations, texts = back["annotations"]
    name = next(s["name"] for s in info["streams"] if s["id"] == 2)
    hit = [(o, d) for o, d, t in zip(onsets, durations, texts, strict=True) if t == f"BAD_no_data s2 {name}"]
    assert len(hit) == 1
    assert hit[0][0] == pytest.approx(rows / 500.0) and hit[0][1] == pytest.approx(2.5 - rows / 500.0)
    assert [t for t in texts if t.startswith("BAD_no_data")] == [f"BAD_no_data s2 {name}"]


def test_bdf_round_trip_multistream(tmp_path: Path) -> None:
    from sensorio.export import Annotation, write_edf

    streams, info, truth = capture(profile="prosthesis", seed=4, duration=2.5, link=["drop:at=1,count=3"])
    assert len(streams[0]["events"]) == 1
    fault = SimpleNamespace(stream=0, channel=2, kind="leadoff", start_s=1.5, end_s=2.0)
    out = tmp_path / "run.bdf"
    summary = write_edf(out, streams, info, faults=[fault], markers=[Annotation(0.5, None, "marker grasp")])
    assert summary.file_type == "BDF+"
    back = read_back(out)
    assert back["type"] == pyedflib.FILETYPE_BDFPLUS
    descs = {s["id"]: s for s in info["streams"]}
    k = 0
    for sid, arrays in sorted(streams.items()):
        desc = descs[sid]
        codes = arrays["samples"]
        lost = int(arrays["events"]["lost_samples"].sum())
        gap_row = int(arrays["events"]["row"][0]) if lost else None
        step = desc["scale"]
        for c in range(codes.shape[1]):
            # "<TYPE> <label>": MNE (infer_types=True) reads EMG for volts, MISC for the rest
            kind = "EMG" if desc["unit"] == "uV" else "MISC"
            assert back["labels"][k] == f"{kind} {desc['labels'][c]}"[:16]
            assert back["headers"][k]["transducer"] == ("EMG electrode" if kind == "EMG" else desc["name"])
            assert back["rates"][k] == desc["rate_hz"]
            assert back["headers"][k]["dimension"] == desc["unit"]
            dig = back["digital"][k]
            phys = back["physical"][k]
            # the gap is filled with physical zero, so the codes continue after it
            got = dig if gap_row is None else np.concatenate([dig[:gap_row], dig[gap_row + lost :]])
            got = got[: codes.shape[0]]
            shift = -32768 if desc["min_code"] == 0 and desc["max_code"] == 65535 else 0
            np.testing.assert_array_equal(got - shift, codes[:, c])
            expected = (codes[:, c] - desc["zero"]) * desc["scale"]
            gotp = phys if gap_row is None else np.concatenate([phys[:gap_row], phys[gap_row + lost :]])
            assert np.max(np.abs(gotp[: codes.shape[0]] - expected)) <= step
            if gap_row is not None:
                np.testing.assert_allclose(phys[gap_row : gap_row + lost], 0.0, atol=step)
            k += 1
    onsets, durations, texts = back["annotations"]
    notes = dict(zip(texts, zip(onsets, durations, strict=True), strict=True))
    gaps = [(o, d) for o, d, t in zip(onsets, durations, texts, strict=True) if t == "BAD_gap"]
    # the drop at 1 s: 3 frames of 8 samples at 2 kHz, BAD_ over exactly the zero-filled rows
    assert any(o == pytest.approx(1.0, abs=1e-3) and d == pytest.approx(24 / 2000, abs=1e-3) for o, d in gaps)
    # a fault on one channel: BAD_fault_<kind>, tied to the channel as MNE names it
    assert notes["BAD_fault_leadoff@@emg3"] == (pytest.approx(1.5), pytest.approx(0.5))
    assert notes["marker grasp"][0] == pytest.approx(0.5)
    assert "end of data" in notes


def test_edf_for_16_bit_streams_and_refusals(tmp_path: Path) -> None:
    from sensorio.export import write_edf

    streams, info, _ = capture(profile="prosthesis", seed=5, duration=1.0)
    sixteen = {sid: a for sid, a in streams.items() if sid != 0}
    out = tmp_path / "limbs.edf"
    write_edf(out, sixteen, info)
    back = read_back(out)
    assert back["type"] == pyedflib.FILETYPE_EDFPLUS
    assert len(back["labels"]) == sum(a["samples"].shape[1] for a in sixteen.values())
    force = next(s for s in info["streams"] if s["id"] == 2)
    k = sixteen[1]["samples"].shape[1]
    phys = back["physical"][k][: sixteen[2]["samples"].shape[0]]
    np.testing.assert_allclose(
        phys, (sixteen[2]["samples"][:, 0] - force["zero"]) * force["scale"], atol=force["scale"]
    )
    with pytest.raises(SensorioError, match="exists"):
        write_edf(out, sixteen, info)
    with pytest.raises(SensorioError, match="bdf"):
        write_edf(tmp_path / "emg.edf", {0: streams[0]}, info)
    # 32-bit codes: BDF holds 24 (the message said EDF holds 16, export to .bdf)
    wide = json.loads(json.dumps(info))
    d0 = next(d for d in wide["streams"] if d["id"] == 0)
    d0["min_code"], d0["max_code"] = -(2**31), 2**31 - 1
    with pytest.raises(SensorioError, match=r"32-bit samples and BDF holds 24: export to \.npz or \.csv"):
        write_edf(tmp_path / "emg.bdf", {0: streams[0]}, wide)
    # and to .edf: straight to what holds them (it said .bdf, which then said .npz)
    with pytest.raises(SensorioError, match=r"32-bit samples and EDF holds 16: export to \.npz or \.csv"):
        write_edf(tmp_path / "emg.edf", {0: streams[0]}, wide)
    with pytest.raises(SensorioError, match=r"\.edf or \.bdf"):
        write_edf(tmp_path / "emg.dat", streams, info)
    assert not list(tmp_path.glob("*.part"))


def test_export_command_recording_to_bdf_with_faults_and_markers(tmp_path: Path, sensorio_emulator) -> None:
    from sensorio.capture import open as open_capture
    from sensorio.cli import main

    rec = tmp_path / "run.sior"
    dev = sensorio_emulator(
        profile="emg8",
        seed=6,
        fast=True,
        duration=3,
        fault=["saturation:channel=5,start=1,end=1.8"],
        link=["drop:at=2.4,count=2"],
    )
    with open_capture(dev.port, record=rec, start_command="START") as cap:
        n, marked = 0, False
        while blocks := cap.read(1.0):
            n += sum(len(b) for b in blocks)
            if n >= 2000 and not marked:
                cap.marker("grasp")
                marked = True
    out = tmp_path / "run.bdf"
    assert main(["export", str(rec), "-o", str(out)]) == 0
    back = read_back(out)
    assert back["type"] == pyedflib.FILETYPE_BDFPLUS and len(back["labels"]) == 8
    onsets, durations, texts = back["annotations"]
    notes = dict(zip(texts, zip(onsets, durations, strict=True), strict=True))
    sat = notes["BAD_fault_saturation@@emg5"]
    assert sat[0] == pytest.approx(1.0, abs=0.1) and sat[0] + sat[1] == pytest.approx(1.8, abs=0.1)
    assert "BAD_gap" in texts
    assert "marker grasp" in notes
    assert main(["export", str(rec), "-o", str(out)]) != 0  # never overwrites
    with pytest.raises(SensorioError, match="bdf"):
        from sensorio.export.edf import write_edf

        write_edf(
            tmp_path / "x.edf",
            {
                0: {
                    "samples": np.zeros((4, 1), np.int32),
                    "events": np.zeros(0, dtype=sensorio_event_dtype()),
                    "frame_t_us": np.zeros(1, np.uint64),
                }
            },
            {
                "streams": [
                    {
                        "id": 0,
                        "channels": 1,
                        "rate_hz": 100,
                        "scale": 1.0,
                        "zero": 0,
                        "min_code": -(1 << 23),
                        "max_code": (1 << 23) - 1,
                    }
                ]
            },
        )


def sensorio_event_dtype():
    from sensorio.blocks import EVENT_DTYPE

    return EVENT_DTYPE


def test_bdf_fault_annotations_apply_the_recordings_calibration(tmp_path: Path, sensorio_emulator) -> None:
    """The recording carries the calibration it was made with; the BDF's
    fault annotations come from the same analysis as `sensorio analyze`'s
    events, with that calibration (it used to be left out: a channel the
    calibration scales to a flat line was flagged by analyze, not in the BDF)."""
    from sensorio.capture import open as open_capture
    from sensorio.cli import main
    from sensorio.dsp.analyze import analyze_file
    from sensorio.dsp.calibrate import Calibration, CalibrationStore, StreamCalibration

    cal_dir = tmp_path / "cal"
    CalibrationStore(cal_dir).save(
        Calibration("EMU-SIO-0007", streams={0: StreamCalibration(gain=[1.0, 1e-4] + [1.0] * 6)})
    )
    dev = sensorio_emulator(profile="emg8", seed=7, fast=True, duration=3)
    rec = tmp_path / "cal.sior"
    with open_capture(dev.port, record=rec, start_command="START", calibration_dir=cal_dir) as cap:
        while cap.read(1.0):
            pass
    analysed = analyze_file(rec, calibration_dir=str(tmp_path / "elsewhere")).events
    expected = sorted(f"BAD_fault_{e.kind}@@emg{e.channel + 1}" for e in analysed if e.severity == "fault")
    assert "BAD_fault_flat@@emg2" in expected  # the calibration makes channel 2 a flat line
    out = tmp_path / "cal.bdf"
    assert main(["export", str(rec), "-o", str(out)]) == 0
    _onsets, _durations, texts = read_back(out)["annotations"]
    assert sorted(t for t in texts if t.startswith("BAD_fault_")) == expected


def test_a_24_bit_recording_to_edf_is_refused_before_any_pass(tmp_path: Path, monkeypatch) -> None:
    """The bit depth was checked when the file was planned, after the
    analysis pass (7.4 s on 5 minutes of 64 channels): it is checked from the
    descriptor before any pass now."""
    import subprocess
    import sys

    from sensorio.cli import main

    rec = tmp_path / "e8.sior"
    made = subprocess.run(
        [sys.executable, "-m", "sensorio", "record", "sim://emg8?fast=1&duration=1", "-o", str(rec), "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr

    def no_pass(*args: object, **kwargs: object) -> None:
        raise AssertionError("the recording was read for export before the depth was checked")

    monkeypatch.setattr("sensorio.export.edf.export_edf_stream", no_pass)
    assert main(["export", str(rec), "-o", str(tmp_path / "e8.edf")]) == 1
    assert not list(tmp_path.glob("*.edf")) and not list(tmp_path.glob(".*part*"))


def test_an_ascii_recording_to_bdf_is_refused_naming_what_its_descriptor_lacks(tmp_path: Path) -> None:
    """ASCII lines carry no rate, rails or calibration: a BDF (and analyze)
    cannot be made, which the one-line error says by name; it said
    "missing or bad int() argument must be a string ... not 'NoneType'".
    Its values still export to .npz."""
    import subprocess
    import sys

    rec = tmp_path / "a.sior"
    url = "sim://arduino?format=ascii&channels=4&duration=1&autostart=1&fast=1"
    run_ = [sys.executable, "-m", "sensorio"]
    r = subprocess.run([*run_, "record", url, "--format", "ascii", "-o", str(rec)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for argv in (["export", str(rec), "-o", str(tmp_path / "a.bdf")], ["analyze", str(rec)]):
        r = subprocess.run([*run_, *argv], capture_output=True, text=True)
        assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
        assert "gives no channels, rate_hz, min_code, max_code (ASCII lines carry none)" in r.stderr
        assert "NoneType" not in r.stderr
    assert not (tmp_path / "a.bdf").exists()
    r = subprocess.run([*run_, "export", str(rec), "-o", str(tmp_path / "a.npz")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "a.npz")["samples"].shape[1] == 4


def test_export_does_not_warn_of_a_notch_the_file_never_had(tmp_path: Path, capsys) -> None:
    """The fault analysis behind the annotations notches 50 Hz when it finds
    no hum, and said so ("no mains hum found ...: notching 50 Hz"); the BDF
    holds the samples as recorded, unfiltered, so export says nothing of it."""
    from sensorio.cli import main

    rec = tmp_path / "quiet.sior"
    assert main(["record", "sim://emg8?mains_hz=0&fast=1&seed=3", "-o", str(rec), "--duration", "0.3"]) == 0
    capsys.readouterr()
    assert main(["analyze", str(rec)]) == 0
    assert "no mains hum found" in capsys.readouterr().err  # (the analysis does notch, and says so)
    assert main(["export", str(rec), "-o", str(tmp_path / "quiet.bdf")]) == 0
    captured = capsys.readouterr()
    assert "quiet.bdf: BDF+" in captured.out
    assert "notching" not in captured.err and "no mains hum" not in captured.err


def test_link_events_are_on_the_samples_time_axis(tmp_path: Path) -> None:
    """Host-timed events counted from the first bytes read, those of the
    handshake a second before the device streamed: the disconnect came 1 s
    after the gap it caused, the reconnect after the data had resumed."""
    from sensorio.cli import main

    rec = tmp_path / "u.sior"
    url = "sim://emg8?seed=2&duration=3&link=unplug:at=1,dur=0.5"
    assert main(["record", url, "-o", str(rec), "--quiet"]) == 0
    assert main(["export", str(rec), "-o", str(tmp_path / "u.bdf")]) == 0
    back = read_back(tmp_path / "u.bdf")
    onsets = {str(text): float(onset) for onset, _, text in zip(*back["annotations"], strict=True)}
    assert onsets["BAD_gap"] == pytest.approx(1.0, abs=0.01)
    # the host saw the unplug, and the device again, within a read or two of the samples
    assert onsets["disconnect"] == pytest.approx(onsets["BAD_gap"], abs=0.25)
    assert onsets["BAD_gap"] + 0.5 <= onsets["connect"] < onsets["BAD_gap"] + 1.0


def test_a_marker_of_a_stream_the_file_lacks_keeps_its_host_time(tmp_path: Path) -> None:
    """A marker naming its row was placed by the row alone: one of a stream
    the file does not hold went to 0 s."""
    import time

    from sensorio.export.edf import Annotation, RowMarker, place_markers, recording_markers
    from sensorio.recording import RecordingWriter

    rec = tmp_path / "m.sior"
    now = time.time_ns()
    with RecordingWriter(rec, {"format": "sio", "created_ns": now - 3 * 10**9}) as w:
        w.add(b"\x00" * 8, now - 2 * 10**9)
        w.event("marker", text="m", stream=5, row=100)
    (marker,), _ = recording_markers(rec)
    assert isinstance(marker, RowMarker) and marker.onset_s == pytest.approx(2.0, abs=0.5)
    placed = place_markers(
        [RowMarker(1.25, None, "marker m", stream=5, row=100), RowMarker(9.0, None, "marker g", stream=0, row=4000)],
        {0: 2000.0},
        {0: 0.5},
    )
    assert placed == [RowMarker(1.25, None, "marker m", stream=5, row=100), Annotation(2.5, None, "marker g")]


def _one_stream(rate: float, seconds: float) -> tuple[dict, dict]:
    from sensorio.blocks import EVENT_DTYPE

    rows = int(rate * seconds)
    codes = (np.arange(rows * 2, dtype=np.int32).reshape(rows, 2) % 1000) - 500
    frames = np.arange(0, rows, 10)
    streams = {
        0: {
            "samples": codes,
            "frame_t_us": (frames * 1e6 / rate).astype(np.uint64),
            "events": np.zeros(0, dtype=EVENT_DTYPE),
        }
    }
    info = {"streams": [{"id": 0, "name": "emg", "channels": 2, "rate_hz": rate, "samples_per_frame": 10}]}
    return streams, info


@pytest.mark.parametrize(("rate", "seconds"), [(1000.0, 0.5), (7.0, 3.0)])
def test_every_annotation_reaches_the_file_however_many_for_its_length(
    tmp_path: Path, rate: float, seconds: float
) -> None:
    """edflib holds 64 annotations a data record and left the others out
    without a word: a half-second file with 202 (markers, faults of a short
    HD recording) kept 64. Shorter records hold them where the rate allows
    (1000 Hz), more records of zeros after the end of data where it does not
    (7 Hz); the samples stay as they were."""
    from sensorio.export.edf import Annotation, write_edf

    streams, info = _one_stream(rate, seconds)
    marks = [Annotation(i * seconds / 300, None, f"marker m{i}") for i in range(300)]
    done = write_edf(tmp_path / "m.bdf", streams, info, markers=marks)
    back = read_back(tmp_path / "m.bdf")
    texts = [str(t) for t in back["annotations"][2]]
    assert done.annotations == len(texts) == 301  # and "end of data"
    assert sorted(texts) == sorted([m.text for m in marks] + ["end of data"])
    rows = streams[0]["samples"].shape[0]
    assert np.array_equal(back["digital"][0][:rows], streams[0]["samples"][:, 0])
    assert len(set(back["digital"][0][rows:])) <= 1  # the fill of a record's tail, as ever
    assert back["rates"][0] == pytest.approx(rate)


def test_an_annotation_text_past_edfs_40_bytes_is_cut_between_characters_and_said(tmp_path: Path, capsys) -> None:
    """edflib keeps 40 bytes of a text and cut a long marker through a
    character ('x' * 39 + 'ü' read back as mojibake), saying nothing; the
    fault annotation's channel check counted characters, not bytes."""
    from sensorio.export.edf import Annotation, fault_annotation, write_edf

    streams, info = _one_stream(1000.0, 0.5)
    marks = [Annotation(0.1, None, "x" * 39 + "ü"), Annotation(0.2, None, "short")]
    done = write_edf(tmp_path / "m.bdf", streams, info, markers=marks)
    texts = {str(t) for t in read_back(tmp_path / "m.bdf")["annotations"][2]}
    assert texts == {"x" * 39, "short", "end of data"} and done.cut_texts == 1
    ev = SimpleNamespace(stream=0, channel=0, kind="liftoff", start_s=0.0, end_s=1.0, severity="fault")
    # 'BAD_fault_liftoff@@' is 19 bytes: a label of 21 characters fits, of 21 with 'é' (22 bytes) not
    assert fault_annotation(ev, {(0, 0): "a" * 21}, {}, 1.0).text.endswith("@@" + "a" * 21)
    assert fault_annotation(ev, {(0, 0): "é" + "a" * 20}, {}, 1.0).text == "BAD_fault_liftoff"


def test_the_export_command_says_how_many_annotation_texts_it_cut(tmp_path: Path, sensorio_emulator, capsys) -> None:
    from sensorio.capture import open as open_capture
    from sensorio.cli import main

    rec = tmp_path / "run.sior"
    dev = sensorio_emulator(profile="emg8", seed=6, fast=True, duration=1)
    with open_capture(dev.port, record=rec, start_command="START") as cap:
        marked = False
        while cap.read(1.0):
            if not marked:
                cap.marker("the subject began the second set of contractions")
                marked = True
    capsys.readouterr()
    assert main(["export", str(rec), "-o", str(tmp_path / "run.bdf")]) == 0
    assert "(1 of their texts cut to EDF+'s 40 bytes)" in capsys.readouterr().out
    texts = [str(t) for t in read_back(tmp_path / "run.bdf")["annotations"][2]]
    assert "marker the subject began the second set " in texts  # its first 40 bytes


@pytest.mark.parametrize("unit", ["µV", "μV"])
def test_a_micro_sign_unit_reaches_the_header_as_uV(tmp_path: Path, unit: str) -> None:
    """The header holds ASCII: edflib wrote the UTF-8 of "µV" as "AuV" (the
    Greek "μV" as "I V"), which MNE reads as no unit, the samples as volts."""
    from sensorio.export.edf import write_edf

    streams, info = _one_stream(1000.0, 0.5)
    info["streams"][0].update(unit=unit, scale=0.5, zero=0, min_code=-32768, max_code=32767)
    write_edf(tmp_path / "u.edf", streams, info)
    back = read_back(tmp_path / "u.edf")
    assert [h["dimension"] for h in back["headers"]] == ["uV", "uV"]
    assert back["labels"][0].strip() == "EMG ch1"  # a voltage stream still


@pytest.mark.parametrize(("unit", "want"), [("uv", "uV"), ("UV", "uV"), ("mv", "mV"), ("v", "V")])
def test_a_voltage_unit_in_another_case_reaches_the_header_as_mne_reads_it(
    tmp_path: Path, unit: str, want: str
) -> None:
    """ "uv" and "mv" were written as they came: MNE knows only "uV" and
    "mV", and read the samples as volts (1e6 and 1e3 too large), while the
    BIDS channels.tsv of the same stream said uV."""
    from sensorio.export.edf import write_edf

    streams, info = _one_stream(1000.0, 0.5)
    info["streams"][0].update(unit=unit, scale=0.5, zero=0, min_code=-32768, max_code=32767)
    write_edf(tmp_path / "u.bdf", streams, info)
    assert [h["dimension"] for h in read_back(tmp_path / "u.bdf")["headers"]] == [want, want]


def test_a_label_cut_before_a_space_is_told_from_the_label_it_then_reads_as(tmp_path: Path) -> None:
    """'left_flexor 2' cut to 16 characters is 'EMG left_flexor ', which
    readers strip to the 'EMG left_flexor' beside it: MNE renamed the two
    -0 and -1 and a fault's '@@left_flexor' named neither."""
    from types import SimpleNamespace

    from sensorio.export.edf import write_edf

    streams, info = _one_stream(1000.0, 0.5)
    info["streams"][0].update(labels=["left_flexor", "left_flexor 2"])
    info["streams"][0].update(unit="uV", scale=0.5, zero=0, min_code=-32768, max_code=32767)
    fault = SimpleNamespace(stream=0, channel=0, kind="liftoff", start_s=0.1, end_s=0.2, severity="fault")
    write_edf(tmp_path / "l.bdf", streams, info, faults=[fault])
    back = read_back(tmp_path / "l.bdf")
    assert [s.strip() for s in back["labels"]] == ["EMG left_flexo~1", "EMG left_flexo~2"]
    assert "BAD_fault_liftoff@@left_flexo~1" in [str(t) for t in back["annotations"][2]]


def test_labels_alike_once_cut_to_16_characters_stay_apart(tmp_path: Path) -> None:
    """A label field holds 16 characters: 'left_forearm_flexor' and
    'left_forearm_extensor' both became 'EMG left_forearm', two signals of
    one name (MNE renamed them -0, -1, and a fault's '@@left_forearm' named
    neither); those now end in their signal's number, the others stay."""
    from types import SimpleNamespace

    from sensorio.export.edf import write_edf

    streams, info = _one_stream(1000.0, 0.5)
    streams[0]["samples"] = np.repeat(streams[0]["samples"], 2, axis=1)[:, :3]
    info["streams"][0].update(channels=3, labels=["left_forearm_flexor", "left_forearm_extensor", "biceps"])
    info["streams"][0].update(unit="uV", scale=0.5, zero=0, min_code=-32768, max_code=32767)
    fault = SimpleNamespace(stream=0, channel=1, kind="liftoff", start_s=0.1, end_s=0.2, severity="fault")
    write_edf(tmp_path / "l.bdf", streams, info, faults=[fault])
    back = read_back(tmp_path / "l.bdf")
    assert [s.strip() for s in back["labels"]] == ["EMG left_forea~1", "EMG left_forea~2", "EMG biceps"]
    assert "BAD_fault_liftoff@@left_forea~2" in [str(t) for t in back["annotations"][2]]


def test_non_ascii_labels_and_transducer_reach_the_header_as_ascii(tmp_path: Path) -> None:
    """Header fields are ASCII, accents dropped to the base letter ("Bíceps" ->
    "Biceps"), anything else "_": edflib turned the UTF-8 of "Bíceps" into
    "BA ceps" (and "électrode" into "A lectrode"), and the fault's "@@Bíceps"
    named no channel MNE read. Labels alike once made ASCII and cut to 16
    characters end in their signal's number, their faults' "@@" too."""
    from types import SimpleNamespace

    from sensorio.export.edf import write_edf

    try:
        import mne
    except ImportError:  # pragma: no cover
        require_or_skip(False, "mne is not installed (pip install mne)")
    streams, info = _one_stream(1000.0, 0.5)
    streams[0]["samples"] = np.repeat(streams[0]["samples"], 2, axis=1)
    labels = ["Bíceps", "Tríceps braquial corto", "Tríceps braquial largo", "µ\tΩ"]
    info["streams"][0].update(channels=4, labels=labels, transducer="électrode Ag/AgCl")
    info["streams"][0].update(unit="uV", scale=0.5, zero=0, min_code=-32768, max_code=32767)
    faults = [
        SimpleNamespace(stream=0, channel=c, kind="liftoff", start_s=0.1 * c, end_s=0.1 * c + 0.05, severity="fault")
        for c in range(4)
    ]
    write_edf(tmp_path / "a.bdf", streams, info, faults=faults)
    back = read_back(tmp_path / "a.bdf")
    assert [s.strip() for s in back["labels"]] == ["EMG Biceps", "EMG Triceps br~2", "EMG Triceps br~3", "EMG u__"]
    assert {h["transducer"].strip() for h in back["headers"]} == {"electrode Ag/AgCl"}
    raw = mne.io.read_raw_bdf(tmp_path / "a.bdf", infer_types=True, verbose="error")
    names = ["Biceps", "Triceps br~2", "Triceps br~3", "u__"]
    assert raw.ch_names == names
    assert set(raw.get_channel_types()) == {"emg"}
    tied = [a["ch_names"] for a in raw.annotations if a["description"] == "BAD_fault_liftoff"]
    assert tied == [(n,) for n in names]
