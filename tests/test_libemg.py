"""libEMG interop with the real libEMG: sensorio feeds libEMG's OnlineDataHandler
through shared memory, and a `sensorio train` recording loads into its
OfflineDataHandler with the right classes, reps and samples.

libEMG pins numpy<2, so it lives in its own environment (.ci/libemg.sh makes
one and runs this file there with SENSORIO_REQUIRE_LIBEMG=1, where a missing
libEMG fails). In sensorio's own environment these tests skip, even with
SENSORIO_REQUIRE_ALL=1: libEMG cannot be installed beside numpy 2. Tests
marked ``without_libemg`` (the files sensorio writes for it) run everywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

try:
    from libemg.data_handler import OfflineDataHandler, OnlineDataHandler
except ImportError as exc:  # pragma: no cover - depends on the environment
    OfflineDataHandler = OnlineDataHandler = None
    MISSING = f"libemg is not installed here ({exc}); .ci/libemg.sh runs these tests in its own venv"


@pytest.fixture(autouse=True)
def _need_libemg(request: pytest.FixtureRequest) -> None:
    if OnlineDataHandler is None and request.node.get_closest_marker("without_libemg") is None:
        if os.environ.get("SENSORIO_REQUIRE_LIBEMG") == "1":
            pytest.fail(f"SENSORIO_REQUIRE_LIBEMG=1 but {MISSING}")
        pytest.skip(MISSING)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("SENSORIO_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "sensorio", *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A gesture-training recording of the emulated wearer (two repetitions)."""
    d = tmp_path_factory.mktemp("libemg")
    proc = _cli("train", "sim://gestures?seed=4&fast=1", "-o", str(d / "m.npz"), "--reps", "2", cwd=d)
    assert proc.returncode == 0, proc.stderr
    return d / "m.sior"


def test_online_data_handler_reads_the_live_sensorio_stream(tmp_path: Path) -> None:
    from sensorio.bridges.libemg import sensorio_streamer

    tag = f"emg{os.getpid()}"  # libEMG's names are global: keep parallel runs apart
    rec = tmp_path / "live.sior"
    streamer, items = sensorio_streamer(
        "sim://emg8?seed=3&duration=2&fast=1&link=drop:at=0.8,count=3", record=str(rec), tag=tag, buffer_samples=8000
    )
    try:
        odh = OnlineDataHandler(items)
        assert odh.modalities == [tag]
        streamer.wait(60)
        assert not streamer.is_alive()
        data, count = odh.get_data()
    finally:
        streamer.stop()
    n = int(count[tag][0, 0])
    # 2 s at 2 kHz reach libEMG, with the dropped frames' samples counted as zero rows
    assert n == streamer.samples == 4000
    assert streamer.lost_samples > 0
    got = data[tag][:n][::-1]  # libEMG keeps the newest sample first
    assert got.shape == (4000, 8)
    # the same samples as sensorio's own calibrated analysis of the recording made meanwhile
    from sensorio.dsp.analyze import analyze_file

    raw = analyze_file(rec).streams[0].raw
    assert raw.shape == got.shape
    lost = np.isnan(raw).all(axis=1)
    assert lost.sum() == streamer.lost_samples
    np.testing.assert_allclose(got[~lost], raw[~lost], rtol=1e-6, atol=1e-3)
    assert not got[lost].any()


def test_online_handler_feeds_a_libemg_classifier_window(tmp_path: Path) -> None:
    """libEMG's own windowing and features run on what sensorio streamed."""
    from libemg.feature_extractor import FeatureExtractor
    from libemg.utils import get_windows

    from sensorio.bridges.libemg import sensorio_streamer

    tag = f"emgw{os.getpid()}"
    streamer, items = sensorio_streamer("sim://emg8?seed=5&duration=1&fast=1", tag=tag, buffer_samples=2000)
    try:
        odh = OnlineDataHandler(items)
        streamer.wait(60)
        data, _ = odh.get_data(N=400)
    finally:
        streamer.stop()
    windows = get_windows(data[tag][::-1], 200, 100)
    feats = FeatureExtractor().extract_features(["MAV", "WL"], windows)
    assert feats["MAV"].shape == (3, 8) and np.all(feats["MAV"] > 0)


def test_offline_data_handler_loads_a_training_recording(trained: Path, tmp_path: Path) -> None:
    from sensorio.bridges.libemg import export_libemg, regex_filters
    from sensorio.training import recording_prompts

    out = tmp_path / "libemg"
    done = export_libemg(trained, out)
    assert done.classes == ["rest", "open", "close", "pronate", "supinate", "point"]
    _, marks = recording_prompts(trained)
    prompts = [(row, label) for row, label in marks if label is not None]
    # each gesture twice, rest before each and at the end
    assert [label for _, label in prompts].count("open") == 2
    assert done.reps == [label for _, label in prompts].count("rest") == 11
    assert done.rate_hz == 2000.0 and done.channels == 8
    odh = OfflineDataHandler()
    odh.get_data(str(out), regex_filters(out))
    assert len(odh.data) == len(prompts) == len(done.files)
    total = sum(d.shape[0] for d in odh.data)
    assert total == marks[-1][0] - marks[0][0]  # every sample between the first prompt and the end
    for data, classes, reps in zip(odh.data, odh.classes, odh.reps, strict=True):
        assert data.shape[1] == 8 and classes.shape == (data.shape[0], 1) and reps.shape == classes.shape
    # a class's rows are the samples of that prompt, in µV as sensorio calibrates them
    names = [done.classes[int(c[0, 0])] for c in odh.classes]
    assert sorted(names) == sorted(label for _, label in prompts)
    from sensorio.dsp.analyze import analyze_file

    raw = analyze_file(trained).streams[0].raw
    start = next(row for row, label in prompts if label == "open")
    first_open = next(i for i, n in enumerate(names) if n == "open" and int(odh.reps[i][0, 0]) == 0)
    seg = odh.data[first_open]
    np.testing.assert_allclose(seg, raw[start : start + seg.shape[0]], rtol=1e-5, atol=1e-2)
    # libEMG's windows and labels from it
    windows, meta = odh.parse_windows(400, 200)
    assert windows.shape[1:] == (8, 400) and set(np.unique(meta["classes"])) == set(range(6))


def test_export_refuses_to_mix_into_an_earlier_export(trained: Path, tmp_path: Path) -> None:
    from sensorio.bridges.libemg import export_libemg
    from sensorio.errors import SensorioError

    export_libemg(trained, tmp_path)
    with pytest.raises(SensorioError, match="already holds libEMG files"):
        export_libemg(trained, tmp_path)
    assert export_libemg(trained, tmp_path, overwrite=True).reps == 11


def test_libemg_is_not_imported_with_sensorio(tmp_path: Path) -> None:
    import sensorio

    code = "import sys, sensorio, sensorio.bridges.libemg; print('libemg' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=str(Path(sensorio.__file__).parent.parent))  # the sensorio under test
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60
    )
    assert out.stdout.strip() == "False", out.stderr


def test_streamer_gives_up_in_one_line_on_a_silent_source(tmp_path: Path) -> None:
    from sensorio.bridges.libemg import sensorio_streamer
    from sensorio.errors import SensorioError

    start = time.monotonic()
    # an emulated device never told to START stays silent
    with pytest.raises(SensorioError, match="no samples within 2 s, nothing to give libEMG"):
        sensorio_streamer("sim://emg8?fast=1", start_command=None, tag=f"emgx{os.getpid()}", timeout=2)
    assert time.monotonic() - start < 30


@pytest.mark.without_libemg
def test_offline_files_read_back_to_the_calibrated_values_exactly(tmp_path: Path) -> None:
    """24-bit codes on a 10 mV DC offset (a Cyton's 0.022 uV steps): each
    value in the CSV reads back to the very float sensorio calibrated (6
    significant digits kept 0.1 uV there, and neighbouring codes merged)."""
    from sensorio import sio1
    from sensorio.bridges.libemg import export_libemg
    from sensorio.recording import RecordingWriter

    scale = 4.5 / 24 / (2**23 - 1) * 1e6  # the Cyton's uV per code
    desc = {
        "device": "test",
        "serial": "L1",
        "fw": "0",
        "streams": [
            {"id": 0, "name": "emg", "channels": 3, "rate_hz": 1000, "enc": sio1.ENC_I24, "unit": "uV",
             "scale": scale, "zero": 0, "min_code": -(2**23), "max_code": 2**23 - 1}
        ],
    }  # fmt: skip
    rng = np.random.default_rng(7)
    codes = (round(10_000 / scale) + rng.integers(-50, 50, (400, 3))).astype(np.int32)
    codes[1] = codes[0] + 1  # neighbouring codes stay apart
    rec = tmp_path / "dc.sior"
    with RecordingWriter(rec, {"format": "sio", "device_info": desc, "port": "test"}, fsync=False) as w:
        w.add(b"\x00" + sio1.encode_info(desc), 0)
        for i in range(0, len(codes), 20):
            w.add(sio1.encode_data(codes[i : i + 20], enc=sio1.ENC_I24, seq=i // 20, t_us=i * 1000), i)
    done = export_libemg(rec, tmp_path / "out")
    assert done.files == [tmp_path / "out" / "C_0_R_0.csv"] and done.lost_samples == 0
    back = np.loadtxt(done.files[0], delimiter=",")
    assert np.array_equal(back, codes * scale)  # value = code * scale, in float64
    assert np.all(back[1] != back[0])
