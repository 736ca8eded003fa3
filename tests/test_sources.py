"""Sources beyond serial ports: lsl:// and brainflow:// enter through the same
Stream API, so the parser, recording, replay and fault detection work on them;
a recording of either replays bit for bit."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from support import require_or_skip

import sensorio
from sensorio import concat_blocks
from sensorio.blocks import EV_GAP
from sensorio.recording import decode_recording

ROOT = Path(__file__).resolve().parents[1]


def _collect(stream, rows: int, seconds: float = 30.0) -> list:
    blocks: list = []
    end = time.monotonic() + seconds  # a bound against hanging, not a speed target
    while sum(len(b) for b in blocks if b.stream == 0) < rows and time.monotonic() < end:
        blocks += stream.read(0.2)
    return blocks


def _same(a: list, b: list) -> None:
    ca, cb = concat_blocks(a), concat_blocks(b)
    assert ca.keys() == cb.keys()
    for sid in ca:
        for name in ca[sid]:
            assert np.array_equal(ca[sid][name], cb[sid][name]), name


# ------------------------------------------------------------------ LSL
@pytest.fixture
def pylsl():
    try:
        import pylsl as mod
    except (ImportError, RuntimeError):
        mod = None
    require_or_skip(mod is not None, "pylsl/liblsl is not installed (pip install 'sensorio[lsl]')")
    return mod


def _outlet(pylsl, name: str, n_ch: int = 4, rate: float = 1000.0):
    info = pylsl.StreamInfo(name, "EMG", n_ch, rate, pylsl.cf_float32, f"src-{name}")
    chans = info.desc().append_child("channels")
    for i in range(n_ch):
        ch = chans.append_child("channel")
        ch.append_child_value("label", f"flexor{i + 1}")
        ch.append_child_value("unit", "microvolts")
        ch.append_child_value("type", "EMG")
    info.desc().append_child("acquisition").append_child_value("manufacturer", "Acme Biosignals")
    return pylsl.StreamOutlet(info)


def test_lsl_source_reads_metadata_values_timestamps_and_gaps(pylsl, tmp_path: Path) -> None:
    name = f"sensorio-test-{uuid.uuid4().hex[:8]}"
    outlet = _outlet(pylsl, name)
    data = (np.random.default_rng(1).standard_normal((2000, 4)) * 200).astype(np.float32)
    dropped = range(1000, 1100)  # one chunk never sent: a gap of 100 samples
    opened = threading.Event()

    def push() -> None:
        opened.wait(30)
        while not outlet.have_consumers():
            time.sleep(0.01)
        t0 = pylsl.local_clock()
        for k in range(0, 2000, 100):
            if k in dropped:
                continue
            stamps = (t0 + np.arange(k, k + 100) / 1000.0).tolist()
            outlet.push_chunk(data[k : k + 100].tolist(), stamps)
            time.sleep(0.01)

    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    rec = tmp_path / "lsl.sior"
    with sensorio.open(f"lsl://{name}?timeout=10", record=rec) as s:
        opened.set()
        live = _collect(s, 1900)
        pusher.join(30)
        info = s.info
        stats = s.stats
    stream = info["streams"][0]
    assert info["manufacturer"] == "Acme Biosignals" and info["serial"] == f"src-{name}"
    assert stream["labels"] == [f"flexor{i}" for i in range(1, 5)]
    assert stream["unit"] == "uV" and stream["rate_hz"] == 1000.0 and stream["name"] == "emg"
    got = concat_blocks(live)[0]
    kept = np.delete(data, list(dropped), axis=0).astype(np.float64)
    assert got["samples"].shape == kept.shape
    # int32 codes of 1 nV: the values to within half a code
    assert np.max(np.abs(got["samples"] * stream["scale"] - kept)) <= stream["scale"] / 2 + 1e-4 * np.abs(kept).max()
    assert stats.lost_frames == 100
    gap_rows = got["events"]["row"][got["events"]["kind"] == EV_GAP]
    assert gap_rows.tolist() == [1000]
    # LSL timestamps kept (µs, on this machine's LSL clock), one per frame
    steps = np.diff(got["frame_t_us"].astype(np.int64))
    assert np.all(np.abs(steps[steps < 2000] - 1000) <= 1)
    # the recording replays to the same Blocks and statistics
    parser, replayed, _, _ = decode_recording(rec)
    _same(live, replayed)
    assert parser.stats == stats


def test_lsl_source_that_is_not_there_is_one_line(tmp_path: Path, pylsl) -> None:
    out = tmp_path / "x.sior"
    done = subprocess.run(
        [sys.executable, "-m", "sensorio", "record", "lsl://no-such-stream?timeout=0.5", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    err = [line for line in done.stderr.splitlines() if "INFO|" not in line]  # liblsl's own log lines
    assert len(err) == 1 and "no LSL stream" in err[0] and "Traceback" not in done.stderr, done.stderr


# ------------------------------------------------------------------ BrainFlow
@pytest.fixture
def board_shim():
    try:
        from sensorio.urlhandler.protocol_brainflow import load_brainflow

        mod = load_brainflow()
    except Exception:  # noqa: BLE001 - any failure to load is "not installed" here
        mod = None
    require_or_skip(mod is not None, "brainflow is not installed (pip install 'sensorio[brainflow]')")
    return mod


def test_brainflow_synthetic_board_records_and_replays_bit_for_bit(board_shim, tmp_path: Path) -> None:
    rec = tmp_path / "bf.sior"
    with sensorio.open("brainflow://synthetic?channels=emg", record=rec) as s:
        live = _collect(s, 300)
        info = s.info
    live += s.read(0)  # what was decoded while the stream closed
    stats = s.stats
    stream = info["streams"][0]
    assert stream["channels"] == 16 and stream["rate_hz"] == 250 and stream["unit"] == "uV"
    assert "BrainFlow" in info["manufacturer"] and len(stream["labels"]) == 16
    assert stats.lost_frames == 0 and stats.crc_errors == 0
    got = concat_blocks(live)[0]
    assert got["samples"].shape[1] == 16 and len(got["samples"]) >= 300
    parser, replayed, _, _ = decode_recording(rec)
    _same(live, replayed)
    assert parser.stats == stats


def test_brainflow_playback_counts_lost_samples_from_the_package_counter(board_shim, tmp_path: Path) -> None:
    """A playback file (BrainFlow's own format) with 30 samples cut out: the
    package counter says so, and sensorio reports them lost where they were."""
    from brainflow.data_filter import DataFilter

    bid = board_shim.BoardIds.SYNTHETIC_BOARD.value
    n_rows = board_shim.BoardShim.get_num_rows(bid)
    pkg_row = board_shim.BoardShim.get_package_num_channel(bid)
    ts_row = board_shim.BoardShim.get_timestamp_channel(bid)
    emg_rows = board_shim.BoardShim.get_emg_channels(bid)
    n = 600
    data = np.zeros((n_rows, n))
    data[pkg_row] = np.arange(n) % 256
    data[ts_row] = time.time() + np.arange(n) / 250.0
    data[emg_rows] = np.random.default_rng(3).standard_normal((len(emg_rows), n)) * 50
    keep = np.r_[0:200, 230:n]
    path = tmp_path / "playback.csv"
    DataFilter.write_file(np.ascontiguousarray(data[:, keep]), str(path), "w")
    url = f"brainflow://playback_file?file={path}&master_board={bid}"
    with sensorio.open(url) as s:
        live = _collect(s, len(keep))
        stats = s.stats
    got = concat_blocks(live)[0]
    assert stats.lost_frames == 30
    assert got["events"]["row"][got["events"]["kind"] == EV_GAP].tolist() == [200]
    want = data[emg_rows][:, keep].T
    # half a code (0.001 µV), and the playback file keeps 6 decimals
    assert np.max(np.abs(got["samples"][: len(keep)] * 0.001 - want)) <= 0.0005 + 1e-5


@pytest.mark.parametrize(
    "url, words",
    [
        ("brainflow://no_such_board", "does not know the board"),
        ("brainflow://synthetic?colour=red", "does not know the option 'colour'"),
        ("brainflow://synthetic?channels=gyro_x", "has no gyro_x channels"),
        ("lsl://x?scale=-1", "scale= must be a positive number"),
        # the last of two values won without a word
        ("brainflow://synthetic?channels=emg&channels=eeg", "option 'channels' given more than once"),
        ("lsl://x?timeout=1&timeout=2", "option 'timeout' given more than once"),
        ("replay://x.sior?speed=1&speed=max", "option 'speed' given more than once"),
    ],
)
def test_bad_source_urls_are_one_line(url: str, words: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sensorio", "record", url, "-o", str(tmp_path / "x.sior")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    err = [line for line in done.stderr.splitlines() if "INFO|" not in line]
    assert done.returncode != 0 and len(err) == 1 and words in err[0], done.stderr
    assert "Traceback" not in done.stderr
