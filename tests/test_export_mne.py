"""sensorio.to_mne: a recording as an MNE Raw with EMG channel types, volts,
and the faults and gaps as BAD_ annotations that MNE's reject-by-annotation
honours."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from support import require_or_skip

import sensorio
from sensorio.dsp.analyze import analyze_file


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    rec = tmp_path_factory.mktemp("mne") / "m.sior"
    url = "sim://emg8?seed=1&fast=1&autostart=1&duration=6&fault=liftoff:channel=3,start=2,end=4&link=drop:at=3"
    with sensorio.open(url, record=rec) as s:
        rows, end = 0, time.monotonic() + 60  # a bound against hanging
        while rows < 11000 and time.monotonic() < end:
            rows += sum(len(b) for b in s.read(0.2) if b.stream == 0)
    return rec


def test_to_mne_types_units_and_annotations(recording: Path) -> None:
    try:
        import mne  # noqa: F401
    except ImportError:
        require_or_skip(False, "mne is not installed (pip install mne)")
    analysis = analyze_file(recording)
    raw = sensorio.to_mne(recording)
    sa = analysis.streams[0]
    assert raw.get_channel_types() == ["emg"] * 8
    assert raw.ch_names == list(sa.labels)
    assert raw.info["sfreq"] == sa.rate_hz
    assert np.array_equal(raw.get_data(), sa.raw.T * 1e-6, equal_nan=True)  # volts
    assert raw.info["meas_date"] is not None
    ann = raw.annotations
    leadoff = [a for a in ann if a["description"] == "BAD_fault_leadoff"]
    assert [a["ch_names"] for a in leadoff] == [("emg3",)]
    want = next(e for e in analysis.events if e.kind == "leadoff")
    assert leadoff[0]["onset"] == pytest.approx(want.start_s)
    assert leadoff[0]["duration"] == pytest.approx(want.end_s - want.start_s)
    gaps = [a for a in ann if a["description"] == "BAD_gap"]
    assert len(gaps) == len(sa.gaps_s) == 1
    assert gaps[0]["onset"] == pytest.approx(sa.gaps_s[0][0])
    # every annotation MNE can reject by is one sensorio found, and the
    # samples under them are left out
    assert all(a["description"].startswith("BAD_") for a in ann)
    kept = raw.get_data(reject_by_annotation="omit")
    assert 0 < kept.shape[1] < raw.n_times


def test_to_mne_names_a_missing_stream(recording: Path) -> None:
    try:
        import mne  # noqa: F401
    except ImportError:
        require_or_skip(False, "mne is not installed (pip install mne)")
    with pytest.raises(sensorio.SensorioError, match="no stream 7"):
        sensorio.to_mne(recording, stream=7)


def test_mne_reads_the_bdf_export_as_emg_with_bad_annotations(recording: Path, tmp_path: Path) -> None:
    try:
        import mne
    except ImportError:
        require_or_skip(False, "mne is not installed (pip install mne)")
    pytest.importorskip("pyedflib")
    from sensorio.cli import main

    out = tmp_path / "m.bdf"
    assert main(["export", str(recording), "-o", str(out)]) == 0
    analysis = analyze_file(recording)
    sa = analysis.streams[0]
    raw = mne.io.read_raw_bdf(out, infer_types=True, verbose="error")
    assert raw.get_channel_types() == ["emg"] * 8  # from the "EMG emg1" labels
    assert raw.ch_names == list(sa.labels)
    assert set(raw._orig_units.values()) == {"µV"}
    ann = raw.annotations
    leadoff = [a for a in ann if a["description"] == "BAD_fault_leadoff"]
    assert [a["ch_names"] for a in leadoff] == [("emg3",)]  # tied to its channel
    want = next(e for e in analysis.events if e.kind == "leadoff")
    assert leadoff[0]["onset"] == pytest.approx(want.start_s, abs=1e-3)
    gaps = [a for a in ann if a["description"] == "BAD_gap"]
    assert len(gaps) == len(sa.gaps_s) == 1
    assert gaps[0]["onset"] == pytest.approx(sa.gaps_s[0][0], abs=2e-3)
    # the zero-filled rows of the gap lie under BAD_gap, so reject-by-annotation leaves them out
    data = raw.get_data()
    start = int(round(gaps[0]["onset"] * raw.info["sfreq"]))
    stop = int(round((gaps[0]["onset"] + gaps[0]["duration"]) * raw.info["sfreq"]))
    assert stop > start and np.allclose(data[:, start:stop], 0.0, atol=1e-7)  # physical zero (0.1 µV)
    kept = raw.get_data(reject_by_annotation="omit")
    assert kept.shape[1] <= raw.n_times - (stop - start)
    # without infer_types MNE keeps the full labels, and still rejects by the BAD_ annotations
    plain = mne.io.read_raw_bdf(out, verbose="error")
    assert plain.ch_names == [f"EMG {label}" for label in sa.labels]
    assert "BAD_gap" in plain.annotations.description


@pytest.mark.parametrize(("unit", "volts"), [("µV", 1e-6), ("μV", 1e-6), ("mV", 1e-3), ("V", 1.0), ("g", None)])
def test_to_mne_scales_every_spelling_of_a_voltage_unit(unit: str, volts: float | None) -> None:
    """The Greek μV (U+03BC) is microvolts as the micro sign µV (U+00B5) is:
    a stream in μV was typed misc and left unscaled, 1e6 too large in volts."""
    try:
        import mne  # noqa: F401
    except ImportError:
        require_or_skip(False, "mne is not installed (pip install mne)")
    from sensorio.workflows.analyze import Analysis, StreamAnalysis

    x = np.full((100, 2), 50.0)
    sa = StreamAnalysis(0, 1000.0, unit, ("a", "b"), x, None, None, np.ones((100, 2), bool), [], 0.0)
    raw = sensorio.to_mne(Analysis({0: sa}, [], {}, None))
    assert raw.get_channel_types() == ["emg" if volts else "misc"] * 2
    assert np.allclose(raw.get_data(), x.T * (volts or 1.0), rtol=1e-12)
