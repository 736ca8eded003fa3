"""BIDS-EMG export: `sensorio export REC --bids DIR --subject S --task T` writes a
dataset that the BIDS validator (bids-validator-deno, the reference validator
from PyPI) passes with no error, whose sidecar holds every field the BIDS 1.11
schema (bidsschematools) requires for EMG, with the mains found in the signal,
channel health in channels.tsv and faults, gaps and markers in events.tsv."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT, require_or_skip

VALIDATOR = shutil.which("bids-validator-deno")


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SENSORIO_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "sensorio", *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env
    )


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """6 s of emulated EMG with 60 Hz mains, electrode 4 lifted from 1 s to 5.5 s,
    5 frames dropped at 2 s. The hum (15 uV, over a 25 uV rest: a hum that
    is nearly all of a channel at rest is a mains fault) stands out of the
    contractions enough to be found."""
    d = tmp_path_factory.mktemp("bids")
    rec = d / "grip.sior"
    url = "sim://emg8?seed=2&fast=1&duration=6&mains_hz=60&mains_uv=15&rest_uv=25&fault=liftoff:channel=4,start=1,end=5.5&link=drop:at=2,count=5"
    proc = _cli("record", url, "-o", str(rec), "--duration", "8")
    assert proc.returncode == 0, proc.stderr
    return rec


@pytest.fixture(scope="module")
def dataset(recording: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ds") / "emgdata"
    proc = _cli(
        "export",
        str(recording),
        "--bids",
        str(root),
        "--subject",
        "01",
        "--task",
        "grip",
        "--reference",
        "Bipolar",
        "--placement-description",
        "SENIAM, forearm flexors",
    )
    assert proc.returncode == 0, proc.stderr
    assert "power line 60 Hz" in proc.stdout and "bad channels: EMG emg4" in proc.stdout
    return root


def _tsv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _validate(root: Path) -> list[dict]:
    require_or_skip(VALIDATOR is not None, "bids-validator-deno is not installed (pip install bids-validator-deno)")
    proc = subprocess.run([VALIDATOR, "--format", "json", str(root)], capture_output=True, text=True, timeout=300)
    out = json.loads(proc.stdout)
    return [i for i in out["issues"]["issues"] if i.get("severity") == "error"]


def test_bids_validator_passes_the_dataset(dataset: Path) -> None:
    errors = _validate(dataset)
    assert errors == [], errors


def test_bids_validator_catches_a_broken_sidecar(dataset: Path, tmp_path: Path) -> None:
    """The validator check can fail: without EMGReference the same dataset is an error."""
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    sidecar = broken / "sub-01" / "emg" / "sub-01_task-grip_emg.json"
    meta = json.loads(sidecar.read_text())
    del meta["EMGReference"]
    sidecar.write_text(json.dumps(meta))
    errors = _validate(broken)
    assert any("EMGReference" in json.dumps(e) for e in errors), errors


def test_sidecar_has_every_field_the_schema_requires(dataset: Path) -> None:
    try:
        from bidsschematools import schema
    except ImportError:
        require_or_skip(False, "bidsschematools is not installed (pip install bidsschematools)")
    s = schema.load_schema()
    meta = json.loads((dataset / "sub-01" / "emg" / "sub-01_task-grip_emg.json").read_text())
    required = {
        name
        for group in s.rules.sidecars.emg.values()
        if not any("sidecar." in sel for sel in group.selectors)
        for name, level in group.fields.items()
        if (level if isinstance(level, str) else level.get("level")) == "required"
    }
    assert {
        "EMGPlacementScheme",
        "EMGReference",
        "SamplingFrequency",
        "PowerLineFrequency",
        "SoftwareFilters",
        "TaskName",
        "RecordingType",
    } <= required
    assert required <= set(meta), required - set(meta)
    assert meta["EMGPlacementScheme"] in s.objects.metadata.EMGPlacementScheme.enum
    assert meta["PowerLineFrequency"] == 60.0  # found in the signal, not assumed
    assert meta["SamplingFrequency"] == 2000.0 and meta["TaskName"] == "grip"
    assert meta["EMGReference"] == "Bipolar" and meta["SoftwareFilters"] == "n/a"
    assert meta["EMGPlacementScheme"] == "Other"
    assert meta["EMGPlacementSchemeDescription"] == "SENIAM, forearm flexors"
    assert meta["ManufacturersModelName"] == "sensorio-emu EMG8" and meta["EMGChannelCount"] == 8


def test_channels_tsv_marks_the_lifted_electrode_bad_with_the_reason(dataset: Path) -> None:
    import pyedflib

    folder = dataset / "sub-01" / "emg"
    rows = _tsv(folder / "sub-01_task-grip_channels.tsv")
    with pyedflib.EdfReader(str(folder / "sub-01_task-grip_emg.bdf")) as f:
        labels = [x.strip() for x in f.getSignalLabels()]
    assert [r["name"] for r in rows] == labels  # named as in the data file, in its order
    assert {r["type"] for r in rows} == {"EMG"} and {r["units"] for r in rows} == {"uV"}
    bad = [r for r in rows if r["status"] == "bad"]
    assert [r["name"] for r in bad] == [labels[3]]
    assert "leadoff" in bad[0]["status_description"] or "liftoff" in bad[0]["status_description"]
    assert all(r["status"] == "good" for i, r in enumerate(rows) if i != 3)


def test_events_tsv_lists_the_fault_the_gap_and_the_markers(dataset: Path) -> None:
    rows = _tsv(dataset / "sub-01" / "emg" / "sub-01_task-grip_events.tsv")
    faults = [r for r in rows if r["trial_type"].startswith("BAD_fault_")]
    assert faults and all(r["channel"] == "EMG emg4" for r in faults)
    assert min(float(r["onset"]) for r in faults) == pytest.approx(1.0, abs=0.3)
    gaps = [r for r in rows if r["trial_type"] == "BAD_gap"]
    assert len(gaps) == 1 and float(gaps[0]["onset"]) == pytest.approx(2.0, abs=0.05)
    assert float(gaps[0]["duration"]) > 0
    assert any(r["trial_type"] == "connect" for r in rows)  # the recording's own events
    onsets = [float(r["onset"]) for r in rows]
    assert onsets == sorted(onsets)
    levels = json.loads((dataset / "sub-01" / "emg" / "sub-01_task-grip_events.json").read_text())
    assert {r["trial_type"] for r in rows} == set(levels["trial_type"]["Levels"])


def test_dataset_files_and_a_second_subject(dataset: Path, recording: Path) -> None:
    desc = json.loads((dataset / "dataset_description.json").read_text())
    assert desc["BIDSVersion"].startswith("1.11") and desc["DatasetType"] == "raw"
    proc = _cli(
        "export",
        str(recording),
        "--bids",
        str(dataset),
        "--subject",
        "02",
        "--task",
        "grip",
        "--session",
        "a",
        "--run",
        "1",
        "--power-line",
        "50",
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["participant_id"] for r in _tsv(dataset / "participants.tsv")] == ["sub-01", "sub-02"]
    meta = json.loads((dataset / "sub-02" / "ses-a" / "emg" / "sub-02_ses-a_task-grip_run-1_emg.json").read_text())
    assert meta["PowerLineFrequency"] == 50.0
    if VALIDATOR is not None:
        assert _validate(dataset) == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--subject", "0-1", "--task", "grip"), "letters and digits only"),
        (("--task", "grip"), "--bids needs --subject"),
        (("--subject", "01", "--task", "grip", "-o", "x.bdf"), "either -o OUT or --bids DIR"),
        (("--subject", "01", "--task", "grip", "--power-line", "0"), "--power-line: mains is 50 or 60 Hz, not 0"),
        # any positive frequency went through, written into the dataset as the mains
        (("--subject", "01", "--task", "grip", "--power-line", "55"), "--power-line: mains is 50 or 60 Hz, not 55"),
    ],
)
def test_bad_bids_options_fail_in_one_line(
    recording: Path, tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    proc = _cli("export", str(recording), "--bids", str(tmp_path / "d"), *extra)
    assert proc.returncode != 0
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_mne_reads_the_bids_bdf_with_its_annotations(dataset: Path) -> None:
    try:
        import mne
    except ImportError:
        require_or_skip(False, "mne is not installed (pip install mne)")
    raw = mne.io.read_raw_bdf(dataset / "sub-01" / "emg" / "sub-01_task-grip_emg.bdf", verbose="error")
    names = [r["name"] for r in _tsv(dataset / "sub-01" / "emg" / "sub-01_task-grip_channels.tsv")]
    assert raw.ch_names == names and raw.info["sfreq"] == 2000.0
    assert raw.n_times == 12000  # 6 s, the gap's samples included
    assert any("gap" in d.lower() for d in raw.annotations.description)


def test_a_failed_export_leaves_nothing_behind(recording: Path, tmp_path: Path, monkeypatch) -> None:
    import sensorio.export.edf as edf
    from sensorio.bridges.bids import export_bids
    from sensorio.errors import SensorioError

    def broken(*args, **kwargs):
        raise SensorioError("cannot write: the disk is full")

    monkeypatch.setattr(edf, "export_edf_stream", broken)
    root = tmp_path / "new" / "ds"
    with pytest.raises(SensorioError, match="disk is full"):
        export_bids(recording, root, subject="01", task="grip")
    assert list(tmp_path.iterdir()) == []


def test_the_recording_is_read_twice_and_analysed_once(recording: Path, tmp_path: Path, monkeypatch) -> None:
    """The BDF's first pass is the analysis that events.tsv comes from: the
    recording is read in full twice (that pass, then the data records), not
    three times, and faults are detected once, so the BDF's fault
    annotations and events.tsv's faults are the same list."""
    import sensorio.recording as rec_mod
    import sensorio.workflows.analyze as analyze_mod
    from sensorio.bridges.bids import export_bids

    passes: list[int] = []
    analyses: list[int] = []

    class CountingStream(rec_mod.BlockStream):
        def __iter__(self):
            yield from super().__iter__()
            passes.append(1)  # read to the end

    real_analyze = analyze_mod.analyze_blocks

    def counting_analyze(*args, **kwargs):
        analyses.append(1)
        return real_analyze(*args, **kwargs)

    monkeypatch.setattr(rec_mod, "BlockStream", CountingStream)
    monkeypatch.setattr(analyze_mod, "analyze_blocks", counting_analyze)
    root = tmp_path / "ds"
    export_bids(recording, root, subject="01", task="grip", reference="Bipolar")
    assert (len(passes), len(analyses)) == (2, 1)

    pyedflib = pytest.importorskip("pyedflib")
    folder = root / "sub-01" / "emg"
    with pyedflib.EdfReader(str(folder / "sub-01_task-grip_emg.bdf")) as f:
        onsets, _durations, texts = f.readAnnotations()
    in_bdf = sorted(round(float(t), 3) for t, x in zip(onsets, texts, strict=True) if "fault" in x.lower())
    faults = [r for r in _tsv(folder / "sub-01_task-grip_events.tsv") if r["trial_type"].startswith("BAD_fault_")]
    assert faults and in_bdf == sorted(round(float(r["onset"]), 3) for r in faults)


def _two_boards(tmp_path: Path, *, whole: bool = False, unit: str = "uV") -> Path:
    """Two 4-channel streams at 1 kHz, 3 s, in ``unit``; the second loses 0.2 s
    from 0.5 s and stops at 2 s (unless whole: then both run the 3 s)."""
    import numpy as np

    from sensorio import sio1
    from sensorio.recording import RecordingWriter

    rate, spf = 1000.0, 5
    streams = [
        {"id": sid, "name": f"emg{sid + 1}", "channels": 4, "rate_hz": rate, "enc": sio1.ENC_I16, "unit": unit,
         "scale": 0.5, "zero": 0, "min_code": -32768, "max_code": 32767}
        for sid in (0, 1)
    ]  # fmt: skip
    desc = {"device": "two-boards", "serial": "T2", "fw": "1", "streams": streams}
    rec = tmp_path / "two.sior"
    rng = np.random.default_rng(0)
    enc = sio1.DataEncoder()
    w = RecordingWriter(rec, {"format": "sio", "device_info": desc, "port": "test"}, fsync=False)
    w.add(b"\x00" + sio1.encode_info(desc), 0)
    for i in range(int(3 * rate) // spf):
        lost = 100 <= i < 140 and not whole  # stream 1 loses 0.2 s from 0.5 s
        for sid in (0, 1) if whole or (i < int(2 * rate) // spf and not lost) else (0,):
            codes = (rng.standard_normal((spf, 4)) * 200).astype(np.int32)
            w.add(enc.encode(codes, stream=sid, enc=sio1.ENC_I16, seq=i, t_us=int(i * spf * 1e6 / rate)), i * 5_000_000)
    w.close()
    return rec


def test_a_stream_that_stopped_early_is_an_event_where_the_file_holds_zeros(tmp_path: Path) -> None:
    """A rig of two streams whose second loses 0.2 s and stops 1 s before
    the first: the data file holds zeros there, and events.tsv says so
    (BAD_no_data, the stream named), as the BDF's own annotations do.
    Before, nothing did."""
    pytest.importorskip("pyedflib")
    from sensorio.bridges.bids import export_bids

    rec = _two_boards(tmp_path)
    root = tmp_path / "ds"
    export_bids(rec, root, subject="01", task="two")
    rows = [r for r in _tsv(root / "sub-01" / "emg" / "sub-01_task-two_events.tsv") if r["trial_type"] == "BAD_no_data"]
    assert [(float(r["onset"]), float(r["duration"]), r["stream"]) for r in rows] == [(2.0, 1.0, "1")]
    gaps = [r for r in _tsv(root / "sub-01" / "emg" / "sub-01_task-two_events.tsv") if r["trial_type"] == "BAD_gap"]
    assert [(float(r["onset"]), float(r["duration"])) for r in gaps] == [(0.5, 0.2)]


def test_info_times_each_stream_and_names_one_that_stopped_early(tmp_path: Path) -> None:
    """info gives each stream's samples and the seconds it covers at its
    rate, lost samples included (stream 1's 0.2 s gap: 2.00 s, as analyze
    says, not samples / rate = 1.80 s), and a problem line for a stream
    that holds less time than the others by more than a frame (its samples
    lost in a gap count as held); before, only the sample counts told, and
    nothing said a board had stopped."""
    rec = _two_boards(tmp_path)
    proc = _cli("info", str(rec))
    assert proc.returncode == 0, proc.stderr
    assert "stream 0:   4 channels, 3000 samples in 3.00 s at 1000 Hz, 600 frames" in proc.stdout
    assert "stream 1:   4 channels, 1800 samples in 2.00 s at 1000 Hz (200 lost), 360 frames" in proc.stdout
    streams = json.loads(_cli("info", str(rec), "--json").stdout)["streams"]
    assert [(s["samples"], s["lost_samples"], s["span_samples"]) for s in streams.values()] == [
        (3000, 0, 3000),
        (1800, 200, 2000),
    ]
    analyzed = json.loads(_cli("analyze", str(rec), "--json").stdout)["streams"]
    assert [round(s["seconds"], 2) for s in analyzed.values()] == [3.0, 2.0]
    problems = [ln for ln in proc.stdout.splitlines() if ln.startswith("problem:")]
    assert problems == ["problem:    stream 1 holds 1.00 s less than stream 0 (it began late or stopped early; "
                        "an EDF/BDF export marks its zeros BAD_no_data)"]  # fmt: skip


def test_analyze_names_a_stream_that_stopped_early_as_info_does(tmp_path: Path) -> None:
    """analyze says in its summary and its JSON, in info's words, that a
    stream stopped early (the rule of BAD_no_data), and still exits 0: a
    valid share alone reads as if the stream were whole. Before, analyze
    said nothing. Asked for the other stream only, it says nothing of this one."""
    rec = str(_two_boards(tmp_path))
    said = ("stream 1 holds 1.00 s less than stream 0 (it began late or stopped early; "
            "an EDF/BDF export marks its zeros BAD_no_data)")  # fmt: skip
    proc = _cli("analyze", rec)
    assert proc.returncode == 0, proc.stderr
    assert [ln for ln in proc.stdout.splitlines() if ln.startswith("problem:")] == [f"problem: {said}"]
    proc = _cli("analyze", rec, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["problems"] == [said]
    proc = _cli("analyze", rec, "--stream", "1", "--json")  # judged against stream 0 all the same
    assert json.loads(proc.stdout)["problems"] == [said]
    proc = _cli("analyze", rec, "--stream", "0", "--json")
    assert json.loads(proc.stdout)["problems"] == []


def test_analyze_and_info_say_nothing_of_streams_that_are_whole(tmp_path: Path) -> None:
    """Two streams that ran the whole recording: no problem line from
    analyze (text or JSON) or info."""
    rec = str(_two_boards(tmp_path, whole=True))
    for cmd in (("analyze",), ("info",)):
        proc = _cli(*cmd, rec)
        assert proc.returncode == 0, proc.stderr
        assert "stream 1:" in proc.stdout and "problem:" not in proc.stdout, proc.stdout
    proc = _cli("analyze", rec, "--json")
    assert json.loads(proc.stdout)["problems"] == []


@pytest.mark.parametrize(
    "name", ["sub-01_task-grip_emg.json", "sub-01_task-grip_emg.bdf", "sub-01_task-grip_events.tsv"]
)
def test_a_dataset_file_that_is_the_recording_is_refused_even_with_force(
    recording: Path, tmp_path: Path, name: str
) -> None:
    """export --bids --force wrote its sidecar (or data, or events) over a
    recording kept under that file's name: 22 MB of recording became 554
    bytes of JSON, and the command said it had done well."""
    folder = tmp_path / "ds" / "sub-01" / "emg"
    folder.mkdir(parents=True)
    src = folder / name
    shutil.copyfile(recording, src)
    proc = _cli("export", str(src), "--bids", str(tmp_path / "ds"), "--subject", "01", "--task", "grip", "--force")
    assert proc.returncode != 0 and "is the input" in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert src.read_bytes() == recording.read_bytes()


def test_events_tsv_holds_marker_texts_as_bids_tsv_and_says_what_it_changed(tmp_path: Path, capsys) -> None:
    """A TSV cell holds no tab or line break: each is a space and the export
    says how many marker texts had one (they became spaces without a word, a
    CR stayed and broke the row); a quote is written as it is (CSV-style
    quoting doubled it into a text no BIDS reader gives back); a marker
    whose text is "n/a" stays "n/a", the user's text."""
    import time

    import sensorio
    from sensorio.cli import main

    rec = tmp_path / "m.sior"
    texts = ["tab\there", "two\nlines", "cr\r\nhere", 'say "hi"', "n/a", "plain"]
    with sensorio.open("sim://emg8?seed=3&fast=1&autostart=1&duration=1", record=rec) as s:
        s.read(0.1)
        for text in texts:
            s.marker(text)
        end = time.monotonic() + 60  # a bound against hanging
        while not s.source_ended and time.monotonic() < end:
            s.read(0.1)
    capsys.readouterr()
    assert main(["export", str(rec), "--bids", str(tmp_path / "ds"), "--subject", "01", "--task", "t"]) == 0
    assert "(3 marker texts had tabs or line breaks, written as spaces)" in capsys.readouterr().out
    raw = (tmp_path / "ds" / "sub-01" / "emg" / "sub-01_task-t_events.tsv").read_bytes().decode()
    lines = raw.split("\n")[:-1]
    assert "\r" not in raw and {line.count("\t") for line in lines} == {5}
    values = [line.split("\t")[4] for line in lines[1:] if line.split("\t")[2] == "marker"]
    assert values == ["tab here", "two lines", "cr  here", 'say "hi"', "n/a", "plain"]


@pytest.mark.parametrize("unit", ["µV", "μV"])
def test_a_stream_in_the_greek_mu_is_emg_in_uV(tmp_path: Path, unit: str) -> None:
    """The Greek μV (U+03BC) is microvolts as the micro sign µV (U+00B5) is:
    its channels were MISC in "μV", none counted as EMG."""
    pytest.importorskip("pyedflib")
    from sensorio.bridges.bids import export_bids

    rec = _two_boards(tmp_path, whole=True, unit=unit)
    root = tmp_path / "ds"
    export_bids(rec, root, subject="01", task="two")
    rows = _tsv(root / "sub-01" / "emg" / "sub-01_task-two_channels.tsv")
    assert {(r["type"], r["units"]) for r in rows} == {("EMG", "uV")}
    sidecar = json.loads((root / "sub-01" / "emg" / "sub-01_task-two_emg.json").read_text())
    assert sidecar["EMGChannelCount"] == 8
